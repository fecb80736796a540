use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};

/// A member's unique `@handle` within a tenant: 2–32 of `a-z 0-9 _ . -`, starting with a letter
/// or digit, stored lowercase without the `@`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

impl Handle {
    /// Parses a handle, with or without the leading `@`.
    pub fn parse(raw: &str) -> Result<Self> {
        let value = raw.trim().trim_start_matches('@').to_lowercase();
        let valid_chars =
            value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        let valid_start = value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let valid_end = !value.ends_with(['.', '-']);
        if (2..=32).contains(&value.len()) && valid_chars && valid_start && valid_end {
            Ok(Self(value))
        } else {
            Err(CrmError::invalid(
                "handle",
                "invalid",
                format!(
                    "`{raw}` is not a valid handle: use 2 to 32 of a-z, 0-9, `_`, `.`, `-`, starting with a letter or digit"
                ),
            ))
        }
    }

    /// Derives a valid handle from an e-mail address's local part (for members created without one).
    pub fn from_email_local_part(email: &crate::value::EmailAddress) -> Self {
        let local = email.as_str().split('@').next().unwrap_or_default();
        let mut cleaned: String = local
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' })
            .take(32)
            .collect();
        cleaned =
            cleaned.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).trim_end_matches(['.', '-']).to_owned();
        while cleaned.len() < 2 {
            cleaned.push('0');
        }
        Self(cleaned)
    }

    /// The handle without `@`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Handle {
    type Error = CrmError;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<Handle> for String {
    fn from(value: Handle) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::EmailAddress;

    #[test]
    fn parses_with_or_without_at() {
        assert_eq!(Handle::parse("@Ada.Lovelace").unwrap().as_str(), "ada.lovelace");
        assert_eq!(Handle::parse("bob_2").unwrap().as_str(), "bob_2");
        for bad in ["a", "_x", "x.", "has space", "é-accent", &"x".repeat(33)] {
            assert!(Handle::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn derives_from_email() {
        let email = EmailAddress::parse("j+crm@example.com").unwrap();
        assert!(Handle::parse(Handle::from_email_local_part(&email).as_str()).is_ok());
    }
}
