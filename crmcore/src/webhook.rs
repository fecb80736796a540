//! Outgoing webhooks: endpoint settings and their validation, the Standard Webhooks signature
//! scheme (what deliveries are signed with and what receivers verify with), the retry schedule
//! and the per-endpoint circuit breaker.

pub mod circuit;
pub mod endpoint;
pub(crate) mod fanout;
mod model;
pub mod retry;
pub mod seal;
pub(crate) mod sender;
mod service;
pub mod signature;

pub use circuit::{Admission, CircuitPolicy, CircuitState};
pub use endpoint::{EventFilter, PayloadCondition, PayloadFilter, PayloadOp, WebhookUrl, validate_headers};
pub use model::{
    ClaimLimits, DeliveryAttempt, DeliveryFilter, DeliveryOutcome, DeliveryStatus, EndpointHealth, EndpointSecrets,
    ErrorClass, WebhookDelivery, WebhookEndpoint,
};
pub use retry::{AttemptOutcome, RetrySchedule, parse_retry_after};
pub use seal::{SealedSecret, SecretSealer};
pub use service::{
    CreatedEndpoint, EndpointPatch, EndpointView, EventTypeInfo, NewEndpoint, WebhookConfig, WebhookService,
};
pub use signature::{SignatureError, SigningSecret, sign, verify};
