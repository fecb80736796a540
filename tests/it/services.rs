use crmcore::actor::{Actor, Role};
use crmcore::contact::{ContactPatch, NewContact};
use crmcore::deal::NewDeal;
use crmcore::member::{MemberPatch, NewMember};
use crmcore::tenant::NewOwner;
use crmcore::{Crm, CrmError};
use crmcore_memory::MemoryStore;

async fn setup() -> (Crm, Actor) {
    let crm = Crm::builder().store(MemoryStore::new()).build().unwrap();
    let owner = NewOwner { email: "owner@acme.test".into(), display_name: None, handle: None };
    let (tenant, owner) = crm.tenants().create("Acme", owner).await.unwrap();
    (crm, Actor::member(tenant.id, owner.id, Role::Owner))
}

async fn member(crm: &Crm, owner: &Actor, handle: &str, role: Role) -> Actor {
    let input =
        NewMember { email: format!("{handle}@acme.test"), display_name: None, handle: Some(handle.into()), role };
    let m = crm.members().create(owner, input).await.unwrap();
    Actor::member(owner.tenant_id, m.id, role)
}

fn fields(err: CrmError) -> Vec<(String, String)> {
    match err {
        CrmError::Validation(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn roles_gate_every_service_call() {
    let (crm, owner) = setup().await;
    let viewer = member(&crm, &owner, "vera", Role::Viewer).await;
    let rep = member(&crm, &owner, "rick", Role::Member).await;
    let contact = NewContact { email: Some("c@example.com".into()), ..Default::default() };

    assert!(matches!(crm.contacts().create(&viewer, contact.clone()).await, Err(CrmError::Forbidden(_))));
    let c = crm.contacts().create(&rep, contact).await.unwrap();
    assert!(crm.contacts().get(&viewer, c.id).await.is_ok(), "viewers read");
    assert!(matches!(crm.contacts().delete(&rep, c.id).await, Err(CrmError::Forbidden(_))), "members do not delete");
    let new_member = NewMember { email: "x@acme.test".into(), display_name: None, handle: None, role: Role::Viewer };
    assert!(matches!(crm.members().create(&rep, new_member.clone()).await, Err(CrmError::Forbidden(_))));

    let admin = member(&crm, &owner, "adam", Role::Admin).await;
    let as_owner = NewMember { role: Role::Owner, ..new_member.clone() };
    assert!(matches!(crm.members().create(&admin, as_owner).await, Err(CrmError::Forbidden(_))), "no escalation");
    crm.members().create(&admin, new_member).await.unwrap();
    let rename = MemberPatch { display_name: Some("Rick R.".into()), ..Default::default() };
    assert!(
        crm.members().update(&rep, rep.member_id().unwrap(), rename).await.is_ok(),
        "members edit their own profile"
    );
    let promote = MemberPatch { role: Some(Role::Admin), ..Default::default() };
    assert!(matches!(crm.members().update(&rep, rep.member_id().unwrap(), promote).await, Err(CrmError::Forbidden(_))));
}

#[tokio::test]
async fn bad_input_reports_every_field() {
    let (crm, owner) = setup().await;
    let bad = NewContact {
        email: Some("not-an-email".into()),
        tags: vec!["ok".into(), "bad,tag".into()],
        custom_fields: serde_json::from_value(serde_json::json!({"Bad Key": 1})).unwrap(),
        ..Default::default()
    };
    let errors = fields(crm.contacts().create(&owner, bad).await.unwrap_err());
    assert_eq!(
        errors,
        vec![
            ("email".into(), "invalid".into()),
            ("tags".into(), "invalid".into()),
            ("custom_fields.Bad Key".into(), "invalid_key".into())
        ]
    );
    let empty = fields(crm.contacts().create(&owner, NewContact::default()).await.unwrap_err());
    assert_eq!(empty, vec![("email".into(), "required".into())]);

    let deal = NewDeal {
        title: " ".into(),
        contact_id: None,
        owner_id: None,
        amount_minor: -5,
        currency: "euro".into(),
        stage: Some("closing".into()),
        probability: Some(120),
        expected_close: None,
    };
    let errors: Vec<String> =
        fields(crm.deals().create(&owner, deal).await.unwrap_err()).into_iter().map(|(f, _)| f).collect();
    assert_eq!(errors, vec!["title", "currency", "stage", "probability"]);

    let c = crm
        .contacts()
        .create(&owner, NewContact { first_name: Some("Ann".into()), ..Default::default() })
        .await
        .unwrap();
    let too_many = ContactPatch { add_tags: (0..51).map(|i| format!("t{i}")).collect(), ..Default::default() };
    assert_eq!(
        fields(crm.contacts().update(&owner, c.id, too_many).await.unwrap_err()),
        vec![("tags".into(), "too_many".into())]
    );
    let wrong_stage = crm
        .deals()
        .list(
            &owner,
            &crmcore::deal::DealFilter { stage: Some("nope".into()), ..Default::default() },
            Default::default(),
        )
        .await;
    assert_eq!(fields(wrong_stage.unwrap_err()), vec![("stage".into(), "unknown".into())]);
}

#[tokio::test]
async fn patches_distinguish_absent_from_null() {
    let (crm, owner) = setup().await;
    let input = NewContact {
        email: Some("a@b.test".into()),
        company: Some("Acme".into()),
        phone: Some("1".into()),
        ..Default::default()
    };
    let c = crm.contacts().create(&owner, input).await.unwrap();
    let patch: ContactPatch = serde_json::from_str(r#"{"company": null}"#).unwrap();
    let c = crm.contacts().update(&owner, c.id, patch).await.unwrap();
    assert_eq!((c.company, c.phone.as_deref()), (None, Some("1")));
    let unknown = serde_json::from_str::<ContactPatch>(r#"{"nickname": "x"}"#);
    assert!(unknown.is_err(), "unknown fields are rejected, not ignored");
}
