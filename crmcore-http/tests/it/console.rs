//! The web console: sign-in, the cookie session and its CSRF token over plain HTTP on every
//! backend, and the pages in headless Chromium (when chromedriver is installed: Debian's
//! `chromium` and `chromium-driver`; see `browser.rs`).

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::browser::browser;
use crate::support::{Backend, PASSWORD, TestServer, plain_client};

/// The CSRF token a page carries for its scripts.
fn csrf_of(html: &str) -> String {
    let start = html.find("data-csrf=\"").expect("page carries a CSRF token") + "data-csrf=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn cookie_sessions_and_csrf(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (tenant, _owner) = server.admin("Console Co", "owner@console.test").await;
    let client = plain_client();

    // Signed out, a page sends people to the sign-in form and back.
    let response = client.get(format!("{}/contacts?q=a", server.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login?next=%2Fcontacts%3Fq%3Da");
    let login = client.get(format!("{}/login?next=/contacts", server.base)).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert!(login.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().contains("script-src 'self'"));
    assert!(login.text().await.unwrap().contains("name=\"password\""));

    // A wrong password re-renders the form with the reason; a cross-site post is refused.
    let wrong = client
        .post(format!("{}/login", server.base))
        .form(&[("email", "owner@console.test"), ("password", "nope"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("Wrong e-mail or password"));
    let forged = client
        .post(format!("{}/login", server.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "owner@console.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.headers().get(SET_COOKIE).is_none());
    // An open redirect through `next` goes to the start page instead.
    let outward = client
        .post(format!("{}/login", server.base))
        .form(&[("email", "owner@console.test"), ("password", PASSWORD), ("next", "//evil.test/")])
        .send()
        .await
        .unwrap();
    assert_eq!(outward.headers()[LOCATION], "/");
    let onward = client
        .post(format!("{}/login", server.base))
        .form(&[("email", "owner@console.test"), ("password", PASSWORD), ("next", "/deals?stage=won")])
        .send()
        .await
        .unwrap();
    assert_eq!(onward.headers()[LOCATION], "/deals?stage=won", "back where the person was headed");
    assert!(onward.headers()[SET_COOKIE].to_str().unwrap().starts_with("crm_session=crms_"));

    let cookie = server.console_cookie("owner@console.test").await;
    let page = client.get(format!("{}/contacts", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("No contacts yet"), "the empty state says what to do");
    let csrf = csrf_of(&html);

    // The API accepts the cookie; a state change needs the session's CSRF token.
    let api = format!("{}/api/v1/contacts", server.base);
    let me = client.get(format!("{}/api/v1/me", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let refused = client.post(&api).header(COOKIE, &cookie).json(&json!({"first_name": "Eve"})).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.headers()[CONTENT_TYPE], "application/problem+json");
    let wrong_token = client
        .post(&api)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", "forged")
        .json(&json!({"first_name": "Eve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), StatusCode::FORBIDDEN);
    let created = client
        .post(&api)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"first_name": "Dana", "last_name": "Scully"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let contact: Value = created.json().await.unwrap();
    let detail = client
        .get(format!("{}/contacts/{}", server.base, contact["id"].as_str().unwrap()))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(detail.status(), StatusCode::OK);
    assert!(detail.text().await.unwrap().contains("Dana Scully"));

    // Errors are pages that say what to do.
    let missing = client
        .get(format!("{}/contacts/{}", server.base, uuid::Uuid::now_v7()))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.unwrap().contains("Go back to the start page"));

    // A console session is not a refresh token.
    let token = cookie.split_once('=').unwrap().1;
    let refresh =
        server.call(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": token}))).await;
    refresh.problem(401);

    // Signing out ends the session on the server, not just in the browser.
    let no_token = client
        .post(format!("{}/logout", server.base))
        .header(COOKIE, &cookie)
        .form(&[("_csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN, "sign-out needs the CSRF token too");
    let out = client
        .post(format!("{}/logout", server.base))
        .header(COOKIE, &cookie)
        .form(&[("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let after = client.get(format!("{}/api/v1/me", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let page = client.get(format!("{}/deals", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let _ = tenant;
    server.stop().await;
}

crate::e2e!(cookie_sessions_and_csrf);

// ---- In a real browser ------------------------------------------------------------------------

#[tokio::test]
async fn the_console_in_a_browser() {
    let Some(browser) = browser().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;
    let (tenant, _owner) = server.admin("Browser Co", "ada@browser.test").await;
    let ada_token = server.login("ada@browser.test", Some(&tenant.slug)).await;
    let bob = json!({"email": "bob@browser.test", "handle": "bob", "display_name": "Bob Stone", "role": "member", "password": PASSWORD});
    server.post("/api/v1/members", &ada_token, bob).await.ok(201);
    let bob_token = server.login("bob@browser.test", Some(&tenant.slug)).await;
    let base = &server.base;

    // Signing in from a deep link comes back to it.
    browser.go(&format!("{base}/contacts")).await;
    browser.wait_url("/login").await;
    browser.shoot("login").await;
    browser.fill("#email", "ada@browser.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button[type=submit]").await;
    browser.wait_url("/contacts").await;
    browser.wait_text("main", "No contacts yet").await;
    browser.shoot("contacts-empty").await;

    // A bad e-mail is shown next to its field; a good form opens the new contact.
    browser.fill("#first_name", "Dana").await;
    browser.fill("#last_name", "Scully").await;
    browser.fill("#new-email", "not-an-address").await;
    browser.click("form[data-api='/api/v1/contacts'] button[type=submit]").await;
    browser.wait_text("form[data-api='/api/v1/contacts'] .form-error", "highlighted").await;
    let invalid = browser.find("#new-email").await.attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    browser.fill("#new-email", "dana@fbi.test").await;
    browser.fill("#tags", "vip, east").await;
    browser.click("form[data-api='/api/v1/contacts'] button[type=submit]").await;
    let url = browser.wait_url("/contacts/").await;
    let contact_id = url.rsplit('/').next().unwrap().to_owned();
    browser.wait_text("h1", "Dana Scully").await;

    // A colleague's @mention arrives live: the badge changes without a reload.
    browser.wait_text("#notif-count", "0").await;
    let comment = json!({"entity": {"kind": "contact", "id": contact_id}, "body": "@ada can you call Dana?"});
    server.post("/api/v1/comments", &bob_token, comment).await.ok(201);
    browser.wait_text("#notif-count", "1").await;
    browser.click("#notif-button").await;
    browser.wait_text("#notif-list", "mentioned you").await;
    browser.shoot("notifications").await;
    browser.click("#notif-read-all").await;
    browser.wait_text("#notif-count", "0").await;
    browser.click("#notif-button").await;

    // Replying with @mention completion: typing "@bo" offers Bob; Enter picks him.
    browser.go(&format!("{base}/contacts/{contact_id}")).await;
    browser.wait_text("#activity .thread", "can you call Dana?").await;
    browser.click("#activity [data-reply]").await;
    browser.find("#comment-body").await.send_keys("On it, @bo").await.unwrap();
    browser.wait_text("#mention-menu", "Bob Stone").await;
    browser.find("#comment-body").await.send_keys("\u{E007}").await.unwrap();
    let typed = browser.find("#comment-body").await.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(typed, "On it, @bob ");
    browser.click("#comment-form button[type=submit]").await;
    browser.wait_text("#activity .replies", "On it, @bob").await;
    let bob_inbox = server.get("/api/v1/notifications", &bob_token).await.ok(200).clone();
    assert!(bob_inbox["items"].as_array().unwrap().iter().any(|n| n["kind"] == "mention" || n["kind"] == "reply"));
    let before = browser.find("#follow-button").await.attr("aria-pressed").await.unwrap().unwrap_or_default();
    browser.click("#follow-button").await;
    let toggled = if before == "true" { "false" } else { "true" };
    browser.find(&format!("#follow-button[aria-pressed='{toggled}']")).await;
    browser.shoot("contact").await;

    // Deals: the list, a new deal with its contact, a stage move.
    browser.go(&format!("{base}/deals")).await;
    browser.wait_text("main", "No deals yet").await;
    browser.fill("#title", "Fifty seats").await;
    browser.fill("#amount", "12,500.00").await;
    browser.find("#contact_id").await.select_by_label("Dana Scully").await.unwrap();
    browser.click("form[data-api='/api/v1/deals'] button[type=submit]").await;
    browser.wait_url("/deals/").await;
    browser.wait_text("main", "EUR 12,500.00").await;
    browser.click("form[data-api$='/stage'] button[type=submit]").await;
    browser.shoot("deal").await;
    browser.go(&format!("{base}/deals")).await;
    browser.wait_text("main table", "Fifty seats").await;
    browser.shoot("deals").await;

    // Signing out returns to the sign-in form.
    browser.click("form.logout button[type=submit]").await;
    browser.wait_url("/login").await;
    browser.client.clone().close().await.expect("close the browser");
    server.stop().await;
}
