//! Third-party integrations: chat connectors (Slack and Microsoft Teams message formats for
//! webhook endpoints), OAuth 2.0 providers and connections (authorization code with PKCE, tokens
//! sealed at rest, refresh before expiry and on 401, revocation on disconnect), and scheduled
//! syncs with a log of every run.

pub mod connector;
mod model;
mod service;
pub(crate) mod sync;

pub use connector::{PayloadFormat, render};
pub use model::{Connection, ConnectionStatus, OAuthProvider, SyncLog, SyncStatus};
pub use service::{AuthorizationStart, ConnectionView, IntegrationService, NewProvider, ProviderView, pkce_challenge};
pub use sync::next_occurrence;
