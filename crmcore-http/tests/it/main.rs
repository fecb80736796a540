//! End-to-end tests: the real server on port 0, spoken to over HTTP with reqwest. Every
//! scenario runs on the in-memory store, on SQLite in a temporary directory and, when
//! `CRM_TEST_POSTGRES_URL` is set, on PostgreSQL in a fresh schema.

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
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                if $crate::support::postgres_url().is_none() {
                    eprintln!("skipped: CRM_TEST_POSTGRES_URL is not set");
                    return;
                }
                super::$name($crate::support::Backend::Postgres).await
            })*
        }
    };
}

mod activity;
mod analytics;
mod api_keys;
mod approvals;
mod auth;
mod binary;
#[cfg(feature = "console")]
mod browser;
mod campaigns;
#[cfg(feature = "console")]
mod console;
#[cfg(feature = "console")]
mod console_campaigns;
#[cfg(feature = "console")]
mod console_documents;
#[cfg(feature = "console")]
mod console_integrations;
mod contacts;
mod deals;
#[cfg(all(feature = "ocr", feature = "pdf"))]
mod document_ocr;
mod documents;
mod errors;
mod integrations;
#[cfg(all(feature = "ocr", feature = "pdf"))]
mod ocr;
mod ops;
#[cfg(feature = "pdf")]
mod pdf_fixtures;
#[cfg(feature = "pdf")]
mod pdf_read;
#[cfg(feature = "pdf-writer")]
mod pdf_write;
#[cfg(feature = "object-store")]
mod s3_blobs;
mod smtp;
mod support;
mod tenancy;
mod webhook_http;
mod webhooks;
