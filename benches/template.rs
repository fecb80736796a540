//! Campaign rendering throughput: a 20 KB HTML template with 15 personalised variables and 10
//! tracked links, compiled once and rendered per recipient (subject, HTML and the text part
//! derived from the HTML); then the same render plus building the `EmailMessage` and enqueueing
//! one send job per message on the in-memory queue, 10,000 messages per iteration.
//!
//! `cargo bench --bench template`

use chrono::Utc;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crmcore::ports::{EmailMessage, NewJob, Store};
use crmcore::template::{CompiledTemplate, TemplateSet, Variable};
use crmcore_memory::MemoryStore;
use serde_json::{Value, json};

const BATCH: usize = 10_000;
const VARIABLES: [&str; 15] = [
    "first_name",
    "last_name",
    "email",
    "company",
    "title",
    "city",
    "country",
    "plan",
    "account_manager",
    "renewal_date",
    "discount",
    "points",
    "click_base",
    "open_pixel",
    "unsubscribe_url",
];

/// About 20 KB of newsletter markup using all 15 variables and 10 tracked links.
fn template() -> TemplateSet {
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>News</title>\
         <style>body{font-family:sans-serif} .btn{background:#06c;color:#fff;padding:8px}</style></head>\
         <body><table width=\"100%\"><tr><td>\
         <h1>Hello {{ first_name | default(\"there\") }} {{ last_name }}!</h1>\
         <p>As {{ title }} at <b>{{ company }}</b> in {{ city }}, {{ country }}, your {{ plan }} plan renews on \
         {{ renewal_date }}. {{ account_manager }} has a {{ discount }}% discount for you, and you hold \
         {{ points }} points.</p>",
    );
    let paragraph = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
        incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation \
        ullamco laboris nisi ut aliquip ex ea commodo consequat &amp; more.</p>\n";
    let mut link = 0;
    while html.len() < 19_500 {
        html.push_str(paragraph);
        if link < 10 && html.len() > 1_800 * (link + 1) {
            html.push_str(&format!(
                "<p><a class=\"btn\" href=\"{{{{ click_base }}}}/{link}\">Read article {link}</a></p>\n"
            ));
            link += 1;
        }
    }
    html.push_str(
        "<p>Sent to {{ email }}. <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>\
         <img src=\"{{ open_pixel }}\" width=\"1\" height=\"1\" alt=\"\"></td></tr></table></body></html>",
    );
    TemplateSet::new("{{ first_name | default(\"Hi\") }}, your {{ plan }} news from {{ company }}", html, None)
}

fn context(i: usize) -> Value {
    json!({
        "first_name": format!("Ada{i}"),
        "last_name": "Lovelace",
        "email": format!("ada{i}@example.com"),
        "company": "Analytical Engines & Co",
        "title": "Chief <Engineer>",
        "city": "London",
        "country": "United Kingdom",
        "plan": "Pro",
        "account_manager": "Charles",
        "renewal_date": "2026-07-01",
        "discount": 15,
        "points": 1200 + i,
        "click_base": format!("https://t.example.com/c/tok{i:08}"),
        "open_pixel": format!("https://t.example.com/o/tok{i:08}.gif"),
        "unsubscribe_url": format!("https://t.example.com/u/tok{i:08}"),
    })
}

fn compiled() -> CompiledTemplate {
    let variables: Vec<Variable> = VARIABLES.iter().map(|name| Variable::new(*name)).collect();
    template().compile(&variables).expect("template compiles")
}

fn message(i: usize, rendered: crmcore::template::Rendered) -> EmailMessage {
    EmailMessage {
        from: "Acme <news@acme.test>".into(),
        to: format!("ada{i}@example.com"),
        reply_to: None,
        subject: rendered.subject,
        html: Some(rendered.html),
        text: Some(rendered.text),
        message_id: format!("c1.r{i}@acme.test"),
        headers: vec![("List-Unsubscribe".into(), format!("<https://t.example.com/u/tok{i:08}>"))],
    }
}

fn rendering(c: &mut Criterion) {
    let template = compiled();
    let contexts: Vec<Value> = (0..1_000).map(context).collect();
    let sample = template.render(&contexts[0]).expect("render");
    assert!(sample.html.len() >= 20_000, "html is {} bytes", sample.html.len());
    let mut group = c.benchmark_group("template");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("render_20KB_15vars_10links", |b| {
        b.iter(|| {
            i = (i + 1) % contexts.len();
            template.render(&contexts[i]).expect("render")
        })
    });
    group.finish();

    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut group = c.benchmark_group("campaign_send");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("render_and_enqueue_10k", |b| {
        b.iter_batched(
            MemoryStore::new,
            |store| {
                rt.block_on(async {
                    let now = Utc::now();
                    for i in 0..BATCH {
                        let rendered = template.render(&contexts[i % contexts.len()]).expect("render");
                        let payload = serde_json::to_value(message(i, rendered)).expect("payload");
                        let job = NewJob {
                            kind: "campaign.send".into(),
                            payload,
                            tenant_id: None,
                            run_at: now,
                            dedupe_key: None,
                            max_attempts: 5,
                        };
                        store.jobs().enqueue(job, now).await.expect("enqueue");
                    }
                });
                store
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

// criterion_group! generates an undocumented public function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, rendering);
}
criterion_main!(group::benches);
