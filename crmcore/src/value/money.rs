use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};

/// An ISO 4217 alphabetic currency code (three uppercase ASCII letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses a code such as `EUR` (case-insensitive input, stored uppercase).
    pub fn parse(raw: &str) -> Result<Self> {
        let upper = raw.trim().to_ascii_uppercase();
        match upper.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(CrmError::invalid("currency", "invalid", format!("`{raw}` is not an ISO 4217 currency code"))),
        }
    }

    /// The three-letter code.
    pub fn as_str(&self) -> &str {
        // Only ASCII uppercase letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = CrmError;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

/// An amount in minor units (cents) of a currency; never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// Amount in minor units, e.g. 1999 for 19.99 EUR.
    pub amount_minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// Builds a non-negative amount.
    pub fn new(amount_minor: i64, currency: Currency) -> Result<Self> {
        if amount_minor < 0 {
            return Err(CrmError::invalid("amount_minor", "negative", "amount must not be negative"));
        }
        Ok(Self { amount_minor, currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}.{:02}", self.currency, self.amount_minor / 100, self.amount_minor % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes() {
        assert_eq!(Currency::parse("eur").unwrap().as_str(), "EUR");
        for bad in ["", "EU", "EURO", "E1R", "€€€"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money_is_never_negative() {
        let eur = Currency::parse("EUR").unwrap();
        assert!(Money::new(-1, eur).is_err());
        assert_eq!(Money::new(1999, eur).unwrap().to_string(), "EUR 19.99");
    }
}
