//! Typed identifiers: UUID v7 newtypes, so a `ContactId` can never be passed where a `DealId` goes.
//!
//! UUID v7 ids sort by creation time, which is what keyset pagination orders by.

/// Declares a UUID v7 id newtype with parsing, display and serde as a plain UUID string.
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::CrmError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| $crate::CrmError::invalid("id", "invalid", format!("`{s}` is not a valid id")))
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }
    };
}

typed_id!(
    /// Identifies a tenant: the isolation boundary of all data.
    TenantId
);
typed_id!(
    /// Identifies a member (a person) within a tenant.
    MemberId
);
typed_id!(
    /// Identifies a contact.
    ContactId
);
typed_id!(
    /// Identifies a deal.
    DealId
);
typed_id!(
    /// Identifies a domain event.
    EventId
);
typed_id!(
    /// Identifies a job in the queue.
    JobId
);
typed_id!(
    /// Identifies one claim of a job; completing with a stale lease fails.
    LeaseId
);
typed_id!(
    /// Identifies an API key.
    ApiKeyId
);
typed_id!(
    /// Identifies a refresh token.
    RefreshTokenId
);
typed_id!(
    /// Identifies an e-mail campaign.
    CampaignId
);
typed_id!(
    /// Identifies an e-mail template.
    EmailTemplateId
);
typed_id!(
    /// Identifies one recipient of a campaign.
    RecipientId
);
typed_id!(
    /// Identifies a webhook endpoint.
    WebhookEndpointId
);
typed_id!(
    /// Identifies a document.
    DocumentId
);
typed_id!(
    /// Identifies a document share link.
    ShareLinkId
);
typed_id!(
    /// Identifies a document template.
    DocumentTemplateId
);
typed_id!(
    /// Identifies an approval workflow of a document version.
    ApprovalId
);
typed_id!(
    /// Identifies an OAuth 2.0 provider configuration.
    OAuthProviderId
);
typed_id!(
    /// Identifies a connection to an OAuth 2.0 provider.
    ConnectionId
);
typed_id!(
    /// Identifies one sync run of a connection.
    SyncLogId
);
typed_id!(
    /// Identifies one webhook delivery: an event bound for one endpoint (its `webhook-id` is
    /// `msg_` + this id, stable across retries).
    DeliveryId
);
