use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{FieldError, Result, Validator};

/// Tenant-defined extra fields on a record: keys `[a-z][a-z0-9_]{0,63}`, values JSON scalars or
/// arrays of scalars, at most 100 keys and 16 KiB serialized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomFields(BTreeMap<String, Value>);

impl CustomFields {
    /// Most keys a record may carry.
    pub const MAX_KEYS: usize = 100;
    /// Largest serialized size in bytes.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Validates a map of fields.
    pub fn new(fields: BTreeMap<String, Value>) -> Result<Self> {
        let mut v = Validator::new();
        if fields.len() > Self::MAX_KEYS {
            v.push(FieldError::new("custom_fields", "too_many", format!("at most {} custom fields", Self::MAX_KEYS)));
        }
        for (key, value) in &fields {
            let key_ok = key.len() <= 64
                && key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                v.push(FieldError::new(
                    format!("custom_fields.{key}"),
                    "invalid_key",
                    "keys are 1 to 64 of a-z, 0-9, `_`, starting with a letter",
                ));
            }
            let scalar = |x: &Value| !matches!(x, Value::Object(_) | Value::Array(_));
            let value_ok = match value {
                Value::Array(items) => items.iter().all(scalar),
                Value::Object(_) => false,
                _ => true,
            };
            if !value_ok {
                v.push(FieldError::new(
                    format!("custom_fields.{key}"),
                    "invalid_value",
                    "values are scalars or arrays of scalars",
                ));
            }
        }
        if serde_json::to_vec(&fields).map_or(0, |b| b.len()) > Self::MAX_BYTES {
            v.push(FieldError::new("custom_fields", "too_large", "custom fields exceed 16 KiB"));
        }
        v.finish()?;
        Ok(Self(fields))
    }

    /// Applies a merge patch: `null` removes a key, any other value sets it; the result is validated.
    pub fn merged(&self, patch: &BTreeMap<String, Value>) -> Result<Self> {
        let mut fields = self.0.clone();
        for (key, value) in patch {
            if value.is_null() {
                fields.remove(key);
            } else {
                fields.insert(key.clone(), value.clone());
            }
        }
        Self::new(fields)
    }

    /// The fields.
    pub fn as_map(&self) -> &BTreeMap<String, Value> {
        &self.0
    }

    /// One field's value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn validates_keys_and_values() {
        assert!(CustomFields::new(map(json!({"plan": "pro", "seats": 3, "langs": ["en", "fr"]}))).is_ok());
        let err = CustomFields::new(map(json!({"Bad Key": 1, "nested": {"a": 1}}))).unwrap_err();
        match err {
            crate::CrmError::Validation(errors) => assert_eq!(errors.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn merge_patch_removes_nulls() {
        let base = CustomFields::new(map(json!({"a": 1, "b": 2}))).unwrap();
        let merged = base.merged(&map(json!({"a": null, "c": 3}))).unwrap();
        assert_eq!(merged.as_map(), &map(json!({"b": 2, "c": 3})));
    }
}
