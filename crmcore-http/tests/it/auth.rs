//! Sign-in, refresh rotation, replay detection, expiry and deactivation.

use chrono::Utc;
use crmcore::Role;
use crmcore_http::auth::jwt::JwtKeys;
use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, JWT_SECRET, PASSWORD, TestServer};

async fn login_refresh_rotation_and_reuse_detection(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (tenant, owner) = server.admin("Acme", "ada@acme.test").await;
    let login = server
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "ada@acme.test", "password": PASSWORD})))
        .await;
    let tokens = login.ok(200).clone();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().unwrap();
    let me = server.get("/api/v1/me", access).await;
    assert_eq!(me.ok(200)["id"], owner.id.to_string());
    assert_eq!(me.body["tenant_id"], tenant.id.to_string());

    // Rotation: the refresh token works once and yields a new pair.
    let first = tokens["refresh_token"].clone();
    let rotated = server.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    let second = rotated.ok(200)["refresh_token"].clone();
    assert_ne!(first, second);
    server.get("/api/v1/me", rotated.body["access_token"].as_str().unwrap()).await.ok(200);

    // Replaying the spent token is refused and revokes the family: the newer token dies too.
    let replay = server.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    replay.problem(401);
    let after = server.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": second}))).await;
    after.problem(401);

    let unknown = server.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "crmr_nope"})));
    unknown.await.problem(401);
    server.stop().await;
}

async fn bad_credentials_are_401_and_alike(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.admin("Acme", "ada@acme.test").await;
    let wrong = json!({"email": "ada@acme.test", "password": "not the password"});
    let reply = server.call(Method::POST, "/api/v1/auth/login", None, Some(wrong)).await;
    reply.problem(401);
    assert!(reply.headers.get("www-authenticate").is_some());
    let unknown = json!({"email": "nobody@acme.test", "password": PASSWORD});
    let other = server.call(Method::POST, "/api/v1/auth/login", None, Some(unknown)).await;
    assert_eq!(other.problem(401)["detail"], reply.body["detail"], "unknown e-mails look like wrong passwords");
    let bad = server.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "nope", "password": "x"})));
    assert!(bad.await.has_field_error("email"));
    server.stop().await;
}

async fn several_tenants_need_a_slug(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.admin("Acme", "ada@shared.test").await;
    server.admin("Globex", "ada@shared.test").await;
    let body = json!({"email": "ada@shared.test", "password": PASSWORD});
    let reply = server.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
    reply.problem(422);
    assert!(reply.has_field_error("tenant"));
    let token = server.login("ada@shared.test", Some("globex")).await;
    let me = server.get("/api/v1/me", &token).await;
    assert_eq!(me.ok(200)["email"], "ada@shared.test");
    server.stop().await;
}

async fn expired_and_forged_tokens_are_rejected(backend: Backend) {
    // Three seconds: long enough for the first request on a loaded machine, short enough to wait out.
    let server = TestServer::start_with(backend, |s| s.access_token_ttl = std::time::Duration::from_secs(3)).await;
    let (tenant, owner, token) = server.tenant("Acme", "ada@acme.test").await;
    server.get("/api/v1/me", &token).await.ok(200);

    let keys = JwtKeys::new(JWT_SECRET).unwrap();
    let an_hour_ago = Utc::now() - chrono::Duration::hours(1);
    let expired = keys.issue(tenant.id, owner.id, Role::Owner, an_hour_ago, std::time::Duration::from_secs(60));
    let reply = server.get("/api/v1/me", &expired.unwrap()).await;
    reply.problem(401);
    assert!(reply.body["detail"].as_str().unwrap().contains("expired"));

    let forged = JwtKeys::new(b"some-other-signing-key-of-32-bytes!!").unwrap();
    let forged = forged.issue(tenant.id, owner.id, Role::Owner, Utc::now(), std::time::Duration::from_secs(60));
    server.get("/api/v1/me", &forged.unwrap()).await.problem(401);

    // The real token's three-second lifetime runs out.
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    server.get("/api/v1/me", &token).await.problem(401);
    server.call(Method::GET, "/api/v1/me", None, None).await.problem(401);
    server.get("/api/v1/me", "garbage").await.problem(401);
    server.stop().await;
}

async fn deactivated_members_lose_access(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_tenant, _owner, owner_token) = server.tenant("Acme", "ada@acme.test").await;
    let body = json!({"email": "bob@acme.test", "role": "member", "password": PASSWORD});
    let bob = server.post("/api/v1/members", &owner_token, body).await.ok(201).clone();
    let login = json!({"email": "bob@acme.test", "password": PASSWORD});
    let tokens = server.call(Method::POST, "/api/v1/auth/login", None, Some(login.clone())).await.ok(200).clone();
    let bob_token = tokens["access_token"].as_str().unwrap();
    server.get("/api/v1/contacts", bob_token).await.ok(200);

    let path = format!("/api/v1/members/{}", bob["id"].as_str().unwrap());
    server.patch(&path, &owner_token, json!({"active": false})).await.ok(200);
    server.get("/api/v1/contacts", bob_token).await.problem(401);
    let refresh = json!({"refresh_token": tokens["refresh_token"]});
    server.call(Method::POST, "/api/v1/auth/refresh", None, Some(refresh)).await.problem(401);
    server.call(Method::POST, "/api/v1/auth/login", None, Some(login)).await.problem(401);
    server.stop().await;
}

crate::e2e!(
    login_refresh_rotation_and_reuse_detection,
    bad_credentials_are_401_and_alike,
    several_tenants_need_a_slug,
    expired_and_forged_tokens_are_rejected,
    deactivated_members_lose_access
);
