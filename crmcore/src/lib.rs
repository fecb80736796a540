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
//! ```
//! use crmcore::{Actor, Crm, contact::NewContact, tenant::NewOwner};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> crmcore::Result<()> {
//! let crm = Crm::builder().store(crmcore_memory::MemoryStore::new()).build()?;
//! let owner = NewOwner { email: "ada@acme.test".into(), display_name: None, handle: None };
//! let (tenant, ada) = crm.tenants().create("Acme", owner).await?;
//! let me = Actor::member(tenant.id, ada.id, ada.role);
//! let bob = NewContact { email: Some("bob@example.com".into()), ..Default::default() };
//! let bob = crm.contacts().create(&me, bob).await?;
//! assert_eq!(crm.contacts().get(&me, bob.id).await?.email, bob.email);
//! crm.worker().run_until_idle().await?; // dispatches tenant.created, member.created, contact.created
//! # Ok(())
//! # }
//! ```
//! The README and `examples/embed_memory.rs` hold the compiled version of this example.

pub mod activity;
pub mod actor;
pub mod analytics;
pub mod campaign;
pub mod contact;
mod crm;
pub mod deal;
pub mod document;
pub mod error;
pub mod event;
pub mod id;
pub mod integration;
pub mod jobs;
pub mod member;
#[cfg(feature = "openapi")]
mod openapi;
pub mod page;
pub mod ports;
mod record;
pub mod secret;
mod serde_util;
pub mod template;
pub mod tenant;
pub mod token;
pub mod value;
pub mod webhook;

#[cfg(feature = "testing")]
pub mod testing;

pub use actor::{Actor, Permission, Principal, Role};
pub use crm::{Crm, CrmBuilder};
pub use error::{CrmError, FieldError, Result};
