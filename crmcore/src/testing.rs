//! The contract suite every store adapter runs (feature `testing`).
//!
//! Each check is a plain `async fn` taking a fresh, empty store. An adapter runs them all with
//! one line in its integration tests:
//!
//! ```ignore
//! crmcore::contract_suite!(memory, async { Some(std::sync::Arc::new(MemoryStore::new()) as Arc<dyn Store>) });
//! ```
//!
//! The factory returns `None` to skip (e.g. PostgreSQL when no database URL is configured).
//! Checks that need data build it through the public services, so they also prove the services
//! and the store agree end to end.

mod activity;
mod analytics;
mod approval;
mod campaign;
mod credentials;
mod document;
mod document_generate;
mod document_search;
mod fixtures;
mod integration;
mod isolation;
mod outbox;
mod queue;
mod records;
mod webhook;

pub use activity::*;
pub use analytics::*;
pub use approval::*;
pub use campaign::*;
pub use credentials::*;
pub use document::*;
pub use document_generate::*;
pub use document_search::*;
pub use fixtures::Fixture;
pub use integration::*;
pub use isolation::*;
pub use outbox::*;
pub use queue::*;
pub use records::*;
pub use webhook::*;

/// Generates one `#[tokio::test]` per contract check in a module named `$name`.
/// `$factory` is an `async` block yielding `Option<Arc<dyn Store>>`, evaluated once per test.
#[macro_export]
macro_rules! contract_suite {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::contract_suite!(@tests $factory;
                tenants_create_get_and_slug_conflict,
                members_crud_uniqueness_and_versions,
                contacts_crud_emits_events,
                contacts_duplicate_email_conflicts_within_tenant_only,
                contacts_page_newest_first_without_gaps_or_overlap,
                contacts_filters_agree_with_the_domain,
                contacts_stale_version_conflicts,
                deals_crud_and_stage_history,
                deals_filters_agree_with_the_domain,
                deals_reference_only_their_own_tenant,
                failed_mutations_leave_no_row_and_no_event,
                outbox_keeps_commit_order_and_dispatch_is_idempotent,
                tenant_isolation_for_every_repository,
                credentials_passwords_api_keys_and_refresh_rotation,
                refresh_token_is_used_once_under_concurrency,
                queue_enqueue_claim_complete,
                queue_dedupe_key_holds_while_live,
                queue_future_jobs_wait_for_their_time,
                queue_expired_lease_is_reclaimed_and_stale_lease_conflicts,
                queue_retry_and_dead_letter,
                queue_concurrent_claimers_never_share_a_job,
                queue_stats_report_depth_and_age,
                worker_dispatches_the_outbox_end_to_end,
                activity_every_event_becomes_one_activity_idempotently,
                activity_updates_merge_within_the_window,
                comments_threads_mentions_and_replies,
                follows_shape_member_feeds_and_notifications,
                feeds_filter_and_page,
                notifications_inbox_counts_and_preferences,
                inbox_counts_hold_under_concurrent_updates,
                activity_tenant_isolation,
                activity_apply_batch_is_atomic_and_idempotent,
                analytics_snapshot_agrees_and_isolates,
                campaign_segments_agree_with_the_domain,
                campaign_claims_are_exclusive_and_the_ledger_balances,
                campaign_suppressions_templates_and_isolation,
                campaign_engagement_is_summarised_without_bots,
                analytics_snapshot_follows_every_write,
                webhook_endpoints_round_trip_with_versions_and_isolation,
                webhook_deliveries_claims_outcomes_and_replay,
                webhook_claims_take_each_endpoint_up_to_its_room,
                webhook_worker_delivers_signed_events_end_to_end,
                integration_providers_connections_and_logs,
                documents_versions_trash_purge_and_audit,
                documents_audit_chain_holds_under_concurrency,
                documents_share_links_expire_revoke_and_count,
                documents_take_comments_mentions_and_follows,
                documents_access_follows_visibility_and_grants,
                documents_search_agrees_with_the_domain,
                documents_search_ranks_and_highlights,
                documents_text_is_extracted_and_searchable,
                documents_are_generated_from_templates,
                approvals_walk_steps_to_approval_or_rejection,
                approvals_are_voided_by_new_versions,
                approvals_keep_every_concurrent_decision,
            );
        }
    };
    (@tests $factory:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let store: Option<std::sync::Arc<dyn $crate::ports::Store>> = $factory.await;
                let Some(store) = store else {
                    eprintln!("skipped {}: store not configured", stringify!($test));
                    return;
                };
                $crate::testing::$test(store).await;
            }
        )*
    };
}
