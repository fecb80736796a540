//! Contract checks for activities, comments, follows, notifications and feeds: the tracker's
//! rules end to end through the services and the worker, and each new repository's contract.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;

use super::fixtures::{Fixture, now};
use crate::activity::{
    ActivityConfig, Delivery, FeedFilter, FeedScope, Follow, InboxFilter, NewComment, Notification, NotificationKind,
};
use crate::actor::{Actor, Principal, Role};
use crate::contact::{ContactPatch, NewContact};
use crate::crm::Crm;
use crate::deal::NewDeal;
use crate::error::CrmError;
use crate::event::{EntityKind, EntityRef};
use crate::id::MemberId;
use crate::member::{Member, MemberPatch};
use crate::page::{Page, PageRequest};
use crate::ports::{ManualClock, Store};

fn contact_ref(id: crate::id::ContactId) -> EntityRef {
    EntityRef { kind: EntityKind::Contact, id: id.0 }
}

fn as_member(f: &Fixture, m: &Member) -> Actor {
    Actor::member(f.tenant.id, m.id, m.role)
}

async fn run(f: &Fixture) {
    f.crm.worker().run_until_idle().await.expect("worker runs");
}

/// Every page of a listing, following cursors.
async fn all_pages<T, F, Fut>(mut fetch: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = crate::Result<Page<T>>>,
{
    let mut out = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = fetch(request).await.expect("page");
        out.extend(page.items);
        match page.next_cursor {
            Some(cursor) => request = PageRequest::parse(Some(2), Some(&cursor)).expect("cursor"),
            None => return out,
        }
    }
}

async fn inbox(f: &Fixture, m: &Member) -> Vec<Notification> {
    let actor = as_member(f, m);
    all_pages(|p| {
        let crm = f.crm.clone();
        async move { crm.activity().inbox(&actor, InboxFilter::default(), p).await }
    })
    .await
}

/// Every event becomes exactly one activity with actor, verb, object and diff; tracking the
/// same event twice changes nothing (one activity, one notification).
pub async fn activity_every_event_becomes_one_activity_idempotently(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Track").await;
    let bob = f.member("bob", Role::Member).await;
    let input = NewContact { email: Some("x@example.com".into()), owner_id: Some(bob.id), ..Default::default() };
    let contact = f.crm.contacts().create(&f.actor, input).await.unwrap();
    let patch = ContactPatch { phone: Some(Some("123".into())), ..Default::default() };
    f.crm.contacts().update(&f.actor, contact.id, patch).await.unwrap();
    let deal = NewDeal {
        title: "Big".into(),
        contact_id: Some(contact.id),
        owner_id: None,
        amount_minor: 100,
        currency: "EUR".into(),
        stage: None,
        probability: None,
        expected_close: None,
    };
    let deal = f.crm.deals().create(&f.actor, deal).await.unwrap();
    f.crm.deals().move_stage(&f.actor, deal.id, "won", None).await.unwrap();
    let events = store.outbox().list(f.tenant.id, None, 1000).await.unwrap();
    run(&f).await;

    let all = all_pages(|p| {
        let crm = f.crm.clone();
        let actor = f.actor;
        async move { crm.activity().feed(&actor, FeedScope::Tenant, &FeedFilter::default(), p).await }
    })
    .await;
    assert_eq!(all.len(), events.len(), "one activity per event");
    let mut seen: Vec<_> = all.iter().map(|a| a.event_id).collect();
    seen.sort();
    let mut expected: Vec<_> = events.iter().map(|e| e.event.id).collect();
    expected.sort();
    assert_eq!(seen, expected);
    let update = all.iter().find(|a| a.verb == "updated" && a.object == contact_ref(contact.id)).expect("update");
    assert_eq!(update.actor, Principal::Member(f.owner.id));
    assert_eq!(update.data["changes"]["phone"], json!({"before": null, "after": "123"}));
    assert_eq!(update.data["name"], "x@example.com");
    let won = all.iter().find(|a| a.verb == "stage_changed").expect("stage change");
    assert_eq!(won.data["to_stage"], "won");
    assert!(won.data.get("object").is_none(), "the snapshot is not copied into the activity");

    // Bob owns the contact: he follows it and got an assignment.
    let bob_inbox = inbox(&f, &bob).await;
    assert_eq!(bob_inbox.len(), 2, "{bob_inbox:?}");
    assert!(bob_inbox.iter().any(|n| n.kind == NotificationKind::Assignment));
    assert!(bob_inbox.iter().any(|n| n.kind == NotificationKind::Activity && n.verb == "updated"));

    // Replaying an event: nothing new.
    let replay = events.iter().find(|e| e.event.subject == contact_ref(contact.id)).unwrap();
    let again = crate::activity::tracker::track(&f.crm, &replay.event).await.unwrap();
    assert!(!again.fresh);
    assert!(again.notifications.is_empty());
    let again2 = crate::activity::tracker::track(&f.crm, &replay.event).await.unwrap();
    assert_eq!(again.activity_id, again2.activity_id);
    let after =
        f.crm.activity().feed(&f.actor, FeedScope::Tenant, &FeedFilter::default(), PageRequest::first(200)).await;
    assert_eq!(after.unwrap().items.len(), events.len());
    assert_eq!(inbox(&f, &bob).await.len(), 2);
    assert_eq!(store.activities().get(f.tenant.id, update.id).await.unwrap(), update.clone());
}

/// Repeated updates by one actor within the window merge (first before, latest after); after
/// the window, by someone else, or with merging off, they do not.
pub async fn activity_updates_merge_within_the_window(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(now()));
    let crm = Crm::builder().shared_store(store.clone()).clock(clock.clone()).build().unwrap();
    let f = Fixture::with_crm(crm, "Merge").await;
    let carol = f.member("carol", Role::Manager).await;
    let contact = f.contact("m@example.com").await;
    let patch = |phone: &str| ContactPatch { phone: Some(Some(phone.into())), ..Default::default() };
    f.crm.contacts().update(&f.actor, contact.id, patch("1")).await.unwrap();
    run(&f).await;
    clock.advance(Duration::minutes(3));
    let company = ContactPatch { company: Some(Some("Initech".into())), ..patch("2") };
    f.crm.contacts().update(&f.actor, contact.id, company).await.unwrap();
    clock.advance(Duration::minutes(3));
    f.crm.contacts().update(&f.actor, contact.id, patch("3")).await.unwrap();
    run(&f).await;
    let feed = |filter: FeedFilter| {
        let crm = f.crm.clone();
        let actor = f.actor;
        async move {
            crm.activity()
                .feed(&actor, FeedScope::Entity(contact_ref(contact.id)), &filter, PageRequest::first(50))
                .await
                .unwrap()
                .items
        }
    };
    let updates = feed(FeedFilter { verb: Some("updated".into()), ..Default::default() }).await;
    assert_eq!(updates.len(), 1, "three updates in six minutes merge: {updates:?}");
    assert_eq!(updates[0].event_count, 3);
    assert_eq!(updates[0].data["changes"]["phone"], json!({"before": null, "after": "3"}));
    assert_eq!(updates[0].data["changes"]["company"], json!({"before": null, "after": "Initech"}));
    assert!(updates[0].updated_at > updates[0].occurred_at);

    clock.advance(Duration::minutes(11));
    f.crm.contacts().update(&f.actor, contact.id, patch("4")).await.unwrap();
    run(&f).await;
    let carol_actor = as_member(&f, &carol);
    f.crm.contacts().update(&carol_actor, contact.id, patch("5")).await.unwrap();
    run(&f).await;
    let updates = feed(FeedFilter { verb: Some("updated".into()), ..Default::default() }).await;
    assert_eq!(updates.len(), 3, "outside the window and another actor start new activities");
    assert_eq!(updates[0].actor, Principal::Member(carol.id));
    assert_eq!(updates[1].data["changes"]["phone"], json!({"before": "3", "after": "4"}));

    let off = Crm::builder()
        .shared_store(store.clone())
        .activity_config(ActivityConfig { merge_window: Duration::zero() })
        .build()
        .unwrap();
    let g = Fixture::with_crm(off, "No merge").await;
    let c = g.contact("n@example.com").await;
    for phone in ["1", "2"] {
        g.crm.contacts().update(&g.actor, c.id, patch(phone)).await.unwrap();
    }
    run(&g).await;
    let filter = FeedFilter { verb: Some("updated".into()), ..Default::default() };
    let page =
        g.crm.activity().feed(&g.actor, FeedScope::Entity(contact_ref(c.id)), &filter, PageRequest::first(9)).await;
    assert_eq!(page.unwrap().items.len(), 2);
}

/// Comments thread to any depth, edit and delete into tombstones; each is an activity on its
/// entity. Mentions notify the mentioned active members once; replies notify the parent's
/// author; nobody is notified of their own comment.
pub async fn comments_threads_mentions_and_replies(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Comments").await;
    let bob = f.member("bob", Role::Member).await;
    let carol = f.member("carol", Role::Viewer).await;
    let dave = f.member("dave", Role::Member).await;
    let gone = f.member("gone", Role::Member).await;
    f.crm.members().update(&f.actor, gone.id, MemberPatch { active: Some(false), ..Default::default() }).await.unwrap();
    let contact = f.contact("c@example.com").await;
    let entity = contact_ref(contact.id);
    let body = format!("hi @bob and @carol, not `@dave`, not @nobody, me @{} and @gone", f.owner.handle);
    let root = f.crm.activity().comment(&f.actor, NewComment { entity, in_reply_to: None, body }).await.unwrap();
    assert_eq!(root.mentions, vec![bob.id, carol.id, f.owner.id], "known, active members only, in order");
    let bob_actor = as_member(&f, &bob);
    let reply = NewComment { entity, in_reply_to: Some(root.id), body: "**sure**".into() };
    let reply = f.crm.activity().comment(&bob_actor, reply).await.unwrap();
    let deeper = NewComment { entity, in_reply_to: Some(reply.id), body: "deeper @bob".into() };
    let deeper = f.crm.activity().comment(&f.actor, deeper).await.unwrap();
    run(&f).await;

    let bob_inbox = inbox(&f, &bob).await;
    let kinds: Vec<_> = bob_inbox.iter().map(|n| (n.kind, n.cause)).collect();
    assert_eq!(
        kinds,
        vec![(NotificationKind::Mention, deeper.id.0), (NotificationKind::Mention, root.id.0)],
        "bob: mentioned twice (a mention outranks the reply); never of his own reply"
    );
    assert!(bob_inbox.iter().all(|n| n.entity == entity));
    let owner_inbox = inbox(&f, &f.owner).await;
    assert_eq!(owner_inbox.len(), 1, "the owner hears of bob's reply only: {owner_inbox:?}");
    assert_eq!((owner_inbox[0].kind, owner_inbox[0].cause), (NotificationKind::Reply, reply.id.0));
    assert_eq!(inbox(&f, &carol).await.len(), 1);
    assert!(inbox(&f, &dave).await.is_empty());
    assert!(inbox(&f, &gone).await.is_empty());

    // Editing adds dave; editing again notifies nobody twice.
    let edited = f.crm.activity().edit_comment(&f.actor, root.id, "now @dave too, and @bob", Some(1)).await.unwrap();
    assert!(edited.edited_at.is_some());
    f.crm.activity().edit_comment(&f.actor, root.id, "now @dave too, and @bob!", None).await.unwrap();
    run(&f).await;
    assert_eq!(inbox(&f, &dave).await.len(), 1);
    assert_eq!(inbox(&f, &bob).await.len(), 2);
    assert!(matches!(
        f.crm.activity().edit_comment(&bob_actor, root.id, "mine now", None).await,
        Err(CrmError::Forbidden(_))
    ));
    assert!(matches!(
        f.crm.activity().edit_comment(&f.actor, root.id, "x", Some(1)).await,
        Err(CrmError::Conflict { .. })
    ));

    // Delete: a tombstone keeps the thread.
    let tomb = f.crm.activity().delete_comment(&f.actor, root.id).await.unwrap();
    assert!(tomb.deleted_at.is_some() && tomb.body.is_empty());
    let threads = f.crm.activity().thread(&f.actor, entity).await.unwrap();
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0].comment.id, root.id);
    assert_eq!(threads[0].replies[0].comment.id, reply.id);
    assert_eq!(threads[0].replies[0].html, "<p><strong>sure</strong></p>");
    assert_eq!(threads[0].replies[0].replies[0].comment.id, deeper.id);
    run(&f).await;

    // Each comment event is an activity on the entity's feed.
    let page = f
        .crm
        .activity()
        .feed(
            &f.actor,
            FeedScope::Entity(entity),
            &FeedFilter { object_kind: Some(EntityKind::Comment), ..Default::default() },
            PageRequest::first(50),
        )
        .await;
    let verbs: Vec<String> = page.unwrap().items.iter().map(|a| a.verb.clone()).collect();
    assert_eq!(verbs, ["deleted", "updated", "updated", "created", "created", "created"]);

    // Validation and visibility.
    let other = Fixture::with_crm(f.crm.clone(), "Comments B").await;
    let wrong = NewComment { entity, in_reply_to: None, body: "hello".into() };
    assert!(matches!(f.crm.activity().comment(&other.actor, wrong).await, Err(CrmError::NotFound { .. })));
    let empty = NewComment { entity, in_reply_to: None, body: "  ".into() };
    assert!(matches!(f.crm.activity().comment(&f.actor, empty).await, Err(CrmError::Validation(_))));
    let viewer = NewComment { entity, in_reply_to: None, body: "hi".into() };
    assert!(matches!(f.crm.activity().comment(&as_member(&f, &carol), viewer).await, Err(CrmError::Forbidden(_))));
    let comments = f.crm.activity().comments(&f.actor, entity, PageRequest::first(2)).await.unwrap();
    assert_eq!(comments.items.len(), 2);
    assert!(comments.next_cursor.is_some());
}

/// Creators and owners follow automatically; a follower's feed and inbox hold only activity
/// from after the follow; unfollowing stops both; the member feed includes their own activity.
pub async fn follows_shape_member_feeds_and_notifications(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Follows").await;
    let bob = f.member("bob", Role::Member).await;
    let carol = f.member("carol", Role::Viewer).await;
    let bob_actor = as_member(&f, &bob);
    let carol_actor = as_member(&f, &carol);
    let contact =
        f.crm.contacts().create(&bob_actor, NewContact { company: Some("A".into()), ..Default::default() }).await;
    let contact = contact.unwrap();
    let entity = contact_ref(contact.id);
    let patch = |c: &str| ContactPatch { company: Some(Some(c.into())), ..Default::default() };
    f.crm.contacts().update(&f.actor, contact.id, patch("B")).await.unwrap();
    run(&f).await;
    let follows = f.crm.activity().following(&bob_actor, 10).await.unwrap();
    assert_eq!(follows.iter().map(|x| x.entity).collect::<Vec<_>>(), vec![entity], "the creator follows");

    let follow = f.crm.activity().follow(&carol_actor, entity).await.unwrap();
    assert_eq!(follow.member_id, carol.id);
    f.crm.activity().follow(&carol_actor, entity).await.unwrap();
    f.crm.contacts().update(&bob_actor, contact.id, patch("C")).await.unwrap();
    run(&f).await;
    let carol_feed = f.crm.activity().my_feed(&carol_actor, &FeedFilter::default(), PageRequest::first(50)).await;
    let carol_feed = carol_feed.unwrap().items;
    assert_eq!(carol_feed.len(), 1, "only what happened after the follow: {carol_feed:?}");
    assert_eq!(carol_feed[0].data["changes"]["company"]["after"], "C");
    let carol_inbox = inbox(&f, &carol).await;
    assert_eq!(carol_inbox.len(), 1);
    assert_eq!(carol_inbox[0].kind, NotificationKind::Activity);
    let bob_feed = f.crm.activity().my_feed(&bob_actor, &FeedFilter::default(), PageRequest::first(50)).await;
    let bob_verbs: Vec<String> = bob_feed.unwrap().items.iter().map(|a| a.verb.clone()).collect();
    assert_eq!(bob_verbs, ["updated", "updated", "created"], "own activity and the followed record's");
    let bob_inbox = inbox(&f, &bob).await;
    assert_eq!(bob_inbox.len(), 1, "the owner's update, not bob's own: {bob_inbox:?}");

    assert!(f.crm.activity().unfollow(&carol_actor, entity).await.unwrap());
    assert!(!f.crm.activity().unfollow(&carol_actor, entity).await.unwrap());
    f.crm.contacts().update(&f.actor, contact.id, patch("D")).await.unwrap();
    run(&f).await;
    assert_eq!(inbox(&f, &carol).await.len(), 1);
    let carol_feed = f.crm.activity().my_feed(&carol_actor, &FeedFilter::default(), PageRequest::first(50)).await;
    assert_eq!(carol_feed.unwrap().items.len(), 1);

    // Someone else's feed is off limits; the tenant feed is for admins.
    let theirs = f
        .crm
        .activity()
        .feed(&carol_actor, FeedScope::Member(bob.id), &FeedFilter::default(), PageRequest::first(5))
        .await;
    assert!(matches!(theirs, Err(CrmError::Forbidden(_))));
    let tenant =
        f.crm.activity().feed(&bob_actor, FeedScope::Tenant, &FeedFilter::default(), PageRequest::first(5)).await;
    assert!(matches!(tenant, Err(CrmError::Forbidden(_))));
    let missing = EntityRef { kind: EntityKind::Deal, id: uuid::Uuid::now_v7() };
    assert!(matches!(f.crm.activity().follow(&bob_actor, missing).await, Err(CrmError::NotFound { .. })));

    // The repository directly.
    let direct = Follow { tenant_id: f.tenant.id, member_id: MemberId::new(), entity, created_at: now() };
    assert!(matches!(store.follows().follow(&direct).await, Err(CrmError::NotFound { .. })));
    let followers = store.follows().followers(f.tenant.id, &[entity]).await.unwrap();
    let mut ids: Vec<_> = followers.iter().map(|x| x.follow.member_id).collect();
    ids.sort();
    assert_eq!(ids, vec![bob.id]);
}

/// Feeds filter by verb, object kind and actor exactly as `FeedFilter::matches`, and page
/// without gaps or overlaps.
pub async fn feeds_filter_and_page(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Feeds").await;
    let bob = f.member("bob", Role::Member).await;
    let bob_actor = as_member(&f, &bob);
    for i in 0..4 {
        let actor = if i % 2 == 0 { f.actor } else { bob_actor };
        let input = NewContact { email: Some(format!("f{i}@example.com")), ..Default::default() };
        let c = f.crm.contacts().create(&actor, input).await.unwrap();
        let patch = ContactPatch { phone: Some(Some(format!("{i}"))), ..Default::default() };
        f.crm.contacts().update(&actor, c.id, patch).await.unwrap();
    }
    run(&f).await;
    let everything = all_pages(|p| {
        let crm = f.crm.clone();
        let actor = f.actor;
        async move { crm.activity().feed(&actor, FeedScope::Tenant, &FeedFilter::default(), p).await }
    })
    .await;
    assert!(everything.windows(2).all(|w| w[0].id > w[1].id), "newest first, no duplicates");
    let filters = [
        FeedFilter { verb: Some("created".into()), ..Default::default() },
        FeedFilter { object_kind: Some(EntityKind::Contact), ..Default::default() },
        FeedFilter { actor: Some(bob.id), ..Default::default() },
        FeedFilter { verb: Some("updated".into()), object_kind: Some(EntityKind::Contact), actor: Some(f.owner.id) },
        FeedFilter { object_kind: Some(EntityKind::Deal), ..Default::default() },
    ];
    for filter in filters {
        let got = all_pages(|p| {
            let crm = f.crm.clone();
            let actor = f.actor;
            let filter = filter.clone();
            async move { crm.activity().feed(&actor, FeedScope::Tenant, &filter, p).await }
        })
        .await;
        let expected: Vec<_> = everything.iter().filter(|a| filter.matches(a)).cloned().collect();
        assert_eq!(got, expected, "{filter:?}");
    }
    let bob_feed = all_pages(|p| {
        let crm = f.crm.clone();
        async move { crm.activity().my_feed(&bob_actor, &FeedFilter::default(), p).await }
    })
    .await;
    assert_eq!(bob_feed.len(), 4, "bob's own four activities");
}

/// The inbox: cursor pages, unread count equal to the unread list, read/unread per item, all
/// read, preferences (off suppresses, e-mail digest flags), and NotFound for others' items.
pub async fn notifications_inbox_counts_and_preferences(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Inbox").await;
    let bob = f.member("bob", Role::Member).await;
    let bob_actor = as_member(&f, &bob);
    let contact = f.contact("i@example.com").await;
    let entity = contact_ref(contact.id);
    for i in 0..5 {
        let c = NewComment { entity, in_reply_to: None, body: format!("ping {i} @bob") };
        f.crm.activity().comment(&f.actor, c).await.unwrap();
    }
    run(&f).await;
    let list = inbox(&f, &bob).await;
    assert_eq!(list.len(), 5);
    assert_eq!(f.crm.activity().unread_count(&bob_actor).await.unwrap(), 5);
    f.crm.activity().mark_read(&bob_actor, list[0].id, true).await.unwrap();
    f.crm.activity().mark_read(&bob_actor, list[0].id, true).await.unwrap();
    f.crm.activity().mark_read(&bob_actor, list[1].id, true).await.unwrap();
    assert_eq!(f.crm.activity().unread_count(&bob_actor).await.unwrap(), 3);
    let unread = f.crm.activity().inbox(&bob_actor, InboxFilter { unread_only: true }, PageRequest::first(50)).await;
    assert_eq!(unread.unwrap().items.len(), 3);
    f.crm.activity().mark_read(&bob_actor, list[1].id, false).await.unwrap();
    assert_eq!(f.crm.activity().unread_count(&bob_actor).await.unwrap(), 4);
    assert_eq!(f.crm.activity().mark_all_read(&bob_actor).await.unwrap(), 4);
    assert_eq!(f.crm.activity().mark_all_read(&bob_actor).await.unwrap(), 0);
    assert_eq!(f.crm.activity().unread_count(&bob_actor).await.unwrap(), 0);
    assert!(inbox(&f, &bob).await.iter().all(|n| n.read_at.is_some()));
    let theirs = f.crm.activity().mark_read(&f.actor, list[0].id, true).await;
    assert!(matches!(theirs, Err(CrmError::NotFound { .. })), "not the owner's notification");

    // Preferences.
    assert_eq!(
        f.crm.activity().preferences(&bob_actor).await.unwrap().delivery(NotificationKind::Mention),
        Delivery::InApp
    );
    f.crm.activity().set_preference(&bob_actor, NotificationKind::Mention, Delivery::Off).await.unwrap();
    f.crm
        .activity()
        .comment(&f.actor, NewComment { entity, in_reply_to: None, body: "@bob off".into() })
        .await
        .unwrap();
    run(&f).await;
    assert_eq!(inbox(&f, &bob).await.len(), 5, "mentions are off");
    let prefs =
        f.crm.activity().set_preference(&bob_actor, NotificationKind::Mention, Delivery::EmailDigest).await.unwrap();
    assert_eq!(prefs.delivery(NotificationKind::Mention), Delivery::EmailDigest);
    f.crm
        .activity()
        .comment(&f.actor, NewComment { entity, in_reply_to: None, body: "@bob mail".into() })
        .await
        .unwrap();
    run(&f).await;
    let list = inbox(&f, &bob).await;
    assert_eq!(list.len(), 6);
    assert!(list[0].email_digest && list[0].emailed_at.is_none());
    let pending = store.notifications().digest_pending(100).await.unwrap();
    assert!(pending.iter().any(|n| n.id == list[0].id));
    store.notifications().mark_emailed(&[list[0].id], now()).await.unwrap();
    assert!(store.notifications().digest_pending(100).await.unwrap().iter().all(|n| n.id != list[0].id));
    let missing =
        store.notifications().set_preference(f.tenant.id, MemberId::new(), NotificationKind::Reply, Delivery::Off);
    assert!(matches!(missing.await, Err(CrmError::NotFound { .. })));
}

/// Concurrent reads, marks and new notifications: at every quiescent point the unread count
/// equals the unread items of the list, and never goes negative.
pub async fn inbox_counts_hold_under_concurrent_updates(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone(), "Concurrent inbox").await;
    let bob = f.member("bob", Role::Member).await;
    let bob_actor = as_member(&f, &bob);
    let contact = f.contact("k@example.com").await;
    let entity = contact_ref(contact.id);
    for i in 0..12 {
        f.crm
            .activity()
            .comment(&f.actor, NewComment { entity, in_reply_to: None, body: format!("@bob {i}") })
            .await
            .unwrap();
    }
    run(&f).await;
    let ids: Vec<_> = inbox(&f, &bob).await.iter().map(|n| n.id).collect();
    for round in 0..3u64 {
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let crm = f.crm.clone();
            let ids = ids.clone();
            let owner = f.actor;
            tasks.push(tokio::spawn(async move {
                // A small deterministic pseudo-random walk per task.
                let mut x = round * 1_000 + t * 7 + 1;
                for _ in 0..10 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let id = ids[(x >> 33) as usize % ids.len()];
                    match (x >> 20) % 5 {
                        0 => crm.activity().mark_read(&bob_actor, id, true).await.unwrap(),
                        1 => crm.activity().mark_read(&bob_actor, id, false).await.unwrap(),
                        2 => drop(crm.activity().mark_all_read(&bob_actor).await.unwrap()),
                        3 => {
                            let c = NewComment { entity, in_reply_to: None, body: format!("@bob r{round}t{t}") };
                            crm.activity().comment(&owner, c).await.unwrap();
                            crm.worker().run_until_idle().await.unwrap();
                        }
                        _ => drop(crm.activity().unread_count(&bob_actor).await.unwrap()),
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        run(&f).await;
        let list = inbox(&f, &bob).await;
        let unread = list.iter().filter(|n| n.read_at.is_none()).count() as u64;
        assert_eq!(f.crm.activity().unread_count(&bob_actor).await.unwrap(), unread, "round {round}");
        let mut distinct: Vec<_> = list.iter().map(|n| n.id).collect();
        distinct.dedup();
        assert_eq!(distinct.len(), list.len());
    }
}

/// Nothing of tenant A's activities, comments, follows or notifications is visible or
/// changeable from tenant B, through the services or the repositories.
pub async fn activity_tenant_isolation(store: Arc<dyn Store>) {
    let a = Fixture::new(store.clone(), "Act A").await;
    let b = Fixture::with_crm(a.crm.clone(), "Act B").await;
    let bob = a.member("bob", Role::Member).await;
    let contact = a.contact("iso@example.com").await;
    let entity = contact_ref(contact.id);
    let comment = NewComment { entity, in_reply_to: None, body: "secret @bob".into() };
    let comment = a.crm.activity().comment(&a.actor, comment).await.unwrap();
    a.crm.activity().follow(&as_member(&a, &bob), entity).await.unwrap();
    run(&a).await;
    let note = inbox(&a, &bob).await.pop().expect("bob notified");
    let activity =
        a.crm.activity().feed(&a.actor, FeedScope::Tenant, &FeedFilter::default(), PageRequest::first(1)).await;
    let activity = activity.unwrap().items.pop().unwrap();

    let (bt, bx) = (b.tenant.id, &b.actor);
    let not_found = |r: crate::Result<()>, what: &str| {
        assert!(matches!(r, Err(CrmError::NotFound { .. })), "{what}: {r:?}");
    };
    not_found(b.crm.activity().get_comment(bx, comment.id).await.map(drop), "comment get");
    not_found(b.crm.activity().edit_comment(bx, comment.id, "x", None).await.map(drop), "comment edit");
    not_found(b.crm.activity().delete_comment(bx, comment.id).await.map(drop), "comment delete");
    not_found(b.crm.activity().follow(bx, entity).await.map(drop), "follow");
    not_found(b.crm.activity().get_activity(bx, activity.id).await.map(drop), "activity get");
    not_found(b.crm.activity().mark_read(bx, note.id, true).await, "mark read");
    let reply = NewComment { entity, in_reply_to: Some(comment.id), body: "x".into() };
    not_found(b.crm.activity().comment(bx, reply).await.map(drop), "reply");
    let b_feed = b.crm.activity().feed(bx, FeedScope::Tenant, &FeedFilter::default(), PageRequest::first(200)).await;
    assert!(b_feed.unwrap().items.iter().all(|x| x.tenant_id == bt));
    let b_entity =
        b.crm.activity().feed(bx, FeedScope::Entity(entity), &FeedFilter::default(), PageRequest::first(5)).await;
    assert!(b_entity.unwrap().items.is_empty());
    assert!(b.crm.activity().comments(bx, entity, PageRequest::first(5)).await.unwrap().items.is_empty());

    // Repositories, with A's ids under B's tenant.
    not_found(store.comments().get(bt, comment.id).await.map(drop), "repo comment get");
    let mut moved = comment.clone();
    moved.tenant_id = bt;
    moved.version += 1;
    not_found(store.comments().update(&moved, &[]).await, "repo comment update");
    assert!(store.comments().list(bt, entity, PageRequest::first(5)).await.unwrap().items.is_empty());
    not_found(store.activities().get(bt, activity.id).await.map(drop), "repo activity get");
    assert_eq!(store.activities().latest_for_object(bt, entity).await.unwrap(), None);
    let member_feed =
        store.activities().feed(bt, FeedScope::Member(bob.id), &FeedFilter::default(), PageRequest::first(5)).await;
    assert!(member_feed.unwrap().items.is_empty());
    assert!(store.follows().followers(bt, &[entity]).await.unwrap().is_empty());
    assert!(store.follows().following(bt, bob.id, 10).await.unwrap().is_empty());
    assert!(!store.follows().unfollow(bt, bob.id, entity).await.unwrap());
    let stolen = Follow { tenant_id: bt, member_id: bob.id, entity, created_at: now() };
    not_found(store.follows().follow(&stolen).await.map(drop), "repo follow");
    assert!(
        store
            .notifications()
            .list(bt, bob.id, InboxFilter::default(), PageRequest::first(5))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(store.notifications().unread_count(bt, bob.id).await.unwrap(), 0);
    not_found(store.notifications().set_read(bt, bob.id, note.id, Some(now())).await, "repo set read");
    assert_eq!(store.notifications().mark_all_read(bt, bob.id, now()).await.unwrap(), 0);
    assert!(store.notifications().preferences(bt, &[bob.id]).await.unwrap().is_empty());

    // A's data is untouched.
    assert_eq!(store.notifications().unread_count(a.tenant.id, bob.id).await.unwrap(), 1);
    assert_eq!(store.comments().get(a.tenant.id, comment.id).await.unwrap(), comment);
    assert!(store.follows().unfollow(a.tenant.id, bob.id, entity).await.unwrap());
}

/// `apply_batch` applies its items in order in one transaction — a merge into an activity the
/// batch inserted, one notification per (recipient, cause), the outbox events marked — writes
/// nothing when re-applied, and nothing at all (no event marked) when one item fails.
pub async fn activity_apply_batch_is_atomic_and_idempotent(store: Arc<dyn Store>) {
    use crate::activity::{Activity, ActivityId, ActivityWrite, EventEffects, NotificationDraft, NotificationId};
    use crate::id::EventId;

    let f = Fixture::new(store.clone(), "Batch").await;
    let bob = f.member("bob", Role::Member).await;
    let contact = f.contact("batch@example.com").await;
    let object = contact_ref(contact.id);
    let pending: Vec<_> = store.outbox().pending(100).await.expect("pending").iter().map(|e| e.event.id).collect();
    assert!(!pending.is_empty());
    let at = now();
    let insert = |event_id: EventId, verb: &str| Activity {
        id: ActivityId::new(),
        tenant_id: f.tenant.id,
        event_id,
        actor: Principal::Member(f.owner.id),
        verb: verb.into(),
        object,
        target: None,
        occurred_at: at,
        updated_at: at,
        event_count: 1,
        data: json!({"n": 1}),
    };
    let note = |cause| NotificationDraft {
        id: NotificationId::new(),
        recipient: bob.id,
        kind: NotificationKind::Activity,
        cause,
        email_digest: false,
    };
    let effects = |event_id, activity, notifications| EventEffects {
        tenant_id: f.tenant.id,
        event_id,
        activity,
        follows: vec![Follow { tenant_id: f.tenant.id, member_id: bob.id, entity: object, created_at: at }],
        audience: vec![f.owner.id, bob.id],
        notifications,
    };
    let (e1, e2, e3) = (EventId::new(), EventId::new(), EventId::new());
    let first = insert(e1, "updated");
    let second = insert(e3, "commented");
    let later = at + Duration::minutes(1);
    let batch = vec![
        effects(e1, ActivityWrite::Insert(first.clone()), vec![note(None)]),
        effects(
            e2,
            ActivityWrite::Merge { into: first.id, data: json!({"n": 2}), updated_at: later },
            vec![note(None)],
        ),
        effects(e3, ActivityWrite::Insert(second.clone()), vec![note(Some(uuid::Uuid::now_v7()))]),
    ];
    let applied = store.activities().apply_batch(&batch, &pending, later).await.expect("batch applied");
    assert_eq!(
        applied.iter().map(|a| (a.fresh, a.activity_id)).collect::<Vec<_>>(),
        [(true, first.id), (true, first.id), (true, second.id)]
    );
    let created: Vec<usize> = applied.iter().map(|a| a.notifications.len()).collect();
    assert_eq!(created, [1, 0, 1], "one notification per (recipient, cause)");
    assert_eq!(applied[0].notifications[0].created_at, at);
    let merged = store.activities().get(f.tenant.id, first.id).await.expect("merged");
    assert_eq!((merged.data.clone(), merged.updated_at, merged.event_count), (json!({"n": 2}), later, 2));
    assert!(store.outbox().pending(100).await.expect("pending").iter().all(|e| !pending.contains(&e.event.id)));
    let bob_actor = as_member(&f, &bob);
    let feed = f.crm.activity().my_feed(&bob_actor, &FeedFilter::default(), PageRequest::first(50)).await.unwrap();
    assert!(feed.items.iter().any(|a| a.id == first.id) && feed.items.iter().any(|a| a.id == second.id));
    let following = store.follows().following(f.tenant.id, bob.id, 10).await.expect("following");
    assert!(following.iter().any(|x| x.entity == object));
    let unread = store.notifications().unread_count(f.tenant.id, bob.id).await.expect("count");

    // Re-applied: nothing new.
    let again = store.activities().apply_batch(&batch, &pending, later).await.expect("re-applied");
    assert!(again.iter().all(|a| !a.fresh && a.notifications.is_empty()));
    assert_eq!(again.iter().map(|a| a.activity_id).collect::<Vec<_>>(), [first.id, first.id, second.id]);
    assert_eq!(store.activities().get(f.tenant.id, first.id).await.unwrap().event_count, 2);
    assert_eq!(store.notifications().unread_count(f.tenant.id, bob.id).await.unwrap(), unread);
    let mut recorded = store.activities().applied_events(&[e1, e2, e3, EventId::new()]).await.expect("recorded");
    recorded.sort_by_key(|r| r.0);
    let mut want = vec![(e1, first.id), (e2, first.id), (e3, second.id)];
    want.sort_by_key(|r| r.0);
    assert_eq!(recorded, want);

    // One failing item (a merge into an unknown activity): nothing is written, nothing marked.
    f.contact("later@example.com").await;
    let waiting: Vec<_> = store.outbox().pending(100).await.expect("pending").iter().map(|e| e.event.id).collect();
    assert!(!waiting.is_empty());
    let (e4, e5) = (EventId::new(), EventId::new());
    let third = insert(e4, "updated");
    let failing = vec![
        effects(e4, ActivityWrite::Insert(third.clone()), vec![note(None)]),
        effects(e5, ActivityWrite::Merge { into: ActivityId::new(), data: json!({}), updated_at: later }, vec![]),
    ];
    let err = store.activities().apply_batch(&failing, &waiting, later).await.expect_err("unknown merge target");
    assert!(matches!(err, CrmError::NotFound { .. }), "{err:?}");
    assert!(matches!(store.activities().get(f.tenant.id, third.id).await, Err(CrmError::NotFound { .. })));
    assert!(store.activities().applied_events(&[e4, e5]).await.expect("recorded").is_empty());
    assert_eq!(store.notifications().unread_count(f.tenant.id, bob.id).await.unwrap(), unread);
    let still: Vec<_> = store.outbox().pending(100).await.expect("pending").iter().map(|e| e.event.id).collect();
    assert_eq!(still, waiting, "no event marked dispatched");
}
