use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Deal, DealFilter, DealStatus, StageChange, StageKind};
use crate::actor::{Actor, Permission};
use crate::crm::Crm;
use crate::error::{CrmError, FieldError, Result, Validator};
use crate::event::{DomainEvent, EntityKind, EntityRef, EventType};
use crate::id::{ContactId, DealId, MemberId};
use crate::page::{Page, PageRequest};
use crate::record::{check_expected_version, update_event};
use crate::value::{Currency, Money, NonEmptyText, optional_text};

/// Input for creating a deal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewDeal {
    /// What is being sold.
    pub title: String,
    /// The contact.
    pub contact_id: Option<ContactId>,
    /// Responsible member (default: the acting member).
    pub owner_id: Option<MemberId>,
    /// Value in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Starting stage (default: the pipeline's first open stage).
    pub stage: Option<String>,
    /// Win probability (default: the stage's).
    pub probability: Option<u8>,
    /// Expected close date.
    pub expected_close: Option<NaiveDate>,
}

/// Changes to a deal's fields. Stages move with [`DealService::move_stage`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealPatch {
    /// New title.
    pub title: Option<String>,
    /// New contact, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Option<ContactId>>,
    /// New owner, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Option<MemberId>>,
    /// New amount in minor units.
    pub amount_minor: Option<i64>,
    /// New currency.
    pub currency: Option<String>,
    /// New probability.
    pub probability: Option<u8>,
    /// New expected close date, or `null`.
    #[serde(default, with = "crate::serde_util::double_option", skip_serializing_if = "Option::is_none")]
    pub expected_close: Option<Option<NaiveDate>>,
    /// Fail with `Conflict` unless the stored version equals this.
    pub expected_version: Option<i64>,
}

/// Deal management and the pipeline.
#[derive(Debug)]
pub struct DealService<'a> {
    crm: &'a Crm,
}

fn deal_ref(id: DealId) -> EntityRef {
    EntityRef { kind: EntityKind::Deal, id: id.0 }
}

fn check_probability(v: &mut Validator, probability: Option<u8>) {
    if probability.is_some_and(|p| p > 100) {
        v.push(FieldError::new("probability", "out_of_range", "probability must be 0 to 100"));
    }
}

impl<'a> DealService<'a> {
    pub(crate) fn new(crm: &'a Crm) -> Self {
        Self { crm }
    }

    /// Referenced contact and owner must exist in the actor's tenant: validation errors otherwise.
    async fn check_refs(&self, actor: &Actor, contact: Option<ContactId>, owner: Option<MemberId>) -> Result<()> {
        let store = self.crm.store();
        let mut v = Validator::new();
        if let Some(contact) = contact {
            match store.contacts().get(actor.tenant_id, contact).await {
                Err(CrmError::NotFound { .. }) => {
                    v.push(FieldError::new("contact_id", "unknown", format!("no contact {contact}")))
                }
                other => drop(other?),
            }
        }
        if let Some(owner) = owner {
            match store.members().get(actor.tenant_id, owner).await {
                Err(CrmError::NotFound { .. }) => {
                    v.push(FieldError::new("owner_id", "unknown", format!("no member {owner}")))
                }
                other => drop(other?),
            }
        }
        v.finish()
    }

    /// Creates a deal (needs `edit_records`) in its starting stage, recording the first history entry.
    pub async fn create(&self, actor: &Actor, input: NewDeal) -> Result<Deal> {
        actor.require(Permission::EditRecords)?;
        let pipeline = self.crm.pipeline();
        let mut v = Validator::new();
        let title = v.field("title", NonEmptyText::parse("title", &input.title, 300));
        let currency = v.field("currency", Currency::parse(&input.currency));
        let amount = currency.and_then(|c| v.field("amount_minor", Money::new(input.amount_minor, c)));
        let stage = match input.stage.as_deref() {
            Some(key) => v.field("stage", pipeline.stage(key)).cloned(),
            None => Some(pipeline.first_open().clone()),
        };
        check_probability(&mut v, input.probability);
        v.finish()?;
        let (Some(title), Some(amount), Some(stage)) = (title, amount, stage) else {
            unreachable!("validator finished without errors")
        };
        let owner_id = input.owner_id.or(actor.member_id());
        self.check_refs(actor, input.contact_id, owner_id).await?;
        let now = self.crm.clock().now();
        let status = stage.kind.status();
        let deal = Deal {
            id: DealId::new(),
            tenant_id: actor.tenant_id,
            title: title.as_str().to_owned(),
            contact_id: input.contact_id,
            owner_id,
            amount,
            stage: stage.key.clone(),
            probability: input.probability.unwrap_or(stage.probability),
            expected_close: input.expected_close,
            status,
            closed_at: (status != DealStatus::Open).then_some(now),
            lost_reason: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let first = StageChange {
            deal_id: deal.id,
            tenant_id: deal.tenant_id,
            from_stage: None,
            to_stage: deal.stage.clone(),
            changed_at: now,
            changed_by: actor.principal,
        };
        let event = DomainEvent::new(actor, EventType::DealCreated, deal_ref(deal.id), json!({ "object": deal }), now);
        self.crm.store().deals().insert(&deal, &first, &[event]).await?;
        self.crm.wake_worker();
        Ok(deal)
    }

    /// Updates a deal's fields (needs `edit_records`).
    pub async fn update(&self, actor: &Actor, id: DealId, patch: DealPatch) -> Result<Deal> {
        actor.require(Permission::EditRecords)?;
        let repo = self.crm.store().deals();
        let current = repo.get(actor.tenant_id, id).await?;
        check_expected_version(patch.expected_version, &current, "deal")?;
        let mut next = current.clone();
        let mut v = Validator::new();
        if let Some(title) = &patch.title
            && let Some(t) = v.field("title", NonEmptyText::parse("title", title, 300))
        {
            next.title = t.as_str().to_owned();
        }
        let currency = match &patch.currency {
            Some(c) => v.field("currency", Currency::parse(c)),
            None => Some(current.amount.currency),
        };
        if let Some(currency) = currency
            && let Some(amount) =
                v.field("amount_minor", Money::new(patch.amount_minor.unwrap_or(current.amount.amount_minor), currency))
        {
            next.amount = amount;
        }
        check_probability(&mut v, patch.probability);
        v.finish()?;
        next.probability = patch.probability.unwrap_or(next.probability);
        if let Some(contact) = patch.contact_id {
            next.contact_id = contact;
        }
        if let Some(owner) = patch.owner_id {
            next.owner_id = owner;
        }
        if let Some(close) = patch.expected_close {
            next.expected_close = close;
        }
        let new_contact = (next.contact_id != current.contact_id).then_some(next.contact_id).flatten();
        let new_owner = (next.owner_id != current.owner_id).then_some(next.owner_id).flatten();
        self.check_refs(actor, new_contact, new_owner).await?;
        let now = self.crm.clock().now();
        let Some(event) = update_event(actor, EventType::DealUpdated, deal_ref(id), &current, &mut next, now)? else {
            return Ok(current);
        };
        repo.update(&next, None, &[event]).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    /// Moves a deal to `stage` (needs `edit_records`): sets the stage's probability and status,
    /// stamps `closed_at` on won/lost, appends to the history and emits `deal.stage_changed`
    /// plus `deal.won` or `deal.lost`. Moving to the current stage is a no-op.
    pub async fn move_stage(&self, actor: &Actor, id: DealId, stage: &str, lost_reason: Option<&str>) -> Result<Deal> {
        actor.require(Permission::EditRecords)?;
        let target = self.crm.pipeline().stage(stage)?.clone();
        let lost_reason = optional_text("lost_reason", lost_reason, 1000)?;
        if lost_reason.is_some() && target.kind != StageKind::Lost {
            return Err(CrmError::invalid("lost_reason", "invalid", "a lost reason applies only to lost stages"));
        }
        let repo = self.crm.store().deals();
        let current = repo.get(actor.tenant_id, id).await?;
        if current.stage == target.key {
            return Ok(current);
        }
        let now = self.crm.clock().now();
        let mut next = current.clone();
        next.stage = target.key.clone();
        next.probability = target.probability;
        next.status = target.kind.status();
        next.closed_at = (next.status != DealStatus::Open).then_some(now);
        next.lost_reason = lost_reason;
        next.updated_at = now;
        next.version += 1;
        let change = StageChange {
            deal_id: id,
            tenant_id: actor.tenant_id,
            from_stage: Some(current.stage.clone()),
            to_stage: target.key.clone(),
            changed_at: now,
            changed_by: actor.principal,
        };
        let data = json!({ "object": next, "from_stage": current.stage, "to_stage": target.key });
        let mut events = vec![DomainEvent::new(actor, EventType::DealStageChanged, deal_ref(id), data.clone(), now)];
        match target.kind {
            StageKind::Won => events.push(DomainEvent::new(actor, EventType::DealWon, deal_ref(id), data, now)),
            StageKind::Lost => events.push(DomainEvent::new(actor, EventType::DealLost, deal_ref(id), data, now)),
            StageKind::Open => {}
        }
        repo.update(&next, Some(&change), &events).await?;
        self.crm.wake_worker();
        Ok(next)
    }

    /// Deletes a deal and its history (needs `delete_records`).
    pub async fn delete(&self, actor: &Actor, id: DealId) -> Result<()> {
        actor.require(Permission::DeleteRecords)?;
        let repo = self.crm.store().deals();
        let current = repo.get(actor.tenant_id, id).await?;
        let now = self.crm.clock().now();
        let event = DomainEvent::new(actor, EventType::DealDeleted, deal_ref(id), json!({ "object": current }), now);
        repo.delete(actor.tenant_id, id, &[event]).await?;
        self.crm.wake_worker();
        Ok(())
    }

    /// One deal (needs `view_records`).
    pub async fn get(&self, actor: &Actor, id: DealId) -> Result<Deal> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().deals().get(actor.tenant_id, id).await
    }

    /// Deals matching `filter`, newest first (needs `view_records`).
    pub async fn list(&self, actor: &Actor, filter: &DealFilter, page: PageRequest) -> Result<Page<Deal>> {
        actor.require(Permission::ViewRecords)?;
        if let Some(stage) = &filter.stage {
            self.crm.pipeline().stage(stage)?;
        }
        self.crm.store().deals().list(actor.tenant_id, filter, page).await
    }

    /// The deal's stage changes, oldest first (needs `view_records`).
    pub async fn stage_history(&self, actor: &Actor, id: DealId) -> Result<Vec<StageChange>> {
        actor.require(Permission::ViewRecords)?;
        self.crm.store().deals().stage_history(actor.tenant_id, id).await
    }
}
