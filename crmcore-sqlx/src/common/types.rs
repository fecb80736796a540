//! Column types that encode one way in SQLite and natively in PostgreSQL, so one row struct
//! decodes from either backend.
//!
//! - [`DbId`]: a UUID; lowercase hyphenated `TEXT` in SQLite, `uuid` in PostgreSQL.
//! - [`DbTime`]: a UTC instant; in SQLite RFC 3339 `TEXT` with exactly six fractional digits
//!   (`2026-01-02T03:04:05.000006Z`), so comparing the text compares the instants; `timestamptz`
//!   in PostgreSQL.
//! - [`ExactJson`]: a JSON value kept exactly as serialized; `TEXT` in SQLite, `json` (not
//!   `jsonb`, which rewrites numbers such as `1e16` or `-0.0`) in PostgreSQL. For values whose
//!   serialization is hashed (audit entry details).

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// A UUID column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DbId(pub(crate) Uuid);

/// A timestamp column, microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DbTime(pub(crate) DateTime<Utc>);

impl From<Uuid> for DbId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<DateTime<Utc>> for DbTime {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

/// A JSON column that reads back exactly the text written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExactJson(pub(crate) serde_json::Value);

/// Wraps an optional UUID.
pub(crate) fn opt_id(id: Option<impl Into<Uuid>>) -> Option<DbId> {
    id.map(|id| DbId(id.into()))
}

/// Wraps an optional time.
pub(crate) fn opt_time(at: Option<DateTime<Utc>>) -> Option<DbTime> {
    at.map(DbTime)
}

/// The fixed-width text form of a time (SQLite storage).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses the fixed-width text form [`time_text`] writes (`2026-01-02T03:04:05.000006Z`)
/// without a format interpreter — analytics decodes a few hundred thousand of these per read;
/// `None` for any other shape (callers fall back to a full RFC 3339 parse).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn parse_time_text(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() != 27 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[19] != b'.' || b[26] != b'Z' {
        return None;
    }
    let digits = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let date = chrono::NaiveDate::from_ymd_opt(digits(0, 4)? as i32, digits(5, 7)?, digits(8, 10)?)?;
    let time =
        chrono::NaiveTime::from_hms_micro_opt(digits(11, 13)?, digits(14, 16)?, digits(17, 19)?, digits(20, 26)?)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::sqlite::{Sqlite, SqliteTypeInfo, SqliteValueRef};
    use sqlx::{Database, Decode, Encode, Type};

    use super::{DbId, DbTime, ExactJson, parse_time_text, time_text};

    impl Type<Sqlite> for DbId {
        fn type_info() -> SqliteTypeInfo {
            <str as Type<Sqlite>>::type_info()
        }
        fn compatible(ty: &SqliteTypeInfo) -> bool {
            <str as Type<Sqlite>>::compatible(ty)
        }
    }

    impl<'q> Encode<'q, Sqlite> for DbId {
        fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
            <String as Encode<'q, Sqlite>>::encode(self.0.hyphenated().to_string(), buf)
        }
    }

    impl<'r> Decode<'r, Sqlite> for DbId {
        fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
            let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
            Ok(Self(uuid::Uuid::parse_str(text)?))
        }
    }

    impl Type<Sqlite> for DbTime {
        fn type_info() -> SqliteTypeInfo {
            <str as Type<Sqlite>>::type_info()
        }
        fn compatible(ty: &SqliteTypeInfo) -> bool {
            <str as Type<Sqlite>>::compatible(ty)
        }
    }

    impl<'q> Encode<'q, Sqlite> for DbTime {
        fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
            <String as Encode<'q, Sqlite>>::encode(time_text(self.0), buf)
        }
    }

    impl<'r> Decode<'r, Sqlite> for DbTime {
        fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
            let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
            // Every time we write has the fixed-width form; anything else gets the full parser.
            match parse_time_text(text) {
                Some(at) => Ok(Self(at)),
                None => Ok(Self(chrono::DateTime::parse_from_rfc3339(text)?.with_timezone(&chrono::Utc))),
            }
        }
    }

    impl Type<Sqlite> for ExactJson {
        fn type_info() -> SqliteTypeInfo {
            <str as Type<Sqlite>>::type_info()
        }
        fn compatible(ty: &SqliteTypeInfo) -> bool {
            <str as Type<Sqlite>>::compatible(ty)
        }
    }

    impl<'q> Encode<'q, Sqlite> for ExactJson {
        fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
            <String as Encode<'q, Sqlite>>::encode(serde_json::to_string(&self.0)?, buf)
        }
    }

    impl<'r> Decode<'r, Sqlite> for ExactJson {
        fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
            let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
            Ok(Self(serde_json::from_str(text)?))
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use chrono::{DateTime, Utc};
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::types::Oid;
    use sqlx::postgres::{PgTypeInfo, PgValueRef, Postgres};
    use sqlx::types::Json;
    use sqlx::{Database, Decode, Encode, Type};
    use uuid::Uuid;

    use super::{DbId, DbTime, ExactJson};

    /// The built-in `json` type (its OID is fixed across installations).
    const JSON: PgTypeInfo = PgTypeInfo::with_oid(Oid(114));

    impl Type<Postgres> for DbId {
        fn type_info() -> PgTypeInfo {
            <Uuid as Type<Postgres>>::type_info()
        }
    }

    impl<'q> Encode<'q, Postgres> for DbId {
        fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
            <Uuid as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
        }
    }

    impl<'r> Decode<'r, Postgres> for DbId {
        fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
            <Uuid as Decode<'r, Postgres>>::decode(value).map(Self)
        }
    }

    impl Type<Postgres> for DbTime {
        fn type_info() -> PgTypeInfo {
            <DateTime<Utc> as Type<Postgres>>::type_info()
        }
    }

    impl<'q> Encode<'q, Postgres> for DbTime {
        fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
            <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
        }
    }

    impl<'r> Decode<'r, Postgres> for DbTime {
        fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
            <DateTime<Utc> as Decode<'r, Postgres>>::decode(value).map(Self)
        }
    }

    impl Type<Postgres> for ExactJson {
        fn type_info() -> PgTypeInfo {
            JSON
        }
        fn compatible(ty: &PgTypeInfo) -> bool {
            <Json<serde_json::Value> as Type<Postgres>>::compatible(ty)
        }
    }

    impl<'q> Encode<'q, Postgres> for ExactJson {
        fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
            // `json`'s binary form is its text.
            serde_json::to_writer(&mut **buf, &self.0)?;
            Ok(IsNull::No)
        }
    }

    impl<'r> Decode<'r, Postgres> for ExactJson {
        fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
            <Json<serde_json::Value> as Decode<'r, Postgres>>::decode(value).map(|json| Self(json.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn time_text_is_fixed_width_and_sorts_like_time() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        assert_eq!(time_text(a), "2026-01-02T03:04:05.000000Z");
        assert_eq!(time_text(b), "2026-01-02T03:04:05.000001Z");
        assert!(time_text(a) < time_text(b));
    }

    #[test]
    fn the_fast_parser_reads_what_time_text_writes_and_nothing_else() {
        let mut at = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap() + chrono::Duration::microseconds(999_999);
        for step in [1, 37, 86_400_000_001, 123_456_789_012] {
            at += chrono::Duration::microseconds(step);
            assert_eq!(parse_time_text(&time_text(at)), Some(at));
        }
        for bad in [
            "",
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.000006+00:00",
            "2026-13-02T03:04:05.000006Z",
            "2026-02-30T03:04:05.000006Z",
            "2026-01-02T24:04:05.000006Z",
            "2026-01-02 03:04:05.000006Z",
            "2026-01-02T03:04:05.00000xZ",
            "+026-01-02T03:04:05.000006Z",
            "2026-01-02T03:04:05.0000é6Z",
        ] {
            assert_eq!(parse_time_text(bad), None, "{bad}");
        }
    }
}
