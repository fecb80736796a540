use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::Result;
use crate::ports::{
    ActivityRepository, ApprovalRepository, CampaignRepository, CommentRepository, ContactRepository,
    CredentialRepository, DealRepository, DocumentRepository, FollowRepository, IntegrationRepository, JobQueue,
    MemberRepository, NotificationRepository, Outbox, TenantRepository, WebhookRepository,
};

/// A storage backend: one repository per aggregate, the job queue and the outbox.
///
/// # Contract
/// Every state-changing repository call is one transaction that also appends the domain events
/// it was given to the outbox: either all of it is visible afterwards, or none of it.
/// Every tenant-scoped read and write filters by the tenant it is given.
#[async_trait]
pub trait Store: Send + Sync + Debug + 'static {
    /// Tenants.
    fn tenants(&self) -> &dyn TenantRepository;
    /// Members.
    fn members(&self) -> &dyn MemberRepository;
    /// Contacts.
    fn contacts(&self) -> &dyn ContactRepository;
    /// Deals and their stage history.
    fn deals(&self) -> &dyn DealRepository;
    /// Campaigns, templates, recipients, suppressions and engagement.
    fn campaigns(&self) -> &dyn CampaignRepository;
    /// Password hashes, API keys and refresh tokens.
    fn credentials(&self) -> &dyn CredentialRepository;
    /// Activities and feeds.
    fn activities(&self) -> &dyn ActivityRepository;
    /// Comments.
    fn comments(&self) -> &dyn CommentRepository;
    /// Follows.
    fn follows(&self) -> &dyn FollowRepository;
    /// Notifications and delivery preferences.
    fn notifications(&self) -> &dyn NotificationRepository;
    /// Webhook endpoints, deliveries and attempts.
    fn webhooks(&self) -> &dyn WebhookRepository;
    /// Documents, versions and the audit trail.
    fn documents(&self) -> &dyn DocumentRepository;
    /// Approval workflows of documents.
    fn approvals(&self) -> &dyn ApprovalRepository;
    /// OAuth providers, connections and sync logs.
    fn integrations(&self) -> &dyn IntegrationRepository;
    /// The event outbox.
    fn outbox(&self) -> &dyn Outbox;
    /// The durable job queue.
    fn jobs(&self) -> &dyn JobQueue;
    /// Checks the backend answers; `Unavailable` when it does not.
    async fn ping(&self) -> Result<()>;
}
