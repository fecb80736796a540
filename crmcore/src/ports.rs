//! Ports: the traits crmcore needs from the outside world. Adapters implement them; services
//! use them as `Arc<dyn _>`. Each method's doc says what it MUST return; `crmcore::testing`
//! (feature `testing`) is the contract suite that holds every adapter to it.

mod activity;
mod approval;
mod blob;
mod campaign;
mod clock;
mod credentials;
mod document;
mod integration;
mod job_queue;
mod live;
mod mailer;
mod oauth;
mod ocr;
mod outbox;
mod pdf;
mod repositories;
mod store;
mod webhook;
mod webhook_transport;

pub use activity::{ActivityRepository, CommentRepository, FollowRepository, NotificationRepository};
pub use approval::ApprovalRepository;
pub use blob::{BlobHasher, BlobKey, BlobReader, BlobStore, BlobWriter, BufferedBlobWriter, slice_at};
pub use campaign::{CampaignRepository, Engagement};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{ApiKey, CredentialRepository, LoginCandidate, RefreshToken, RefreshTokenUse};
pub use document::DocumentRepository;
pub use integration::IntegrationRepository;
pub use job_queue::{ClaimedJob, Enqueued, JobQueue, JobRecord, JobState, NewJob, QueueStats};
pub use live::{InProcessLiveUpdates, LiveUpdates};
pub use mailer::{EmailMessage, MailError, Mailer, SendReceipt};
pub use oauth::{OAuthClient, OAuthTokenRequest, OAuthTokens};
pub use ocr::Ocr;
pub use outbox::Outbox;
pub use pdf::{PdfReader, PdfWriter};
pub use repositories::{ContactRepository, DealRepository, MemberRepository, TenantRepository};
pub use store::Store;
pub use webhook::WebhookRepository;
pub use webhook_transport::{TransportError, WebhookRequest, WebhookResponse, WebhookTransport};
