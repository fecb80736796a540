//! The SMTP mailer against a real SMTP server on loopback (the crate's sink): what arrives, how
//! replies map onto transient and permanent errors, what is refused before sending, and many
//! messages through the pool at once.

use std::time::Duration;

use crmcore::ports::{EmailMessage, MailError, Mailer};
use crmcore_http::Secret;
use crmcore_http::smtp::sink::{Rejection, SinkConfig, SmtpSink};
use crmcore_http::smtp::{SmtpMailer, SmtpSettings, TlsMode};
use mail_parser::MessageParser;

async fn sink(rejections: Vec<Rejection>) -> SmtpSink {
    SmtpSink::start(SinkConfig { keep_messages: true, rejections }).await.expect("sink starts")
}

fn settings(sink: &SmtpSink) -> SmtpSettings {
    let mut settings = SmtpSettings::new("127.0.0.1", TlsMode::None);
    settings.port = sink.addr().port();
    settings.timeout = Duration::from_secs(5);
    settings
}

fn message(i: usize, first_name: &str) -> EmailMessage {
    EmailMessage {
        from: "Acme News <news@acme.test>".into(),
        to: format!("{first_name} <r{i}@example.com>"),
        reply_to: Some("support@acme.test".into()),
        subject: format!("Grüße, {first_name} — your offer 🎉"),
        html: Some(format!(
            "<html><body><p>Hello <b>{first_name}</b>,</p>\n.\n<p>a line starting with a dot</p></body></html>"
        )),
        text: Some(format!("Hello {first_name},\n.\na line starting with a dot")),
        message_id: format!("c1.r{i}@acme.test"),
        headers: vec![
            ("List-Unsubscribe".into(), format!("<https://t.acme.test/u/tok{i}>, <mailto:unsub@acme.test>")),
            ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
        ],
    }
}

#[tokio::test]
async fn delivers_multipart_alternative_with_its_headers() {
    let sink = sink(vec![]).await;
    let mailer = SmtpMailer::new(&settings(&sink)).unwrap();
    let receipt = mailer.send(&message(1, "Zoë")).await.expect("sent");
    assert_eq!(receipt.message_id, "c1.r1@acme.test");
    assert!(receipt.response.starts_with("250 2.0.0 Ok: queued as"), "{}", receipt.response);

    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "news@acme.test");
    assert_eq!(received[0].recipients, ["r1@example.com"]);
    let parsed = MessageParser::default().parse(&received[0].data).expect("parses");
    assert_eq!(parsed.subject(), Some("Grüße, Zoë — your offer 🎉"));
    let raw_subject = parsed.header_raw("Subject").unwrap();
    assert!(raw_subject.is_ascii() && raw_subject.contains("=?utf-8?"), "encoded subject: {raw_subject}");
    assert_eq!(parsed.message_id(), Some("c1.r1@acme.test"));
    assert_eq!(parsed.from().and_then(|a| a.first()).and_then(|a| a.address()), Some("news@acme.test"));
    assert_eq!(parsed.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("r1@example.com"));
    assert_eq!(parsed.reply_to().and_then(|a| a.first()).and_then(|a| a.address()), Some("support@acme.test"));
    assert!(parsed.header_raw("Content-Type").unwrap().contains("multipart/alternative"));
    assert_eq!(
        parsed.header_raw("List-Unsubscribe").map(str::trim),
        Some("<https://t.acme.test/u/tok1>, <mailto:unsub@acme.test>")
    );
    assert_eq!(parsed.header_raw("List-Unsubscribe-Post").map(str::trim), Some("List-Unsubscribe=One-Click"));
    assert_eq!(parsed.text_body_count(), 1);
    assert_eq!(parsed.html_body_count(), 1);
    let text = parsed.body_text(0).unwrap();
    assert_eq!(text.replace("\r\n", "\n").trim_end(), "Hello Zoë,\n.\na line starting with a dot");
    let html = parsed.body_html(0).unwrap().replace("\r\n", "\n");
    assert!(html.contains("Hello <b>Zoë</b>") && html.contains("\n.\n"), "{html}");
}

#[tokio::test]
async fn html_only_and_text_only_messages() {
    let sink = sink(vec![]).await;
    let mailer = SmtpMailer::new(&settings(&sink)).unwrap();
    let mut html_only = message(2, "Ada");
    html_only.text = None;
    mailer.send(&html_only).await.unwrap();
    let mut text_only = message(3, "Ada");
    text_only.html = None;
    mailer.send(&text_only).await.unwrap();
    let received = sink.messages();
    let first = MessageParser::default().parse(&received[0].data).unwrap();
    assert!(first.header_raw("Content-Type").unwrap().contains("text/html"));
    let second = MessageParser::default().parse(&received[1].data).unwrap();
    assert!(second.header_raw("Content-Type").unwrap().contains("text/plain"));
    assert_eq!(
        second.body_text(0).unwrap().replace("\r\n", "\n").trim_end(),
        "Hello Ada,\n.\na line starting with a dot"
    );
}

#[tokio::test]
async fn authenticates_with_the_configured_login() {
    let sink = sink(vec![]).await;
    let mut settings = settings(&sink);
    settings.username = Some("mailer@acme.test".into());
    settings.password = Some(Secret::new("s3cret"));
    assert!(!format!("{settings:?}").contains("s3cret"));
    SmtpMailer::new(&settings).unwrap().send(&message(1, "Ada")).await.expect("sent");
    assert_eq!(sink.logins(), ["mailer@acme.test"]);
}

#[tokio::test]
async fn replies_map_to_transient_and_permanent_errors() {
    let sink = sink(vec![
        Rejection { recipient_contains: "r7@".into(), code: 452, text: "4.2.2 Mailbox full".into() },
        Rejection { recipient_contains: "r8@".into(), code: 550, text: "5.1.1 No such user".into() },
    ])
    .await;
    let mailer = SmtpMailer::new(&settings(&sink)).unwrap();
    match mailer.send(&message(7, "Full")).await {
        Err(MailError::Transient(why)) => assert!(why.contains("Mailbox full"), "{why}"),
        other => panic!("expected a transient error, got {other:?}"),
    }
    match mailer.send(&message(8, "Nobody")).await {
        Err(MailError::Permanent(why)) => assert!(why.contains("No such user"), "{why}"),
        other => panic!("expected a permanent error, got {other:?}"),
    }
    // The pool recovers: the next message goes through.
    mailer.send(&message(9, "Ada")).await.expect("sent after the rejections");
    assert_eq!(sink.accepted(), 1);
    assert_eq!(sink.messages()[0].recipients, ["r9@example.com"]);
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut settings = SmtpSettings::new("127.0.0.1", TlsMode::None);
    settings.port = port;
    settings.timeout = Duration::from_secs(2);
    let result = SmtpMailer::new(&settings).unwrap().send(&message(1, "Ada")).await;
    assert!(matches!(result, Err(MailError::Transient(_))), "{result:?}");
}

#[tokio::test]
async fn header_injection_is_refused_before_connecting() {
    let sink = sink(vec![]).await;
    let mailer = SmtpMailer::new(&settings(&sink)).unwrap();
    let mut injected = message(1, "Ada");
    injected.headers.push(("X-Campaign".into(), "c1\r\nBcc: victim@example.com".into()));
    assert!(matches!(mailer.send(&injected).await, Err(MailError::Permanent(_))));
    let mut injected = message(2, "Ada");
    injected.subject = "Hi\nBcc: victim@example.com".into();
    assert!(matches!(mailer.send(&injected).await, Err(MailError::Permanent(_))));
    let mut replaced = message(3, "Ada");
    replaced.headers.push(("From".into(), "ceo@acme.test".into()));
    assert!(matches!(mailer.send(&replaced).await, Err(MailError::Permanent(_))));
    assert_eq!(sink.connections(), 0);
    assert_eq!(sink.accepted(), 0);
}

#[tokio::test]
async fn many_concurrent_messages_share_the_pool() {
    const MESSAGES: usize = 200;
    let sink = sink(vec![]).await;
    let mut settings = settings(&sink);
    settings.pool_size = 4;
    let mailer = SmtpMailer::new(&settings).unwrap();
    let names: Vec<String> = (0..MESSAGES).map(|i| format!("Person{i}")).collect();
    let sends = names.iter().enumerate().map(|(i, name)| {
        let mailer = mailer.clone();
        let m = message(i, name);
        async move { mailer.send(&m).await }
    });
    let results = futures::future::join_all(sends).await;
    assert!(results.iter().all(Result::is_ok), "{:?}", results.iter().find(|r| r.is_err()));
    assert_eq!(sink.accepted(), MESSAGES as u64);
    // Never more connections than the pool's size, each reused rather than reopened.
    assert!(sink.most_open_connections() <= 4, "{} connections at once", sink.most_open_connections());
    assert!(sink.connections() <= 4, "{} connections", sink.connections());
    let mut seen: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| {
            let parsed = MessageParser::default().parse(&m.data).unwrap();
            let id = parsed.message_id().unwrap().to_owned();
            let i: usize = id.trim_start_matches("c1.r").trim_end_matches("@acme.test").parse().unwrap();
            // Each message carries its own recipient's content.
            assert_eq!(m.recipients, [format!("r{i}@example.com")]);
            assert!(parsed.body_text(0).unwrap().contains(&format!("Hello Person{i},")));
            id
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), MESSAGES);
}

#[tokio::test]
async fn idle_connections_expire_and_are_replaced() {
    let sink = sink(vec![]).await;
    let mut settings = settings(&sink);
    settings.idle_timeout = Duration::from_millis(200);
    let mailer = SmtpMailer::new(&settings).unwrap();
    mailer.send(&message(1, "Ada")).await.unwrap();
    mailer.send(&message(2, "Ada")).await.unwrap();
    assert_eq!(sink.connections(), 1, "a connection idle for less than the timeout is reused");
    tokio::time::sleep(Duration::from_millis(400)).await;
    mailer.send(&message(3, "Ada")).await.unwrap();
    assert_eq!(sink.connections(), 2, "an expired connection is replaced");
    assert_eq!(sink.accepted(), 3);
}

#[tokio::test]
async fn a_server_that_never_greets_times_out_as_transient() {
    // The kernel accepts the connection into the backlog; nothing ever answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = SmtpSettings::new("127.0.0.1", TlsMode::None);
    settings.port = listener.local_addr().unwrap().port();
    settings.timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let result = SmtpMailer::new(&settings).unwrap().send(&message(1, "Ada")).await;
    assert!(matches!(&result, Err(MailError::Transient(why)) if why.contains("timed out")), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn tls_modes_never_fall_back_to_plain_text() {
    // The sink speaks plain SMTP and offers no STARTTLS: both TLS modes fail, transiently,
    // before any message is handed over.
    let sink = sink(vec![]).await;
    for tls in [TlsMode::StartTls, TlsMode::Implicit] {
        let mut settings = settings(&sink);
        settings.tls = tls;
        settings.timeout = Duration::from_secs(2);
        let result = SmtpMailer::new(&settings).unwrap().send(&message(1, "Ada")).await;
        assert!(matches!(result, Err(MailError::Transient(_))), "{tls:?}: {result:?}");
    }
    assert_eq!(sink.accepted(), 0);
}
