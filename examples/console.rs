//! The web console on the in-memory store: an owner to sign in as, a colleague, and a few
//! contacts and deals to look at. Run: `cargo run --example console`, open the printed address
//! and sign in; stop with Ctrl-C (nothing is kept).

use crmcore::Actor;
use crmcore::contact::NewContact;
use crmcore::deal::NewDeal;
use crmcore::member::NewMember;
use crmcore::{Crm, Role};
use crmcore_http::auth::password::PasswordHasher;
use crmcore_http::settings::PasswordHashing;
use crmcore_http::{Secret, Settings};
use crmcore_memory::MemoryStore;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let crm = Crm::builder().store(MemoryStore::new()).build()?;
    let hashing = PasswordHashing::default();
    let hasher = PasswordHasher::new(hashing)?;
    let (tenant, ada) = crmcore_http::admin::create_admin(&crm, &hasher, "Acme", "ada@acme.test", PASSWORD).await?;
    let me = Actor::member(tenant.id, ada.id, ada.role);

    let bob = NewMember {
        email: "bob@acme.test".into(),
        display_name: Some("Bob Stone".into()),
        handle: Some("bob".into()),
        role: Role::Member,
    };
    crm.members().create(&me, bob).await?;
    for (first, last, company, amount, stage) in [
        ("Dana", "Scully", "FBI", 1_250_000, "qualified"),
        ("Fox", "Mulder", "FBI", 480_000, "proposal"),
        ("Walter", "Skinner", "Bureau", 2_000_000, "lead"),
    ] {
        let contact = NewContact {
            email: Some(format!("{}@example.com", first.to_lowercase())),
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            company: Some(company.into()),
            ..Default::default()
        };
        let contact = crm.contacts().create(&me, contact).await?;
        let deal = NewDeal {
            title: format!("{company} licences for {first}"),
            contact_id: Some(contact.id),
            owner_id: Some(ada.id),
            amount_minor: amount,
            currency: "EUR".into(),
            stage: Some(stage.into()),
            probability: None,
            expected_close: None,
        };
        crm.deals().create(&me, deal).await?;
    }

    let mut settings = Settings::new(Secret::new(crmcore::secret::random_bytes(32)?));
    settings.password_hashing = hashing;
    let bind = std::env::var("CRM_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("console: http://{bind}/  sign in as ada@acme.test / {PASSWORD}");
    crmcore_http::serve(crm, settings, listener, crmcore_http::shutdown_signal()).await?;
    Ok(())
}
