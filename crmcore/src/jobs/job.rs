use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CrmError, Result};
use crate::id::{CampaignId, ConnectionId, DocumentId, TenantId};
use crate::ports::{ClaimedJob, NewJob};

/// Every kind of background job. Each capability adds its own variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
#[non_exhaustive]
pub enum Job {
    /// Reads undispatched outbox events in order and hands them to their consumers.
    #[serde(rename = "outbox.dispatch")]
    DispatchOutbox,
    /// E-mails each member a digest of their unread `email_digest` notifications.
    #[serde(rename = "activity.digest")]
    SendNotificationDigests,
    /// Freezes a campaign's audience and sends it, one slice at a time.
    #[serde(rename = "campaign.send")]
    SendCampaign {
        /// The campaign's tenant.
        tenant_id: TenantId,
        /// The campaign.
        campaign_id: CampaignId,
    },
    /// Runs one sync of an integration connection (at most one per connection at a time).
    #[serde(rename = "integration.sync")]
    SyncConnection {
        /// The connection's tenant.
        tenant_id: TenantId,
        /// The connection.
        connection_id: ConnectionId,
        /// Queued by the schedule (else by a member's "sync now").
        scheduled: bool,
    },
    /// Deletes blobs of purged document versions that are still unreferenced.
    #[serde(rename = "documents.collect_blobs")]
    CollectBlobs {
        /// The candidates' content keys.
        keys: Vec<String>,
    },
    /// Extracts the text of one document version (for search).
    #[serde(rename = "documents.extract_text")]
    ExtractText {
        /// The document's tenant.
        tenant_id: TenantId,
        /// The document.
        document_id: DocumentId,
        /// The version's number.
        number: u32,
    },
    /// Launches a scheduled campaign when its send time comes.
    #[serde(rename = "campaign.start")]
    StartCampaign {
        /// The campaign's tenant.
        tenant_id: TenantId,
        /// The campaign.
        campaign_id: CampaignId,
    },
}

impl Job {
    /// The dedupe key of the outbox dispatcher: at most one is pending or running at a time.
    pub const OUTBOX_DEDUPE_KEY: &'static str = "outbox.dispatch";

    /// The dedupe key of the digest job: at most one is pending or running at a time.
    pub const DIGEST_DEDUPE_KEY: &'static str = "activity.digest";

    /// The queue's name for this job.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::DispatchOutbox => "outbox.dispatch",
            Job::SendNotificationDigests => "activity.digest",
            Job::SendCampaign { .. } => "campaign.send",
            Job::StartCampaign { .. } => "campaign.start",
            Job::SyncConnection { .. } => "integration.sync",
            Job::CollectBlobs { .. } => "documents.collect_blobs",
            Job::ExtractText { .. } => "documents.extract_text",
        }
    }

    /// The queue entry for this job, due at `run_at`.
    pub fn to_new_job(&self, run_at: DateTime<Utc>) -> Result<NewJob> {
        let mut tagged = serde_json::to_value(self).map_err(|e| CrmError::Internal(e.to_string()))?;
        let payload = tagged.get_mut("payload").map(Value::take).unwrap_or(Value::Null);
        let (dedupe_key, max_attempts) = match self {
            Job::DispatchOutbox => (Some(Self::OUTBOX_DEDUPE_KEY.to_owned()), 25),
            Job::SendNotificationDigests => (Some(Self::DIGEST_DEDUPE_KEY.to_owned()), 10),
            // A send continues slice after slice through the queue's retry, so its attempts are
            // not a failure budget.
            Job::SendCampaign { campaign_id, .. } => (Some(format!("campaign.send:{campaign_id}")), 1_000_000),
            Job::StartCampaign { campaign_id, .. } => (Some(format!("campaign.start:{campaign_id}")), 25),
            // One sync per connection queued or running, across every worker; a failed sync is
            // logged and waits for the next schedule, so the job itself does not retry long.
            Job::SyncConnection { connection_id, .. } => (Some(format!("integration.sync:{connection_id}")), 3),
            Job::CollectBlobs { .. } => (None, 10),
            Job::ExtractText { document_id, number, .. } => {
                (Some(format!("documents.extract_text:{document_id}:{number}")), 8)
            }
        };
        let tenant_id = match self {
            Job::SendCampaign { tenant_id, .. }
            | Job::StartCampaign { tenant_id, .. }
            | Job::SyncConnection { tenant_id, .. }
            | Job::ExtractText { tenant_id, .. } => Some(*tenant_id),
            _ => None,
        };
        Ok(NewJob { kind: self.kind().to_owned(), payload, tenant_id, run_at, dedupe_key, max_attempts })
    }

    /// Decodes a claimed queue entry; `Validation` when its kind or payload is unknown.
    pub fn from_claimed(claimed: &ClaimedJob) -> Result<Job> {
        let mut tagged = serde_json::Map::new();
        tagged.insert("kind".into(), Value::String(claimed.kind.clone()));
        if !claimed.payload.is_null() {
            tagged.insert("payload".into(), claimed.payload.clone());
        }
        serde_json::from_value(Value::Object(tagged))
            .map_err(|e| CrmError::invalid("job", "unknown", format!("cannot decode job `{}`: {e}", claimed.kind)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{JobId, LeaseId};

    #[test]
    fn jobs_round_trip_through_the_queue_shape() {
        let now = Utc::now();
        let new = Job::DispatchOutbox.to_new_job(now).unwrap();
        assert_eq!(new.kind, "outbox.dispatch");
        let claimed = ClaimedJob {
            id: JobId::new(),
            kind: new.kind,
            payload: new.payload,
            tenant_id: None,
            attempt: 1,
            max_attempts: new.max_attempts,
            lease: LeaseId::new(),
            lease_expires_at: now,
        };
        assert_eq!(Job::from_claimed(&claimed).unwrap(), Job::DispatchOutbox);
        let unknown = ClaimedJob { kind: "nope".into(), ..claimed };
        assert!(Job::from_claimed(&unknown).is_err());
    }
}
