//! Compiling a resolved segment [`Condition`] into a SQL predicate over `contacts c`.
//!
//! The domain's [`Condition::matches`] is the reference; the contract suite checks that both
//! databases select exactly the contacts it selects. Three things keep them in step:
//! - every leaf is wrapped in `COALESCE(…, FALSE)`, so a missing value is *false* — never SQL's
//!   NULL, which `NOT` would keep unknown instead of turning true;
//! - text comparisons run on the `*_lc` columns, lowercased by Rust at write time, against
//!   operands the domain lowercased the same way;
//! - custom fields are type-checked before they are compared (`'abc' > 5` is true in SQLite,
//!   an error in PostgreSQL; in the domain a string is simply not a number).

use chrono::{DateTime, Utc};
use crmcore::campaign::segment::{
    Condition, ContactField, CustomTest, DateField, DealTest, EngagementTest, Scalar, TextTest,
};
use uuid::Uuid;

use super::search::contains_pattern;

/// The SQL flavour to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: JSON1 functions on a `TEXT` column.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    /// PostgreSQL: `jsonb` operators.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// A value to bind, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Float(f64),
    Int(i64),
    Time(DateTime<Utc>),
    Id(Uuid),
}

/// A predicate under construction: SQL text with `$n` placeholders and their values.
#[derive(Debug)]
pub(crate) struct Predicate {
    pub(crate) sql: String,
    pub(crate) binds: Vec<Bind>,
    dialect: Dialect,
}

const FALSE: &str = "(1 = 0)";
const TRUE: &str = "(1 = 1)";

impl Predicate {
    /// Starts a predicate whose first placeholder is `$first`.
    pub(crate) fn new(dialect: Dialect, leading: Vec<Bind>) -> Self {
        Self { sql: String::new(), binds: leading, dialect }
    }

    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// Appends the SQL of `condition`.
    pub(crate) fn push(&mut self, condition: &Condition) {
        match condition {
            Condition::All(items) | Condition::Any(items) if items.is_empty() => {
                self.sql.push_str(if matches!(condition, Condition::All(_)) { TRUE } else { FALSE });
            }
            Condition::All(items) | Condition::Any(items) => {
                let joiner = if matches!(condition, Condition::All(_)) { " AND " } else { " OR " };
                self.sql.push('(');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(joiner);
                    }
                    self.push(item);
                }
                self.sql.push(')');
            }
            Condition::Not(inner) => {
                self.sql.push_str("(NOT ");
                self.push(inner);
                self.sql.push(')');
            }
            Condition::Text { field, test } => {
                let leaf = self.text(*field, test);
                self.leaf(&leaf);
            }
            Condition::Custom { key, test } => {
                let leaf = self.custom(key, test);
                self.leaf(&leaf);
            }
            Condition::HasTag(tag) => {
                let p = self.bind(Bind::Text(tag.to_string()));
                self.sql.push_str(&format!(
                    "EXISTS (SELECT 1 FROM contact_tags t WHERE t.tenant_id = c.tenant_id AND t.contact_id = c.id \
                     AND t.tag = {p})"
                ));
            }
            Condition::Date { field, at_or_after, at } => {
                let column = match field {
                    DateField::CreatedAt => "c.created_at",
                    DateField::UpdatedAt => "c.updated_at",
                };
                let p = self.bind(Bind::Time(*at));
                let op = if *at_or_after { ">=" } else { "<" };
                self.sql.push_str(&format!("({column} {op} {p})"));
            }
            Condition::Deal(test) => self.deal(test),
            Condition::Engagement(test) => self.engagement(test),
        }
    }

    fn leaf(&mut self, sql: &str) {
        self.sql.push_str(&format!("COALESCE(({sql}), {FALSE})"));
    }

    fn text(&mut self, field: ContactField, test: &TextTest) -> String {
        let column = match field {
            ContactField::Email => "c.email_lc",
            ContactField::FirstName => "c.first_name_lc",
            ContactField::LastName => "c.last_name_lc",
            ContactField::Company => "c.company_lc",
        };
        match test {
            TextTest::IsSet => format!("{column} IS NOT NULL"),
            TextTest::IsNotSet => format!("{column} IS NULL"),
            TextTest::Equals(x) => {
                let p = self.bind(Bind::Text(x.clone()));
                format!("{column} = {p}")
            }
            TextTest::Contains(x) => {
                let p = self.bind(Bind::Text(contains_pattern(x)));
                format!("{column} LIKE {p} ESCAPE '\\'")
            }
            TextTest::StartsWith(x) => {
                let mut pattern = contains_pattern(x);
                pattern.remove(0);
                let p = self.bind(Bind::Text(pattern));
                format!("{column} LIKE {p} ESCAPE '\\'")
            }
            TextTest::EndsWith(x) => {
                let mut pattern = contains_pattern(x);
                pattern.pop();
                let p = self.bind(Bind::Text(pattern));
                format!("{column} LIKE {p} ESCAPE '\\'")
            }
        }
    }

    fn custom(&mut self, key: &str, test: &CustomTest) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let path = self.bind(Bind::Text(format!("$.{key}")));
                let kind = format!("json_type(c.custom_fields, {path})");
                let value = format!("json_extract(c.custom_fields, {path})");
                match test {
                    CustomTest::Exists => format!("{kind} IS NOT NULL"),
                    CustomTest::Equals(s) => self.sqlite_scalar(&kind, &value, s),
                    CustomTest::Includes(s) => {
                        let inner = self.sqlite_scalar("j.type", "j.value", s);
                        format!(
                            "{kind} = 'array' AND EXISTS (SELECT 1 FROM json_each(c.custom_fields, {path}) j \
                             WHERE {inner})"
                        )
                    }
                    CustomTest::Compare(ord, x) => {
                        let p = self.bind(Bind::Float(*x));
                        format!("{value} {} {p} AND {kind} IN ('integer', 'real')", ord.sql())
                    }
                }
            }
            Dialect::Postgres => {
                let k = self.bind(Bind::Text(key.to_owned()));
                let value = format!("(c.custom_fields -> {k})");
                match test {
                    CustomTest::Exists => format!("{value} IS NOT NULL"),
                    CustomTest::Equals(s) => self.pg_scalar(&value, s),
                    CustomTest::Includes(s) => {
                        let inner = self.pg_scalar("j.v", s);
                        format!(
                            "jsonb_typeof({value}) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements({value}) \
                             AS j(v) WHERE {inner})"
                        )
                    }
                    CustomTest::Compare(ord, x) => {
                        let p = self.bind(Bind::Float(*x));
                        format!(
                            "CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value} #>> '{{}}')::float8 {} {p} \
                             ELSE FALSE END",
                            ord.sql()
                        )
                    }
                }
            }
        }
    }

    fn sqlite_scalar(&mut self, kind: &str, value: &str, scalar: &Scalar) -> String {
        match scalar {
            // The value test first: most rows fail it, and each JSON function parses the text.
            Scalar::Text(s) => {
                let p = self.bind(Bind::Text(s.clone()));
                format!("{value} = {p} AND {kind} = 'text'")
            }
            Scalar::Number(x) => {
                let p = self.bind(Bind::Float(*x));
                format!("{value} = {p} AND {kind} IN ('integer', 'real')")
            }
            Scalar::Bool(b) => format!("{kind} = '{b}'"),
        }
    }

    fn pg_scalar(&mut self, value: &str, scalar: &Scalar) -> String {
        match scalar {
            Scalar::Text(s) => {
                let p = self.bind(Bind::Text(s.clone()));
                format!("{value} = to_jsonb({p}::text)")
            }
            Scalar::Number(x) => {
                let p = self.bind(Bind::Float(*x));
                format!(
                    "CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value} #>> '{{}}')::float8 = {p} ELSE FALSE END"
                )
            }
            Scalar::Bool(b) => format!("{value} = '{b}'::jsonb"),
        }
    }

    fn deal(&mut self, test: &DealTest) {
        let mut sql =
            String::from("EXISTS (SELECT 1 FROM deals d WHERE d.tenant_id = c.tenant_id AND d.contact_id = c.id");
        if let Some(status) = test.status {
            let p = self.bind(Bind::Text(status.as_str().to_owned()));
            sql.push_str(&format!(" AND d.status = {p}"));
        }
        if let Some(stage) = &test.stage {
            let p = self.bind(Bind::Text(stage.clone()));
            sql.push_str(&format!(" AND d.stage = {p}"));
        }
        if let Some(min) = test.min_amount {
            let p = self.bind(Bind::Int(min));
            sql.push_str(&format!(" AND d.amount_minor >= {p}"));
        }
        if let Some(max) = test.max_amount {
            let p = self.bind(Bind::Int(max));
            sql.push_str(&format!(" AND d.amount_minor <= {p}"));
        }
        if let Some(currency) = &test.currency {
            let p = self.bind(Bind::Text(currency.to_string()));
            sql.push_str(&format!(" AND d.currency = {p}"));
        }
        sql.push(')');
        self.sql.push_str(&sql);
    }

    fn engagement(&mut self, test: &EngagementTest) {
        let kind = self.bind(Bind::Text(test.kind.as_str().to_owned()));
        let mut sql = format!(
            "EXISTS (SELECT 1 FROM campaign_engagements e WHERE e.tenant_id = c.tenant_id AND e.contact_id = c.id \
             AND e.bot = {FALSE} AND e.kind = {kind}"
        );
        if let Some(campaign) = test.campaign_id {
            let p = self.bind(Bind::Id(campaign.0));
            sql.push_str(&format!(" AND e.campaign_id = {p}"));
        }
        if let Some(since) = test.since {
            let p = self.bind(Bind::Time(since));
            sql.push_str(&format!(" AND e.occurred_at >= {p}"));
        }
        sql.push(')');
        self.sql.push_str(&sql);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use crmcore::campaign::SegmentRule;
    use serde_json::json;

    use super::*;

    #[test]
    fn compiles_a_tree_with_numbered_placeholders() {
        let rule: SegmentRule = serde_json::from_value(json!({"type": "all", "rules": [
            {"type": "tag", "tag": "vip"},
            {"type": "not", "rule": {"type": "field", "field": "email", "op": "ends_with", "value": "100%.com"}},
            {"type": "custom_field", "key": "seats", "op": "gt", "value": 3}
        ]}))
        .unwrap();
        let condition = rule.resolve("segment", Utc::now()).unwrap();
        let mut p = Predicate::new(Dialect::Postgres, vec![Bind::Text("tenant".into())]);
        p.push(&condition);
        assert!(p.sql.contains("t.tag = $2"), "{}", p.sql);
        assert!(p.sql.contains("(NOT COALESCE((c.email_lc LIKE $3 ESCAPE '\\'), (1 = 0)))"), "{}", p.sql);
        assert_eq!(p.binds[2], Bind::Text("%100\\%.com".into()));
        assert!(p.sql.contains("::float8 > $5"), "{}", p.sql);
        assert_eq!(p.binds.len(), 5);
    }
}
