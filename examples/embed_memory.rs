//! Embeds crmcore with the in-memory store: a tenant, a contact, a deal moved to won, and the
//! worker dispatching the events those changes produced. Run: `cargo run --example embed_memory`.

use crmcore::contact::NewContact;
use crmcore::deal::NewDeal;
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm};
use crmcore_memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let crm = Crm::builder().store(MemoryStore::new()).build()?;
    let owner = NewOwner { email: "ada@acme.test".into(), display_name: Some("Ada".into()), handle: None };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await?;
    let me = Actor::member(tenant.id, ada.id, ada.role);

    let bob =
        NewContact { email: Some("bob@example.com".into()), first_name: Some("Bob".into()), ..Default::default() };
    let bob = crm.contacts().create(&me, bob).await?;
    let deal = NewDeal {
        title: "50 seats".into(),
        contact_id: Some(bob.id),
        owner_id: None,
        amount_minor: 490_000,
        currency: "EUR".into(),
        stage: None,
        probability: None,
        expected_close: None,
    };
    let deal = crm.deals().create(&me, deal).await?;
    let won = crm.deals().move_stage(&me, deal.id, "won", None).await?;

    let report = crm.worker().run_until_idle().await?;
    println!("{} is {:?} at {}; worker ran {} job(s)", won.title, won.status, won.amount, report.completed);
    Ok(())
}
