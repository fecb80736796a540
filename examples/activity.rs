//! Collaboration on the in-memory store: automatic activity, a threaded comment with an
//! @mention, the inbox with its unread count, a member feed, and an Activity Streams export.
//!
//! `cargo run --example activity`

use crmcore::activity::{FeedFilter, FeedScope, InboxFilter, NewComment, streams};
use crmcore::contact::{ContactPatch, NewContact};
use crmcore::event::{EntityKind, EntityRef};
use crmcore::member::NewMember;
use crmcore::page::PageRequest;
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm, Role};
use crmcore_memory::MemoryStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> crmcore::Result<()> {
    let crm = Crm::builder().store(MemoryStore::new()).build()?;
    let owner =
        NewOwner { email: "ada@acme.test".into(), display_name: Some("Ada".into()), handle: Some("ada".into()) };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await?;
    let ada = Actor::member(tenant.id, ada.id, ada.role);
    let bob =
        NewMember { email: "bob@acme.test".into(), display_name: None, handle: Some("bob".into()), role: Role::Member };
    let bob = crm.members().create(&ada, bob).await?;
    let bob = Actor::member(tenant.id, bob.id, bob.role);

    // Ordinary CRM changes: no call to the activity feature anywhere.
    let dana =
        crm.contacts().create(&ada, NewContact { first_name: Some("Dana".into()), ..Default::default() }).await?;
    let patch = ContactPatch { company: Some(Some("Initech".into())), ..Default::default() };
    crm.contacts().update(&ada, dana.id, patch).await?;

    // A comment that mentions Bob, and Bob's reply.
    let entity = EntityRef { kind: EntityKind::Contact, id: dana.id.0 };
    let question = NewComment { entity, in_reply_to: None, body: "@bob can you **call** Dana? Not `@carol`.".into() };
    let question = crm.activity().comment(&ada, question).await?;
    let reply = NewComment { entity, in_reply_to: Some(question.id), body: "On it.".into() };
    crm.activity().comment(&bob, reply).await?;
    crm.worker().run_until_idle().await?; // the dispatcher records activities and notifications

    let inbox = crm.activity().inbox(&bob, InboxFilter::default(), PageRequest::default()).await?;
    println!("bob: {} unread", crm.activity().unread_count(&bob).await?);
    for n in &inbox.items {
        println!("  {} on {} {} ({})", n.kind, n.entity.kind.as_str(), n.entity.id, n.verb);
    }
    println!("ada: {} unread (bob's reply)", crm.activity().unread_count(&ada).await?);

    let feed =
        crm.activity().feed(&ada, FeedScope::Entity(entity), &FeedFilter::default(), PageRequest::default()).await?;
    println!("Dana's timeline:");
    for a in &feed.items {
        println!(
            "  {} {} {}",
            a.object.kind.as_str(),
            a.verb,
            a.data.get("changes").map(ToString::to_string).unwrap_or_default()
        );
    }
    for node in crm.activity().thread(&ada, entity).await? {
        println!("thread: {} -> {} repl(y/ies)", node.html, node.replies.len());
    }
    println!("{}", serde_json::to_string_pretty(&streams::collection(&feed)).unwrap_or_default());
    Ok(())
}
