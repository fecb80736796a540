//! In-memory adapters for every crmcore port: fast, complete, for tests and demos.
//!
//! # Layout
//! - [`MemoryStore`]: every repository, the outbox and the job queue behind one mutex, so each
//!   mutation is atomic: constraints are checked before anything changes, and the events are
//!   appended in the same critical section. Leases expire exactly as in the SQL stores.
//! - [`CapturingMailer`]: keeps sent messages for inspection, with scripted failures.
//! - [`MemoryBlobStore`]: content-addressed blobs in a map.
//!
//! ```
//! # tokio_test_block_on(async {
//! let crm = crmcore::Crm::builder().store(crmcore_memory::MemoryStore::new()).build().unwrap();
//! assert!(crm.store().ping().await.is_ok());
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

mod blobs;
mod mailer;
mod store;

pub use blobs::MemoryBlobStore;
pub use mailer::CapturingMailer;
pub use store::MemoryStore;
