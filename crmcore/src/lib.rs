//! crmcore: CRM features to embed in any application — contacts and deals today, with campaigns,
//! documents, webhooks, activity feeds and analytics built on the same core.
//!
//! # Layout
//! - [`Crm`] is the facade: it holds the ports and hands out one service per capability
//!   ([`Crm::contacts`], [`Crm::deals`], [`Crm::members`], …). Every service call takes an
//!   [`Actor`] first and checks its permission itself, so the rules hold for every embedder.
//! - [`ports`] are the traits crmcore needs: the [`ports::Store`] (repositories, job queue,
//!   outbox), mailer, OCR, blob store, webhook transport, clock, OAuth client. Adapters live in
//!   `crmcore-memory`, `crmcore-sqlx` and `crmcore-http`.
//! - Every mutation writes its state and its [`event::DomainEvent`]s in one transaction; the
//!   [`jobs::Worker`] dispatches them from the outbox.
//! - `testing` (feature `testing`) is the contract suite every store adapter runs.
//!
//! # Example
//! ```ignore
//! let crm = crmcore::Crm::builder().store(crmcore_memory::MemoryStore::new()).build()?;
//! let (tenant, owner) = crm.tenants().create("Acme", NewOwner { email: "ada@acme.test".into(), display_name: None, handle: None }).await?;
//! let me = Actor::member(tenant.id, owner.id, owner.role);
//! let contact = crm.contacts().create(&me, NewContact { email: Some("bob@example.com".into()), ..Default::default() }).await?;
//! crm.worker().run_until_idle().await?;
//! ```
//! The README and `examples/embed_memory.rs` hold the compiled version of this example.

pub mod actor;
pub mod contact;
mod crm;
pub mod deal;
pub mod error;
pub mod event;
pub mod id;
pub mod jobs;
pub mod member;
pub mod page;
pub mod ports;
pub mod secret;
mod serde_util;
pub mod tenant;
pub mod value;

#[cfg(feature = "testing")]
pub mod testing;

pub use actor::{Actor, Permission, Principal, Role};
pub use crm::{Crm, CrmBuilder};
pub use error::{CrmError, FieldError, Result};
