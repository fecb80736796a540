//! An e-mail campaign on the in-memory store: a template, a segment (tag + custom field + no
//! open deal), a launch, the worker sending through a capturing mailer, the ledger counts and a
//! one-click unsubscribe.
//!
//! `cargo run --example campaigns`

use std::collections::BTreeMap;
use std::sync::Arc;

use crmcore::campaign::segment::ValueOp;
use crmcore::campaign::{NewCampaign, NewEmailTemplate, SegmentRule, Variant};
use crmcore::contact::NewContact;
use crmcore::deal::DealStatus;
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm};
use crmcore_memory::{CapturingMailer, MemoryStore};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> crmcore::Result<()> {
    let mailer = Arc::new(CapturingMailer::new());
    let crm = Crm::builder().store(MemoryStore::new()).mailer(mailer.clone()).build()?;
    let owner = NewOwner { email: "ada@acme.test".into(), display_name: None, handle: None };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await?;
    let ada = Actor::member(tenant.id, ada.id, ada.role);

    for (i, plan) in ["pro", "free", "pro", "pro"].iter().enumerate() {
        let contact = NewContact {
            email: Some(format!("customer{i}@example.com")),
            first_name: (i != 2).then(|| format!("Customer {i}")),
            tags: vec!["newsletter".into()],
            custom_fields: BTreeMap::from([("plan".to_string(), json!(plan))]),
            ..Default::default()
        };
        crm.contacts().create(&ada, contact).await?;
    }

    let template = crm
        .campaigns()
        .create_template(
            &ada,
            NewEmailTemplate {
                name: "Upgrade offer".into(),
                subject: "{{ first_name | default('Hello', true) }}, a gift for {{ custom.plan }} users".into(),
                html: "<p>Hi {{ first_name | default('there', true) }},</p><p>Here is 20% off.</p>\
                       <p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>"
                    .into(),
                text: None,
            },
        )
        .await?;

    // Pro-plan newsletter readers without an open deal.
    let segment = SegmentRule::All {
        rules: vec![
            SegmentRule::Tag { tag: "newsletter".into() },
            SegmentRule::CustomField { key: "plan".into(), op: ValueOp::Equals, value: Some(json!("pro")) },
            SegmentRule::Not {
                rule: Box::new(SegmentRule::Deal {
                    status: Some(DealStatus::Open),
                    stage: None,
                    min_amount: None,
                    max_amount: None,
                    currency: None,
                }),
            },
        ],
    };
    let preview = crm.campaigns().preview_segment(&ada, &segment, 5).await?;
    println!("segment matches {} contacts", preview.count);

    let campaign = crm
        .campaigns()
        .create(
            &ada,
            NewCampaign {
                name: "Pro upgrade".into(),
                from_email: "news@acme.test".into(),
                from_name: Some("Acme".into()),
                reply_to: None,
                segment,
                variants: vec![Variant { name: "A".into(), weight: 1, template_id: template.id, subject: None }],
                ab_test: None,
                rate_limit_per_second: Some(100),
            },
        )
        .await?;
    crm.campaigns().launch(&ada, campaign.id).await?;
    crm.worker().run_until_idle().await?; // freezes the audience, sends, completes

    let counts = crm.campaigns().counts(&ada, campaign.id).await?;
    println!(
        "targeted {}, sent {}, failed {}, suppressed {}",
        counts.targeted, counts.sent, counts.failed, counts.suppressed
    );
    for message in mailer.sent() {
        let unsubscribe = message.headers.iter().find(|(name, _)| name == "List-Unsubscribe");
        println!("to {:<24} {:?}  List-Unsubscribe: {}", message.to, message.subject, unsubscribe.map_or("", |h| &h.1));
    }

    // The recipient clicks the link in the message: one-click unsubscribe.
    let first = &mailer.sent()[0];
    let token = first
        .headers
        .iter()
        .find(|(name, _)| name == "List-Unsubscribe")
        .and_then(|(_, value)| value.split("unsubscribe%20").nth(1))
        .map(|rest| rest.trim_end_matches('>').to_owned())
        .unwrap_or_default();
    let gone = crm.campaigns().unsubscribe(&token).await?;
    println!("{} unsubscribed from {:?}", gone.email, gone.campaign_name);
    Ok(())
}
