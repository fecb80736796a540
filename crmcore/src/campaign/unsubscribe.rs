//! Unsubscribe links and the `List-Unsubscribe` headers (RFC 2369, RFC 8058 one-click).
//!
//! Every campaign message carries a signed, non-expiring unsubscribe token naming its tenant and
//! recipient. The token travels in an https link (when the CRM has a public URL) and in a
//! `mailto:` subject; the domain resolves it back to the recipient, so no address or id is ever
//! taken from the request unverified. Following the https link with `GET` shows a confirmation
//! (mail scanners prefetch links); `POST` — what one-click mail clients send — unsubscribes at once.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::recipient::{Recipient, Suppression, SuppressionReason};
use super::service::CampaignService;
use crate::actor::Actor;
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{RecipientId, TenantId};
use crate::token::{TokenSigner, purpose};
use crate::value::EmailAddress;

/// Where unsubscribe links point and the key that signs them.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The CRM's public base URL (e.g. `https://crm.example.com`); links go to `{base}/t/u/{token}`.
    /// Without it, messages carry only the `mailto:` unsubscribe.
    pub public_url: Option<String>,
    /// The mailbox that receives `mailto:` unsubscribes; defaults to the campaign's sender.
    pub unsubscribe_mailbox: Option<EmailAddress>,
    /// Signs and checks the tokens; configure a stable key so links survive restarts.
    pub signer: TokenSigner,
}

impl LinkConfig {
    /// Links with a fresh random key and no public URL (tests and single-process demos).
    pub fn ephemeral() -> Result<Self> {
        Ok(Self { public_url: None, unsubscribe_mailbox: None, signer: TokenSigner::generate()? })
    }
}

/// The unsubscribe links of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeLinks {
    /// The https link, when the CRM has a public URL.
    pub https: Option<String>,
    /// The `mailto:` link.
    pub mailto: String,
}

impl UnsubscribeLinks {
    /// The link offered in the message body: https when available.
    pub fn preferred(&self) -> &str {
        self.https.as_deref().unwrap_or(&self.mailto)
    }

    /// `List-Unsubscribe` and, with an https link, `List-Unsubscribe-Post` (RFC 8058).
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut value = String::new();
        if let Some(https) = &self.https {
            value.push_str(&format!("<{https}>, "));
        }
        value.push_str(&format!("<{}>", self.mailto));
        let mut headers = vec![("List-Unsubscribe".to_owned(), value)];
        if self.https.is_some() {
            headers.push(("List-Unsubscribe-Post".to_owned(), "List-Unsubscribe=One-Click".to_owned()));
        }
        headers
    }
}

fn payload(tenant: TenantId, recipient: RecipientId) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(tenant.0.as_bytes());
    bytes[16..].copy_from_slice(recipient.0.as_bytes());
    bytes
}

/// The links for one recipient of a campaign sent from `sender`.
pub(crate) fn links(config: &LinkConfig, recipient: &Recipient, sender: &EmailAddress) -> Result<UnsubscribeLinks> {
    let token = config.signer.sign(purpose::UNSUBSCRIBE, &payload(recipient.tenant_id, recipient.id), None)?;
    let mailbox = config.unsubscribe_mailbox.as_ref().unwrap_or(sender);
    Ok(UnsubscribeLinks {
        https: config.public_url.as_deref().map(|base| format!("{}/t/u/{token}", base.trim_end_matches('/'))),
        mailto: format!("mailto:{mailbox}?subject=unsubscribe%20{token}"),
    })
}

/// What an unsubscribe link refers to, for the confirmation page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsubscribeTarget {
    /// The address that would be unsubscribed.
    pub email: EmailAddress,
    /// The campaign the message belonged to.
    pub campaign_name: String,
    /// Whether the address is already on the suppression list.
    pub already_unsubscribed: bool,
}

impl CampaignService<'_> {
    fn recipient_of(crm: &Crm, token: &str) -> Result<(TenantId, RecipientId)> {
        let config = crm.campaign_config().links.as_ref().ok_or_else(|| CrmError::not_found("unsubscribe link", ""))?;
        let bytes = config
            .signer
            .verify(purpose::UNSUBSCRIBE, token, crm.clock().now())
            .map_err(|_| CrmError::invalid("token", "invalid", "this unsubscribe link is not valid"))?;
        let (tenant, recipient) = bytes
            .split_at_checked(16)
            .filter(|(_, r)| r.len() == 16)
            .ok_or_else(|| CrmError::invalid("token", "invalid", "this unsubscribe link is not valid"))?;
        let uuid = |b: &[u8]| Uuid::from_slice(b).map_err(|e| CrmError::Internal(e.to_string()));
        Ok((TenantId(uuid(tenant)?), RecipientId(uuid(recipient)?)))
    }

    /// Who a link would unsubscribe (no side effect: for the page a `GET` shows).
    pub async fn unsubscribe_target(&self, token: &str) -> Result<UnsubscribeTarget> {
        let (tenant, id) = Self::recipient_of(self.crm(), token)?;
        let repo = self.crm().store().campaigns();
        let recipient = repo.get_recipient(tenant, id).await?;
        let campaign = repo.get(tenant, recipient.campaign_id).await?;
        let already = !repo.suppressed_among(tenant, std::slice::from_ref(&recipient.email)).await?.is_empty();
        Ok(UnsubscribeTarget { email: recipient.email, campaign_name: campaign.name, already_unsubscribed: already })
    }

    /// Unsubscribes the recipient a link names: its address joins the suppression list at once
    /// (it will be skipped at dispatch even by campaigns already sending) and an
    /// `email.unsubscribed` event is emitted. Idempotent.
    pub async fn unsubscribe(&self, token: &str) -> Result<UnsubscribeTarget> {
        let (tenant, id) = Self::recipient_of(self.crm(), token)?;
        let repo = self.crm().store().campaigns();
        let recipient = repo.get_recipient(tenant, id).await?;
        let campaign = repo.get(tenant, recipient.campaign_id).await?;
        let actor = Actor::system(tenant);
        let now = self.crm().clock().now();
        let suppression = Suppression {
            tenant_id: tenant,
            email: recipient.email.clone(),
            reason: SuppressionReason::Unsubscribed,
            campaign_id: Some(campaign.id),
            created_at: now,
        };
        let subject = EntityRef { kind: EntityKind::Campaign, id: campaign.id.0 };
        let suppressed =
            DomainEvent::new(&actor, EventType::EmailSuppressed, subject, json!({ "object": suppression }), now);
        let data =
            json!({ "email": recipient.email, "recipient_id": recipient.id, "contact_id": recipient.contact_id });
        let unsubscribed = DomainEvent::new(&actor, EventType::EmailUnsubscribed, subject, data, now);
        let added = repo.suppress(&suppression, &[suppressed, unsubscribed]).await?;
        self.crm().wake_worker();
        Ok(UnsubscribeTarget { email: recipient.email, campaign_name: campaign.name, already_unsubscribed: !added })
    }
}
