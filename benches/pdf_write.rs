//! PDF generation: a one-page offer rendered from a document template (headings, styled text, a
//! bulleted list, a ten-line price table, terms) laid out on A4 by `HtmlPdfWriter`; and a
//! 20-page contract (90 headed clauses of long paragraphs) for scale. Target: ≤ 500 ms a page.
//!
//! `cargo bench --bench pdf_write`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crmcore::ports::PdfWriter;
use crmcore::template::{TemplateSet, Variable};
use crmcore_http::pdf_write::HtmlPdfWriter;
use serde_json::json;

/// An offer as a document template would be written.
const OFFER: &str = r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body { font-family: sans-serif } td, th { padding: 4px }</style></head><body>
<h1>Offer {{ number }} for {{ company }}</h1>
<p>{{ city }}, {{ date }}</p>
<p>Dear <b>{{ contact }}</b>,<br>thank you for your enquiry. We are pleased to offer the following
services to <i>{{ company }}</i>, delivered by {{ owner }} and the onboarding team.</p>
<h2>Scope</h2>
<ul>{% for item in scope %}<li>{{ item }}</li>{% endfor %}</ul>
<h2>Prices</h2>
<table width="100%"><thead><tr><th>Item</th><th>Quantity</th><th align="right">Unit price</th>
<th align="right">Amount</th></tr></thead><tbody>
{% for line in lines %}<tr><td>{{ line.name }}</td><td>{{ line.quantity }}</td>
<td align="right">{{ line.price }} €</td><td align="right">{{ line.amount }} €</td></tr>{% endfor %}
<tr><td colspan="3"><strong>Total</strong></td><td align="right"><strong>{{ total }} €</strong></td></tr>
</tbody></table>
<h3>Terms</h3>
<ol><li>Prices exclude VAT and are valid until {{ valid_until }}.</li>
<li>Invoices are due within 30 days of delivery.</li><li>Either party may end the agreement with three
months' notice at the end of a quarter.</li></ol>
<hr><p>Kind regards,<br>{{ owner }}<br>Acme Services Ltd · 1 Main Street · London</p>
</body></html>"#;

fn offer_html() -> String {
    let names = ["title", "number", "company", "city", "date", "contact", "owner", "scope", "lines", "total"];
    let mut variables: Vec<Variable> = names.iter().map(|n| Variable::new(*n)).collect();
    variables.push(Variable::new("valid_until"));
    let template = TemplateSet::new("Offer {{ number }}", OFFER, None).compile(&variables);
    let template = template.expect("the offer template compiles");
    let lines: Vec<_> = (1..=10)
        .map(|i| {
            json!({"name": format!("Service package {i}"), "quantity": i, "price": "120.00",
                   "amount": format!("{}.00", 120 * i)})
        })
        .collect();
    let context = json!({
        "title": "Offer", "number": "Q-2026-0042", "company": "Analytical Engines & Co", "city": "London",
        "date": "1 March 2026", "contact": "Ada Lovelace", "owner": "Grace Hopper",
        "scope": ["Onboarding workshop", "Data migration of contacts and deals", "Two training sessions",
                  "Three months of priority support"],
        "lines": lines, "total": "6,600.00", "valid_until": "30 April 2026",
    });
    template.render(&context).expect("the offer renders").html
}

fn contract_html() -> String {
    let clause = "The supplier provides the services described in the offer with the care of a diligent \
                  business and keeps the customer's data confidential during and after the term. ";
    let mut html = String::from("<h1>Master services agreement</h1>");
    for n in 1..=90 {
        html.push_str(&format!("<h3>Clause {n}</h3><p>{}</p>", clause.repeat(5)));
    }
    html
}

/// The number of pages of a PDF (its `/Type /Page` objects).
fn page_count(pdf: &[u8]) -> usize {
    pdf.windows(12).filter(|w| w.starts_with(b"/Type /Page") && w[11] != b's').count()
}

fn writing(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let writer = HtmlPdfWriter::new();
    let offer = offer_html();
    let contract = contract_html();
    let one = rt.block_on(writer.html_to_pdf(&offer, "Offer")).expect("offer pdf");
    assert_eq!(page_count(&one), 1, "the offer fits one page");
    let many = rt.block_on(writer.html_to_pdf(&contract, "Contract")).expect("contract pdf");
    let pages = page_count(&many);
    assert!((15..=30).contains(&pages), "the contract takes {pages} pages");
    println!(
        "offer: {} bytes of HTML, PDF {} bytes; contract: {pages} pages, PDF {} bytes",
        offer.len(),
        one.len(),
        many.len()
    );

    let mut group = c.benchmark_group("pdf_write");
    group.throughput(Throughput::Elements(1));
    group.bench_function("offer_1_page", |b| b.iter(|| rt.block_on(writer.html_to_pdf(&offer, "Offer")).expect("pdf")));
    group.throughput(Throughput::Elements(pages as u64));
    group.bench_function(format!("contract_{pages}_pages"), |b| {
        b.iter(|| rt.block_on(writer.html_to_pdf(&contract, "Contract")).expect("pdf"))
    });
    group.finish();
}

// criterion_group! generates an undocumented public function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, writing);
}
criterion_main!(group::benches);
