//! The webhook HTTP transport against real local receivers: what it reports, and what the SSRF
//! guard refuses.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use crmcore::ports::{TransportError, WebhookRequest, WebhookTransport};
use crmcore_http::webhook_http::{BODY_EXCERPT_BYTES, HttpWebhookTransport, SsrfPolicy};

async fn receiver(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn request(url: String) -> WebhookRequest {
    WebhookRequest {
        url,
        headers: vec![("webhook-id".into(), "msg_1".into()), ("content-type".into(), "application/json".into())],
        body: br#"{"type":"contact.created"}"#.to_vec(),
        timeout: Duration::from_secs(2),
    }
}

fn local() -> HttpWebhookTransport {
    HttpWebhookTransport::new(SsrfPolicy::allowing(["127.0.0.1".parse().unwrap()])).unwrap()
}

#[tokio::test]
async fn reports_status_headers_latency_and_a_bounded_body() {
    let app = Router::new().route(
        "/hook",
        post(|headers: HeaderMap, body: String| async move {
            assert_eq!(headers["webhook-id"], "msg_1");
            assert_eq!(body, r#"{"type":"contact.created"}"#);
            (StatusCode::ACCEPTED, [("x-receiver", "yes")], "x".repeat(3 * BODY_EXCERPT_BYTES))
        }),
    );
    let base = receiver(app).await;
    let response = local().post(&request(format!("{base}/hook"))).await.unwrap();
    assert_eq!(response.status, 202);
    assert!(response.headers.iter().any(|(k, v)| k == "x-receiver" && v == "yes"));
    assert_eq!(response.body_excerpt.len(), BODY_EXCERPT_BYTES);
    assert!(response.latency < Duration::from_secs(2));
}

#[tokio::test]
async fn redirects_are_not_followed_and_errors_are_classified() {
    let app = Router::new()
        .route("/moved", post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "http://169.254.169.254/")]) }))
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let base = receiver(app).await;
    let moved = local().post(&request(format!("{base}/moved"))).await.unwrap();
    assert_eq!(moved.status, 307, "the redirect is reported, not followed");
    let mut slow = request(format!("{base}/slow"));
    slow.timeout = Duration::from_millis(300);
    assert_eq!(local().post(&slow).await.unwrap_err(), TransportError::Timeout);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = local().post(&request(format!("http://{closed}/"))).await.unwrap_err();
    assert!(matches!(refused, TransportError::Connect(_)), "{refused:?}");
}

#[tokio::test]
async fn the_default_policy_refuses_private_destinations() {
    let base = receiver(Router::new().route("/hook", post(|| async { "reached" }))).await;
    let guarded = HttpWebhookTransport::new(SsrfPolicy::default()).unwrap();
    let port = base.rsplit(':').next().unwrap();
    for url in [
        format!("{base}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/".to_owned(),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
    ] {
        let result = guarded.post(&request(url.clone())).await;
        assert!(matches!(result, Err(TransportError::Blocked(_))), "{url}: {result:?}");
    }
    let ftp = guarded.post(&request("ftp://example.com/x".into())).await;
    assert!(matches!(ftp, Err(TransportError::Blocked(_))), "{ftp:?}");
}
