//! End-to-end tests: the real server on port 0, spoken to over HTTP with reqwest. Every
//! scenario runs once on the in-memory store and once on SQLite in a temporary directory.

/// Declares one `#[tokio::test]` per backend for each scenario `async fn name(backend)`.
#[macro_export]
macro_rules! e2e {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::support::Backend::Memory).await
            })*
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::support::Backend::Sqlite).await
            })*
        }
    };
}

mod api_keys;
mod auth;
mod binary;
mod contacts;
mod deals;
mod errors;
mod ops;
mod support;
mod tenancy;
