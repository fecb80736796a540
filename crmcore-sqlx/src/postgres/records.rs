//! Tenants, members, contacts and deals on PostgreSQL (READ COMMITTED transactions; the version
//! check is part of each UPDATE, so concurrent writers cannot both succeed).

use async_trait::async_trait;
use crmcore::actor::Role;
use crmcore::analytics::DealSnapshot;
use crmcore::contact::{Contact, ContactFilter};
use crmcore::deal::{Deal, DealFilter, StageChange};
use crmcore::event::DomainEvent;
use crmcore::id::{ContactId, DealId, MemberId, TenantId};
use crmcore::member::Member;
use crmcore::page::{Page, PageRequest};
use crmcore::ports::{ContactRepository, DealRepository, MemberRepository, TenantRepository};
use crmcore::tenant::Tenant;
use crmcore::value::{EmailAddress, Handle};
use crmcore::{CrmError, Result};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Transaction};

use super::{PgStore, append_events};
use crate::common::error::{map_err, store_err};
use crate::common::rows::{
    CONTACT_COLUMNS, ContactRow, ContactWrite, DEAL_COLUMNS, DEAL_FACTS_COLUMNS, DealFactsRow, DealRow, MEMBER_COLUMNS,
    MemberRow, STAGE_ENTRY_COLUMNS, StageChangeRow, StageEntryRow, TenantRow,
};
use crate::common::search::contains_pattern;
use crate::common::types::{DbId, DbTime, opt_id, opt_time};

type Tx = Transaction<'static, Postgres>;

fn version_conflict(entity: &str, id: impl std::fmt::Display) -> CrmError {
    CrmError::conflict(Some("version"), format!("{entity} {id} was changed concurrently"))
}

/// Whether `SELECT 1 FROM {table} WHERE tenant_id = $1 AND id = $2` finds a row.
async fn exists<'e>(
    executor: impl sqlx::Executor<'e, Database = Postgres>,
    table: &str,
    tenant: TenantId,
    id: uuid::Uuid,
) -> Result<bool> {
    let sql = format!("SELECT 1::int8 FROM {table} WHERE tenant_id = $1 AND id = $2");
    let row: Option<(i64,)> =
        sqlx::query_as(&sql).bind(DbId(tenant.0)).bind(DbId(id)).fetch_optional(executor).await.map_err(store_err)?;
    Ok(row.is_some())
}

async fn insert_member(tx: &mut Tx, m: &Member) -> Result<()> {
    sqlx::query(
        "INSERT INTO members (tenant_id, id, handle, display_name, email, role, active, created_at, updated_at, \
         version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(DbId(m.tenant_id.0))
    .bind(DbId(m.id.0))
    .bind(m.handle.as_str())
    .bind(&m.display_name)
    .bind(m.email.as_str())
    .bind(m.role.as_str())
    .bind(m.active)
    .bind(DbTime(m.created_at))
    .bind(DbTime(m.updated_at))
    .bind(m.version)
    .execute(&mut **tx)
    .await
    .map_err(|e| map_err(e, || CrmError::not_found("tenant", m.tenant_id)))?;
    Ok(())
}

#[async_trait]
impl TenantRepository for PgStore {
    async fn create(&self, tenant: &Tenant, owner: &Member, events: &[DomainEvent]) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, slug, created_at) VALUES ($1, $2, $3, $4)")
            .bind(DbId(tenant.id.0))
            .bind(&tenant.name)
            .bind(&tenant.slug)
            .bind(DbTime(tenant.created_at))
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        insert_member(&mut tx, owner).await?;
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn get(&self, id: TenantId) -> Result<Tenant> {
        sqlx::query_as::<_, TenantRow>("SELECT id, name, slug, created_at FROM tenants WHERE id = $1")
            .bind(DbId(id.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?
            .map(TenantRow::into_domain)
            .ok_or_else(|| CrmError::not_found("tenant", id))
    }

    async fn find_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        Ok(sqlx::query_as::<_, TenantRow>("SELECT id, name, slug, created_at FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?
            .map(TenantRow::into_domain))
    }
}

impl PgStore {
    async fn member_where(&self, condition: &str, tenant: TenantId, value: &str) -> Result<Option<Member>> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND {condition} = $2");
        sqlx::query_as::<_, MemberRow>(&sql)
            .bind(DbId(tenant.0))
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?
            .map(MemberRow::into_domain)
            .transpose()
    }
}

#[async_trait]
impl MemberRepository for PgStore {
    async fn insert(&self, member: &Member, events: &[DomainEvent]) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_member(&mut tx, member).await?;
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn update(&self, m: &Member, events: &[DomainEvent]) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE members SET handle = $3, display_name = $4, email = $5, role = $6, active = $7, updated_at = $8, \
             version = $9 WHERE tenant_id = $1 AND id = $2 AND version = $9 - 1",
        )
        .bind(DbId(m.tenant_id.0))
        .bind(DbId(m.id.0))
        .bind(m.handle.as_str())
        .bind(&m.display_name)
        .bind(m.email.as_str())
        .bind(m.role.as_str())
        .bind(m.active)
        .bind(DbTime(m.updated_at))
        .bind(m.version)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        if done.rows_affected() == 0 {
            return Err(if exists(&mut *tx, "members", m.tenant_id, m.id.0).await? {
                version_conflict("member", m.id)
            } else {
                CrmError::not_found("member", m.id)
            });
        }
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn get(&self, tenant: TenantId, id: MemberId) -> Result<Member> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND id = $2");
        sqlx::query_as::<_, MemberRow>(&sql)
            .bind(DbId(tenant.0))
            .bind(DbId(id.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?
            .map(MemberRow::into_domain)
            .transpose()?
            .ok_or_else(|| CrmError::not_found("member", id))
    }

    async fn find_by_handle(&self, tenant: TenantId, handle: &Handle) -> Result<Option<Member>> {
        self.member_where("handle", tenant, handle.as_str()).await
    }

    async fn find_by_email(&self, tenant: TenantId, email: &EmailAddress) -> Result<Option<Member>> {
        self.member_where("email", tenant, email.as_str()).await
    }

    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Member>> {
        let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = "));
        q.push_bind(DbId(tenant.0));
        if let Some(after) = page.after {
            q.push(" AND id < ").push_bind(DbId(after));
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build_query_as::<MemberRow>().fetch_all(&self.pool).await.map_err(store_err)?;
        let members = rows.into_iter().map(MemberRow::into_domain).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(members, page, |m| m.id.0))
    }

    async fn count_active_with_role(&self, tenant: TenantId, role: Role) -> Result<u64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM members WHERE tenant_id = $1 AND role = $2 AND active = TRUE")
                .bind(DbId(tenant.0))
                .bind(role.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(store_err)?;
        Ok(n.max(0) as u64)
    }

    async fn active_ids(&self, tenant: TenantId, ids: &[MemberId]) -> Result<Vec<MemberId>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(10_000) {
            let mut q = sqlx::QueryBuilder::new("SELECT id FROM members WHERE active = TRUE AND tenant_id = ");
            q.push_bind(DbId(tenant.0)).push(" AND id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(DbId(id.0));
            }
            q.push(") ORDER BY id");
            let rows: Vec<(DbId,)> = q.build_query_as().fetch_all(&self.pool).await.map_err(store_err)?;
            out.extend(rows.into_iter().map(|(id,)| MemberId::from(id.0)));
        }
        Ok(out)
    }
}

async fn write_tags(tx: &mut Tx, c: &Contact) -> Result<()> {
    sqlx::query("DELETE FROM contact_tags WHERE tenant_id = $1 AND contact_id = $2")
        .bind(DbId(c.tenant_id.0))
        .bind(DbId(c.id.0))
        .execute(&mut **tx)
        .await
        .map_err(store_err)?;
    for tag in &c.tags {
        sqlx::query("INSERT INTO contact_tags (tenant_id, tag, contact_id) VALUES ($1, $2, $3)")
            .bind(DbId(c.tenant_id.0))
            .bind(tag.as_str())
            .bind(DbId(c.id.0))
            .execute(&mut **tx)
            .await
            .map_err(store_err)?;
    }
    Ok(())
}

fn missing_owner(c: &Contact) -> impl FnOnce() -> CrmError + '_ {
    move || match c.owner_id {
        Some(owner) => CrmError::not_found("member", owner),
        None => CrmError::not_found("tenant", c.tenant_id),
    }
}

#[async_trait]
impl ContactRepository for PgStore {
    async fn insert(&self, c: &Contact, events: &[DomainEvent]) -> Result<()> {
        let w = ContactWrite::of(c);
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO contacts (tenant_id, id, email, first_name, last_name, company, phone, owner_id, tags, \
             custom_fields, email_lc, first_name_lc, last_name_lc, company_lc, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(DbId(c.tenant_id.0))
        .bind(DbId(c.id.0))
        .bind(c.email.as_ref().map(EmailAddress::as_str))
        .bind(&c.first_name)
        .bind(&c.last_name)
        .bind(&c.company)
        .bind(&c.phone)
        .bind(opt_id(c.owner_id.map(|o| o.0)))
        .bind(&w.tags)
        .bind(&w.custom_fields)
        .bind(&w.email_lc)
        .bind(&w.first_name_lc)
        .bind(&w.last_name_lc)
        .bind(&w.company_lc)
        .bind(DbTime(c.created_at))
        .bind(DbTime(c.updated_at))
        .bind(c.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, missing_owner(c)))?;
        write_tags(&mut tx, c).await?;
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn update(&self, c: &Contact, events: &[DomainEvent]) -> Result<()> {
        let w = ContactWrite::of(c);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE contacts SET email = $3, first_name = $4, last_name = $5, company = $6, phone = $7, \
             owner_id = $8, tags = $9, custom_fields = $10, email_lc = $11, first_name_lc = $12, \
             last_name_lc = $13, company_lc = $14, updated_at = $15, version = $16 \
             WHERE tenant_id = $1 AND id = $2 AND version = $16 - 1",
        )
        .bind(DbId(c.tenant_id.0))
        .bind(DbId(c.id.0))
        .bind(c.email.as_ref().map(EmailAddress::as_str))
        .bind(&c.first_name)
        .bind(&c.last_name)
        .bind(&c.company)
        .bind(&c.phone)
        .bind(opt_id(c.owner_id.map(|o| o.0)))
        .bind(&w.tags)
        .bind(&w.custom_fields)
        .bind(&w.email_lc)
        .bind(&w.first_name_lc)
        .bind(&w.last_name_lc)
        .bind(&w.company_lc)
        .bind(DbTime(c.updated_at))
        .bind(c.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, missing_owner(c)))?;
        if done.rows_affected() == 0 {
            return Err(if exists(&mut *tx, "contacts", c.tenant_id, c.id.0).await? {
                version_conflict("contact", c.id)
            } else {
                CrmError::not_found("contact", c.id)
            });
        }
        write_tags(&mut tx, c).await?;
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn delete(&self, tenant: TenantId, id: ContactId, events: &[DomainEvent]) -> Result<()> {
        let in_use = || CrmError::conflict(Some("contact_id"), format!("deals still refer to contact {id}"));
        let mut tx = self.begin().await?;
        if !exists(&mut *tx, "contacts", tenant, id.0).await? {
            return Err(CrmError::not_found("contact", id));
        }
        let referenced: Option<(i64,)> =
            sqlx::query_as("SELECT 1::int8 FROM deals WHERE tenant_id = $1 AND contact_id = $2 LIMIT 1")
                .bind(DbId(tenant.0))
                .bind(DbId(id.0))
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_err)?;
        if referenced.is_some() {
            return Err(in_use());
        }
        sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND id = $2")
            .bind(DbId(tenant.0))
            .bind(DbId(id.0))
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, in_use))?;
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn get(&self, tenant: TenantId, id: ContactId) -> Result<Contact> {
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE tenant_id = $1 AND id = $2");
        sqlx::query_as::<_, ContactRow>(&sql)
            .bind(DbId(tenant.0))
            .bind(DbId(id.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?
            .map(ContactRow::into_domain)
            .transpose()?
            .ok_or_else(|| CrmError::not_found("contact", id))
    }

    async fn list(&self, tenant: TenantId, filter: &ContactFilter, page: PageRequest) -> Result<Page<Contact>> {
        let mut q =
            QueryBuilder::<Postgres>::new(format!("SELECT {CONTACT_COLUMNS} FROM contacts c WHERE tenant_id = "));
        q.push_bind(DbId(tenant.0));
        if let Some(after) = page.after {
            q.push(" AND id < ").push_bind(DbId(after));
        }
        if let Some(owner) = filter.owner_id {
            q.push(" AND owner_id = ").push_bind(DbId(owner.0));
        }
        if let Some(tag) = &filter.tag {
            q.push(" AND EXISTS (SELECT 1 FROM contact_tags t WHERE t.tenant_id = c.tenant_id AND t.contact_id = c.id AND t.tag = ")
                .push_bind(tag.as_str().to_owned())
                .push(")");
        }
        if let Some(search) = &filter.search {
            let pattern = contains_pattern(search);
            q.push(" AND (");
            for (i, column) in ["first_name_lc", "last_name_lc", "email_lc", "company_lc"].into_iter().enumerate() {
                if i > 0 {
                    q.push(" OR ");
                }
                q.push(column).push(" LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
            }
            q.push(")");
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build_query_as::<ContactRow>().fetch_all(&self.pool).await.map_err(store_err)?;
        let contacts = rows.into_iter().map(ContactRow::into_domain).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(contacts, page, |c| c.id.0))
    }
}

/// Checks a deal's contact and owner belong to its tenant, inside the write transaction, so the
/// error names the missing reference. The composite foreign keys stay the backstop.
async fn check_deal_refs(tx: &mut Tx, deal: &Deal) -> Result<()> {
    if let Some(contact) = deal.contact_id
        && !exists(&mut **tx, "contacts", deal.tenant_id, contact.0).await?
    {
        return Err(CrmError::not_found("contact", contact));
    }
    if let Some(owner) = deal.owner_id
        && !exists(&mut **tx, "members", deal.tenant_id, owner.0).await?
    {
        return Err(CrmError::not_found("member", owner));
    }
    Ok(())
}

fn missing_deal_ref(deal: &Deal) -> impl FnOnce() -> CrmError + '_ {
    move || CrmError::not_found("deal reference", deal.id)
}

async fn insert_stage_change(tx: &mut Tx, change: &StageChange) -> Result<()> {
    sqlx::query(
        "INSERT INTO deal_stage_history (tenant_id, deal_id, from_stage, to_stage, changed_at, changed_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(DbId(change.tenant_id.0))
    .bind(DbId(change.deal_id.0))
    .bind(&change.from_stage)
    .bind(&change.to_stage)
    .bind(DbTime(change.changed_at))
    .bind(Json(&change.changed_by))
    .execute(&mut **tx)
    .await
    .map_err(|e| map_err(e, || CrmError::not_found("deal", change.deal_id)))?;
    Ok(())
}

#[async_trait]
impl DealRepository for PgStore {
    async fn insert(&self, d: &Deal, first_stage: &StageChange, events: &[DomainEvent]) -> Result<()> {
        let mut tx = self.begin().await?;
        check_deal_refs(&mut tx, d).await?;
        sqlx::query(
            "INSERT INTO deals (tenant_id, id, title, title_lc, contact_id, owner_id, amount_minor, currency, \
                 stage, probability, expected_close, status, closed_at, lost_reason, created_at, updated_at, \
                 version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(DbId(d.tenant_id.0))
        .bind(DbId(d.id.0))
        .bind(&d.title)
        .bind(d.title.to_lowercase())
        .bind(opt_id(d.contact_id.map(|c| c.0)))
        .bind(opt_id(d.owner_id.map(|o| o.0)))
        .bind(d.amount.amount_minor)
        .bind(d.amount.currency.as_str())
        .bind(&d.stage)
        .bind(i64::from(d.probability))
        .bind(d.expected_close)
        .bind(d.status.as_str())
        .bind(opt_time(d.closed_at))
        .bind(&d.lost_reason)
        .bind(DbTime(d.created_at))
        .bind(DbTime(d.updated_at))
        .bind(d.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, missing_deal_ref(d)))?;
        insert_stage_change(&mut tx, first_stage).await?;
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn update(&self, d: &Deal, stage_change: Option<&StageChange>, events: &[DomainEvent]) -> Result<()> {
        let mut tx = self.begin().await?;
        check_deal_refs(&mut tx, d).await?;
        let done = sqlx::query(
            "UPDATE deals SET title = $3, title_lc = $4, contact_id = $5, owner_id = $6, amount_minor = $7, \
                 currency = $8, stage = $9, probability = $10, expected_close = $11, status = $12, closed_at = $13, \
                 lost_reason = $14, updated_at = $15, version = $16 \
                 WHERE tenant_id = $1 AND id = $2 AND version = $16 - 1",
        )
        .bind(DbId(d.tenant_id.0))
        .bind(DbId(d.id.0))
        .bind(&d.title)
        .bind(d.title.to_lowercase())
        .bind(opt_id(d.contact_id.map(|c| c.0)))
        .bind(opt_id(d.owner_id.map(|o| o.0)))
        .bind(d.amount.amount_minor)
        .bind(d.amount.currency.as_str())
        .bind(&d.stage)
        .bind(i64::from(d.probability))
        .bind(d.expected_close)
        .bind(d.status.as_str())
        .bind(opt_time(d.closed_at))
        .bind(&d.lost_reason)
        .bind(DbTime(d.updated_at))
        .bind(d.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, missing_deal_ref(d)))?;
        if done.rows_affected() == 0 {
            return Err(if exists(&mut *tx, "deals", d.tenant_id, d.id.0).await? {
                version_conflict("deal", d.id)
            } else {
                CrmError::not_found("deal", d.id)
            });
        }
        if let Some(change) = stage_change {
            insert_stage_change(&mut tx, change).await?;
        }
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn delete(&self, tenant: TenantId, id: DealId, events: &[DomainEvent]) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM deals WHERE tenant_id = $1 AND id = $2")
            .bind(DbId(tenant.0))
            .bind(DbId(id.0))
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        if done.rows_affected() == 0 {
            return Err(CrmError::not_found("deal", id));
        }
        append_events(&mut tx, events).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn get(&self, tenant: TenantId, id: DealId) -> Result<Deal> {
        let sql = format!("SELECT {DEAL_COLUMNS} FROM deals WHERE tenant_id = $1 AND id = $2");
        sqlx::query_as::<_, DealRow>(&sql)
            .bind(DbId(tenant.0))
            .bind(DbId(id.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?
            .map(DealRow::into_domain)
            .transpose()?
            .ok_or_else(|| CrmError::not_found("deal", id))
    }

    async fn list(&self, tenant: TenantId, filter: &DealFilter, page: PageRequest) -> Result<Page<Deal>> {
        let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {DEAL_COLUMNS} FROM deals WHERE tenant_id = "));
        q.push_bind(DbId(tenant.0));
        if let Some(after) = page.after {
            q.push(" AND id < ").push_bind(DbId(after));
        }
        if let Some(stage) = &filter.stage {
            q.push(" AND stage = ").push_bind(stage.clone());
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(owner) = filter.owner_id {
            q.push(" AND owner_id = ").push_bind(DbId(owner.0));
        }
        if let Some(contact) = filter.contact_id {
            q.push(" AND contact_id = ").push_bind(DbId(contact.0));
        }
        if let Some(search) = &filter.search {
            q.push(" AND title_lc LIKE ").push_bind(contains_pattern(search)).push(" ESCAPE '\\'");
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build_query_as::<DealRow>().fetch_all(&self.pool).await.map_err(store_err)?;
        let deals = rows.into_iter().map(DealRow::into_domain).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(deals, page, |d| d.id.0))
    }

    async fn stage_history(&self, tenant: TenantId, id: DealId) -> Result<Vec<StageChange>> {
        if !exists(&self.pool, "deals", tenant, id.0).await? {
            return Err(CrmError::not_found("deal", id));
        }
        let rows = sqlx::query_as::<_, StageChangeRow>(
            "SELECT tenant_id, deal_id, from_stage, to_stage, changed_at, changed_by FROM deal_stage_history \
             WHERE tenant_id = $1 AND deal_id = $2 ORDER BY seq",
        )
        .bind(DbId(tenant.0))
        .bind(DbId(id.0))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(rows.into_iter().map(StageChangeRow::into_domain).collect())
    }

    async fn snapshot(&self, tenant: TenantId) -> Result<DealSnapshot> {
        // One repeatable-read transaction: both reads see the same snapshot. Only the columns
        // analytics reads, decoded straight from the rows (strings borrowed, stage keys interned).
        // (Rows beat `array_agg` chunks here: measured 0.68 s against 0.94 s for 100k deals.)
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        let sql = format!("SELECT {DEAL_FACTS_COLUMNS} FROM deals WHERE tenant_id = $1 ORDER BY id");
        let deals = sqlx::query(&sql).bind(DbId(tenant.0)).fetch_all(&mut *tx).await.map_err(store_err)?;
        let sql =
            format!("SELECT {STAGE_ENTRY_COLUMNS} FROM deal_stage_history WHERE tenant_id = $1 ORDER BY deal_id, seq");
        let entries = sqlx::query(&sql).bind(DbId(tenant.0)).fetch_all(&mut *tx).await.map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        let mut snapshot = DealSnapshot::with_capacity(deals.len(), entries.len());
        for row in &deals {
            <DealFactsRow<'_> as sqlx::FromRow<_>>::from_row(row).map_err(store_err)?.push_into(&mut snapshot)?;
        }
        for row in &entries {
            <StageEntryRow<'_> as sqlx::FromRow<_>>::from_row(row).map_err(store_err)?.push_into(&mut snapshot);
        }
        Ok(snapshot)
    }
}
