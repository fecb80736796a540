//! Tenant isolation: nothing of tenant A is readable, listable, updatable or deletable from B.

use std::sync::Arc;

use super::fixtures::{Fixture, now};
use crate::actor::Role;
use crate::contact::{ContactFilter, ContactPatch};
use crate::deal::{DealFilter, NewDeal};
use crate::error::CrmError;
use crate::id::ApiKeyId;
use crate::member::MemberPatch;
use crate::page::PageRequest;
use crate::ports::{ApiKey, Store};
use crate::secret::hash_token;

fn not_found<T: std::fmt::Debug>(result: crate::Result<T>, what: &str) {
    assert!(matches!(result, Err(CrmError::NotFound { .. })), "{what}: expected NotFound, got {result:?}");
}

/// Every repository, through the services and directly: B sees and touches none of A's data.
pub async fn tenant_isolation_for_every_repository(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Isolated A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Isolated B").await;
    let a_member = a.member("alice", Role::Member).await;
    let a_contact = a.contact("secret@a.test").await;
    let deal = NewDeal {
        title: "A's deal".into(),
        contact_id: Some(a_contact.id),
        owner_id: None,
        amount_minor: 100,
        currency: "EUR".into(),
        stage: None,
        probability: None,
        expected_close: None,
    };
    let a_deal = a.crm.deals().create(&a.actor, deal).await.unwrap();
    let key = ApiKey {
        id: ApiKeyId::new(),
        tenant_id: a.tenant.id,
        name: "a".into(),
        prefix: "crm_a".into(),
        secret_hash: hash_token("crm_a-secret"),
        role: Role::Admin,
        created_by: None,
        created_at: now(),
        expires_at: None,
        revoked_at: None,
    };
    store.credentials().insert_api_key(&key).await.unwrap();

    let (bt, crm, actor) = (b.tenant.id, &b.crm, &b.actor);
    // Services, as tenant B's owner.
    not_found(crm.members().get(actor, a_member.id).await, "member get");
    not_found(
        crm.members()
            .update(actor, a_member.id, MemberPatch { display_name: Some("x".into()), ..Default::default() })
            .await,
        "member update",
    );
    not_found(crm.members().find_by_handle(actor, "alice").await, "member by handle");
    not_found(crm.contacts().get(actor, a_contact.id).await, "contact get");
    not_found(
        crm.contacts()
            .update(actor, a_contact.id, ContactPatch { phone: Some(Some("1".into())), ..Default::default() })
            .await,
        "contact update",
    );
    not_found(crm.contacts().delete(actor, a_contact.id).await, "contact delete");
    not_found(crm.deals().get(actor, a_deal.id).await, "deal get");
    not_found(crm.deals().update(actor, a_deal.id, Default::default()).await, "deal update");
    not_found(crm.deals().move_stage(actor, a_deal.id, "won", None).await, "deal move");
    not_found(crm.deals().delete(actor, a_deal.id).await, "deal delete");
    not_found(crm.deals().stage_history(actor, a_deal.id).await, "deal history");
    let members = crm.members().list(actor, PageRequest::default()).await.unwrap();
    assert_eq!(members.items.iter().map(|m| m.id).collect::<Vec<_>>(), vec![b.owner.id]);
    assert!(
        crm.contacts().list(actor, &ContactFilter::default(), PageRequest::default()).await.unwrap().items.is_empty()
    );
    assert!(
        crm.contacts()
            .list(actor, &ContactFilter { search: Some("secret".into()), ..Default::default() }, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(crm.deals().list(actor, &DealFilter::default(), PageRequest::default()).await.unwrap().items.is_empty());

    // Repositories directly, with A's ids under B's tenant.
    not_found(store.members().get(bt, a_member.id).await, "repo member get");
    assert_eq!(store.members().find_by_handle(bt, &a_member.handle).await.unwrap(), None);
    assert_eq!(store.members().find_by_email(bt, &a_member.email).await.unwrap(), None);
    let mut moved = a_member.clone();
    moved.tenant_id = bt;
    moved.version += 1;
    not_found(store.members().update(&moved, &[]).await, "repo member update");
    assert_eq!(store.members().count_active_with_role(bt, Role::Member).await.unwrap(), 0);
    not_found(store.contacts().get(bt, a_contact.id).await, "repo contact get");
    let mut stolen = a_contact.clone();
    stolen.tenant_id = bt;
    stolen.version += 1;
    not_found(store.contacts().update(&stolen, &[]).await, "repo contact update");
    not_found(store.contacts().delete(bt, a_contact.id, &[]).await, "repo contact delete");
    not_found(store.deals().get(bt, a_deal.id).await, "repo deal get");
    let mut stolen_deal = a_deal.clone();
    stolen_deal.tenant_id = bt;
    stolen_deal.contact_id = None;
    stolen_deal.owner_id = None;
    stolen_deal.version += 1;
    not_found(store.deals().update(&stolen_deal, None, &[]).await, "repo deal update");
    not_found(store.deals().delete(bt, a_deal.id, &[]).await, "repo deal delete");
    not_found(store.deals().stage_history(bt, a_deal.id).await, "repo deal history");
    assert!(store.credentials().list_api_keys(bt).await.unwrap().is_empty());
    not_found(store.credentials().revoke_api_key(bt, key.id, now()).await, "api key revoke");
    not_found(store.credentials().set_password(bt, a_member.id, "h", now()).await, "set password");
    assert!(store.outbox().list(bt, None, 1000).await.unwrap().iter().all(|e| e.event.tenant_id == bt));

    // And A's data is untouched.
    assert_eq!(store.contacts().get(a.tenant.id, a_contact.id).await.unwrap(), a_contact);
    assert_eq!(store.deals().get(a.tenant.id, a_deal.id).await.unwrap(), a_deal);
    assert_eq!(store.members().get(a.tenant.id, a_member.id).await.unwrap(), a_member);
    assert_eq!(store.credentials().find_api_key(&key.secret_hash).await.unwrap().unwrap().revoked_at, None);
}
