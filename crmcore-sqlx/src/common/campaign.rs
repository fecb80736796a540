//! Campaigns, templates, recipients, the send ledger, suppressions and engagement. The SQL is the
//! same on both databases except for segment predicates (JSON functions, see `segment.rs`) and
//! the `FOR UPDATE SKIP LOCKED` of PostgreSQL claims, so one body serves both stores:
//! `sqlite/campaign.rs` and `postgres/campaign.rs` expand [`campaign_repository!`].
//!
//! Claims are one `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`: on SQLite the write lock
//! taken by `BEGIN IMMEDIATE` makes it exclusive, on PostgreSQL `SKIP LOCKED` lets concurrent
//! senders take disjoint batches.

/// Implements `CampaignRepository` for `$store` on database `$db` with segment dialect
/// `$dialect`; `$skip_locked` is appended to the claim's inner select. `append_events` must be in
/// scope where it is expanded.
macro_rules! campaign_repository {
    ($store:ty, $db:ty, $dialect:expr, $skip_locked:literal) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use crmcore::actor::Principal;
            use crmcore::campaign::ab_test::WinnerDecision;
            use crmcore::campaign::bounce::BounceKind;
            use crmcore::campaign::segment::{Condition, EngagementKind};
            use crmcore::campaign::{
                AbTest, Attempt, AttemptOutcome, BounceRecord, Campaign, CampaignStatus, EmailTemplate, EngagementCount,
                EngagementSummary, Recipient, RecipientCounts,
                RecipientOutcome, RecipientStatus, SegmentRule, Suppression, SuppressionReason, Variant,
            };
            use crmcore::contact::Contact;
            use crmcore::event::DomainEvent;
            use crmcore::id::{CampaignId, ContactId, EmailTemplateId, RecipientId, TenantId};
            use crmcore::page::{Page, PageRequest};
            use crmcore::ports::{CampaignRepository, Engagement};
            use crmcore::value::EmailAddress;
            use crmcore::{CrmError, Result};
            use serde_json::Value;
            use sqlx::types::Json;
            use sqlx::QueryBuilder;

            use $crate::common::error::{corrupt, map_err, store_err};
            use $crate::common::rows::{CONTACT_COLUMNS, ContactRow};
            use $crate::common::segment::{Bind, Predicate};
            use $crate::common::types::{DbId, DbTime, opt_id, opt_time};

            const TEMPLATE_COLUMNS: &str = "tenant_id, id, name, subject, html, text, created_at, updated_at, version";
            const CAMPAIGN_COLUMNS: &str = "tenant_id, id, name, status, from_email, from_name, reply_to, segment, \
                variants, ab_test, winner, ab_decide_at, ab_decision, links, rate_limit_per_second, send_at, audience_frozen, freeze_cursor, created_by, \
                launched_at, completed_at, created_at, updated_at, version";
            const RECIPIENT_COLUMNS: &str = "tenant_id, id, campaign_id, contact_id, email, variables, variant, status, \
                attempts, retry_at, lease_until, last_error, sent_at, updated_at";

            fn email(what: &str, raw: &str) -> Result<EmailAddress> {
                EmailAddress::parse(raw).map_err(|e| corrupt(what, e))
            }

            #[derive(Debug, sqlx::FromRow)]
            struct TemplateRow {
                tenant_id: DbId,
                id: DbId,
                name: String,
                subject: String,
                html: String,
                text: Option<String>,
                created_at: DbTime,
                updated_at: DbTime,
                version: i64,
            }

            impl TemplateRow {
                fn into_domain(self) -> EmailTemplate {
                    EmailTemplate {
                        id: self.id.0.into(),
                        tenant_id: self.tenant_id.0.into(),
                        name: self.name,
                        subject: self.subject,
                        html: self.html,
                        text: self.text,
                        created_at: self.created_at.0,
                        updated_at: self.updated_at.0,
                        version: self.version,
                    }
                }
            }

            #[derive(Debug, sqlx::FromRow)]
            struct CampaignRow {
                tenant_id: DbId,
                id: DbId,
                name: String,
                status: String,
                from_email: String,
                from_name: Option<String>,
                reply_to: Option<String>,
                segment: Json<SegmentRule>,
                variants: Json<Vec<Variant>>,
                ab_test: Option<Json<AbTest>>,
                winner: Option<i64>,
                ab_decide_at: Option<DbTime>,
                ab_decision: Option<Json<WinnerDecision>>,
                links: Json<Vec<Vec<String>>>,
                rate_limit_per_second: Option<i64>,
                send_at: Option<DbTime>,
                audience_frozen: bool,
                freeze_cursor: Option<DbId>,
                created_by: Json<Principal>,
                launched_at: Option<DbTime>,
                completed_at: Option<DbTime>,
                created_at: DbTime,
                updated_at: DbTime,
                version: i64,
            }

            impl CampaignRow {
                fn into_domain(self) -> Result<Campaign> {
                    Ok(Campaign {
                        id: self.id.0.into(),
                        tenant_id: self.tenant_id.0.into(),
                        name: self.name,
                        status: CampaignStatus::parse(&self.status).map_err(|e| corrupt("campaign status", e))?,
                        from_email: email("campaign from_email", &self.from_email)?,
                        from_name: self.from_name,
                        reply_to: self.reply_to.as_deref().map(|r| email("campaign reply_to", r)).transpose()?,
                        segment: self.segment.0,
                        variants: self.variants.0,
                        ab_test: self.ab_test.map(|j| j.0),
                        winner: self.winner.map(|w| u16::try_from(w).map_err(|e| corrupt("campaign winner", e))).transpose()?,
                        ab_decide_at: self.ab_decide_at.map(|t| t.0),
                        ab_decision: self.ab_decision.map(|j| j.0),
                        links: self.links.0,
                        rate_limit_per_second: self
                            .rate_limit_per_second
                            .map(|r| u32::try_from(r).map_err(|e| corrupt("campaign rate", e)))
                            .transpose()?,
                        send_at: self.send_at.map(|t| t.0),
                        audience_frozen: self.audience_frozen,
                        freeze_cursor: self.freeze_cursor.map(|c| c.0),
                        created_by: self.created_by.0,
                        launched_at: self.launched_at.map(|t| t.0),
                        completed_at: self.completed_at.map(|t| t.0),
                        created_at: self.created_at.0,
                        updated_at: self.updated_at.0,
                        version: self.version,
                    })
                }
            }

            #[derive(Debug, sqlx::FromRow)]
            struct RecipientRow {
                tenant_id: DbId,
                id: DbId,
                campaign_id: DbId,
                contact_id: DbId,
                email: String,
                variables: Json<Value>,
                variant: Option<i64>,
                status: String,
                attempts: i64,
                retry_at: Option<DbTime>,
                lease_until: Option<DbTime>,
                last_error: Option<String>,
                sent_at: Option<DbTime>,
                updated_at: DbTime,
            }

            impl RecipientRow {
                fn into_domain(self) -> Result<Recipient> {
                    Ok(Recipient {
                        id: self.id.0.into(),
                        tenant_id: self.tenant_id.0.into(),
                        campaign_id: self.campaign_id.0.into(),
                        contact_id: self.contact_id.0.into(),
                        email: email("recipient email", &self.email)?,
                        variables: self.variables.0,
                        variant: self.variant.map(|v| u16::try_from(v).map_err(|e| corrupt("recipient variant", e))).transpose()?,
                        status: RecipientStatus::parse(&self.status).map_err(|e| corrupt("recipient status", e))?,
                        attempts: u32::try_from(self.attempts).map_err(|e| corrupt("recipient attempts", e))?,
                        retry_at: self.retry_at.map(|t| t.0),
                        lease_until: self.lease_until.map(|t| t.0),
                        last_error: self.last_error,
                        sent_at: self.sent_at.map(|t| t.0),
                        updated_at: self.updated_at.0,
                    })
                }
            }

            #[derive(Debug, sqlx::FromRow)]
            struct AttemptRow {
                recipient_id: DbId,
                number: i64,
                at: DbTime,
                outcome: String,
                message_id: String,
                response: String,
            }

            #[derive(Debug, sqlx::FromRow)]
            struct SuppressionRow {
                tenant_id: DbId,
                email: String,
                reason: String,
                campaign_id: Option<DbId>,
                created_at: DbTime,
            }

            impl SuppressionRow {
                fn into_domain(self) -> Result<Suppression> {
                    Ok(Suppression {
                        tenant_id: self.tenant_id.0.into(),
                        email: email("suppression email", &self.email)?,
                        reason: SuppressionReason::parse(&self.reason).map_err(|e| corrupt("suppression reason", e))?,
                        campaign_id: self.campaign_id.map(|c| c.0.into()),
                        created_at: self.created_at.0,
                    })
                }
            }

            /// One newest-first keyset page of the tenant's rows of `table` (one row overfetched,
            /// for [`Page::from_overfetch`]).
            async fn newest_first<R>(
                pool: &sqlx::Pool<$db>,
                table: &str,
                columns: &str,
                tenant: TenantId,
                page: PageRequest,
            ) -> Result<Vec<R>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                let sql = format!(
                    "SELECT {columns} FROM {table} WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) \
                     ORDER BY id DESC LIMIT $3"
                );
                sqlx::query_as::<_, R>(&sql)
                    .bind(DbId(tenant.0))
                    .bind(page.after.map(DbId))
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(pool)
                    .await
                    .map_err(store_err)
            }

            /// Binds the values of a compiled predicate in order.
            fn bind_all<'q, O>(
                mut query: sqlx::query::QueryAs<'q, $db, O, <$db as sqlx::Database>::Arguments<'q>>,
                binds: &'q [Bind],
            ) -> sqlx::query::QueryAs<'q, $db, O, <$db as sqlx::Database>::Arguments<'q>> {
                for bind in binds {
                    query = match bind {
                        Bind::Text(s) => query.bind(s.as_str()),
                        Bind::Float(x) => query.bind(*x),
                        Bind::Int(i) => query.bind(*i),
                        Bind::Time(t) => query.bind(DbTime(*t)),
                        Bind::Id(id) => query.bind(DbId(*id)),
                    };
                }
                query
            }

            impl $store {
                /// Replaces a campaign inside `tx` with the optimistic version check.
                async fn write_campaign(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    c: &Campaign,
                ) -> Result<()> {
                    let done = sqlx::query(
                        "UPDATE campaigns SET name = $3, status = $4, from_email = $5, from_name = $6, reply_to = $7, \
                         segment = $8, variants = $9, ab_test = $10, winner = $11, rate_limit_per_second = $12, \
                         send_at = $13, audience_frozen = $14, freeze_cursor = $15, launched_at = $16, \
                         completed_at = $17, updated_at = $18, version = $19, ab_decide_at = $20, links = $21, \
                         ab_decision = $22 \
                         WHERE tenant_id = $1 AND id = $2 AND version = $19 - 1",
                    )
                    .bind(DbId(c.tenant_id.0))
                    .bind(DbId(c.id.0))
                    .bind(&c.name)
                    .bind(c.status.as_str())
                    .bind(c.from_email.as_str())
                    .bind(&c.from_name)
                    .bind(c.reply_to.as_ref().map(EmailAddress::as_str))
                    .bind(Json(&c.segment))
                    .bind(Json(&c.variants))
                    .bind(c.ab_test.as_ref().map(Json))
                    .bind(c.winner.map(i64::from))
                    .bind(c.rate_limit_per_second.map(i64::from))
                    .bind(opt_time(c.send_at))
                    .bind(c.audience_frozen)
                    .bind(opt_id(c.freeze_cursor))
                    .bind(opt_time(c.launched_at))
                    .bind(opt_time(c.completed_at))
                    .bind(DbTime(c.updated_at))
                    .bind(c.version)
                    .bind(opt_time(c.ab_decide_at))
                    .bind(Json(&c.links))
                    .bind(c.ab_decision.as_ref().map(Json))
                    .execute(&mut **tx)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(missing_or_stale(tx, "campaigns", "campaign", c.tenant_id, c.id.0).await);
                    }
                    Ok(())
                }
            }

            #[async_trait]
            impl CampaignRepository for $store {
                async fn insert_template(&self, t: &EmailTemplate, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO email_templates (tenant_id, id, name, subject, html, text, created_at, updated_at, version) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(DbId(t.tenant_id.0))
                    .bind(DbId(t.id.0))
                    .bind(&t.name)
                    .bind(&t.subject)
                    .bind(&t.html)
                    .bind(&t.text)
                    .bind(DbTime(t.created_at))
                    .bind(DbTime(t.updated_at))
                    .bind(t.version)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("tenant", t.tenant_id)))?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn update_template(&self, t: &EmailTemplate, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "UPDATE email_templates SET name = $3, subject = $4, html = $5, text = $6, updated_at = $7, \
                         version = $8 WHERE tenant_id = $1 AND id = $2 AND version = $8 - 1",
                    )
                    .bind(DbId(t.tenant_id.0))
                    .bind(DbId(t.id.0))
                    .bind(&t.name)
                    .bind(&t.subject)
                    .bind(&t.html)
                    .bind(&t.text)
                    .bind(DbTime(t.updated_at))
                    .bind(t.version)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(missing_or_stale(&mut tx, "email_templates", "email_template", t.tenant_id, t.id.0).await);
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn get_template(&self, tenant: TenantId, id: EmailTemplateId) -> Result<EmailTemplate> {
                    let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM email_templates WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, TemplateRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(TemplateRow::into_domain)
                        .ok_or_else(|| CrmError::not_found("email_template", id))
                }

                async fn list_templates(&self, tenant: TenantId, page: PageRequest) -> Result<Page<EmailTemplate>> {
                    let rows: Vec<TemplateRow> =
                        newest_first(&self.pool, "email_templates", TEMPLATE_COLUMNS, tenant, page).await?;
                    let items = rows.into_iter().map(TemplateRow::into_domain).collect();
                    Ok(Page::from_overfetch(items, page, |t: &EmailTemplate| t.id.0))
                }

                async fn insert(&self, c: &Campaign, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let sql = format!(
                        "INSERT INTO campaigns ({CAMPAIGN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
                    );
                    sqlx::query(&sql)
                        .bind(DbId(c.tenant_id.0))
                        .bind(DbId(c.id.0))
                        .bind(&c.name)
                        .bind(c.status.as_str())
                        .bind(c.from_email.as_str())
                        .bind(&c.from_name)
                        .bind(c.reply_to.as_ref().map(EmailAddress::as_str))
                        .bind(Json(&c.segment))
                        .bind(Json(&c.variants))
                        .bind(c.ab_test.as_ref().map(Json))
                        .bind(c.winner.map(i64::from))
                        .bind(opt_time(c.ab_decide_at))
                        .bind(c.ab_decision.as_ref().map(Json))
                        .bind(Json(&c.links))
                        .bind(c.rate_limit_per_second.map(i64::from))
                        .bind(opt_time(c.send_at))
                        .bind(c.audience_frozen)
                        .bind(opt_id(c.freeze_cursor))
                        .bind(Json(&c.created_by))
                        .bind(opt_time(c.launched_at))
                        .bind(opt_time(c.completed_at))
                        .bind(DbTime(c.created_at))
                        .bind(DbTime(c.updated_at))
                        .bind(c.version)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, || CrmError::not_found("tenant", c.tenant_id)))?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn update(&self, c: &Campaign, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    Self::write_campaign(&mut tx, c).await?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn get(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
                    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, CampaignRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(CampaignRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("campaign", id))
                }

                async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Campaign>> {
                    let rows: Vec<CampaignRow> =
                        newest_first(&self.pool, "campaigns", CAMPAIGN_COLUMNS, tenant, page).await?;
                    let items = rows.into_iter().map(CampaignRow::into_domain).collect::<Result<Vec<_>>>()?;
                    Ok(Page::from_overfetch(items, page, |c: &Campaign| c.id.0))
                }

                async fn segment_count(&self, tenant: TenantId, condition: &Condition) -> Result<u64> {
                    let mut p = Predicate::new($dialect, vec![Bind::Id(tenant.0)]);
                    p.push(condition);
                    let sql = format!("SELECT COUNT(*) FROM contacts c WHERE c.tenant_id = $1 AND {}", p.sql);
                    let (count,): (i64,) =
                        bind_all(sqlx::query_as(&sql), &p.binds).fetch_one(&self.pool).await.map_err(store_err)?;
                    Ok(count as u64)
                }

                async fn segment_batch(
                    &self,
                    tenant: TenantId,
                    condition: &Condition,
                    after: Option<ContactId>,
                    limit: u32,
                ) -> Result<Vec<Contact>> {
                    let mut leading = vec![Bind::Id(tenant.0), Bind::Int(i64::from(limit))];
                    let after_clause = match after {
                        Some(after) => {
                            leading.push(Bind::Id(after.0));
                            "AND c.id > $3"
                        }
                        None => "",
                    };
                    let mut p = Predicate::new($dialect, leading);
                    p.push(condition);
                    let sql = format!(
                        "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.tenant_id = $1 {after_clause} AND {} \
                         ORDER BY c.id LIMIT $2",
                        p.sql
                    );
                    let rows: Vec<ContactRow> =
                        bind_all(sqlx::query_as(&sql), &p.binds).fetch_all(&self.pool).await.map_err(store_err)?;
                    rows.into_iter().map(ContactRow::into_domain).collect()
                }

                async fn add_recipients(
                    &self,
                    campaign: &Campaign,
                    recipients: &[Recipient],
                    events: &[DomainEvent],
                ) -> Result<u64> {
                    if recipients.iter().any(|r| r.tenant_id != campaign.tenant_id || r.campaign_id != campaign.id) {
                        return Err(CrmError::invalid("recipients", "invalid", "recipients of another campaign"));
                    }
                    let mut tx = self.begin().await?;
                    Self::write_campaign(&mut tx, campaign).await?;
                    let mut added = 0;
                    // 14 values a row: 500 rows stay far below both databases' parameter limits.
                    for chunk in recipients.chunks(500) {
                        let mut q: QueryBuilder<$db> =
                            QueryBuilder::new(format!("INSERT INTO campaign_recipients ({RECIPIENT_COLUMNS}) "));
                        q.push_values(chunk, |mut row, r| {
                            row.push_bind(DbId(r.tenant_id.0))
                                .push_bind(DbId(r.id.0))
                                .push_bind(DbId(r.campaign_id.0))
                                .push_bind(DbId(r.contact_id.0))
                                .push_bind(r.email.as_str())
                                .push_bind(Json(&r.variables))
                                .push_bind(r.variant.map(i64::from))
                                .push_bind(r.status.as_str())
                                .push_bind(i64::from(r.attempts))
                                .push_bind(opt_time(r.retry_at))
                                .push_bind(opt_time(r.lease_until))
                                .push_bind(&r.last_error)
                                .push_bind(opt_time(r.sent_at))
                                .push_bind(DbTime(r.updated_at));
                        });
                        q.push(" ON CONFLICT (tenant_id, campaign_id, contact_id) DO NOTHING");
                        added += q.build().execute(&mut *tx).await.map_err(store_err)?.rows_affected();
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(added)
                }

                async fn claim_recipients(
                    &self,
                    tenant: TenantId,
                    campaign: CampaignId,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<Recipient>> {
                    // Two claims, each a range of the (tenant, campaign, status, id) index: expired
                    // leases first, then pending recipients. One statement with an OR over the
                    // statuses would walk every recipient already sent, on every claim.
                    const WAITING: [&str; 2] = [
                        "status = 'sending' AND lease_until <= $3",
                        "status = 'pending' AND variant IS NOT NULL AND (retry_at IS NULL OR retry_at <= $3)",
                    ];
                    let mut tx = self.begin().await?;
                    let mut rows: Vec<RecipientRow> = Vec::new();
                    for waiting in WAITING {
                        let left = i64::from(limit) - rows.len() as i64;
                        if left <= 0 {
                            break;
                        }
                        let sql = format!(
                            "UPDATE campaign_recipients SET status = 'sending', lease_until = $4, updated_at = $3 \
                             WHERE tenant_id = $1 AND id IN (SELECT id FROM campaign_recipients \
                               WHERE tenant_id = $1 AND campaign_id = $2 AND {waiting} \
                               ORDER BY id LIMIT $5{}) \
                             RETURNING {RECIPIENT_COLUMNS}",
                            $skip_locked
                        );
                        let claimed: Vec<RecipientRow> = sqlx::query_as(&sql)
                            .bind(DbId(tenant.0))
                            .bind(DbId(campaign.0))
                            .bind(DbTime(now))
                            .bind(DbTime(lease_until))
                            .bind(left)
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(store_err)?;
                        rows.extend(claimed);
                    }
                    tx.commit().await.map_err(store_err)?;
                    let mut claimed = rows.into_iter().map(RecipientRow::into_domain).collect::<Result<Vec<_>>>()?;
                    claimed.sort_by_key(|r| r.id);
                    Ok(claimed)
                }

                async fn record_outcomes(
                    &self,
                    tenant: TenantId,
                    outcomes: &[RecipientOutcome],
                    events: &[DomainEvent],
                ) -> Result<()> {
                    let mut tx = self.begin().await?;
                    for chunk in outcomes.chunks(1000) {
                        let mut q: QueryBuilder<$db> = QueryBuilder::new(
                            "INSERT INTO campaign_attempts (tenant_id, recipient_id, number, at, outcome, message_id, response) ",
                        );
                        q.push_values(chunk, |mut row, o| {
                            let a = &o.attempt;
                            row.push_bind(DbId(tenant.0))
                                .push_bind(DbId(a.recipient_id.0))
                                .push_bind(i64::from(a.number))
                                .push_bind(DbTime(a.at))
                                .push_bind(a.outcome.as_str())
                                .push_bind(a.message_id.as_str())
                                .push_bind(a.response.as_str());
                        });
                        q.build()
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| map_err(e, || CrmError::not_found("recipient", "in outcomes")))?;
                    }
                    // One UPDATE per chunk, joined to the outcomes as a VALUES list. Only recipients
                    // still `sending` move: a sender whose lease was lost only adds to the ledger.
                    for chunk in outcomes.chunks(1000) {
                        let mut q: QueryBuilder<$db> = QueryBuilder::new(
                            "WITH v (id, status, attempts, retry_at, last_error, sent, at) AS (",
                        );
                        q.push_values(chunk, |mut row, o| {
                            let a = &o.attempt;
                            let sent = o.status == RecipientStatus::Sent;
                            row.push_bind(DbId(a.recipient_id.0))
                                .push_bind(o.status.as_str())
                                .push_bind(i64::from(a.number))
                                .push_bind(opt_time(o.retry_at))
                                .push_bind((!sent).then_some(a.response.as_str()))
                                .push_bind(sent)
                                .push_bind(DbTime(a.at));
                        });
                        q.push(
                            ") UPDATE campaign_recipients SET status = v.status, \
                             attempts = CASE WHEN campaign_recipients.attempts > v.attempts \
                               THEN campaign_recipients.attempts ELSE v.attempts END, \
                             retry_at = v.retry_at, lease_until = NULL, last_error = v.last_error, \
                             sent_at = CASE WHEN v.sent THEN v.at ELSE campaign_recipients.sent_at END, \
                             updated_at = v.at FROM v WHERE campaign_recipients.tenant_id = ",
                        );
                        q.push_bind(DbId(tenant.0));
                        q.push(" AND campaign_recipients.id = v.id AND campaign_recipients.status = 'sending'");
                        q.build().execute(&mut *tx).await.map_err(store_err)?;
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn recipient_counts(&self, tenant: TenantId, campaign: CampaignId) -> Result<RecipientCounts> {
                    let rows: Vec<(String, bool, i64)> = sqlx::query_as(
                        "SELECT status, variant IS NULL, COUNT(*) FROM campaign_recipients \
                         WHERE tenant_id = $1 AND campaign_id = $2 GROUP BY status, variant IS NULL",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(campaign.0))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_err)?;
                    let mut counts = RecipientCounts::default();
                    for (status, held, n) in rows {
                        let n = n as u64;
                        counts.targeted += n;
                        match RecipientStatus::parse(&status).map_err(|e| corrupt("recipient status", e))? {
                            RecipientStatus::Pending => {
                                counts.pending += n;
                                if held {
                                    counts.held += n;
                                }
                            }
                            RecipientStatus::Sending => counts.sending += n,
                            RecipientStatus::Sent => counts.sent += n,
                            RecipientStatus::Failed => counts.failed += n,
                            RecipientStatus::Suppressed => counts.suppressed += n,
                            RecipientStatus::Cancelled => counts.cancelled += n,
                        }
                    }
                    Ok(counts)
                }

                async fn next_retry_at(&self, tenant: TenantId, campaign: CampaignId) -> Result<Option<DateTime<Utc>>> {
                    let row: Option<(DbTime,)> = sqlx::query_as(
                        "SELECT retry_at FROM campaign_recipients WHERE tenant_id = $1 AND campaign_id = $2 \
                         AND status = 'pending' AND variant IS NOT NULL AND retry_at IS NOT NULL \
                         ORDER BY retry_at LIMIT 1",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(campaign.0))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_err)?;
                    Ok(row.map(|(t,)| t.0))
                }

                async fn list_recipients(
                    &self,
                    tenant: TenantId,
                    campaign: CampaignId,
                    status: Option<RecipientStatus>,
                    page: PageRequest,
                ) -> Result<Page<Recipient>> {
                    let sql = format!(
                        "SELECT {RECIPIENT_COLUMNS} FROM campaign_recipients WHERE tenant_id = $1 AND campaign_id = $2 \
                         AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
                    );
                    let rows: Vec<RecipientRow> = sqlx::query_as(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(campaign.0))
                        .bind(status.map(RecipientStatus::as_str))
                        .bind(page.after.map(DbId))
                        .bind(i64::from(page.limit) + 1)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_err)?;
                    let items = rows.into_iter().map(RecipientRow::into_domain).collect::<Result<Vec<_>>>()?;
                    Ok(Page::from_overfetch(items, page, |r: &Recipient| r.id.0))
                }

                async fn get_recipient(&self, tenant: TenantId, id: RecipientId) -> Result<Recipient> {
                    let sql =
                        format!("SELECT {RECIPIENT_COLUMNS} FROM campaign_recipients WHERE tenant_id = $1 AND id = $2");
                    sqlx::query_as::<_, RecipientRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(id.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(RecipientRow::into_domain)
                        .transpose()?
                        .ok_or_else(|| CrmError::not_found("recipient", id))
                }

                async fn attempts(&self, tenant: TenantId, id: RecipientId) -> Result<Vec<Attempt>> {
                    let rows: Vec<AttemptRow> = sqlx::query_as(
                        "SELECT recipient_id, number, at, outcome, message_id, response FROM campaign_attempts \
                         WHERE tenant_id = $1 AND recipient_id = $2 ORDER BY seq",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(id.0))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_err)?;
                    rows.into_iter()
                        .map(|r| {
                            Ok(Attempt {
                                recipient_id: r.recipient_id.0.into(),
                                number: u32::try_from(r.number).map_err(|e| corrupt("attempt number", e))?,
                                at: r.at.0,
                                outcome: AttemptOutcome::parse(&r.outcome).map_err(|e| corrupt("attempt outcome", e))?,
                                message_id: r.message_id,
                                response: r.response,
                            })
                        })
                        .collect()
                }

                async fn release_held(&self, campaign: &Campaign, variant: u16, events: &[DomainEvent]) -> Result<u64> {
                    let mut tx = self.begin().await?;
                    Self::write_campaign(&mut tx, campaign).await?;
                    let done = sqlx::query(
                        "UPDATE campaign_recipients SET variant = $3, updated_at = $4 WHERE tenant_id = $1 \
                         AND campaign_id = $2 AND status = 'pending' AND variant IS NULL",
                    )
                    .bind(DbId(campaign.tenant_id.0))
                    .bind(DbId(campaign.id.0))
                    .bind(i64::from(variant))
                    .bind(DbTime(campaign.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(done.rows_affected())
                }

                async fn transition_recipients(
                    &self,
                    campaign: &Campaign,
                    from: RecipientStatus,
                    to: RecipientStatus,
                    events: &[DomainEvent],
                ) -> Result<u64> {
                    let mut tx = self.begin().await?;
                    Self::write_campaign(&mut tx, campaign).await?;
                    let done = sqlx::query(
                        "UPDATE campaign_recipients SET status = $4, retry_at = NULL, lease_until = NULL, \
                         last_error = NULL, updated_at = $5 WHERE tenant_id = $1 AND campaign_id = $2 AND status = $3",
                    )
                    .bind(DbId(campaign.tenant_id.0))
                    .bind(DbId(campaign.id.0))
                    .bind(from.as_str())
                    .bind(to.as_str())
                    .bind(DbTime(campaign.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(done.rows_affected())
                }

                async fn suppress(&self, s: &Suppression, events: &[DomainEvent]) -> Result<bool> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "INSERT INTO email_suppressions (tenant_id, email, reason, campaign_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, email) DO NOTHING",
                    )
                    .bind(DbId(s.tenant_id.0))
                    .bind(s.email.as_str())
                    .bind(s.reason.as_str())
                    .bind(opt_id(s.campaign_id.map(|c| c.0)))
                    .bind(DbTime(s.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("tenant", s.tenant_id)))?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(true)
                }

                async fn unsuppress(&self, tenant: TenantId, email: &EmailAddress, events: &[DomainEvent]) -> Result<()> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query("DELETE FROM email_suppressions WHERE tenant_id = $1 AND email = $2")
                        .bind(DbId(tenant.0))
                        .bind(email.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("suppression", email));
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)
                }

                async fn suppressed_among(&self, tenant: TenantId, emails: &[EmailAddress]) -> Result<Vec<EmailAddress>> {
                    let mut found = Vec::new();
                    for chunk in emails.chunks(500) {
                        let mut q: QueryBuilder<$db> =
                            QueryBuilder::new("SELECT email FROM email_suppressions WHERE tenant_id = ");
                        q.push_bind(DbId(tenant.0)).push(" AND email IN (");
                        let mut list = q.separated(", ");
                        for e in chunk {
                            list.push_bind(e.as_str());
                        }
                        q.push(")");
                        let rows: Vec<(String,)> =
                            q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
                        for (e,) in rows {
                            found.push(email("suppression email", &e)?);
                        }
                    }
                    found.sort();
                    found.dedup();
                    Ok(found)
                }

                async fn list_suppressions(
                    &self,
                    tenant: TenantId,
                    after: Option<&EmailAddress>,
                    limit: u32,
                ) -> Result<Vec<Suppression>> {
                    let rows: Vec<SuppressionRow> = sqlx::query_as(
                        "SELECT tenant_id, email, reason, campaign_id, created_at FROM email_suppressions \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR email > $2) ORDER BY email LIMIT $3",
                    )
                    .bind(DbId(tenant.0))
                    .bind(after.map(EmailAddress::as_str))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_err)?;
                    rows.into_iter().map(SuppressionRow::into_domain).collect()
                }

                async fn record_bounce(&self, b: &BounceRecord, events: &[DomainEvent]) -> Result<u64> {
                    let mut tx = self.begin().await?;
                    let kind = match b.kind {
                        BounceKind::Hard => "hard",
                        BounceKind::Soft => "soft",
                    };
                    sqlx::query(
                        "INSERT INTO email_bounces (tenant_id, email, kind, status, campaign_id, at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(DbId(b.tenant_id.0))
                    .bind(b.email.as_str())
                    .bind(kind)
                    .bind(&b.status)
                    .bind(opt_id(b.campaign_id.map(|c| c.0)))
                    .bind(DbTime(b.at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, || CrmError::not_found("tenant", b.tenant_id)))?;
                    let (soft,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM email_bounces WHERE tenant_id = $1 AND email = $2 AND kind = 'soft'",
                    )
                    .bind(DbId(b.tenant_id.0))
                    .bind(b.email.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(soft as u64)
                }

                async fn record_engagement(&self, e: &Engagement, events: &[DomainEvent]) -> Result<bool> {
                    let mut tx = self.begin().await?;
                    let seen: Option<(i64,)> = sqlx::query_as(
                        "SELECT seq FROM campaign_engagements WHERE tenant_id = $1 AND recipient_id = $2 AND kind = $3 \
                         AND bot = (1 = 0) LIMIT 1",
                    )
                    .bind(DbId(e.tenant_id.0))
                    .bind(DbId(e.recipient_id.0))
                    .bind(e.kind.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    let done = sqlx::query(
                        "INSERT INTO campaign_engagements (tenant_id, campaign_id, recipient_id, contact_id, kind, \
                         link_index, value_minor, bot, occurred_at) \
                         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM campaign_recipients r \
                         WHERE r.tenant_id = $1 AND r.id = $3 AND r.campaign_id = $2 AND r.contact_id = $4)",
                    )
                    .bind(DbId(e.tenant_id.0))
                    .bind(DbId(e.campaign_id.0))
                    .bind(DbId(e.recipient_id.0))
                    .bind(DbId(e.contact_id.0))
                    .bind(e.kind.as_str())
                    .bind(e.link_index.map(i64::from))
                    .bind(e.value_minor)
                    .bind(e.bot)
                    .bind(DbTime(e.at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                    if done.rows_affected() == 0 {
                        return Err(CrmError::not_found("recipient", e.recipient_id));
                    }
                    append_events(&mut tx, events).await?;
                    tx.commit().await.map_err(store_err)?;
                    Ok(!e.bot && seen.is_none())
                }

                async fn engagement_summary(&self, tenant: TenantId, campaign: CampaignId) -> Result<EngagementSummary> {
                    let mut summary = EngagementSummary::default();
                    let sent: Vec<(Option<i64>, i64)> = sqlx::query_as(
                        "SELECT variant, COUNT(*) FROM campaign_recipients WHERE tenant_id = $1 AND campaign_id = $2 \
                         AND status = 'sent' GROUP BY variant",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(campaign.0))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_err)?;
                    for (variant, n) in sent {
                        let variant = u16::try_from(variant.unwrap_or(0)).map_err(|e| corrupt("recipient variant", e))?;
                        *summary.sent_by_variant.entry(variant).or_default() += n as u64;
                    }
                    let rows: Vec<(String, Option<i64>, Option<i64>, i64, i64, Option<i64>)> = sqlx::query_as(
                        "SELECT e.kind, r.variant, e.link_index, COUNT(*), COUNT(DISTINCT e.recipient_id), \
                         CAST(SUM(e.value_minor) AS BIGINT) \
                         FROM campaign_engagements e JOIN campaign_recipients r \
                           ON r.tenant_id = e.tenant_id AND r.id = e.recipient_id \
                         WHERE e.tenant_id = $1 AND e.campaign_id = $2 AND e.bot = (1 = 0) \
                         GROUP BY e.kind, r.variant, e.link_index",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(campaign.0))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_err)?;
                    let small = |v: Option<i64>, what: &str| {
                        v.map(|v| u16::try_from(v).map_err(|e| corrupt(what, e))).transpose()
                    };
                    for (kind, variant, link, total, unique, value) in rows {
                        summary.counts.push(EngagementCount {
                            kind: EngagementKind::parse(&kind).map_err(|e| corrupt("engagement kind", e))?,
                            variant: small(variant, "recipient variant")?,
                            link_index: small(link, "engagement link")?,
                            total: total as u64,
                            unique: unique as u64,
                            value_minor: value.unwrap_or(0),
                        });
                    }
                    summary.counts.sort_by_key(|c| (c.kind, c.variant, c.link_index));
                    let (bots,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM campaign_engagements WHERE tenant_id = $1 AND campaign_id = $2 \
                         AND bot = (1 = 1)",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(campaign.0))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(store_err)?;
                    summary.bot_events = bots as u64;
                    let suppressed: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT reason, COUNT(*) FROM email_suppressions WHERE tenant_id = $1 AND campaign_id = $2 \
                         GROUP BY reason",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(campaign.0))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_err)?;
                    for (reason, n) in suppressed {
                        match reason.as_str() {
                            "unsubscribed" => summary.unsubscribes += n as u64,
                            "complained" => summary.complaints += n as u64,
                            _ => {}
                        }
                    }
                    let bounced: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT kind, COUNT(*) FROM email_bounces WHERE tenant_id = $1 AND campaign_id = $2 GROUP BY kind",
                    )
                    .bind(DbId(tenant.0))
                    .bind(DbId(campaign.0))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_err)?;
                    for (kind, n) in bounced {
                        match kind.as_str() {
                            "hard" => summary.hard_bounces += n as u64,
                            _ => summary.soft_bounces += n as u64,
                        }
                    }
                    Ok(summary)
                }

                async fn recipient_for_contact(
                    &self,
                    tenant: TenantId,
                    campaign: CampaignId,
                    contact: ContactId,
                ) -> Result<Option<Recipient>> {
                    let sql = format!(
                        "SELECT {RECIPIENT_COLUMNS} FROM campaign_recipients WHERE tenant_id = $1 AND campaign_id = $2 \
                         AND contact_id = $3"
                    );
                    sqlx::query_as::<_, RecipientRow>(&sql)
                        .bind(DbId(tenant.0))
                        .bind(DbId(campaign.0))
                        .bind(DbId(contact.0))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_err)?
                        .map(RecipientRow::into_domain)
                        .transpose()
                }
            }
        };
    };
}

pub(crate) use campaign_repository;
