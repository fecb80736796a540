//! SMTP delivery throughput: personalised multipart messages (20 KB HTML + its text) through
//! the pooled `SmtpMailer` into the loopback SMTP sink, with pools of 8, 32 and 64 connections
//! (twice as many sends in flight).
//!
//! lettre writes the closing `.` of DATA as its own small segment; with Nagle's algorithm on
//! the client socket and delayed ACKs on the server, each message then waits ~40 ms for an ACK,
//! so throughput grows with the number of connections rather than with CPU.
//!
//! `cargo bench --bench smtp_delivery` — prints messages/s per pool size (target: ≥ 1,000).

use std::time::{Duration, Instant};

use crmcore::ports::{EmailMessage, Mailer};
use crmcore_http::smtp::sink::{SinkConfig, SmtpSink};
use crmcore_http::smtp::{SmtpMailer, SmtpSettings, TlsMode};
use futures::StreamExt;

const MESSAGES: usize = 5_000;
const POOLS: [u32; 3] = [8, 32, 64];

fn message(i: usize, html: &str, text: &str) -> EmailMessage {
    EmailMessage {
        from: "Acme News <news@acme.test>".into(),
        to: format!("Person {i} <r{i}@example.com>"),
        reply_to: None,
        subject: format!("Person {i}, your offer"),
        html: Some(html.replace("{name}", &format!("Person {i}"))),
        text: Some(text.replace("{name}", &format!("Person {i}"))),
        message_id: format!("c1.r{i}@acme.test"),
        headers: vec![
            ("List-Unsubscribe".into(), format!("<https://t.acme.test/u/tok{i:08}>")),
            ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
        ],
    }
}

#[tokio::main]
async fn main() {
    let paragraph = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
        incididunt ut labore et dolore magna aliqua. <a href=\"https://t.acme.test/c/x\">Read</a></p>\n";
    let mut html = String::from("<html><body><h1>Hello {name}</h1>");
    while html.len() < 20_000 {
        html.push_str(paragraph);
    }
    html.push_str("</body></html>");
    let text = crmcore::template::html_to_text(&html);

    for pool in POOLS {
        run(pool, &html, &text).await;
    }
}

async fn run(pool: u32, html: &str, text: &str) {
    let in_flight = pool as usize * 2;
    let messages = MESSAGES.min(pool as usize * 150);
    let sink = SmtpSink::start(SinkConfig::default()).await.expect("sink");
    let mut settings = SmtpSettings::new("127.0.0.1", TlsMode::None);
    settings.port = sink.addr().port();
    settings.pool_size = pool;
    settings.timeout = Duration::from_secs(10);
    let mailer = SmtpMailer::new(&settings).expect("mailer");

    // Warm the pool, then measure.
    mailer.send(&message(0, html, text)).await.expect("warm-up send");
    let started = Instant::now();
    let failures = futures::stream::iter(1..=messages)
        .map(|i| {
            let (mailer, m) = (&mailer, message(i, html, text));
            async move { mailer.send(&m).await.is_err() }
        })
        .buffer_unordered(in_flight)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    let elapsed = started.elapsed();
    assert_eq!(failures, 0, "every message is accepted");
    assert_eq!(sink.accepted(), messages as u64 + 1);
    println!(
        "smtp_delivery pool={pool}: {messages} messages ({} KB each) in {:.2} s = {:.0} messages/s \
         ({} connections opened, {in_flight} in flight)",
        (html.len() + text.len()) / 1024,
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        sink.connections(),
    );
}
