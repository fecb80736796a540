//! Open and click tracking, conversions and campaign statistics.
//!
//! - Links: at launch every static `http(s)` link of each variant's HTML is frozen into the
//!   campaign's link table. Messages point those links at `/t/c/{token}`, the token naming
//!   (tenant, recipient, link index) under an HMAC; a click looks the target up in the frozen
//!   table, so the redirect never goes anywhere the campaign did not contain (no open redirect).
//!   Links built from template variables are left as they are, untracked.
//! - Opens: a 1×1 image at `/t/o/{token}`. A click also counts as an open.
//! - Bots: an open or click within [`TrackingConfig::bot_window`] of the send, or from a known
//!   scanner's user agent, is recorded with `bot = true` and never counted.

use std::collections::BTreeMap;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::recipient::Recipient;
use super::segment::EngagementKind;
use super::service::CampaignService;
use super::unsubscribe::LinkConfig;
use crate::actor::{Actor, Permission};
use crate::error::{CrmError, Result};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{CampaignId, ContactId, RecipientId, TenantId};
use crate::ports::Engagement;
use crate::token::purpose;

/// How opens and clicks are tracked.
#[derive(Debug, Clone)]
pub struct TrackingConfig {
    /// Add the open pixel.
    pub opens: bool,
    /// Route static links through the click redirect.
    pub clicks: bool,
    /// Opens and clicks this soon after the send are treated as machine traffic.
    pub bot_window: Duration,
    /// A conversion counts for a campaign when it happens within this time of the send.
    pub attribution_window: Duration,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self { opens: true, clicks: true, bot_window: Duration::seconds(2), attribution_window: Duration::days(30) }
    }
}

/// User-agent fragments of link scanners and prefetchers (lowercase).
const SCANNERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "trendmicro",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "headlesschrome",
    "microsoft office protocol discovery",
];

/// Whether a user agent belongs to a known scanner rather than a person's mail client.
pub fn is_scanner(user_agent: Option<&str>) -> bool {
    user_agent.is_some_and(|ua| {
        let ua = ua.to_lowercase();
        SCANNERS.iter().any(|s| ua.contains(s))
    })
}

/// The static `http(s)` links of an HTML template, in order, without duplicates: what a
/// campaign freezes at launch. Links containing template syntax are left out (untracked).
pub fn extract_links(html: &str) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    for (_, url) in hrefs(html) {
        let url = url.trim();
        let is_web = url.starts_with("https://") || url.starts_with("http://");
        if is_web && !url.contains("{{") && !url.contains("{%") && !links.iter().any(|l| l == url) {
            links.push(url.to_owned());
        }
    }
    links
}

/// Every `href="…"` / `href='…'` value (the attribute name in any case) with the byte range of
/// the value. Scans the bytes in place: every byte it matches is ASCII, so each range falls on
/// character boundaries.
fn hrefs(html: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let bytes = html.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = memchr::memchr2(b'h', b'H', &bytes[from..]) {
        let mut i = from + at + 1;
        from = i;
        if !bytes.get(i..i + 3).is_some_and(|name| name.eq_ignore_ascii_case(b"ref")) {
            continue;
        }
        i += 3;
        from = i;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let Some(&quote) = bytes.get(i).filter(|q| **q == b'"' || **q == b'\'') else { continue };
        let start = i + 1;
        let Some(len) = memchr::memchr(quote, &bytes[start..]) else { break };
        found.push((start..start + len, &html[start..start + len]));
        from = start + len;
    }
    found
}

/// Rewrites the frozen links of a rendered message to their tracking URLs.
pub(crate) fn rewrite_links(html: &str, links: &[String], url_for: impl Fn(usize) -> Option<String>) -> String {
    let mut out = String::with_capacity(html.len() + 64 * links.len());
    let mut last = 0;
    for (range, value) in hrefs(html) {
        let Some(index) = links.iter().position(|l| l == value.trim()) else { continue };
        let Some(url) = url_for(index) else { continue };
        out.push_str(&html[last..range.start]);
        out.push_str(&url);
        last = range.end;
    }
    out.push_str(&html[last..]);
    out
}

/// Adds the open pixel just before `</body>` (or at the end).
pub(crate) fn add_pixel(html: &mut String, url: &str) {
    let pixel = format!("<img src=\"{url}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">");
    let bytes = html.as_bytes();
    let body_end = memchr::memrchr_iter(b'<', bytes)
        .find(|&at| bytes.get(at..at + 7).is_some_and(|tag| tag.eq_ignore_ascii_case(b"</body>")));
    match body_end {
        Some(at) => html.insert_str(at, &pixel),
        None => html.push_str(&pixel),
    }
}

fn token_payload(tenant: TenantId, recipient: RecipientId, link: Option<u16>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(tenant.0.as_bytes());
    bytes.extend_from_slice(recipient.0.as_bytes());
    if let Some(link) = link {
        bytes.extend_from_slice(&link.to_be_bytes());
    }
    bytes
}

/// The open-pixel URL of a recipient, when the CRM has a public URL.
pub(crate) fn open_url(config: &LinkConfig, r: &Recipient) -> Result<Option<String>> {
    let Some(base) = config.public_url.as_deref() else { return Ok(None) };
    let token = config.signer.sign(purpose::OPEN, &token_payload(r.tenant_id, r.id, None), None)?;
    Ok(Some(format!("{}/t/o/{token}", base.trim_end_matches('/'))))
}

/// The click URL of a recipient's link `index`, when the CRM has a public URL.
pub(crate) fn click_url(config: &LinkConfig, r: &Recipient, index: usize) -> Option<String> {
    let base = config.public_url.as_deref()?;
    let index = u16::try_from(index).ok()?;
    let token = config.signer.sign(purpose::CLICK, &token_payload(r.tenant_id, r.id, Some(index)), None).ok()?;
    Some(format!("{}/t/c/{token}", base.trim_end_matches('/')))
}

/// Counted engagement of one kind (and link), per variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngagementCount {
    /// Opened, clicked or converted.
    pub kind: EngagementKind,
    /// The variant of the recipients (`None` for recipients never assigned one).
    pub variant: Option<u16>,
    /// For clicks: the link index.
    pub link_index: Option<u16>,
    /// Every counted event.
    pub total: u64,
    /// Distinct recipients.
    pub unique: u64,
    /// Sum of conversion values (minor units).
    pub value_minor: i64,
}

/// What a campaign's engagement adds up to, as the store reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngagementSummary {
    /// Counted engagement grouped by kind, variant and link.
    pub counts: Vec<EngagementCount>,
    /// Sent recipients per variant.
    pub sent_by_variant: BTreeMap<u16, u64>,
    /// Opens and clicks flagged as machine traffic.
    pub bot_events: u64,
    /// Addresses this campaign's links unsubscribed.
    pub unsubscribes: u64,
    /// Hard bounces reported for this campaign's messages.
    pub hard_bounces: u64,
    /// Soft bounces reported for this campaign's messages.
    pub soft_bounces: u64,
    /// Spam complaints about this campaign's messages.
    pub complaints: u64,
}

/// Per-link click figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkStats {
    /// The link's index in the campaign's link table.
    pub index: u16,
    /// Its target.
    pub url: String,
    /// Counted clicks.
    pub clicks: u64,
    /// Distinct recipients who clicked.
    pub unique_clicks: u64,
}

/// Per-variant figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariantReport {
    /// The variant's name.
    pub name: String,
    /// Sent to.
    pub sent: u64,
    /// Distinct openers.
    pub unique_opens: u64,
    /// Distinct clickers.
    pub unique_clicks: u64,
    /// Distinct converters.
    pub conversions: u64,
}

/// A campaign's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignStats {
    /// Recipients by status.
    pub recipients: super::RecipientCounts,
    /// Opens counted (bots excluded).
    pub opens: u64,
    /// Distinct recipients who opened (a click counts as an open).
    pub unique_opens: u64,
    /// Clicks counted.
    pub clicks: u64,
    /// Distinct recipients who clicked.
    pub unique_clicks: u64,
    /// Conversions.
    pub conversions: u64,
    /// Their total value in minor units.
    pub conversion_value_minor: i64,
    /// Opens and clicks flagged as machine traffic (not counted above).
    pub bot_events: u64,
    /// Accepted by the mail server and not bounced back hard.
    pub delivered: u64,
    /// Unsubscribes through this campaign's links.
    pub unsubscribes: u64,
    /// Hard and soft bounces reported for this campaign.
    pub bounces: u64,
    /// Spam complaints.
    pub complaints: u64,
    /// Per link.
    pub links: Vec<LinkStats>,
    /// Per variant.
    pub variants: Vec<VariantReport>,
    /// Unique opens ÷ sent.
    pub open_rate: f64,
    /// Unique clicks ÷ sent.
    pub click_rate: f64,
    /// Unique clicks ÷ unique opens.
    pub click_to_open_rate: f64,
    /// Conversions ÷ sent.
    pub conversion_rate: f64,
    /// Failed ÷ targeted.
    pub failure_rate: f64,
    /// Unsubscribes ÷ delivered.
    pub unsubscribe_rate: f64,
    /// Bounces ÷ sent.
    pub bounce_rate: f64,
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

impl CampaignStats {
    pub(crate) fn build(
        campaign: &super::Campaign,
        recipients: super::RecipientCounts,
        summary: &EngagementSummary,
    ) -> Self {
        let sum = |kind: EngagementKind, pick: fn(&EngagementCount) -> u64| -> u64 {
            summary.counts.iter().filter(|c| c.kind == kind).map(pick).sum()
        };
        let mut links: BTreeMap<u16, LinkStats> = BTreeMap::new();
        for c in summary.counts.iter().filter(|c| c.kind == EngagementKind::Clicked) {
            let Some(index) = c.link_index else { continue };
            let url = campaign
                .links
                .iter()
                .find_map(|variant_links| variant_links.get(usize::from(index)))
                .cloned()
                .unwrap_or_default();
            let entry = links.entry(index).or_insert(LinkStats { index, url, clicks: 0, unique_clicks: 0 });
            entry.clicks += c.total;
            entry.unique_clicks += c.unique;
        }
        let variants = campaign
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let i = u16::try_from(i).unwrap_or(u16::MAX);
                let unique = |kind: EngagementKind| -> u64 {
                    summary.counts.iter().filter(|c| c.kind == kind && c.variant == Some(i)).map(|c| c.unique).sum()
                };
                VariantReport {
                    name: v.name.clone(),
                    sent: summary.sent_by_variant.get(&i).copied().unwrap_or(0),
                    unique_opens: unique(EngagementKind::Opened),
                    unique_clicks: unique(EngagementKind::Clicked),
                    conversions: unique(EngagementKind::Converted),
                }
            })
            .collect();
        let (unique_opens, unique_clicks) =
            (sum(EngagementKind::Opened, |c| c.unique), sum(EngagementKind::Clicked, |c| c.unique));
        let conversions = sum(EngagementKind::Converted, |c| c.total);
        Self {
            recipients,
            opens: sum(EngagementKind::Opened, |c| c.total),
            unique_opens,
            clicks: sum(EngagementKind::Clicked, |c| c.total),
            unique_clicks,
            conversions,
            conversion_value_minor: summary.counts.iter().map(|c| c.value_minor).sum(),
            bot_events: summary.bot_events,
            delivered: recipients.sent.saturating_sub(summary.hard_bounces),
            unsubscribes: summary.unsubscribes,
            bounces: summary.hard_bounces + summary.soft_bounces,
            complaints: summary.complaints,
            links: links.into_values().collect(),
            variants,
            open_rate: rate(unique_opens, recipients.sent),
            click_rate: rate(unique_clicks, recipients.sent),
            click_to_open_rate: rate(unique_clicks, unique_opens),
            conversion_rate: rate(conversions, recipients.sent),
            failure_rate: rate(recipients.failed, recipients.targeted),
            unsubscribe_rate: rate(summary.unsubscribes, recipients.sent.saturating_sub(summary.hard_bounces)),
            bounce_rate: rate(summary.hard_bounces + summary.soft_bounces, recipients.sent),
        }
    }
}

impl CampaignService<'_> {
    fn verify_tracking(&self, token_purpose: &str, token: &str) -> Result<(TenantId, RecipientId, Option<u16>)> {
        let config = self.crm().campaign_config().links.as_ref().ok_or_else(|| CrmError::not_found("link", ""))?;
        let invalid = || CrmError::invalid("token", "invalid", "this link is not valid");
        let bytes = config.signer.verify(token_purpose, token, self.crm().clock().now()).map_err(|_| invalid())?;
        let uuid = |b: &[u8]| Uuid::from_slice(b).map_err(|_| invalid());
        match bytes.len() {
            32 => Ok((TenantId(uuid(&bytes[..16])?), RecipientId(uuid(&bytes[16..32])?), None)),
            34 => Ok((
                TenantId(uuid(&bytes[..16])?),
                RecipientId(uuid(&bytes[16..32])?),
                Some(u16::from_be_bytes([bytes[32], bytes[33]])),
            )),
            _ => Err(invalid()),
        }
    }

    async fn engage(
        &self,
        recipient: &Recipient,
        kind: EngagementKind,
        link_index: Option<u16>,
        value_minor: Option<i64>,
        user_agent: Option<&str>,
    ) -> Result<bool> {
        let now = self.crm().clock().now();
        let tracking = &self.crm().campaign_config().tracking;
        let too_soon = recipient.sent_at.is_none_or(|sent| now - sent < tracking.bot_window);
        let bot = kind != EngagementKind::Converted && (too_soon || is_scanner(user_agent));
        let engagement = Engagement {
            tenant_id: recipient.tenant_id,
            campaign_id: recipient.campaign_id,
            recipient_id: recipient.id,
            contact_id: recipient.contact_id,
            kind,
            link_index,
            value_minor,
            bot,
            at: now,
        };
        let event_type = match kind {
            EngagementKind::Opened => EventType::EmailOpened,
            EngagementKind::Clicked => EventType::EmailClicked,
            EngagementKind::Converted => EventType::EmailConverted,
        };
        let actor = Actor::system(recipient.tenant_id);
        let subject = EntityRef { kind: EntityKind::Campaign, id: recipient.campaign_id.0 };
        let data = json!({
            "recipient_id": recipient.id,
            "contact_id": recipient.contact_id,
            "email": recipient.email,
            "link_index": link_index,
            "value_minor": value_minor,
        });
        // Bot traffic is kept for inspection but announces nothing.
        let events = if bot { vec![] } else { vec![DomainEvent::new(&actor, event_type, subject, data, now)] };
        let first = self.crm().store().campaigns().record_engagement(&engagement, &events).await?;
        if !bot {
            self.crm().wake_worker();
        }
        Ok(first && !bot)
    }

    /// Records an open from the pixel of a message (public: the token authorizes). Unknown or
    /// tampered tokens are a validation error.
    pub async fn record_open(&self, token: &str, user_agent: Option<&str>) -> Result<()> {
        let (tenant, id, _) = self.verify_tracking(purpose::OPEN, token)?;
        let recipient = self.crm().store().campaigns().get_recipient(tenant, id).await?;
        self.engage(&recipient, EngagementKind::Opened, None, None, user_agent).await.map(drop)
    }

    /// Records a click and returns where to redirect: the frozen link the token names. A click
    /// also counts as an open.
    pub async fn record_click(&self, token: &str, user_agent: Option<&str>) -> Result<String> {
        let (tenant, id, link) = self.verify_tracking(purpose::CLICK, token)?;
        let link = link.ok_or_else(|| CrmError::invalid("token", "invalid", "this link is not valid"))?;
        let repo = self.crm().store().campaigns();
        let recipient = repo.get_recipient(tenant, id).await?;
        let campaign = repo.get(tenant, recipient.campaign_id).await?;
        let target = campaign
            .links
            .get(usize::from(recipient.variant.unwrap_or(0)))
            .and_then(|links| links.get(usize::from(link)))
            .cloned()
            .ok_or_else(|| CrmError::not_found("link", link))?;
        self.engage(&recipient, EngagementKind::Clicked, Some(link), None, user_agent).await?;
        self.engage(&recipient, EngagementKind::Opened, None, None, user_agent).await?;
        Ok(target)
    }

    /// Records a conversion of `contact` for a campaign (needs `edit_records`): the contact must
    /// have been sent the campaign within the attribution window before now.
    pub async fn record_conversion(
        &self,
        actor: &Actor,
        campaign: CampaignId,
        contact: ContactId,
        value_minor: Option<i64>,
    ) -> Result<()> {
        actor.require(Permission::EditRecords)?;
        if value_minor.is_some_and(|v| v < 0) {
            return Err(CrmError::invalid("value_minor", "invalid", "a conversion value cannot be negative"));
        }
        let repo = self.crm().store().campaigns();
        repo.get(actor.tenant_id, campaign).await?;
        let recipient = repo.recipient_for_contact(actor.tenant_id, campaign, contact).await?.ok_or_else(|| {
            CrmError::invalid("contact_id", "not_a_recipient", "the contact was not sent this campaign")
        })?;
        let window = self.crm().campaign_config().tracking.attribution_window;
        let now = self.crm().clock().now();
        match recipient.sent_at {
            Some(sent) if now - sent <= window => {}
            _ => {
                return Err(CrmError::invalid(
                    "contact_id",
                    "outside_attribution_window",
                    format!("the campaign was not sent to this contact within the last {} days", window.num_days()),
                ));
            }
        }
        self.engage(&recipient, EngagementKind::Converted, None, value_minor, None).await.map(drop)
    }

    /// A campaign's statistics (needs `view_records`).
    pub async fn stats(&self, actor: &Actor, id: CampaignId) -> Result<CampaignStats> {
        actor.require(Permission::ViewRecords)?;
        let repo = self.crm().store().campaigns();
        let campaign = repo.get(actor.tenant_id, id).await?;
        let counts = repo.recipient_counts(actor.tenant_id, id).await?;
        let summary = repo.engagement_summary(actor.tenant_id, id).await?;
        Ok(CampaignStats::build(&campaign, counts, &summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_static_links_and_rewrites_only_those() {
        let html = "<a href=\"https://a.test/x?y=1&amp;z=2\">A</a> <A HREF='http://b.test'>B</A> \
                    <a href=\"{{ custom.url }}\">C</a> <a href=\"mailto:x@y.test\">D</a> \
                    <a href = \"https://a.test/x?y=1&amp;z=2\">again</a>";
        let links = extract_links(html);
        assert_eq!(links, ["https://a.test/x?y=1&amp;z=2", "http://b.test"]);
        let out = rewrite_links(html, &links, |i| Some(format!("https://t.test/c/{i}")));
        assert_eq!(out.matches("https://t.test/c/0").count(), 2);
        assert!(out.contains("HREF='https://t.test/c/1'"));
        assert!(out.contains("{{ custom.url }}") && out.contains("mailto:x@y.test"));
        let mut body = "<html><body><p>x</p></body></html>".to_owned();
        add_pixel(&mut body, "https://t.test/o/1");
        assert!(body.ends_with("style=\"display:none\"></body></html>"));
        // Any case, around multi-byte text; the last closing tag counts.
        let html = "ünïcödé <a hReF=\"https://é.test/ü\">é</a> thé hrefless href <p>href=noquote</p>";
        let links = extract_links(html);
        assert_eq!(links, ["https://é.test/ü"]);
        let mut body = "<BODY>é</BODY>ü</Body >✓".to_owned();
        add_pixel(&mut body, "u");
        assert!(body.starts_with("<BODY>é<img src=\"u\"") && body.ends_with("</BODY>ü</Body >✓"), "{body}");
        let mut bare = "é".to_owned();
        add_pixel(&mut bare, "u");
        assert!(bare.starts_with("é<img"));
    }

    #[test]
    fn flags_scanners() {
        assert!(is_scanner(Some("Mozilla/5.0 (compatible; Barracuda Sentinel)")));
        assert!(is_scanner(Some("python-requests/2.31")));
        assert!(!is_scanner(Some("Mozilla/5.0 (Windows NT 10.0) Thunderbird/115.0")));
        assert!(!is_scanner(None));
    }
}
