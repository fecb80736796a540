//! The console's campaign and pipeline pages: rendered on every backend over plain HTTP, and in
//! headless Chromium a campaign built with the segment builder is launched to a real SMTP
//! server (the crate's sink) and its statistics change after a tracked click.

use std::sync::Arc;
use std::time::Duration;

use mail_parser::MessageParser;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

use crate::browser::browser;
use crate::support::{Backend, PASSWORD, TestServer};
use crmcore_http::smtp::sink::{SinkConfig, SmtpSink};
use crmcore_http::smtp::{SmtpMailer, SmtpSettings, TlsMode};

const PUBLIC_URL: &str = "https://crm.console.test";

async fn page(server: &TestServer, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = server.client.get(format!("{}{path}", server.base)).header(COOKIE, cookie).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn campaign_and_pipeline_pages(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.run_worker = false).await;
    let (_tenant, _owner, token) = server.tenant("Pages Co", "ada@pages.test").await;
    let (_other, _zed, other_token) = server.tenant("Other Co", "zed@other.test").await;
    let session = server.console_cookie("ada@pages.test").await;

    let (status, html) = page(&server, &session, "/campaigns").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No campaigns yet") && html.contains("No templates yet"), "empty states");
    let (_, html) = page(&server, &session, "/campaigns/new").await;
    assert!(html.contains("Create a template first"), "the editor says what is missing");

    let hostile = json!({"name": "<script>alert(1)</script>", "subject": "Hi {{ first_name }}", "html": "<p>Hi</p>"});
    let template = server.post("/api/v1/email-templates", &token, hostile).await.ok(201).clone();
    server.post("/api/v1/contacts", &token, json!({"first_name": "Dana", "email": "dana@example.com"})).await.ok(201);
    let body = json!({"name": "Launch news", "from_email": "news@pages.test", "segment": {"type": "all", "rules": []},
                      "variants": [{"name": "A", "weight": 1, "template_id": template["id"]}]});
    let campaign = server.post("/api/v1/campaigns", &token, body).await.ok(201).clone();
    let id = campaign["id"].as_str().unwrap();

    let (_, html) = page(&server, &session, "/campaigns").await;
    assert!(html.contains("Launch news") && html.contains("draft"));
    assert!(!html.contains("<script>alert(1)</script>") && html.contains("&lt;script&gt;"), "names are escaped");
    let (status, html) = page(&server, &session, &format!("/campaigns/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Launch now") && html.contains("Schedule for"), "a draft offers launch and schedule");
    let (_, html) = page(&server, &session, &format!("/campaigns/{id}/edit")).await;
    assert!(
        html.contains(r#"data-segment='{"rules": [], "type": "all"}'"#),
        "the saved segment loads into the builder"
    );
    let (status, _) =
        page(&server, &session, &format!("/campaigns/templates/{}", template["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);

    // Another tenant's campaign is a not-found page, not a leak.
    let foreign = json!({"name": "T", "subject": "S", "html": "<p>x</p>"});
    let foreign = server.post("/api/v1/email-templates", &other_token, foreign).await.ok(201).clone();
    let (status, html) =
        page(&server, &session, &format!("/campaigns/templates/{}", foreign["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("does not exist"));

    // The pipeline page renders its sections with no deals and with some.
    let (status, html) = page(&server, &session, "/analytics/pipeline").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Health") && html.contains("Forecast") && html.contains("Stages"));
    for (i, stage) in ["lead", "qualified", "won"].iter().enumerate() {
        let deal = json!({"title": format!("Deal {i}"), "amount_minor": 100_000 * (i as i64 + 1), "currency": "EUR", "stage": stage});
        server.post("/api/v1/deals", &token, deal).await;
    }
    let (status, html) = page(&server, &session, "/analytics/pipeline?currency=EUR").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"stage-metrics\"") && html.contains("<svg"), "stage table and funnel chart");
    let (status, html) = page(&server, &session, "/analytics/pipeline?from=yesterday").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("use a date such as"), "a bad filter says how to fix it");
    server.stop().await;
}

crate::e2e!(campaign_and_pipeline_pages, the_pipeline_page_charts_a_history);

/// With a generated history of won and lost deals, the pipeline page draws the forecast chart:
/// the history, the prediction and its interval band(s), with the figures as a table.
async fn the_pipeline_page_charts_a_history(backend: Backend) {
    let (server, _token, _crm, _dir) = crate::analytics::server_with_history(backend).await;
    let session = server.console_cookie("ada@acme.test").await;
    let (status, html) = page(&server, &session, "/analytics/pipeline").await;
    assert_eq!(status, StatusCode::OK);
    for part in ["class=\"history\"", "class=\"forecast\"", "class=\"textbook\"", "Forecast as a table"] {
        assert!(html.contains(part), "{part} on the page");
    }
    assert!(html.contains("id=\"health-score\""), "a score from the history");
    if let Some(browser) = browser().await {
        browser.go(&format!("{}/login?next=/analytics/pipeline", server.base)).await;
        browser.fill("#email", "ada@acme.test").await;
        browser.fill("#password", PASSWORD).await;
        browser.click("form[action='/login'] button[type=submit]").await;
        browser.wait_url("/analytics/pipeline").await;
        browser.find(".chart svg polygon.textbook").await;
        browser.shoot(&format!("pipeline-history-{backend:?}").to_lowercase()).await;
        browser.client.clone().close().await.expect("close the browser");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_campaign_from_the_console_to_a_tracked_click() {
    let Some(browser) = browser().await else { return };
    let sink = SmtpSink::start(SinkConfig { keep_messages: true, rejections: vec![] }).await.expect("sink");
    let mut smtp = SmtpSettings::new("127.0.0.1", TlsMode::None);
    smtp.port = sink.addr().port();
    smtp.timeout = Duration::from_secs(5);
    let mailer = Arc::new(SmtpMailer::new(&smtp).expect("mailer"));
    let links = crmcore::campaign::LinkConfig {
        public_url: Some(PUBLIC_URL.into()),
        ..crmcore::campaign::LinkConfig::ephemeral().expect("a key")
    };
    let mut config = crmcore::campaign::CampaignConfig { links: Some(links), ..Default::default() };
    config.tracking.bot_window = chrono::Duration::zero();
    let server = TestServer::start_built(Backend::Sqlite, |b| b.mailer(mailer).campaign_config(config), |_| {}).await;
    let (tenant, _owner) = server.admin("Mail Co", "ada@mail.test").await;
    let token = server.login("ada@mail.test", Some(&tenant.slug)).await;
    for (name, tags) in [("Dana", json!(["vip"])), ("Fox", json!(["vip"])), ("Walter", json!([]))] {
        let contact =
            json!({"first_name": name, "email": format!("{}@example.com", name.to_lowercase()), "tags": tags});
        server.post("/api/v1/contacts", &token, contact).await.ok(201);
    }
    let base = &server.base;

    browser.go(&format!("{base}/login?next=/campaigns")).await;
    browser.fill("#email", "ada@mail.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button[type=submit]").await;
    browser.wait_url("/campaigns").await;
    browser.wait_text("main", "No campaigns yet").await;

    // A template with a tracked link; its editor previews it for a real contact.
    browser.fill("#tpl-name", "Spring offer").await;
    browser.fill("#tpl-subject", "Spring offer for {{ first_name }}").await;
    browser
        .fill(
            "#tpl-html",
            "<p>Hello {{ first_name }}, see <a href=\"https://shop.mail.test/spring\">the offer</a>.</p>",
        )
        .await;
    browser.click("form[data-api='/api/v1/email-templates'] button[type=submit]").await;
    browser.wait_url("/campaigns/templates/").await;
    browser.wait_text("[data-preview-subject]", "Spring offer for").await;
    browser.shoot("email-template").await;

    // The campaign: a segment built with the rule builder, counted live.
    browser.go(&format!("{base}/campaigns/new")).await;
    browser.wait_text("#seg-count", "3 contacts match").await;
    browser.fill("#c-name", "Spring to VIPs").await;
    browser.click("#seg-add").await;
    browser.fill("#seg-rules li:last-child [data-k='tag']", "vip").await;
    browser.wait_text("#seg-count", "2 contacts match").await;
    browser.wait_text("#template-preview [data-preview-subject]", "Spring offer for").await;
    browser.shoot("campaign-editor").await;
    browser.click("#campaign-form button[type=submit]").await;
    browser.wait_text("#campaign-status", "draft").await;

    // Launch (after the confirmation) and the messages reach the SMTP server.
    browser.click("#campaign-actions button.primary").await;
    browser.client.accept_alert().await.expect("confirm launch");
    let mut received = Vec::new();
    for _ in 0..100 {
        received = sink.messages();
        if received.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received.len(), 2, "both VIPs got the message, and only they");
    let message = MessageParser::default().parse(&received[0].data).expect("a MIME message");
    assert!(message.subject().unwrap().starts_with("Spring offer for "));
    let html = message.body_html(0).expect("an HTML part").replace("&#x2f;", "/");
    let click =
        html.split(&format!("{PUBLIC_URL}/t/c/")).nth(1).expect("a tracked link").split(['"', '>']).next().unwrap();

    // A reader clicks; the campaign page shows the click.
    let reader = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let clicked = reader.get(format!("{base}/t/c/{click}")).send().await.expect("click");
    assert_eq!(clicked.status(), StatusCode::FOUND);
    assert_eq!(clicked.headers()["location"], "https://shop.mail.test/spring");
    // Each try reloads: a page rendered before the click was counted has no per-link table.
    for _ in 0..50 {
        browser.client.refresh().await.expect("reload");
        if let Ok(table) = browser.client.find(fantoccini::Locator::Css("#link-stats")).await
            && table.text().await.unwrap_or_default().contains("https://shop.mail.test/spring 1 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.wait_text("#link-stats", "https://shop.mail.test/spring 1 1").await;
    browser.wait_text("#campaign-status", "sent").await;
    let stats: Value = server
        .get(&format!("/api/v1/campaigns/{}/stats", current_campaign(&browser).await), &token)
        .await
        .ok(200)
        .clone();
    assert_eq!(stats["unique_clicks"], 1);
    browser.shoot("campaign").await;
    browser.go(&format!("{base}/campaigns")).await;
    browser.wait_text("main table", "Spring to VIPs").await;
    browser.shoot("campaigns").await;

    // The pipeline page with a few deals.
    for (i, stage) in ["lead", "qualified", "won"].iter().enumerate() {
        let deal = json!({"title": format!("Deal {i}"), "amount_minor": 250_000, "currency": "EUR", "stage": stage});
        server.post("/api/v1/deals", &token, deal).await;
    }
    browser.go(&format!("{base}/analytics/pipeline?currency=EUR")).await;
    browser.wait_text("#stage-metrics", "Lead").await;
    browser.shoot("pipeline").await;
    browser.client.clone().close().await.expect("close the browser");
    server.stop().await;
}

/// The id of the campaign the browser is on.
async fn current_campaign(browser: &crate::browser::Browser) -> String {
    let url = browser.client.current_url().await.expect("url").to_string();
    url.split("/campaigns/").nth(1).expect("a campaign page").split(['/', '?']).next().unwrap().to_owned()
}
