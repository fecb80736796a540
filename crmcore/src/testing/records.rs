//! Contract checks for tenants, members, contacts and deals.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::fixtures::{Fixture, now};
use crate::actor::{Actor, Role};
use crate::contact::{Contact, ContactFilter, ContactPatch, NewContact};
use crate::deal::{Deal, DealFilter, DealStatus, NewDeal};
use crate::error::CrmError;
use crate::event::EventType;
use crate::id::{ContactId, MemberId};
use crate::member::{Member, MemberPatch};
use crate::page::PageRequest;
use crate::ports::Store;
use crate::tenant::{NewOwner, Tenant};
use crate::value::{EmailAddress, Handle, Tag};

fn is_conflict(result: &crate::Result<impl std::fmt::Debug>, field: &str) -> bool {
    matches!(result, Err(CrmError::Conflict { field: Some(f), .. }) if f == field)
}

async fn event_types(store: &dyn Store, fixture: &Fixture) -> Vec<EventType> {
    store
        .outbox()
        .list(fixture.tenant.id, None, 10_000)
        .await
        .expect("outbox list")
        .into_iter()
        .map(|e| e.event.event_type)
        .collect()
}

/// Tenants are created with their owner; slugs are unique; lookups work.
pub async fn tenants_create_get_and_slug_conflict(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Acme Corp").await;
    assert_eq!(store.tenants().get(f.tenant.id).await.unwrap(), f.tenant);
    assert_eq!(store.tenants().find_by_slug("acme-corp").await.unwrap(), Some(f.tenant.clone()));
    assert_eq!(store.tenants().find_by_slug("nobody").await.unwrap(), None);
    assert!(matches!(store.tenants().get(crate::id::TenantId::new()).await, Err(CrmError::NotFound { .. })));
    assert_eq!(store.members().get(f.tenant.id, f.owner.id).await.unwrap(), f.owner);
    let again = f
        .crm
        .tenants()
        .create("ACME corp!", NewOwner { email: "x@y.test".into(), display_name: None, handle: None })
        .await;
    assert!(is_conflict(&again, "slug"), "{again:?}");
    assert_eq!(event_types(store.as_ref(), &f).await, vec![EventType::TenantCreated, EventType::MemberCreated]);
    let duplicate_tenant =
        Tenant { id: crate::id::TenantId::new(), name: "Other".into(), slug: "other".into(), created_at: now() };
    let mut owner = f.owner.clone();
    owner.id = MemberId::new();
    owner.tenant_id = duplicate_tenant.id;
    store.tenants().create(&duplicate_tenant, &owner, &[]).await.expect("same e-mail in another tenant is fine");
}

/// Members: unique handle and e-mail per tenant, optimistic versions, paging and role counts.
pub async fn members_crud_uniqueness_and_versions(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Members").await;
    let ada = f.member("ada", Role::Manager).await;
    assert_eq!(store.members().get(f.tenant.id, ada.id).await.unwrap(), ada);
    assert_eq!(
        store.members().find_by_handle(f.tenant.id, &Handle::parse("@ADA").unwrap()).await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(store.members().find_by_email(f.tenant.id, &ada.email).await.unwrap(), Some(ada.clone()));

    let mut clash = ada.clone();
    clash.id = MemberId::new();
    clash.email = EmailAddress::parse("other@members.test").unwrap();
    assert!(is_conflict(&store.members().insert(&clash, &[]).await, "handle"));
    clash.handle = Handle::parse("other").unwrap();
    clash.email = ada.email.clone();
    assert!(is_conflict(&store.members().insert(&clash, &[]).await, "email"));

    let renamed = f
        .crm
        .members()
        .update(&f.actor, ada.id, MemberPatch { display_name: Some("Ada L.".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(renamed.version, 2);
    assert_eq!(store.members().get(f.tenant.id, ada.id).await.unwrap(), renamed);
    assert!(
        is_conflict(&store.members().update(&renamed, &[]).await, "version"),
        "replaying an old version must conflict"
    );

    let mut ghost = ada.clone();
    ghost.id = MemberId::new();
    ghost.version = 2;
    assert!(matches!(store.members().update(&ghost, &[]).await, Err(CrmError::NotFound { .. })));

    for i in 0..4 {
        f.member(&format!("m{i}"), Role::Member).await;
    }
    let first = store.members().list(f.tenant.id, PageRequest::first(4)).await.unwrap();
    assert_eq!(first.items.len(), 4);
    let second = store
        .members()
        .list(f.tenant.id, PageRequest::parse(Some(4), first.next_cursor.as_deref()).unwrap())
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2, "6 members in all");
    assert_eq!(second.next_cursor, None);
    assert_eq!(store.members().count_active_with_role(f.tenant.id, Role::Owner).await.unwrap(), 1);
    assert_eq!(store.members().count_active_with_role(f.tenant.id, Role::Member).await.unwrap(), 4);

    let demote = f
        .crm
        .members()
        .update(&f.actor, f.owner.id, MemberPatch { role: Some(Role::Admin), ..Default::default() })
        .await;
    assert!(is_conflict(&demote, "role"), "the last owner stays: {demote:?}");
}

/// Contacts: create, read, update (with a field diff), delete; each mutation emits its event.
pub async fn contacts_crud_emits_events(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Contacts").await;
    let input = NewContact {
        email: Some("Grace@Example.com".into()),
        first_name: Some("Grace".into()),
        last_name: Some("Hopper".into()),
        company: Some("Navy".into()),
        phone: Some("+1 555 0100".into()),
        owner_id: Some(f.owner.id),
        tags: vec!["VIP".into(), "cobol".into()],
        custom_fields: serde_json::from_value(json!({"rank": "admiral", "langs": ["cobol", "flow-matic"]})).unwrap(),
    };
    let created = f.crm.contacts().create(&f.actor, input).await.unwrap();
    assert_eq!(created.email.as_ref().map(EmailAddress::as_str), Some("grace@example.com"));
    assert_eq!(created.tags.iter().map(Tag::as_str).collect::<Vec<_>>(), vec!["cobol", "vip"]);
    assert_eq!(
        store.contacts().get(f.tenant.id, created.id).await.unwrap(),
        created,
        "read back equals what was written"
    );

    let patch: ContactPatch = serde_json::from_value(json!({
        "company": null, "add_tags": ["speaker"], "remove_tags": ["vip"], "custom_fields": {"rank": null, "era": "1950s"}
    }))
    .unwrap();
    let updated = f.crm.contacts().update(&f.actor, created.id, patch).await.unwrap();
    assert_eq!(updated.company, None);
    assert_eq!(updated.version, 2);
    assert_eq!(updated.custom_fields.get("era"), Some(&json!("1950s")));
    assert_eq!(updated.custom_fields.get("rank"), None);
    assert_eq!(store.contacts().get(f.tenant.id, created.id).await.unwrap(), updated);

    let log = store.outbox().list(f.tenant.id, None, 100).await.unwrap();
    let update_event = log.iter().find(|e| e.event.event_type == EventType::ContactUpdated).expect("update event");
    let changes = &update_event.event.data["changes"];
    assert_eq!(changes["company"], json!({"before": "Navy", "after": null}));
    assert_eq!(changes["tags"]["after"], json!(["cobol", "speaker"]));
    assert_eq!(update_event.event.subject.id, created.id.0);

    let unchanged = f.crm.contacts().update(&f.actor, created.id, ContactPatch::default()).await.unwrap();
    assert_eq!(unchanged.version, 2, "an empty patch writes nothing");

    f.crm.contacts().delete(&f.actor, created.id).await.unwrap();
    assert!(matches!(store.contacts().get(f.tenant.id, created.id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(f.crm.contacts().delete(&f.actor, created.id).await, Err(CrmError::NotFound { .. })));
    let types = event_types(store.as_ref(), &f).await;
    assert_eq!(&types[2..], &[EventType::ContactCreated, EventType::ContactUpdated, EventType::ContactDeleted]);
}

/// The same e-mail twice in a tenant conflicts (case-insensitively); across tenants it is fine.
pub async fn contacts_duplicate_email_conflicts_within_tenant_only(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Dup A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Dup B").await;
    let first = a.contact("same@example.com").await;
    let again = a
        .crm
        .contacts()
        .create(&a.actor, NewContact { email: Some("SAME@example.com".into()), ..Default::default() })
        .await;
    assert!(is_conflict(&again, "email"), "{again:?}");
    b.contact("same@example.com").await;

    let other = a.contact("other@example.com").await;
    let patch = ContactPatch { email: Some(Some("same@example.com".into())), ..Default::default() };
    assert!(is_conflict(&a.crm.contacts().update(&a.actor, other.id, patch).await, "email"));
    assert_eq!(store.contacts().get(a.tenant.id, first.id).await.unwrap(), first);
    let cleared = ContactPatch { email: Some(None), first_name: Some(Some("Nameless".into())), ..Default::default() };
    a.crm.contacts().update(&a.actor, first.id, cleared).await.unwrap();
    a.contact("same@example.com").await;
}

/// Keyset pages are newest first, with no gaps or overlaps, and the last page has no cursor.
pub async fn contacts_page_newest_first_without_gaps_or_overlap(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Paging").await;
    let mut created = Vec::new();
    for i in 0..11 {
        created.push(f.contact(&format!("p{i}@example.com")).await.id);
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let request = PageRequest::parse(Some(4), cursor.as_deref()).unwrap();
        let page = store.contacts().list(f.tenant.id, &ContactFilter::default(), request).await.unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|c| c.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "newest first, every contact exactly once");
    let exact = store.contacts().list(f.tenant.id, &ContactFilter::default(), PageRequest::first(11)).await.unwrap();
    assert_eq!((exact.items.len(), exact.next_cursor), (11, None));
}

fn contact_input(i: usize, owner: Option<MemberId>) -> NewContact {
    let companies = ["Acme", "Globex", "Initech", "100% Pure_Co", "Umbrella"];
    let firsts = ["Ada", "Grace", "Alan", "Édith", "Barbara", "Linus"];
    let tags = ["vip", "lead", "partner", "churned"];
    NewContact {
        email: (!i.is_multiple_of(5)).then(|| {
            format!(
                "person{i}@{}.example.com",
                companies[i % companies.len()].to_lowercase().replace(['%', ' ', '_'], "")
            )
        }),
        first_name: Some(firsts[i % firsts.len()].to_owned()),
        last_name: i.is_multiple_of(3).then(|| format!("Mc{i}")),
        company: Some(companies[(i / 2) % companies.len()].to_owned()),
        phone: None,
        owner_id: owner.filter(|_| i.is_multiple_of(2)),
        tags: tags.iter().enumerate().filter(|(t, _)| (i >> t) & 1 == 1).map(|(_, tag)| (*tag).to_owned()).collect(),
        custom_fields: BTreeMap::new(),
    }
}

async fn all_contacts(store: &dyn Store, actor: &Actor, filter: &ContactFilter) -> Vec<Contact> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let request = PageRequest::parse(Some(7), cursor.as_deref()).unwrap();
        let page = store.contacts().list(actor.tenant_id, filter, request).await.unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// Listing by tag, owner and search selects exactly what [`ContactFilter::matches`] selects,
/// including case-insensitive and LIKE-special characters.
pub async fn contacts_filters_agree_with_the_domain(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Filters").await;
    let other = Fixture::with_crm(f.crm.clone(), "Filters Other").await;
    let mut everyone = Vec::new();
    for i in 0..40 {
        everyone.push(f.crm.contacts().create(&f.actor, contact_input(i, Some(f.owner.id))).await.unwrap());
        if i % 4 == 0 {
            other.crm.contacts().create(&other.actor, contact_input(i, None)).await.unwrap();
        }
    }
    let searches =
        ["ada", "ADA", "acme", "100%", "pure_", "%", "_", "édith", "ÉDITH", "mc1", "example.com", "zzz", "e_co", "ur"];
    let mut filters: Vec<ContactFilter> =
        searches.iter().map(|s| ContactFilter { search: Some((*s).into()), ..Default::default() }).collect();
    for tag in ["vip", "lead", "partner", "churned", "none"] {
        filters.push(ContactFilter { tag: Some(Tag::parse(tag).unwrap()), ..Default::default() });
        filters.push(ContactFilter {
            tag: Some(Tag::parse(tag).unwrap()),
            owner_id: Some(f.owner.id),
            search: Some("a".into()),
        });
    }
    filters.push(ContactFilter { owner_id: Some(f.owner.id), ..Default::default() });
    filters.push(ContactFilter { owner_id: Some(MemberId::new()), ..Default::default() });
    for filter in &filters {
        let mut expected: Vec<ContactId> = everyone.iter().filter(|c| filter.matches(c)).map(|c| c.id).collect();
        expected.reverse();
        let got: Vec<ContactId> =
            all_contacts(store.as_ref(), &f.actor, filter).await.into_iter().map(|c| c.id).collect();
        assert_eq!(got, expected, "filter {filter:?}");
    }
}

/// Writing a contact over a version that moved on conflicts and changes nothing.
pub async fn contacts_stale_version_conflicts(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Versions").await;
    let c = f.contact("v@example.com").await;
    let v2 = f
        .crm
        .contacts()
        .update(&f.actor, c.id, ContactPatch { phone: Some(Some("1".into())), ..Default::default() })
        .await
        .unwrap();
    let mut stale = c.clone();
    stale.version = 2;
    stale.phone = Some("stale".into());
    assert!(is_conflict(&store.contacts().update(&stale, &[]).await, "version"), "version 1 → 2 already happened");
    assert_eq!(store.contacts().get(f.tenant.id, c.id).await.unwrap(), v2);
    let expected = ContactPatch { phone: Some(Some("2".into())), expected_version: Some(1), ..Default::default() };
    assert!(is_conflict(&f.crm.contacts().update(&f.actor, c.id, expected).await, "version"));
}

/// Deals: create in the first stage, move through stages to won, full history with timestamps.
pub async fn deals_crud_and_stage_history(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Deals").await;
    let contact = f.contact("buyer@example.com").await;
    let input = NewDeal {
        title: "Big order".into(),
        contact_id: Some(contact.id),
        owner_id: None,
        amount_minor: 1_250_000,
        currency: "eur".into(),
        stage: None,
        probability: None,
        expected_close: chrono::NaiveDate::from_ymd_opt(2027, 3, 31),
    };
    let deal = f.crm.deals().create(&f.actor, input).await.unwrap();
    assert_eq!((deal.stage.as_str(), deal.probability, deal.status), ("lead", 10, DealStatus::Open));
    assert_eq!(deal.owner_id, Some(f.owner.id), "defaults to the acting member");
    assert_eq!(deal.amount.currency.as_str(), "EUR");
    assert_eq!(store.deals().get(f.tenant.id, deal.id).await.unwrap(), deal);

    let deals = f.crm.deals();
    deals.move_stage(&f.actor, deal.id, "qualified", None).await.unwrap();
    deals.move_stage(&f.actor, deal.id, "proposal", None).await.unwrap();
    let won = deals.move_stage(&f.actor, deal.id, "won", None).await.unwrap();
    assert_eq!((won.status, won.probability, won.version), (DealStatus::Won, 100, 4));
    assert!(won.closed_at.is_some());
    assert_eq!(store.deals().get(f.tenant.id, deal.id).await.unwrap(), won);

    let history = store.deals().stage_history(f.tenant.id, deal.id).await.unwrap();
    let path: Vec<(Option<&str>, &str)> =
        history.iter().map(|h| (h.from_stage.as_deref(), h.to_stage.as_str())).collect();
    assert_eq!(
        path,
        vec![(None, "lead"), (Some("lead"), "qualified"), (Some("qualified"), "proposal"), (Some("proposal"), "won")]
    );
    assert!(history.windows(2).all(|w| w[0].changed_at <= w[1].changed_at));

    let types = event_types(store.as_ref(), &f).await;
    let deal_types: Vec<_> = types.into_iter().filter(|t| t.as_str().starts_with("deal.")).collect();
    use EventType::*;
    assert_eq!(deal_types, vec![DealCreated, DealStageChanged, DealStageChanged, DealStageChanged, DealWon]);

    let lost = f
        .crm
        .deals()
        .create(
            &f.actor,
            NewDeal {
                title: "Small".into(),
                contact_id: None,
                owner_id: None,
                amount_minor: 0,
                currency: "USD".into(),
                stage: Some("proposal".into()),
                probability: Some(40),
                expected_close: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(lost.probability, 40);
    let lost = deals.move_stage(&f.actor, lost.id, "lost", Some("budget cut")).await.unwrap();
    assert_eq!((lost.status, lost.lost_reason.as_deref()), (DealStatus::Lost, Some("budget cut")));

    let patched = deals
        .update(
            &f.actor,
            deal.id,
            serde_json::from_value(json!({"title": "Bigger order", "amount_minor": 2_000_000})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!((patched.title.as_str(), patched.amount.amount_minor, patched.version), ("Bigger order", 2_000_000, 5));
    assert_eq!(store.deals().get(f.tenant.id, deal.id).await.unwrap(), patched);
    assert!(is_conflict(&store.deals().update(&won, None, &[]).await, "version"));

    deals.delete(&f.actor, deal.id).await.unwrap();
    assert!(matches!(store.deals().get(f.tenant.id, deal.id).await, Err(CrmError::NotFound { .. })));
    assert!(matches!(store.deals().stage_history(f.tenant.id, deal.id).await, Err(CrmError::NotFound { .. })));
}

/// Listing deals by stage, status, owner, contact and title search agrees with [`DealFilter::matches`].
pub async fn deals_filters_agree_with_the_domain(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Deal Filters").await;
    let rep = f.member("rep", Role::Member).await;
    let contacts = [f.contact("a@example.com").await, f.contact("b@example.com").await];
    let stages = ["lead", "qualified", "proposal", "negotiation", "won", "lost"];
    let titles = ["Renewal 2027", "Upsell: seats", "100% discount_deal", "Pilot", "RENEWAL small"];
    let mut all: Vec<Deal> = Vec::new();
    for i in 0..24 {
        let input = NewDeal {
            title: titles[i % titles.len()].into(),
            contact_id: (i % 3 != 0).then(|| contacts[i % 2].id),
            owner_id: Some(if i % 2 == 0 { rep.id } else { f.owner.id }),
            amount_minor: (i as i64) * 1000,
            currency: "EUR".into(),
            stage: Some(stages[i % stages.len()].into()),
            probability: None,
            expected_close: None,
        };
        all.push(f.crm.deals().create(&f.actor, input).await.unwrap());
    }
    let mut filters = vec![DealFilter::default()];
    filters.extend(stages.iter().map(|s| DealFilter { stage: Some((*s).into()), ..Default::default() }));
    filters.extend(
        [DealStatus::Open, DealStatus::Won, DealStatus::Lost]
            .map(|s| DealFilter { status: Some(s), ..Default::default() }),
    );
    filters.push(DealFilter { owner_id: Some(rep.id), status: Some(DealStatus::Open), ..Default::default() });
    filters.push(DealFilter { contact_id: Some(contacts[0].id), ..Default::default() });
    for q in ["renewal", "RENEWAL", "100%", "t_d", "%", "seats", "nothing"] {
        filters.push(DealFilter { search: Some(q.into()), ..Default::default() });
    }
    for filter in &filters {
        let mut expected: Vec<_> = all.iter().filter(|d| filter.matches(d)).map(|d| d.id).collect();
        expected.reverse();
        let page = store.deals().list(f.tenant.id, filter, PageRequest::first(200)).await.unwrap();
        let got: Vec<_> = page.items.iter().map(|d| d.id).collect();
        assert_eq!(got, expected, "filter {filter:?}");
    }
}

/// A deal cannot point at another tenant's contact or member; contacts with deals cannot be deleted.
pub async fn deals_reference_only_their_own_tenant(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Refs A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Refs B").await;
    let theirs = b.contact("theirs@example.com").await;
    let input = |contact, owner| NewDeal {
        title: "x".into(),
        contact_id: contact,
        owner_id: owner,
        amount_minor: 1,
        currency: "EUR".into(),
        stage: None,
        probability: None,
        expected_close: None,
    };
    let err = a.crm.deals().create(&a.actor, input(Some(theirs.id), None)).await.unwrap_err();
    assert!(matches!(&err, CrmError::Validation(e) if e[0].field == "contact_id"), "{err:?}");
    let err = a.crm.deals().create(&a.actor, input(None, Some(b.owner.id))).await.unwrap_err();
    assert!(matches!(&err, CrmError::Validation(e) if e[0].field == "owner_id"), "{err:?}");

    let mine = a.contact("mine@example.com").await;
    let deal = a.crm.deals().create(&a.actor, input(Some(mine.id), None)).await.unwrap();
    let mut forged = deal.clone();
    forged.version += 1;
    forged.contact_id = Some(theirs.id);
    assert!(
        matches!(store.deals().update(&forged, None, &[]).await, Err(CrmError::NotFound { .. })),
        "store enforces tenant-scoped references too"
    );
    let mut forged_contact = mine.clone();
    forged_contact.version += 1;
    forged_contact.owner_id = Some(b.owner.id);
    assert!(matches!(store.contacts().update(&forged_contact, &[]).await, Err(CrmError::NotFound { .. })));

    let blocked = a.crm.contacts().delete(&a.actor, mine.id).await;
    assert!(matches!(blocked, Err(CrmError::Conflict { .. })), "{blocked:?}");
    assert_eq!(store.contacts().get(a.tenant.id, mine.id).await.unwrap(), mine);
    a.crm.deals().delete(&a.actor, deal.id).await.unwrap();
    a.crm.contacts().delete(&a.actor, mine.id).await.unwrap();
}

/// A mutation that fails leaves no row and no event behind.
pub async fn failed_mutations_leave_no_row_and_no_event(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Atomic").await;
    let kept = f.contact("kept@example.com").await;
    let deal_input = NewDeal {
        title: "d".into(),
        contact_id: Some(kept.id),
        owner_id: None,
        amount_minor: 5,
        currency: "EUR".into(),
        stage: None,
        probability: None,
        expected_close: None,
    };
    let deal = f.crm.deals().create(&f.actor, deal_input).await.unwrap();
    let events_before = store.outbox().list(f.tenant.id, None, 1000).await.unwrap();
    let contacts_before =
        store.contacts().list(f.tenant.id, &ContactFilter::default(), PageRequest::first(200)).await.unwrap();

    let event = |t| {
        crate::event::DomainEvent::new(
            &f.actor,
            t,
            crate::event::EntityRef { kind: crate::event::EntityKind::Contact, id: kept.id.0 },
            json!({}),
            now(),
        )
    };
    let mut dup = kept.clone();
    dup.id = ContactId::new();
    assert!(store.contacts().insert(&dup, &[event(EventType::ContactCreated)]).await.is_err());
    let mut stale = kept.clone();
    stale.version = 7;
    assert!(store.contacts().update(&stale, &[event(EventType::ContactUpdated)]).await.is_err());
    assert!(store.contacts().delete(f.tenant.id, kept.id, &[event(EventType::ContactDeleted)]).await.is_err());
    assert!(store.contacts().delete(f.tenant.id, ContactId::new(), &[event(EventType::ContactDeleted)]).await.is_err());
    let mut bad_owner = kept.clone();
    bad_owner.id = ContactId::new();
    bad_owner.email = None;
    bad_owner.owner_id = Some(MemberId::new());
    assert!(store.contacts().insert(&bad_owner, &[event(EventType::ContactCreated)]).await.is_err());
    let mut bad_member: Member = f.owner.clone();
    bad_member.id = MemberId::new();
    assert!(store.members().insert(&bad_member, &[event(EventType::MemberCreated)]).await.is_err());
    let mut stale_deal = deal.clone();
    stale_deal.version = 9;
    let change = crate::deal::StageChange {
        deal_id: deal.id,
        tenant_id: f.tenant.id,
        from_stage: Some("lead".into()),
        to_stage: "won".into(),
        changed_at: now(),
        changed_by: f.actor.principal,
    };
    assert!(store.deals().update(&stale_deal, Some(&change), &[event(EventType::DealWon)]).await.is_err());
    let (t, o) =
        (Tenant { id: crate::id::TenantId::new(), slug: f.tenant.slug.clone(), ..f.tenant.clone() }, f.owner.clone());
    assert!(store.tenants().create(&t, &o, &[event(EventType::TenantCreated)]).await.is_err());
    assert!(matches!(store.tenants().get(t.id).await, Err(CrmError::NotFound { .. })));

    assert_eq!(
        store.outbox().list(f.tenant.id, None, 1000).await.unwrap(),
        events_before,
        "no event from a failed mutation"
    );
    let contacts_after =
        store.contacts().list(f.tenant.id, &ContactFilter::default(), PageRequest::first(200)).await.unwrap();
    assert_eq!(contacts_after, contacts_before, "no row from a failed mutation");
    assert_eq!(
        store.deals().stage_history(f.tenant.id, deal.id).await.unwrap().len(),
        1,
        "no history from a failed update"
    );
    assert_eq!(store.deals().get(f.tenant.id, deal.id).await.unwrap(), deal);
}
