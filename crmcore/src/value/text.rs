use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};

/// Trimmed text that is not empty and at most `max` characters long.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NonEmptyText(String);

impl NonEmptyText {
    /// Validates `raw` for the named `field`.
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<Self> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(CrmError::invalid(field, "required", format!("{field} must not be empty")));
        }
        if value.chars().count() > max {
            return Err(CrmError::invalid(field, "too_long", format!("{field} exceeds {max} characters")));
        }
        if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(CrmError::invalid(field, "invalid", format!("{field} contains control characters")));
        }
        Ok(Self(value.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NonEmptyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates optional free text: blank becomes `None`, otherwise as [`NonEmptyText::parse`].
pub fn optional_text(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => NonEmptyText::parse(field, value, max).map(|t| Some(t.0)),
    }
}
