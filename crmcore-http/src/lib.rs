//! crmcore-http: the crmcore HTTP API as an embeddable axum [`router`], and the
//! `crmcore-server` binary built on it.
//!
//! # Layout
//! - [`router`] builds the API over an [`AppState`] (a [`crmcore::Crm`] plus [`Settings`]);
//!   [`serve`] runs it on a listener with graceful shutdown and the in-process worker.
//! - [`auth`]: JWT access tokens, rotating refresh tokens and API keys, turned into a
//!   [`crmcore::Actor`] by the [`auth::CurrentActor`] extractor.
//! - [`error::ApiError`]: the one mapping from errors to RFC 9457 problem documents;
//!   [`extract`] wraps axum's extractors so malformed requests get problems too.
//! - `routes/`: one file per resource; handlers parse, call one crmcore service, map.
//! - `console/` (feature `console`, default): the web console at `/`, server-rendered pages.
//! - [`config`]: the binary's flags and `CRM_*` variables; [`admin`]: `create-admin`.
//!
//! # Example
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use crmcore_http::{Secret, Settings};
//! let crm = crmcore::Crm::builder().store(crmcore_memory::MemoryStore::new()).build()?;
//! let settings = Settings::new(Secret::new(crmcore::secret::random_bytes(32)?));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! crmcore_http::serve(crm, settings, listener, crmcore_http::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod auth;
pub mod backend;
pub mod config;
#[cfg(feature = "console")]
mod console;
pub mod error;
pub mod extract;
pub mod fs_blobs;
pub mod metrics;
#[cfg(feature = "webhook-http")]
pub mod oauth_http;
#[cfg(feature = "ocr")]
pub mod ocr_tesseract;
pub mod openapi;
#[cfg(feature = "pdf")]
pub mod pdf_read;
#[cfg(feature = "pdf-writer")]
pub mod pdf_write;
pub mod rate_limit;
mod routes;
#[cfg(feature = "object-store")]
pub mod s3_blobs;
pub mod secrets;
mod server;
pub mod settings;
#[cfg(feature = "smtp")]
pub mod smtp;
pub mod state;
#[cfg(feature = "webhook-http")]
pub mod webhook_http;

pub use error::ApiError;
pub use openapi::ApiDoc;
pub use routes::router;
pub use server::{serve, shutdown_signal};
pub use settings::{Secret, Settings};
pub use state::AppState;
