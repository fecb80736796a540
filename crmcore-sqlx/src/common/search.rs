//! Translating the domain's case-insensitive substring search into SQL `LIKE`.
//!
//! The domain compares `field.to_lowercase().contains(&needle.to_lowercase())`. The stores keep
//! each searchable field lowercased by Rust at write time (`*_lc` columns), and search with the
//! lowercased needle as a `LIKE '%…%' ESCAPE '\'` pattern whose wildcards are escaped, so the
//! database never has to fold case (SQLite's `lower()` only folds ASCII).

/// The `LIKE` pattern matching any text that contains `needle` (after lowercasing it).
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The lowercased copy of a searchable field.
pub(crate) fn lowered(field: Option<&str>) -> Option<String> {
    field.map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_wildcards_and_lowercases() {
        assert_eq!(contains_pattern("100%"), "%100\\%%");
        assert_eq!(contains_pattern("a_b\\c"), "%a\\_b\\\\c%");
        assert_eq!(contains_pattern("ÉDITH"), "%édith%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
