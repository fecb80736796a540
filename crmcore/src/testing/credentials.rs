//! Contract checks for stored credentials.

use std::sync::Arc;

use chrono::Duration;

use super::fixtures::{Fixture, now};
use crate::actor::Role;
use crate::error::CrmError;
use crate::id::{ApiKeyId, RefreshTokenId};
use crate::member::MemberPatch;
use crate::ports::{ApiKey, RefreshToken, RefreshTokenUse, Store};
use crate::secret::hash_token;

fn refresh(f: &Fixture, secret: &str, family: uuid::Uuid) -> RefreshToken {
    let t = now();
    RefreshToken {
        id: RefreshTokenId::new(),
        family_id: family,
        tenant_id: f.tenant.id,
        member_id: f.owner.id,
        token_hash: hash_token(secret),
        issued_at: t,
        expires_at: t + Duration::days(30),
        used_at: None,
        revoked_at: None,
    }
}

/// Passwords find their members across tenants; API keys are found by hash and revoked;
/// refresh tokens are single use and revoked by family.
pub async fn credentials_passwords_api_keys_and_refresh_rotation(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Creds A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Creds B").await;
    let creds = store.credentials();
    assert!(creds.login_candidates(&a.owner.email).await.unwrap().is_empty(), "no password, no candidate");
    creds.set_password(a.tenant.id, a.owner.id, "$argon2id$hash-a", now()).await.unwrap();
    creds.set_password(a.tenant.id, a.owner.id, "$argon2id$hash-a2", now()).await.unwrap();
    let shared_email = a.owner.email.clone();
    let twin = a
        .crm
        .members()
        .create(
            &b.actor,
            crate::member::NewMember {
                email: shared_email.to_string(),
                display_name: None,
                handle: Some("twin".into()),
                role: Role::Member,
            },
        )
        .await
        .unwrap();
    creds.set_password(b.tenant.id, twin.id, "$argon2id$hash-b", now()).await.unwrap();
    let mut found = creds.login_candidates(&shared_email).await.unwrap();
    found.sort_by_key(|c| c.tenant.slug.clone());
    assert_eq!(found.len(), 2);
    assert_eq!(
        (found[0].tenant.id, found[0].member.id, found[0].password_hash.as_str()),
        (a.tenant.id, a.owner.id, "$argon2id$hash-a2")
    );
    assert_eq!((found[1].tenant.id, found[1].member.id), (b.tenant.id, twin.id));
    b.crm.members().update(&b.actor, twin.id, MemberPatch { active: Some(false), ..Default::default() }).await.unwrap();
    assert_eq!(creds.login_candidates(&shared_email).await.unwrap().len(), 1, "deactivated members cannot sign in");
    assert!(matches!(creds.set_password(b.tenant.id, a.owner.id, "x", now()).await, Err(CrmError::NotFound { .. })));

    let key = ApiKey {
        id: ApiKeyId::new(),
        tenant_id: a.tenant.id,
        name: "ci".into(),
        prefix: "crm_abcd".into(),
        secret_hash: hash_token("crm_abcdsecret"),
        role: Role::Member,
        created_by: Some(a.owner.id),
        created_at: now(),
        expires_at: None,
        revoked_at: None,
    };
    creds.insert_api_key(&key).await.unwrap();
    assert_eq!(creds.find_api_key(&key.secret_hash).await.unwrap(), Some(key.clone()));
    assert_eq!(creds.find_api_key(&hash_token("other")).await.unwrap(), None);
    assert_eq!(creds.list_api_keys(a.tenant.id).await.unwrap(), vec![key.clone()]);
    let revoked_at = now();
    creds.revoke_api_key(a.tenant.id, key.id, revoked_at).await.unwrap();
    creds.revoke_api_key(a.tenant.id, key.id, revoked_at + Duration::seconds(1)).await.unwrap();
    assert_eq!(creds.find_api_key(&key.secret_hash).await.unwrap().unwrap().revoked_at, Some(revoked_at));
    assert!(matches!(creds.revoke_api_key(a.tenant.id, ApiKeyId::new(), now()).await, Err(CrmError::NotFound { .. })));

    let family = uuid::Uuid::now_v7();
    let first = refresh(&a, "r1", family);
    creds.insert_refresh_token(&first).await.unwrap();
    assert_eq!(creds.find_refresh_token(&first.token_hash).await.unwrap(), Some(first.clone()));
    assert_eq!(creds.find_refresh_token(&hash_token("nope")).await.unwrap(), None);
    let used_at = now();
    match creds.use_refresh_token(&first.token_hash, used_at).await.unwrap() {
        RefreshTokenUse::Fresh(t) => assert_eq!(t, first),
        other => panic!("expected fresh, got {other:?}"),
    }
    match creds.use_refresh_token(&first.token_hash, used_at).await.unwrap() {
        RefreshTokenUse::AlreadyUsed(t) => assert_eq!(t.used_at, Some(used_at)),
        other => panic!("expected already used, got {other:?}"),
    }
    assert_eq!(creds.use_refresh_token(&hash_token("nope"), now()).await.unwrap(), RefreshTokenUse::Unknown);
    let second = refresh(&a, "r2", family);
    creds.insert_refresh_token(&second).await.unwrap();
    let unrelated = refresh(&a, "r3", uuid::Uuid::now_v7());
    creds.insert_refresh_token(&unrelated).await.unwrap();
    let revoked = now();
    creds.revoke_refresh_family(family, revoked).await.unwrap();
    let found = creds.find_refresh_token(&second.token_hash).await.unwrap().expect("still stored");
    assert_eq!((found.revoked_at, found.used_at), (Some(revoked), None), "finding does not use");
    match creds.use_refresh_token(&second.token_hash, now()).await.unwrap() {
        RefreshTokenUse::Fresh(t) => assert_eq!(t.revoked_at, Some(revoked), "revocation is visible to the caller"),
        other => panic!("expected fresh-but-revoked, got {other:?}"),
    }
    match creds.use_refresh_token(&unrelated.token_hash, now()).await.unwrap() {
        RefreshTokenUse::Fresh(t) => assert_eq!(t.revoked_at, None, "other families are untouched"),
        other => panic!("expected fresh, got {other:?}"),
    }
}

/// Two concurrent uses of one refresh token: exactly one is `Fresh`.
pub async fn refresh_token_is_used_once_under_concurrency(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Refresh Race").await;
    for round in 0..10 {
        let token = refresh(&f, &format!("race{round}"), uuid::Uuid::now_v7());
        store.credentials().insert_refresh_token(&token).await.unwrap();
        let uses = futures::future::join_all((0..4).map(|_| {
            let store = store.clone();
            let hash = token.token_hash.clone();
            tokio::spawn(async move { store.credentials().use_refresh_token(&hash, now()).await.unwrap() })
        }))
        .await;
        let fresh = uses.into_iter().filter(|u| matches!(u, Ok(RefreshTokenUse::Fresh(_)))).count();
        assert_eq!(fresh, 1, "round {round}");
    }
}
