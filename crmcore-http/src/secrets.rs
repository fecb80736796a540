//! Generated secrets kept beside an embedded database (`crm.db` → `crm.db.secrets`, mode 0600),
//! so a zero-config server keeps its signing keys across restarts.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::settings::Secret;

/// Secrets read from (or written to) the secrets file.
#[derive(Debug, Clone)]
pub struct StoredSecrets {
    /// The JWT signing key.
    pub jwt_secret: Secret,
    /// The token-encryption key.
    pub token_encryption_key: Secret,
}

#[derive(Serialize, Deserialize)]
struct SecretsFile {
    jwt_secret: String,
    token_encryption_key: String,
}

/// The secrets file beside a SQLite database URL's file, if the URL names a file.
pub fn secrets_path_for(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    if file.is_empty() || file == ":memory:" {
        return None;
    }
    Some(PathBuf::from(format!("{file}.secrets")))
}

fn invalid(path: &Path, what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {what}", path.display()))
}

/// Reads the secrets file at `path`, creating it (mode 0600) with fresh random keys if absent.
pub fn load_or_create(path: &Path) -> std::io::Result<StoredSecrets> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let file: SecretsFile = serde_json::from_str(&text).map_err(|_| invalid(path, "not a secrets file"))?;
            let decode = |s: &str| STANDARD.decode(s).map(Secret::new).map_err(|_| invalid(path, "bad base64"));
            Ok(StoredSecrets {
                jwt_secret: decode(&file.jwt_secret)?,
                token_encryption_key: decode(&file.token_encryption_key)?,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(e),
    }
}

fn create(path: &Path) -> std::io::Result<StoredSecrets> {
    let random = || crmcore::secret::random_bytes(32).map_err(std::io::Error::other);
    let (jwt, key) = (random()?, random()?);
    let text = serde_json::to_string_pretty(&SecretsFile {
        jwt_secret: STANDARD.encode(&jwt),
        token_encryption_key: STANDARD.encode(&key),
    })
    .map_err(std::io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    tracing::warn!(path = %path.display(), "generated new secrets; keep this file private and backed up, or set CRM_JWT_SECRET");
    Ok(StoredSecrets { jwt_secret: Secret::new(jwt), token_encryption_key: Secret::new(key) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sit_beside_the_database() {
        assert_eq!(secrets_path_for("sqlite://crm.db?mode=rwc"), Some(PathBuf::from("crm.db.secrets")));
        assert_eq!(secrets_path_for("sqlite:/var/x.db"), Some(PathBuf::from("/var/x.db.secrets")));
        assert_eq!(secrets_path_for("sqlite::memory:"), None);
        assert_eq!(secrets_path_for("postgres://h/db"), None);
    }

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.db.secrets");
        let first = load_or_create(&path).unwrap();
        let second = load_or_create(&path).unwrap();
        assert_eq!(first.jwt_secret, second.jwt_secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
