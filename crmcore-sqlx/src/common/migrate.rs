//! Migration bookkeeping shared by both backends.
//!
//! sqlx's own runner records migrations in `_sqlx_migrations`, which the host application's
//! sqlx migrations also use; a library must not collide with it. So the migrations are embedded
//! with `sqlx::migrate!` (for the files and checksums) but applied by our own small runner, which
//! records them in [`TABLE`]: one transaction per migration, checksums verified on every open.

use std::collections::BTreeMap;

use crmcore::{CrmError, Result};
use sqlx::migrate::{Migration, Migrator};

/// Where applied migrations are recorded.
pub(crate) const TABLE: &str = "crmcore_migrations";

/// A migration as recorded: its version and hex checksum.
pub(crate) type Applied = BTreeMap<i64, String>;

/// Hex form of a checksum.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The migrations still to apply, in order. Fails when an applied migration changed since, or
/// when the database has migrations this build does not know (it is newer than us).
pub(crate) fn pending<'m>(migrator: &'m Migrator, applied: &Applied) -> Result<Vec<&'m Migration>> {
    let known: Vec<&Migration> = migrator.iter().filter(|m| m.migration_type.is_up_migration()).collect();
    for (version, checksum) in applied {
        match known.iter().find(|m| m.version == *version) {
            Some(m) if hex(&m.checksum) == *checksum => {}
            Some(m) => {
                return Err(CrmError::Internal(format!(
                    "migration {} ({}) was changed after it was applied",
                    m.version, m.description
                )));
            }
            None => {
                return Err(CrmError::Internal(format!(
                    "database has migration {version}, unknown to this version of crmcore-sqlx"
                )));
            }
        }
    }
    Ok(known.into_iter().filter(|m| !applied.contains_key(&m.version)).collect())
}
