//! SMTP delivery throughput: personalised multipart messages (20 KB HTML + its text) through
//! the pooled `SmtpMailer` into the loopback SMTP sink, with the default pool (8 connections)
//! and with 32, twice as many sends in flight as connections.
//!
//! The sink runs both with `TCP_NODELAY` on its sockets and with the kernel default (Nagle on,
//! delayed ACKs), as most mail servers run: the mailer's own sockets have `TCP_NODELAY` set, so
//! the closing `.` of DATA, which lettre writes on its own, does not wait ~40 ms for the
//! server's delayed ACK.
//!
//! `cargo bench --bench smtp_delivery` — prints messages/s per setup (target: ≥ 1,000 with the
//! default pool).

use std::time::{Duration, Instant};

use crmcore::ports::{EmailMessage, Mailer};
use crmcore_http::smtp::sink::{SinkConfig, SmtpSink};
use crmcore_http::smtp::{SmtpMailer, SmtpSettings, TlsMode};
use futures::StreamExt;

const MESSAGES: usize = 5_000;
/// Pool size, and whether the sink sets `TCP_NODELAY`.
const RUNS: [(Option<u32>, bool); 4] = [(None, false), (None, true), (Some(32), false), (Some(32), true)];

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

    for (pool, sink_nodelay) in RUNS {
        run(pool, sink_nodelay, &html, &text).await;
    }
}

async fn run(pool: Option<u32>, sink_nodelay: bool, html: &str, text: &str) {
    let sink = SmtpSink::start_with_nodelay(SinkConfig::default(), sink_nodelay).await.expect("sink");
    let mut settings = SmtpSettings::new("127.0.0.1", TlsMode::None);
    settings.port = sink.addr().port();
    settings.pool_size = pool.unwrap_or(settings.pool_size);
    settings.timeout = Duration::from_secs(10);
    let pool = settings.pool_size;
    let in_flight = pool as usize * 2;
    let mailer = SmtpMailer::new(&settings).expect("mailer");

    // Warm the pool, then measure.
    mailer.send(&message(0, html, text)).await.expect("warm-up send");
    let started = Instant::now();
    let failures = futures::stream::iter(1..=MESSAGES)
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
    assert_eq!(sink.accepted(), MESSAGES as u64 + 1);
    println!(
        "smtp_delivery pool={pool}{}, sink TCP_NODELAY {}: {MESSAGES} messages ({} KB each) in {:.2} s = \
         {:.0} messages/s ({} connections opened, {in_flight} in flight)",
        if pool == SmtpSettings::new("", TlsMode::None).pool_size { " (default)" } else { "" },
        if sink_nodelay { "on" } else { "off" },
        (html.len() + text.len()) / 1024,
        elapsed.as_secs_f64(),
        MESSAGES as f64 / elapsed.as_secs_f64(),
        sink.connections(),
    );
}
