//! Documents, their versions and each tenant's hash-chained audit trail. The SQL is the same on
//! both databases except for the tag and link filters (JSON1 `json_each` on SQLite, `jsonb`
//! containment on PostgreSQL) and the locks below, so one body serves both stores:
//! `sqlite/document.rs` and `postgres/document.rs` expand [`document_repository!`].
//!
//! Every write appends its audit entry in its own transaction (`common/audit.rs`), serialized per
//! tenant so concurrent writers never fork the chain. Entries do not reference their
//! document: the chain outlives purged documents. `detail` is stored as written (`json`, not
//! `jsonb`, on PostgreSQL), so every entry still carries its own hash when read back.
//!
//! Document ids are unique across tenants; versions reference `(tenant_id, document_id)`, so a
//! version can only belong to a document of its own tenant, and goes with it (`ON DELETE
//! CASCADE`). Content keys are shared by every document of every tenant: a purge returns the keys
//! no remaining version references, for the caller to collect once its grace period is over.
//!
//! Share links reference their document the same way and go with it. A link's token is stored
//! only as its hash (unique across tenants: the public lookup has no tenant). A download is
//! counted by one conditional `UPDATE … SET downloads = downloads + 1 WHERE <usable> RETURNING`
//! in the transaction that appends its audit entry, so concurrent downloads never pass the limit:
//! on SQLite the write lock runs them one at a time; on PostgreSQL the row lock makes a waiting
//! `UPDATE` re-check its condition against the row as the first one left it. An `UPDATE` that
//! counts nothing reads the link to say why, as `ShareLink::refusal` does.

/// A query as PostgreSQL's word-pair index (migrations 0017, 0018) narrows it: the runs of two
/// or more whole tokens in its positive phrases (a trailing prefix token left out), each joined
/// by single spaces as the indexed fields are; and, as `tsquery` input (empty when none), its
/// other positive clauses, the words and prefixes the word index narrows.
pub(crate) fn pair_split(query: &crmcore::document::SearchQuery) -> (Vec<String>, String) {
    use crmcore::document::search::Clause;
    let mut phrases = Vec::new();
    let mut others = Vec::new();
    for clause in query.clauses() {
        match clause {
            Clause::Phrase { tokens, prefix } => {
                let whole = if *prefix { &tokens[..tokens.len().saturating_sub(1)] } else { &tokens[..] };
                if whole.len() >= 2 {
                    phrases.push(whole.join(" "));
                } else {
                    others.push(clause.to_tsquery());
                }
            }
            Clause::Not(_) => {}
        }
    }
    (phrases, others.join(" & "))
}

/// Separates the two tokens of a word pair in SQLite's pair columns (migration 0016): a
/// private-use character, which FTS5's tokenizer keeps inside a token and no normalized token
/// holds.
const PAIR_SEPARATOR: char = '\u{E000}';

/// A query in SQLite FTS5 `MATCH` syntax over the index of migration 0016: a single word or
/// prefix in the word columns; a phrase of n words as the phrase of its n - 1 word pairs in the
/// pair columns (a trailing prefix as a prefix of the last pair), which is exact and lets bm25
/// count the pair's short list rather than check positions over the word lists; `AND`, `NOT`.
/// A `category` is matched as the token of its own column, whose list FTS5 walks beside the
/// words', skipping ahead in each. Tokens are alphanumeric, so quoting them is exact.
pub(crate) fn fts5_query(
    query: &crmcore::document::SearchQuery,
    category: Option<crmcore::document::Category>,
) -> String {
    use crmcore::document::search::Clause;
    let phrase = |tokens: &[String], prefix: bool| {
        let star = if prefix { " *" } else { "" };
        if let [word] = tokens {
            return format!("{{search_title search_tags search_body}} : \"{word}\"{star}");
        }
        let pairs: Vec<String> = tokens.windows(2).map(|w| format!("{}{PAIR_SEPARATOR}{}", w[0], w[1])).collect();
        format!("{{pairs_title pairs_tags pairs_body}} : \"{}\"{star}", pairs.join(" "))
    };
    let mut positive = Vec::new();
    let mut negative = Vec::new();
    for clause in query.clauses() {
        match clause {
            Clause::Phrase { tokens, prefix } => positive.push(phrase(tokens, *prefix)),
            Clause::Not(tokens) => negative.push(phrase(tokens, false)),
        }
    }
    if let Some(category) = category {
        positive.insert(0, format!("{{search_category}} : \"{}\"", category.as_str()));
    }
    let mut out = positive.join(" AND ");
    for excluded in negative {
        out.push_str(" NOT ");
        out.push_str(&excluded);
    }
    out
}

/// Implements `DocumentRepository` for `$store` on database `$db` with SQL dialect `$dialect`.
/// `append_events`, `append_audit` and `missing_or_stale` must be in scope where it is expanded,
/// and the backend's `approval` module beside it.
macro_rules! document_repository {
    ($store:ty, $db:ty, $dialect:expr) => {
        const _: () = {
            use std::collections::HashSet;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use crmcore::document::{
                Access, AuditDraft, AuditEntry, Document, DocumentFilter, DocumentTemplate, DocumentVersion, MemberGrant, SearchRequest,
                SearchText, ShareLink, StoredHit, TextOutcome, Viewer,
            };
            use crmcore::event::DomainEvent;
            use crmcore::id::{DocumentId, DocumentTemplateId, MemberId, ShareLinkId, TenantId};
            use crmcore::page::{Page, PageRequest};
            use crmcore::ports::{BlobKey, DocumentRepository};
            use crmcore::{CrmError, Result};
            use sqlx::types::Json;
            use sqlx::QueryBuilder;

            use $crate::common::error::{corrupt, map_err, store_err};
            use $crate::common::rows::{
                AUDIT_ENTRY_COLUMNS, AuditEntryRow, DOCUMENT_COLUMNS, DOCUMENT_TEMPLATE_COLUMNS, DOCUMENT_VERSION_COLUMNS,
                DocumentRow, DocumentTemplateRow,
                DocumentVersionRow, MEMBER_GRANT_COLUMNS, MemberGrantRow, SHARE_LINK_COLUMNS, ShareLinkRow,
            };
            use $crate::common::segment::Dialect;
            use $crate::common::types::{DbId, DbTime, opt_time};

            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;
            type Tx = sqlx::Transaction<'static, $db>;
            type Conn = <$db as sqlx::Database>::Connection;

            /// Content keys per `IN (…)` list.
            const KEY_CHUNK: usize = 500;

            /// Binds a document's columns in [`DOCUMENT_COLUMNS`] order (`$1` to `$14`).
            fn bind_document<'q>(q: Query<'q>, d: &'q Document) -> Query<'q> {
                q.bind(DbId(d.tenant_id.0))
                    .bind(DbId(d.id.0))
                    .bind(d.title.as_str())
                    .bind(d.description.as_str())
                    .bind(d.category.as_str())
                    .bind(Json(&d.tags))
                    .bind(Json(&d.links))
                    .bind(DbId(d.owner_id.0))
                    .bind(i64::from(d.latest_version))
                    .bind(opt_time(d.trashed_at))
                    .bind(DbTime(d.created_at))
                    .bind(DbTime(d.updated_at))
                    .bind(d.version)
                    .bind(d.visibility.as_str())
            }

            /// Binds a version's columns in [`DOCUMENT_VERSION_COLUMNS`] order (`$1` to `$13`).
            fn bind_version<'q>(q: Query<'q>, v: &'q DocumentVersion) -> Result<Query<'q>> {
                let size = i64::try_from(v.size)
                    .map_err(|_| CrmError::invalid("size", "too_large", "the file is too large to store"))?;
                Ok(q.bind(DbId(v.tenant_id.0))
                    .bind(DbId(v.document_id.0))
                    .bind(i64::from(v.number))
                    .bind(v.content_key.as_str())
                    .bind(size)
                    .bind(v.mime.as_str())
                    .bind(v.filename.as_str())
                    .bind(Json(&v.uploaded_by))
                    .bind(v.note.as_deref())
                    .bind(v.restored_from.map(i64::from))
                    .bind(DbTime(v.created_at))
                    .bind(v.text_status.as_str())
                    .bind(v.text_error.as_deref()))
            }

            /// Binds a share link's columns in [`SHARE_LINK_COLUMNS`] order (`$1` to `$12`).
            fn bind_share_link<'q>(q: Query<'q>, l: &'q ShareLink) -> Query<'q> {
                q.bind(DbId(l.id.0))
                    .bind(DbId(l.tenant_id.0))
                    .bind(DbId(l.document_id.0))
                    .bind(l.token_hash.as_str())
                    .bind(l.version.map(i64::from))
                    .bind(DbTime(l.expires_at))
                    .bind(l.password_hash.as_deref())
                    .bind(l.max_downloads.map(i64::from))
                    .bind(i64::from(l.downloads))
                    .bind(opt_time(l.revoked_at))
                    .bind(Json(&l.created_by))
                    .bind(DbTime(l.created_at))
            }

            /// Binds a template's columns in [`DOCUMENT_TEMPLATE_COLUMNS`] order (`$1` to `$11`).
            fn bind_template<'q>(q: Query<'q>, t: &'q DocumentTemplate) -> Query<'q> {
                q.bind(DbId(t.tenant_id.0))
                    .bind(DbId(t.id.0))
                    .bind(t.name.as_str())
                    .bind(t.description.as_str())
                    .bind(t.category.as_str())
                    .bind(t.title.as_str())
                    .bind(t.body.as_str())
                    .bind(Json(&t.created_by))
                    .bind(DbTime(t.created_at))
                    .bind(DbTime(t.updated_at))
                    .bind(t.version)
            }

            /// Inserts a version; its document must be of its tenant.
            async fn insert_version(tx: &mut Tx, v: &DocumentVersion) -> Result<()> {
                let sql = format!(
                    "INSERT INTO document_versions ({DOCUMENT_VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     $8, $9, $10, $11, $12, $13)"
                );
                bind_version(sqlx::query(&sql), v)?
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("document", v.document_id)))?;
                Ok(())
            }

            /// Replaces a document whose stored version is `d.version - 1`, re-indexing its
            /// title and tags; `clear_body` empties its indexed text (a new version's is pending).
            async fn update_document(tx: &mut Tx, d: &Document, clear_body: bool) -> Result<()> {
                let search = SearchText::of(d, None);
                let body = if clear_body { "search_body = ''," } else { "" };
                let sql = format!(
                    "UPDATE documents SET title = $3, description = $4, category = $5, tags = $6, links = $7, \
                     owner_id = $8, latest_version = $9, trashed_at = $10, created_at = $11, updated_at = $12, \
                     version = $13, visibility = $14, search_title = $15, {body} search_tags = $16 \
                     WHERE tenant_id = $1 AND id = $2 AND version = $13 - 1"
                );
                let done = bind_document(sqlx::query(&sql), d)
                    .bind(search.title)
                    .bind(search.tags)
                .execute(&mut **tx)
                .await
                .map_err(|e| map_err(e, || CrmError::not_found("member", d.owner_id)))?;
                if done.rows_affected() == 0 {
                    return Err(missing_or_stale(tx, "documents", "document", d.tenant_id, d.id.0).await);
                }
                Ok(())
            }

            /// Why a download counted nothing: the link is absent (`NotFound`), or revoked,
            /// expired or used up at `now` (`Conflict` naming which, as the memory store does).
            async fn share_link_refusal(tx: &mut Tx, id: ShareLinkId, now: DateTime<Utc>) -> CrmError {
                let sql = format!("SELECT {SHARE_LINK_COLUMNS} FROM share_links WHERE id = $1");
                let found = sqlx::query_as::<_, ShareLinkRow>(&sql).bind(DbId(id.0)).fetch_optional(&mut **tx).await;
                match found {
                    Ok(Some(row)) => match row.into_domain() {
                        // The UPDATE refused the link, so it is refused: name the reason this
                        // read shows (the conditions only ever become false).
                        Ok(link) => {
                            let why = link.refusal(now).unwrap_or("unavailable");
                            CrmError::conflict(Some("share_link"), format!("the link is {why}"))
                        }
                        Err(e) => e,
                    },
                    Ok(None) => CrmError::not_found("share link", id),
                    Err(e) => store_err(e),
                }
            }

            /// Of `keys`, those some version (of any document, any tenant) references.
            async fn referenced(conn: &mut Conn, keys: &[BlobKey]) -> Result<HashSet<String>> {
                let mut found = HashSet::new();
                for chunk in keys.chunks(KEY_CHUNK) {
                    let mut q: QueryBuilder<$db> =
                        QueryBuilder::new("SELECT DISTINCT content_key FROM document_versions WHERE content_key IN (");
                    let mut list = q.separated(", ");
                    for key in chunk {
                        list.push_bind(key.as_str());
                    }
                    q.push(")");
                    let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *conn).await.map_err(store_err)?;
                    found.extend(rows.into_iter().map(|(key,)| key));
                }
                Ok(found)
            }

            /// Whether the tenant holds the document.
            async fn document_exists(pool: &sqlx::Pool<$db>, tenant: TenantId, id: DocumentId) -> Result<bool> {
                let found = sqlx::query("SELECT id FROM documents WHERE tenant_id = $1 AND id = $2")
                    .bind(DbId(tenant.0))
                    .bind(DbId(id.0))
                    .fetch_optional(pool)
                    .await
                    .map_err(store_err)?;
                Ok(found.is_some())
            }

            /// Pushes the filters of `filter` (but `trashed`) and the viewer's permission check.
            fn push_filters(q: &mut QueryBuilder<'_, $db>, filter: &DocumentFilter, viewer: Viewer) {
            if let Some(category) = filter.category {
                q.push(" AND category = ").push_bind(category.as_str());
            }
            if let Some(owner) = filter.owner_id {
                q.push(" AND owner_id = ").push_bind(DbId(owner.0));
            }
            if let Some(tag) = &filter.tag {
                match $dialect {
                    Dialect::Sqlite => {
                        q.push(" AND EXISTS (SELECT 1 FROM json_each(documents.tags) AS t WHERE t.value = ")
                            .push_bind(tag.as_str().to_owned())
                            .push(")");
                    }
                    Dialect::Postgres => {
                        q.push(" AND tags @> ").push_bind(Json([tag.as_str().to_owned()]));
                    }
                }
            }
            if let Some(link) = filter.linked {
                match $dialect {
                    Dialect::Sqlite => {
                        // Compared with the same serialization the column holds.
                        let kind = serde_json::to_value(link.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        q.push(
                            " AND EXISTS (SELECT 1 FROM json_each(documents.links) AS l \
                             WHERE json_extract(l.value, '$.kind') = ",
                        )
                        .push_bind(kind)
                        .push(" AND json_extract(l.value, '$.id') = ")
                        .push_bind(link.id.hyphenated().to_string())
                        .push(")");
                    }
                    Dialect::Postgres => {
                        q.push(" AND links @> ").push_bind(Json([link]));
                    }
                }
            }
            if let Some(from) = filter.created_from {
                q.push(" AND created_at >= ").push_bind(DbTime(from));
            }
            if let Some(before) = filter.created_before {
                q.push(" AND created_at < ").push_bind(DbTime(before));
            }
            match viewer {
                Viewer::All => {}
                Viewer::TenantOnly => {
                    q.push(" AND visibility = 'tenant'");
                }
                Viewer::Member(member) => {
                    q.push(" AND (visibility = 'tenant' OR owner_id = ")
                        .push_bind(DbId(member.0))
                        .push(" OR EXISTS (SELECT 1 FROM document_grants AS g WHERE g.document_id = documents.id AND g.member_id = ")
                        .push_bind(DbId(member.0))
                        .push("))");
                }
            }
            }

            /// A search hit: the document and its rank (lower is better).
            #[derive(sqlx::FromRow)]
            struct SearchRow {
                #[sqlx(flatten)]
                document: DocumentRow,
                rank: f64,
            }

            #[async_trait]
            impl DocumentRepository for $store {
                async fn insert(
                    &self,
                    document: &Document,
                    first: &DocumentVersion,
                    audit: &AuditDraft,
                    events: &[DomainEvent],
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let sql = format!(
                        "INSERT INTO documents ({DOCUMENT_COLUMNS}, search_title, search_tags) VALUES ($1, $2, $3, \
                         $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                    );
                    let search = SearchText::of(document, None);
                    // The owner must be a member of the tenant: the reference is (tenant_id, owner_id).
                    bind_document(sqlx::query(&sql), document)
                        .bind(search.title)
                        .bind(search.tags)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("member", document.owner_id)))?;
                    insert_version(&mut tx, first).await?;
                    append_audit(&mut tx, audit).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn add_version(
                    &self,
                    document: &Document,
                    version: &DocumentVersion,
                    audit: &AuditDraft,
                    events: &[DomainEvent],
                    void: Option<&crmcore::document::ApprovalVoid>,
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    update_document(&mut tx, document, true).await?;
                    insert_version(&mut tx, version).await?;
                    // The pending approval is cancelled with the version (its row before the
                    // audit appends: row locks come before the tenant's chain lock).
                    super::approval::void_pending(&mut tx, document, void).await?;
                    append_audit(&mut tx, audit).await?;
                    if let Some(void) = void {
                        append_audit(&mut tx, &void.audit).await?;
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn update(&self, document: &Document, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    update_document(&mut tx, document, false).await?;
                    append_audit(&mut tx, audit).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn get(&self, tenant: TenantId, id: DocumentId) -> Result<Document> {
                    let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, DocumentRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(DocumentRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("document", id))
                }

                async fn list(
                    &self,
                    tenant: TenantId,
                    viewer: Viewer,
                    filter: &DocumentFilter,
                    page: PageRequest,
                ) -> Result<Page<Document>> {
                    // Newest first over the partial (tenant_id, id) index of live or trashed
                    // documents; each filter only when set, so each form gets a plan of its own.
                    let mut q: QueryBuilder<$db> =
                        QueryBuilder::new(format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE tenant_id = "));
                    q.push_bind(DbId(tenant.0));
                    q.push(if filter.trashed { " AND trashed_at IS NOT NULL" } else { " AND trashed_at IS NULL" });
                    push_filters(&mut q, filter, viewer);
                    if let Some(after) = page.after {
                        q.push(" AND id < ").push_bind(DbId(after));
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<DocumentRow> = q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                    let documents = rows.into_iter().map(DocumentRow::into_domain).collect::<Result<Vec<_>>>()?;
                    Ok(Page::from_overfetch(documents, page, |d: &Document| d.id.0))
                }

                async fn search(
                    &self,
                    tenant: TenantId,
                    viewer: Viewer,
                    request: &SearchRequest,
                ) -> Result<Vec<StoredHit>> {
                    // The match, the tenant, the filters and the permission check in one query,
                    // ranked by the index (title 10, tags 5, text 1), ties newest first.
                    let window = crmcore::document::search::RANK_WINDOW as i64;
                    let mut q: QueryBuilder<$db> = match $dialect {
                        Dialect::Sqlite => {
                            // One pass: FTS5 walks the matches newest first (its rowids are the
                            // documents' `search_id`s), each joined to its document and filtered,
                            // and only the window's rows are ranked (bm25 runs on the rows that
                            // pass the filters); the page is the best of the window.
                            let mut q = QueryBuilder::new(format!(
                                "SELECT {DOCUMENT_COLUMNS}, rank FROM (SELECT {DOCUMENT_COLUMNS}, \
                                 bm25(document_fts, 10.0, 5.0, 1.0, 10.0, 5.0, 1.0, 0.0) AS rank FROM document_fts JOIN documents \
                                 ON documents.search_id = document_fts.rowid WHERE document_fts MATCH "
                            ));
                            // The category is matched in the index too (migration 0016).
                            q.push_bind($crate::common::document::fts5_query(&request.query, request.filter.category));
                            q.push(" AND tenant_id = ").push_bind(DbId(tenant.0)).push(" AND trashed_at IS NULL");
                            push_filters(&mut q, &request.filter, viewer);
                            // A date range bounds the walk's rowids too (migration 0015): the
                            // matches outside them are never read. No document in the range: a
                            // NULL bound, and no match.
                            let bounds = [
                                (request.filter.created_from, " AND document_fts.rowid >= (SELECT min(search_id)", " >= "),
                                (request.filter.created_before, " AND document_fts.rowid <= (SELECT max(search_id)", " < "),
                            ];
                            for (at, bound, op) in bounds {
                                let Some(at) = at else { continue };
                                q.push(bound).push(" FROM documents WHERE tenant_id = ").push_bind(DbId(tenant.0));
                                q.push(" AND trashed_at IS NULL AND created_at").push(op).push_bind(DbTime(at)).push(")");
                            }
                            q.push(" ORDER BY document_fts.rowid DESC LIMIT ").push_bind(window).push(")");
                            q
                        }
                        Dialect::Postgres => {
                            // The window of newest matches, each ranked as it is found (only ids
                            // and ranks are kept, never the vectors; the planner sees the query
                            // constant, so it picks the GIN index for rare words and the id order
                            // for words in most documents), then the page's rows.
                            let tsquery = request.query.to_tsquery();
                            let mut q = QueryBuilder::new(
                                "WITH candidates AS MATERIALIZED (SELECT id, -ts_rank(search_vector, \
                                 to_tsquery('simple', ",
                            );
                            q.push_bind(tsquery.clone());
                            q.push("), 0)::float8 AS rank FROM documents WHERE ");
                            let (phrases, others) = $crate::common::document::pair_split(&request.query);
                            if phrases.is_empty() {
                                q.push("search_vector @@ to_tsquery('simple', ");
                                q.push_bind(tsquery).push(")");
                            } else {
                                // Phrases are narrowed by their word pairs' index alone (migration
                                // 0017; the planner folds the buckets to a constant), other words by
                                // the word index; the whole query is then matched with `@@~`, `@@`
                                // that no index answers (migration 0018): the word index would
                                // intersect the long lists of a phrase's common words for nothing.
                                // It comes first, so a walk in id order checks the pairs only of
                                // the rows it matches.
                                q.push("search_vector @@~ to_tsquery('simple', ");
                                q.push_bind(tsquery).push(")");
                                q.push(" AND search_pairs @> crm_word_pair_buckets(string_to_array(")
                                    .push_bind(phrases.join("|"))
                                    .push(", '|'))");
                                if !others.is_empty() {
                                    q.push(" AND search_vector @@ to_tsquery('simple', ").push_bind(others).push(")");
                                }
                            }
                            q.push(" AND tenant_id = ").push_bind(DbId(tenant.0));
                            q.push(" AND trashed_at IS NULL");
                            push_filters(&mut q, &request.filter, viewer);
                            q.push(" ORDER BY id DESC LIMIT ").push_bind(window);
                            q.push("), ranked AS (SELECT id, rank FROM candidates ORDER BY rank, id DESC LIMIT ")
                                .push_bind(i64::from(request.limit))
                                .push(" OFFSET ")
                                .push_bind(i64::from(request.offset));
                            q.push(format!(
                                ") SELECT {DOCUMENT_COLUMNS}, ranked.rank FROM ranked JOIN documents USING (id) WHERE true"
                            ));
                            q
                        }
                    };
                    if matches!($dialect, Dialect::Sqlite) {
                        q.push(" ORDER BY rank, id DESC LIMIT ")
                            .push_bind(i64::from(request.limit))
                            .push(" OFFSET ")
                            .push_bind(i64::from(request.offset));
                    } else {
                        q.push(" ORDER BY rank, id DESC");
                    }
                    // Planned for its own arguments every time (an unnamed statement): a cached
                    // generic plan would not know how common the words are.
                    let rows: Vec<SearchRow> =
                        q.build_query_as().persistent(false).fetch_all(&self.pool).await.map_err(store_err)?;
                    let mut hits = Vec::with_capacity(rows.len());
                    for row in rows {
                        hits.push(StoredHit { document: row.document.into_domain()?, rank: -row.rank, text: None });
                    }
                    // The texts of this page only: one query.
                    if !hits.is_empty() {
                        let mut q: QueryBuilder<$db> =
                            QueryBuilder::new("SELECT document_id, number, text FROM document_versions WHERE tenant_id = ");
                        q.push_bind(DbId(tenant.0));
                        q.push(" AND text IS NOT NULL AND (");
                        for (i, hit) in hits.iter().enumerate() {
                            if i > 0 {
                                q.push(" OR ");
                            }
                            q.push("(document_id = ")
                                .push_bind(DbId(hit.document.id.0))
                                .push(" AND number = ")
                                .push_bind(i64::from(hit.document.latest_version))
                                .push(")");
                        }
                        q.push(")");
                        let texts: Vec<(DbId, i64, String)> =
                            q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                        for (document, _, text) in texts {
                            if let Some(hit) = hits.iter_mut().find(|h| h.document.id.0 == document.0) {
                                hit.text = Some(text);
                            }
                        }
                    }
                    Ok(hits)
                }

                async fn set_text(
                    &self,
                    tenant: TenantId,
                    id: DocumentId,
                    number: u32,
                    outcome: &TextOutcome,
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let (status, text, error) = match outcome {
                        TextOutcome::Done(text) => ("done", Some(text.as_str()), None),
                        TextOutcome::Failed(why) => ("failed", None, Some(why.as_str())),
                    };
                    let done = sqlx::query(
                        "UPDATE document_versions SET text_status = $4, text = $5, text_error = $6 \
                         WHERE tenant_id = $1 AND document_id = $2 AND number = $3",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(id.0))
                    .bind(i64::from(number))
                    .bind(status)
                    .bind(text)
                    .bind(error)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("document version", number));
                    }
                    if let Some(text) = text {
                        sqlx::query(
                            "UPDATE documents SET search_body = $4 WHERE tenant_id = $1 AND id = $2 \
                             AND latest_version = $3",
                        )
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .bind(i64::from(number))
                        .bind(SearchText::body_of(text))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    }
                    tx.commit().await.map_err(store_err)
                }

                async fn version_text(&self, tenant: TenantId, id: DocumentId, number: u32) -> Result<Option<String>> {
                    let row: Option<(Option<String>,)> = sqlx::query_as(
                        "SELECT text FROM document_versions WHERE tenant_id = $1 AND document_id = $2 AND number = $3",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(id.0))
                    .bind(i64::from(number))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_err)?;
                    match row {
                        Some((text,)) => Ok(text),
                        None => Err(CrmError::not_found("document version", number)),
                    }
                }

                async fn insert_template(&self, t: &DocumentTemplate) -> Result<()> {
                    let sql = format!(
                        "INSERT INTO document_templates ({DOCUMENT_TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
                         $7, $8, $9, $10, $11)"
                    );
                    bind_template(sqlx::query(&sql), t)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("tenant", t.tenant_id)))?;
                    Ok(())
                }

                async fn update_template(&self, t: &DocumentTemplate) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let done = bind_template(
                        sqlx::query(
                            "UPDATE document_templates SET name = $3, description = $4, category = $5, title = $6, \
                             body = $7, created_by = $8, created_at = $9, updated_at = $10, version = $11 \
                             WHERE tenant_id = $1 AND id = $2 AND version = $11 - 1",
                        ),
                        t,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("template", t.id)))?;
                    if done.rows_affected() == 0 {
                        return Err(missing_or_stale(&mut tx, "document_templates", "template", t.tenant_id, t.id.0).await);
                    }
                    tx.commit().await.map_err(store_err)
                }

                async fn get_template(&self, tenant: TenantId, id: DocumentTemplateId) -> Result<DocumentTemplate> {
                    let sql = format!(
                        "SELECT {DOCUMENT_TEMPLATE_COLUMNS} FROM document_templates WHERE tenant_id = $1 AND id = $2"
                    );
                    sqlx::query_as::<_, DocumentTemplateRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(DocumentTemplateRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("template", id))
                }

                async fn templates(&self, tenant: TenantId) -> Result<Vec<DocumentTemplate>> {
                    let sql = format!(
                        "SELECT {DOCUMENT_TEMPLATE_COLUMNS} FROM document_templates WHERE tenant_id = $1 ORDER BY name"
                    );
                    let rows: Vec<DocumentTemplateRow> =
                        sqlx::query_as(&sql).bind(DbId(tenant.0)).fetch_all(&self.pool).await.map_err(store_err)?;
                    rows.into_iter().map(DocumentTemplateRow::into_domain).collect()
                }

                async fn delete_template(&self, tenant: TenantId, id: DocumentTemplateId) -> Result<()> {
                    let done = sqlx::query("DELETE FROM document_templates WHERE tenant_id = $1 AND id = $2")
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .execute(&self.pool)
                        .await
                        .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("template", id));
                    }
                    Ok(())
                }

                async fn put_grant(&self, grant: &MemberGrant, audit: &AuditDraft, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let document = sqlx::query("SELECT id FROM documents WHERE tenant_id = $1 AND id = $2")
                        .bind(DbId(grant.tenant_id.0))
                        .bind(DbId(grant.document_id.0))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    if document.is_none() {
                        return Err(CrmError::not_found("document", grant.document_id));
                    }
                    let sql = format!(
                        "INSERT INTO document_grants ({MEMBER_GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (document_id, member_id) DO UPDATE SET access = excluded.access"
                    );
                    // The member must be of the tenant: the reference is (tenant_id, member_id).
                    sqlx::query(&sql)
                        .bind(DbId(grant.tenant_id.0))
                        .bind(DbId(grant.document_id.0))
                        .bind(DbId(grant.member_id.0))
                        .bind(grant.access.as_str())
                        .bind(Json(&grant.granted_by))
                        .bind(DbTime(grant.granted_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("member", grant.member_id)))?;
                    append_audit(&mut tx, audit).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn remove_grant(
                    &self,
                    tenant: TenantId,
                    id: DocumentId,
                    member: MemberId,
                    audit: &AuditDraft,
                    events: &[DomainEvent],
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "DELETE FROM document_grants WHERE tenant_id = $1 AND document_id = $2 AND member_id = $3",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(id.0))
                    .bind(DbId(member.0))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("grant", member));
                    }
                    append_audit(&mut tx, audit).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn grants(&self, tenant: TenantId, id: DocumentId) -> Result<Vec<MemberGrant>> {
                    if !document_exists(&self.pool, tenant, id).await? {
                        return Err(CrmError::not_found("document", id));
                    }
                    let sql = format!(
                        "SELECT {MEMBER_GRANT_COLUMNS} FROM document_grants WHERE tenant_id = $1 AND document_id = $2 \
                         ORDER BY granted_at, member_id"
                    );
                    let rows: Vec<MemberGrantRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    rows.into_iter().map(MemberGrantRow::into_domain).collect()
                }

                async fn grant_of(&self, tenant: TenantId, id: DocumentId, member: MemberId) -> Result<Option<Access>> {
                    let row: Option<(String,)> = sqlx::query_as(
                        "SELECT access FROM document_grants WHERE tenant_id = $1 AND document_id = $2 AND member_id = $3",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(id.0))
                    .bind(DbId(member.0))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_err)?;
                    row.map(|(a,)| Access::parse(&a).map_err(|e| corrupt("document grant access", e))).transpose()
                }

                async fn versions(&self, tenant: TenantId, id: DocumentId) -> Result<Vec<DocumentVersion>> {
                    let sql = format!(
                        "SELECT {DOCUMENT_VERSION_COLUMNS} FROM document_versions WHERE tenant_id = $1 AND \
                         document_id = $2 ORDER BY number"
                    );
                    let rows: Vec<DocumentVersionRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    // A document always has a version; none means it is absent (or all purged).
                    if rows.is_empty() && !document_exists(&self.pool, tenant, id).await? {
                        return Err(CrmError::not_found("document", id));
                    }
                    rows.into_iter().map(DocumentVersionRow::into_domain).collect()
                }

                async fn get_version(&self, tenant: TenantId, id: DocumentId, number: u32) -> Result<DocumentVersion> {
                    let sql = format!(
                        "SELECT {DOCUMENT_VERSION_COLUMNS} FROM document_versions WHERE tenant_id = $1 AND \
                         document_id = $2 AND number = $3"
                    );
                    let row: Option<DocumentVersionRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .bind(i64::from(number))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?;
                    match row {
                        Some(row) => row.into_domain(),
                        None if document_exists(&self.pool, tenant, id).await? => {
                            Err(CrmError::not_found("document version", number))
                        }
                        None => Err(CrmError::not_found("document", id)),
                    }
                }

                async fn purge(
                    &self,
                    tenant: TenantId,
                    id: DocumentId,
                    audit: &AuditDraft,
                    events: &[DomainEvent],
                ) -> Result<Vec<BlobKey>> {
                    let mut tx = self.begin().await?;
                    // Lock the document first (PostgreSQL; SQLite holds its write lock already), so
                    // no version is added between reading the versions and deleting them.
                    let lock = match $dialect {
                        Dialect::Postgres => " FOR UPDATE",
                        Dialect::Sqlite => "",
                    };
                    let found = sqlx::query(&format!("SELECT id FROM documents WHERE tenant_id = $1 AND id = $2{lock}"))
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    if found.is_none() {
                        return Err(CrmError::not_found("document", id));
                    }
                    let rows: Vec<(String,)> = sqlx::query_as(
                        "SELECT content_key FROM document_versions WHERE tenant_id = $1 AND document_id = $2",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(id.0))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    let mut keys = rows
                        .iter()
                        .map(|(key,)| BlobKey::parse(key).map_err(|e| corrupt("document content key", e)))
                        .collect::<Result<Vec<BlobKey>>>()?;
                    keys.sort();
                    keys.dedup();
                    // Its versions and share links go with it (ON DELETE CASCADE).
                    sqlx::query("DELETE FROM documents WHERE tenant_id = $1 AND id = $2")
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    let still = referenced(&mut tx, &keys).await?;
                    keys.retain(|key| !still.contains(key.as_str()));
                    append_audit(&mut tx, audit).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(keys)
                }

                async fn unreferenced(&self, keys: &[BlobKey]) -> Result<Vec<BlobKey>> {
                    if keys.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut conn = self.pool.acquire().await.map_err(store_err)?;
                    let still = referenced(&mut conn, keys).await?;
                    Ok(keys.iter().filter(|key| !still.contains(key.as_str())).cloned().collect())
                }

                async fn record_audit(&self, audit: &AuditDraft) -> Result<AuditEntry> {
                    let mut tx = self.begin().await?;
                    let entry = append_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(entry)
                }

                async fn insert_share_link(
                    &self,
                    link: &ShareLink,
                    audit: &AuditDraft,
                    events: &[DomainEvent],
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let sql = format!(
                        "INSERT INTO share_links ({SHARE_LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                         $10, $11, $12)"
                    );
                    // The document must be of the link's tenant: the reference is (tenant_id, document_id).
                    bind_share_link(sqlx::query(&sql), link)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("document", link.document_id)))?;
                    append_audit(&mut tx, audit).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn share_links(&self, tenant: TenantId, document: DocumentId) -> Result<Vec<ShareLink>> {
                    let sql = format!(
                        "SELECT {SHARE_LINK_COLUMNS} FROM share_links WHERE tenant_id = $1 AND document_id = $2 \
                         ORDER BY id DESC"
                    );
                    let rows: Vec<ShareLinkRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(document.0))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    if rows.is_empty() && !document_exists(&self.pool, tenant, document).await? {
                        return Err(CrmError::not_found("document", document));
                    }
                    rows.into_iter().map(ShareLinkRow::into_domain).collect()
                }

                async fn get_share_link(&self, tenant: TenantId, id: ShareLinkId) -> Result<ShareLink> {
                    let sql = format!("SELECT {SHARE_LINK_COLUMNS} FROM share_links WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, ShareLinkRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(ShareLinkRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("share link", id))
                }

                async fn find_share_link(&self, token_hash: &str) -> Result<Option<ShareLink>> {
                    let sql = format!("SELECT {SHARE_LINK_COLUMNS} FROM share_links WHERE token_hash = $1");
                    sqlx::query_as::<_, ShareLinkRow>(&sql)
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(ShareLinkRow::into_domain)
                        .transpose()
                }

                async fn revoke_share_link(
                    &self,
                    tenant: TenantId,
                    id: ShareLinkId,
                    at: DateTime<Utc>,
                    audit: &AuditDraft,
                ) -> Result<ShareLink> {
                    let mut tx = self.begin().await?;
                    // A second revocation keeps the first time.
                    let sql = format!(
                        "UPDATE share_links SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2 \
                         RETURNING {SHARE_LINK_COLUMNS}"
                    );
                    let link = sqlx::query_as::<_, ShareLinkRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .bind(DbTime(at))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_err)?
                        .ok_or_else(|| CrmError::not_found("share link", id))?
                        .into_domain()?;
                    append_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(link)
                }

                async fn use_share_link(
                    &self,
                    id: ShareLinkId,
                    now: DateTime<Utc>,
                    audit: &AuditDraft,
                ) -> Result<ShareLink> {
                    let mut tx = self.begin().await?;
                    // One statement decides and counts: of concurrent downloads at the limit,
                    // those after the last allowed one find the condition false.
                    let sql = format!(
                        "UPDATE share_links SET downloads = downloads + 1 WHERE id = $1 AND revoked_at IS NULL \
                         AND expires_at > $2 AND (max_downloads IS NULL OR downloads < max_downloads) \
                         RETURNING {SHARE_LINK_COLUMNS}"
                    );
                    let counted = sqlx::query_as::<_, ShareLinkRow>(&sql)
                        .bind(DbId(id.0))
                        .bind(DbTime(now))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    let Some(row) = counted else {
                        return Err(share_link_refusal(&mut tx, id, now).await);
                    };
                    let link = row.into_domain()?;
                    append_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(link)
                }

                async fn audit_entries(&self, tenant: TenantId, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>> {
                    let sql = format!(
                        "SELECT {AUDIT_ENTRY_COLUMNS} FROM audit_entries WHERE tenant_id = $1 AND seq > $2 \
                         ORDER BY seq LIMIT $3"
                    );
                    let rows: Vec<AuditEntryRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(after_seq)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    rows.into_iter().map(AuditEntryRow::into_domain).collect()
                }

                async fn document_audit_entries(
                    &self,
                    tenant: TenantId,
                    document: DocumentId,
                    before_seq: Option<i64>,
                    limit: u32,
                ) -> Result<Vec<AuditEntry>> {
                    let sql = format!(
                        "SELECT {AUDIT_ENTRY_COLUMNS} FROM audit_entries WHERE tenant_id = $1 AND document_id = $2 \
                         AND seq < $3 ORDER BY seq DESC LIMIT $4"
                    );
                    let rows: Vec<AuditEntryRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(document.0))
                        .bind(before_seq.unwrap_or(i64::MAX))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    rows.into_iter().map(AuditEntryRow::into_domain).collect()
                }
            }
        };
    };
}

pub(crate) use document_repository;

#[cfg(test)]
mod tests {
    use crmcore::document::{Category, SearchQuery};

    use super::{fts5_query, pair_split};

    #[test]
    fn phrases_go_to_the_pair_index_and_the_other_words_to_the_word_index() {
        let split = |q: &str| pair_split(&SearchQuery::parse(q).expect("query"));
        assert_eq!(split("acme invoice*"), (vec![], "('acme') & ('invoice':*)".to_owned()));
        assert_eq!(split("net-30-pri*"), (vec!["net 30".to_owned()], String::new()));
        assert_eq!(
            split("acme \"draft audit\" -\"net 30\" \"renewal invoice net\""),
            (vec!["draft audit".to_owned(), "renewal invoice net".to_owned()], "('acme')".to_owned())
        );
        // A prefix with one whole word before it has no whole pair: the word index narrows it.
        assert_eq!(
            split("net-pri* \"zürich pricing\""),
            (vec!["zürich pricing".to_owned()], "('net' <-> 'pri':*)".to_owned())
        );
    }

    #[test]
    fn fts5_queries_match_words_in_the_word_columns_and_phrases_as_pair_phrases() {
        let fts = |q: &str| fts5_query(&SearchQuery::parse(q).expect("query"), None);
        let words = "{search_title search_tags search_body} : ";
        let pairs = "{pairs_title pairs_tags pairs_body} : ";
        assert_eq!(
            fts(r#"Invoice "net 30" acme* -draft"#),
            format!("{words}\"invoice\" AND {pairs}\"net\u{E000}30\" AND {words}\"acme\" * NOT {words}\"draft\"")
        );
        assert_eq!(fts("foo-bar-ba*"), format!("{pairs}\"foo\u{E000}bar bar\u{E000}ba\" *"));
        assert_eq!(fts("a -\"b c\""), format!("{words}\"a\" NOT {pairs}\"b\u{E000}c\""));
        let in_category = fts5_query(&SearchQuery::parse("a -b").expect("query"), Some(Category::Contract));
        assert_eq!(in_category, format!("{{search_category}} : \"contract\" AND {words}\"a\" NOT {words}\"b\""));
    }

    #[test]
    fn hostile_input_cannot_escape_the_fts5_query() {
        let fts = fts5_query(&SearchQuery::parse(r#"a" OR 1=1 -- ' ; DROP "b NEAR(c)"#).expect("query"), None);
        let quoted: Vec<&str> = fts.split('"').skip(1).step_by(2).collect();
        assert!(quoted.iter().all(|t| t.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '\u{E000}')), "{fts}");
        let outside: String = fts.split('"').step_by(2).collect();
        assert!(outside.chars().all(|c| "{}_: *".contains(c) || c.is_ascii_alphabetic()), "{fts}");
    }
}
