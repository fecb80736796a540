use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};

/// A label on a record: 1–64 characters, trimmed and lowercased, no control characters or commas.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// Parses and normalises a tag.
    pub fn parse(raw: &str) -> Result<Self> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() || value.chars().count() > 64 || value.chars().any(|c| c.is_control() || c == ',') {
            return Err(CrmError::invalid(
                "tags",
                "invalid",
                format!("`{raw}` is not a valid tag: 1 to 64 characters, no commas"),
            ));
        }
        Ok(Self(value))
    }

    /// The normalised tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Tag {
    type Error = CrmError;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<Tag> for String {
    fn from(value: Tag) -> Self {
        value.0
    }
}
