use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};

/// A syntactically valid e-mail address, stored lowercased so uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Longest address accepted (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises an address: one `@`, a non-empty local part without spaces or
    /// control characters, a domain of dot-separated labels with a dot, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Self> {
        let value = raw.trim().to_lowercase();
        let invalid =
            |why: &str| CrmError::invalid("email", "invalid", format!("`{raw}` is not a valid e-mail address: {why}"));
        if value.is_empty() {
            return Err(CrmError::invalid("email", "required", "e-mail address is empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(CrmError::invalid("email", "too_long", "e-mail address exceeds 254 characters"));
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(|| invalid("missing `@`"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(invalid("local part must be 1 to 64 characters"));
        }
        if local.contains('@') || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid("malformed local part"));
        }
        let bad_char = |c: char| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"')
        };
        if local.chars().any(bad_char) {
            return Err(invalid("forbidden character in local part"));
        }
        if !domain.contains('.') {
            return Err(invalid("domain needs a dot"));
        }
        for label in domain.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-');
            if !ok {
                return Err(invalid("malformed domain"));
            }
        }
        Ok(Self(value))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = CrmError;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_ordinary_addresses() {
        assert_eq!(EmailAddress::parse(" Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        assert_eq!(EmailAddress::parse("a.b+tag@mail.example.co.uk").unwrap().domain(), "mail.example.co.uk");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a..b@example.com",
            "a@-x.com",
            "a@x..com",
            "<a>@x.com",
            "a@x.com\r\nBcc: b@y.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
