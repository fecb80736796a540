//! Applies the embedded SQLite migrations, recording them in `crmcore_migrations`.

use std::collections::BTreeMap;

use crmcore::Result;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;

use crate::common::error::store_err;
use crate::common::migrate::{TABLE, hex, pending};
use crate::common::types::DbTime;

/// The migrations under `migrations/sqlite`, embedded at build time.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Applies every pending migration, each in its own `BEGIN IMMEDIATE` transaction (which also
/// keeps two processes opening the same file from applying one migration twice).
pub(super) async fn run(pool: &SqlitePool) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS crmcore_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
         checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(store_err)?;
    loop {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(store_err)?;
        let applied: BTreeMap<i64, String> =
            sqlx::query_as::<_, (i64, String)>(&format!("SELECT version, checksum FROM {TABLE}"))
                .fetch_all(&mut *tx)
                .await
                .map_err(store_err)?
                .into_iter()
                .collect();
        let Some(next) = pending(&MIGRATOR, &applied)?.into_iter().next() else {
            tx.commit().await.map_err(store_err)?;
            return Ok(());
        };
        sqlx::raw_sql(&next.sql).execute(&mut *tx).await.map_err(store_err)?;
        sqlx::query(&format!(
            "INSERT INTO {TABLE} (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)"
        ))
        .bind(next.version)
        .bind(next.description.as_ref())
        .bind(hex(&next.checksum))
        .bind(DbTime(chrono::Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        tracing::info!(version = next.version, description = %next.description, "applied migration");
    }
}

#[cfg(test)]
mod tests {
    use crmcore::document::Category;

    use super::*;

    /// Migration 0016 indexes the documents that were there before it, pairs and all.
    #[tokio::test]
    async fn the_pair_index_is_built_for_existing_documents() {
        let pool =
            sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.expect("pool");
        for migration in MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration() && m.version < 16) {
            sqlx::raw_sql(&migration.sql).execute(&pool).await.expect("old migration");
        }
        sqlx::raw_sql(
            "INSERT INTO tenants VALUES ('t', 'T', 't', '2026-01-01T00:00:00Z');
             INSERT INTO members VALUES ('t', 'm', 'm', 'M', 'm@x.test', 'owner', 1, '', '', 1);
             INSERT INTO documents (tenant_id, id, title, description, category, tags, links, owner_id,
                 latest_version, created_at, updated_at, version, search_title, search_tags, search_body)
             VALUES ('t', 'a', 'Net 30', '', 'other', '[]', '[]', 'm', 1, '', '', 1, 'net 30', '',
                     'renewal invoice net 30 terms'),
                    ('t', 'b', 'Other', '', 'other', '[]', '[]', 'm', 1, '', '', 1, 'other', 'legal',
                     'net invoice 30 renewal');",
        )
        .execute(&pool)
        .await
        .expect("documents before 0016");
        let applied: Vec<(i64, String)> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && m.version < 16)
            .map(|m| (m.version, hex(&m.checksum)))
            .collect();
        sqlx::raw_sql(
            "CREATE TABLE crmcore_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .expect("table");
        for (version, checksum) in applied {
            sqlx::query("INSERT INTO crmcore_migrations VALUES ($1, '', $2, '')")
                .bind(version)
                .bind(checksum)
                .execute(&pool)
                .await
                .expect("record");
        }
        run(&pool).await.expect("0016 and later");

        let found = async |q: String| -> Vec<String> {
            sqlx::query_scalar(
                "SELECT id FROM documents JOIN document_fts ON document_fts.rowid = documents.search_id \
                 WHERE document_fts MATCH $1 ORDER BY id",
            )
            .bind(q)
            .fetch_all(&pool)
            .await
            .expect("search")
        };
        let in_category = |q: &str, category| {
            crate::common::document::fts5_query(&crmcore::document::SearchQuery::parse(q).unwrap(), category)
        };
        let fts = |q: &str| in_category(q, None);
        assert_eq!(found(fts("\"invoice net 30\"")).await, ["a"]);
        assert_eq!(found(fts("\"net 30\"")).await, ["a"], "in the title and the text of one document");
        assert_eq!(found(fts("invoice-ne*")).await, ["a"]);
        assert_eq!(found(fts("invoice")).await, ["a", "b"]);
        assert_eq!(found(fts("ne* -\"invoice net\"")).await, ["b"]);
        // Changed and new documents are indexed by the triggers, the same way.
        sqlx::raw_sql(
            "UPDATE documents SET search_body = 'net invoice 30 renewal' WHERE id = 'a';
             INSERT INTO documents (tenant_id, id, title, description, category, tags, links, owner_id,
                 latest_version, created_at, updated_at, version, search_title, search_tags, search_body)
             VALUES ('t', 'c', 'C', '', 'other', '[]', '[]', 'm', 1, '', '', 1, 'c', '', 'invoice net 30');",
        )
        .execute(&pool)
        .await
        .expect("writes after 0016");
        assert_eq!(found(fts("\"invoice net 30\"")).await, ["c"]);
        assert_eq!(found(fts("\"net 30\"")).await, ["a", "c"], "the title still holds it");
        assert_eq!(found(fts("\"net invoice\"")).await, ["a", "b"]);
        // A long text's pairs stay in the tokens' order: a phrase of five words far into it.
        let long: Vec<String> = (0..3000).map(|i| format!("w{}", i % 1000)).collect();
        sqlx::query(
            "INSERT INTO documents (tenant_id, id, title, description, category, tags, links, owner_id, \
             latest_version, created_at, updated_at, version, search_title, search_tags, search_body) \
             VALUES ('t', 'd', 'D', '', 'other', '[]', '[]', 'm', 1, '', '', 1, 'd', '', $1)",
        )
        .bind(long.join(" "))
        .execute(&pool)
        .await
        .expect("long text");
        assert_eq!(found(fts("\"w995 w996 w997 w998 w999\"")).await, ["d"]);
        assert!(found(fts("\"w996 w995 w997\"")).await.is_empty());
        // The category is a column of its own, kept in step too.
        assert_eq!(found(in_category("invoice", Some(Category::Other))).await, ["a", "b", "c"]);
        sqlx::query("UPDATE documents SET category = 'contract' WHERE id = 'b'").execute(&pool).await.expect("update");
        assert_eq!(found(in_category("invoice", Some(Category::Contract))).await, ["b"]);
        assert_eq!(found(in_category("invoice", Some(Category::Other))).await, ["a", "c"]);
    }
}
