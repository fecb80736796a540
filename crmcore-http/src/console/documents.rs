//! The documents pages: the library (list, search with highlighted snippets, category and tag
//! filters, the trash, uploads with a progress bar) and one document (details, versions,
//! extraction status, sharing, approvals, its audit trail and the activity panel). Changes go
//! through the JSON API from `assets/documents.js`; downloads are plain links to the API, which
//! accepts the session cookie on reads.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::routing::get;
use crmcore::actor::{Permission, Principal, Role};
use crmcore::document::{
    Access, Approval, ApprovalState, AuditAction, AuditEntry, Category, Document, DocumentFilter, SearchQuery,
    SearchRequest, Source, Visibility,
};
use crmcore::event::{EntityKind, EntityRef};
use crmcore::id::DocumentId;
use crmcore::page::PageRequest;
use crmcore::value::Tag;
use crmcore::{CrmError, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::pages::{PAGE_ROWS, activity_panel, members, names, parse_id};
use super::{PageResult, Viewer, render, render_with_members};
use crate::state::AppState;

/// Hits per page of a search.
const SEARCH_ROWS: u32 = 20;
/// Most audit entries shown on a document's page.
const AUDIT_SHOWN: usize = 100;

/// The documents pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/documents", get(library)).route("/documents/{id}", get(document))
}

/// The documents pages' templates.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("documents.html", include_str!("templates/documents.html")),
    ("document.html", include_str!("templates/document.html")),
];

type Connect = Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>;

/// Where the request came from, for the audit trail (as the API records it).
fn source(connect: Connect) -> Source {
    Source(connect.map(|axum::Extension(ConnectInfo(addr))| addr.ip().to_string()))
}

/// Filters, search and paging of the library.
#[derive(Debug, Deserialize)]
pub(super) struct LibraryQuery {
    q: Option<String>,
    category: Option<String>,
    tag: Option<String>,
    trash: Option<String>,
    cursor: Option<String>,
    offset: Option<u32>,
}

/// One piece of highlighted text: plain text, inside a highlight mark or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Piece {
    text: String,
    mark: bool,
}

/// Highlighted HTML from the search (escaped text with `<mark>` around matched words) as plain
/// text pieces, each marked or not. The template escapes every piece again, so nothing but the
/// highlight marks can become markup, whatever the text held.
fn pieces(html: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut mark = false;
    let mut rest = html;
    while !rest.is_empty() {
        let tag = if mark { "</mark>" } else { "<mark>" };
        let (text, after) = match rest.find(tag) {
            Some(at) => (&rest[..at], Some(&rest[at + tag.len()..])),
            None => (rest, None),
        };
        if !text.is_empty() {
            out.push(Piece { text: unescape(text), mark });
        }
        match after {
            Some(after) => {
                rest = after;
                mark = !mark;
            }
            None => break,
        }
    }
    out
}

/// Undoes the search's HTML escaping (the five characters it escapes); anything else stays as
/// written, to be escaped again when rendered.
fn unescape(text: &str) -> String {
    const ENTITIES: [(&str, char); 5] =
        [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>'), ("&quot;", '"'), ("&#39;", '\'')];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match ENTITIES.iter().find(|(entity, _)| rest.starts_with(entity)) {
            Some((entity, c)) => {
                out.push(*c);
                rest = &rest[entity.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A size for people: `812 B`, `14.2 kB`, `3.1 MB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The latest version of one document: its size and type.
async fn latest_of(state: &AppState, viewer: &Viewer, document: &Document) -> Result<Value> {
    let versions = state.crm().documents().versions(viewer.actor(), document.id).await?;
    let latest = versions.into_iter().find(|v| v.number == document.latest_version);
    Ok(json!({
        "size": latest.as_ref().map(|v| human_size(v.size)),
        "mime": latest.as_ref().map(|v| v.mime.clone()),
    }))
}

/// `GET /documents`: the library, a search, or the trash.
pub(super) async fn library(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<LibraryQuery>,
) -> PageResult {
    let nonempty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let (q, category, tag) = (nonempty(&query.q), nonempty(&query.category), nonempty(&query.tag));
    let trash = query.trash.as_deref().is_some_and(|t| !t.is_empty() && t != "0");
    let filter = DocumentFilter {
        trashed: trash && q.is_none(),
        category: category.as_deref().map(Category::parse).transpose()?,
        tag: tag.as_deref().map(Tag::parse).transpose()?,
        ..Default::default()
    };
    let service = state.crm().documents();
    let mut ctx = json!({
        "title": if filter.trashed { "Trash" } else { "Documents" },
        "q": q.clone().unwrap_or_default(),
        "category": category.unwrap_or_default(),
        "tag": tag.unwrap_or_default(),
        "trash": filter.trashed,
        "categories": Category::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "max_upload_bytes": state.crm().document_config().max_upload_bytes,
        "max_upload": human_size(state.crm().document_config().max_upload_bytes),
        "can_upload": viewer.actor().require(Permission::EditRecords).is_ok(),
    });
    let (documents, extra) = match &q {
        Some(q) => match SearchQuery::parse(q) {
            Ok(parsed) => {
                let offset = query.offset.unwrap_or(0).min(10_000);
                let request = SearchRequest { query: parsed, filter, offset, limit: SEARCH_ROWS };
                let results = service.search(viewer.actor(), &request).await?;
                let highlights: Vec<Value> = results
                    .hits
                    .iter()
                    .map(|hit| json!({"title": pieces(&hit.title_html), "snippet": pieces(&hit.snippet_html)}))
                    .collect();
                let documents: Vec<Document> = results.hits.into_iter().map(|hit| hit.document).collect();
                (documents, json!({"highlights": highlights, "next_offset": results.next_offset}))
            }
            Err(CrmError::Validation(errors)) => {
                let message = errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ");
                (Vec::new(), json!({"search_error": message}))
            }
            Err(other) => return Err(other.into()),
        },
        None => {
            let page = PageRequest::parse(Some(PAGE_ROWS), query.cursor.as_deref().filter(|c| !c.is_empty()))?;
            let listed = service.list(viewer.actor(), &filter, page).await?;
            (listed.items, json!({"next_cursor": listed.next_cursor}))
        }
    };
    let latest = futures::future::try_join_all(documents.iter().map(|d| latest_of(&state, &viewer, d))).await?;
    let mut tags: Vec<&str> = documents.iter().flat_map(|d| d.tags.iter().map(|t| t.as_str())).collect();
    tags.sort_unstable();
    tags.dedup();
    if let (Some(map), Value::Object(extra)) = (ctx.as_object_mut(), extra) {
        map.extend(extra);
        map.insert("known_tags".into(), json!(tags));
        map.insert("documents".into(), json!(documents));
        map.insert("latest".into(), json!(latest));
    }
    render(&state, &viewer, "documents.html", ctx).await
}

/// `GET /documents/{id}`: one document with everything about it (the view is audited, as the
/// API's is).
pub(super) async fn document(
    State(state): State<AppState>,
    viewer: Viewer,
    connect: Connect,
    Path(id): Path<String>,
) -> PageResult {
    let id: DocumentId = parse_id(&id, "document")?;
    let service = state.crm().documents();
    let actor = viewer.actor();
    let document = service.get(actor, id, &source(connect)).await?;
    let versions = service.versions(actor, id).await?;
    let access = service.access_of(actor, &document).await?;
    let live = document.trashed_at.is_none();
    let can_edit = live && access == Some(Access::Edit) && actor.require(Permission::EditRecords).is_ok();
    let is_admin = actor.role >= Role::Admin;
    let me = actor.member_id();
    let manages = can_edit && (is_admin || me == Some(document.owner_id));
    let grants = service.grants(actor, id).await?;
    let links = service.share_links(actor, id).await?;
    let approvals = service.approvals().list(actor, id).await?;
    let members = members(&state, &viewer).await?;
    let names = names(&members);
    let now = state.crm().clock().now();

    let link_views: Vec<Value> = links
        .iter()
        .map(|link| {
            let status = if link.revoked_at.is_some() {
                "revoked"
            } else if link.expires_at <= now {
                "expired"
            } else if link.max_downloads.is_some_and(|max| link.downloads >= max) {
                "used up"
            } else {
                "active"
            };
            json!({"link": link, "status": status})
        })
        .collect();
    let approval_views: Vec<Value> = approvals.iter().map(|a| approval_view(a, me, is_admin, &names)).collect();
    let audit = if actor.require(Permission::ViewAuditLog).is_ok() {
        let (entries, complete) = document_audit(&state, &viewer, id).await?;
        let rows: Vec<Value> = entries
            .iter()
            .map(|e| {
                let by = if e.action == AuditAction::ShareDownload {
                    "Someone with a share link".to_owned()
                } else {
                    who(&e.actor, &names)
                };
                json!({"entry": e, "who": by, "what": describe(e, &names)})
            })
            .collect();
        json!({"entries": rows, "complete": complete})
    } else {
        Value::Null
    };
    let versions_view: Vec<Value> = versions
        .iter()
        .rev()
        .map(|v| json!({"version": v, "size": human_size(v.size), "who": who(&v.uploaded_by, &names)}))
        .collect();
    let latest = versions.iter().find(|v| v.number == document.latest_version);
    let entity = EntityRef { kind: EntityKind::Document, id: id.0 };
    let ctx = json!({
        "title": &document.title,
        "document": &document,
        "versions": versions_view,
        "latest": latest,
        "access": access,
        "can_edit": can_edit,
        "can_comment": live && access >= Some(Access::Comment),
        "can_trash": live && can_edit && actor.require(Permission::DeleteRecords).is_ok(),
        "can_untrash": !live && access == Some(Access::Edit) && actor.require(Permission::DeleteRecords).is_ok(),
        "manages": manages,
        "visibilities": [Visibility::Tenant.as_str(), Visibility::Private.as_str()],
        "categories": Category::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "grants": grants,
        "links": link_views,
        "approvals": approval_views,
        "pending_approval": approvals.iter().any(|a| a.state == ApprovalState::Pending),
        "audit": audit,
        "activity": activity_panel(&state, &viewer, entity).await?,
        "max_upload_bytes": state.crm().document_config().max_upload_bytes,
        "max_upload": human_size(state.crm().document_config().max_upload_bytes),
    });
    render_with_members(&state, &viewer, "document.html", ctx, &members).await
}

/// An approval with what the viewer may do about it.
fn approval_view(
    approval: &Approval,
    me: Option<crmcore::id::MemberId>,
    is_admin: bool,
    names: &BTreeMap<String, String>,
) -> Value {
    let pending = approval.state == ApprovalState::Pending;
    let current = approval.current();
    let can_decide = pending
        && me.is_some_and(|me| current.is_some_and(|step| step.approvers.contains(&me) && !step.has_decided(me)));
    let can_cancel = pending && (is_admin || me == Some(approval.requested_by));
    let requester = names.get(&approval.requested_by.to_string()).cloned().unwrap_or_else(|| "Someone".into());
    json!({
        "approval": approval,
        "requester": requester,
        "can_decide": can_decide,
        "can_cancel": can_cancel,
    })
}

/// Who did something, by name.
fn who(principal: &Principal, names: &BTreeMap<String, String>) -> String {
    match principal {
        Principal::Member(id) => names.get(&id.to_string()).cloned().unwrap_or_else(|| "A former member".into()),
        Principal::ApiKey(_) => "An integration".into(),
        Principal::System => "crmcore".into(),
    }
}

/// What an audit entry records, in words.
fn describe(entry: &AuditEntry, names: &BTreeMap<String, String>) -> String {
    let d = &entry.detail;
    let number = |key: &str| d.get(key).and_then(Value::as_u64);
    let text = |key: &str| d.get(key).and_then(Value::as_str).map(str::to_owned);
    let version = number("version").map(|n| format!(" version {n}")).unwrap_or_default();
    let filename = text("filename").map(|f| format!(" ({f})")).unwrap_or_default();
    let member = text("member_id")
        .map(|id| names.get(&id).cloned().unwrap_or_else(|| "a former member".into()))
        .unwrap_or_else(|| "a member".into());
    let comment = text("comment").map(|c| format!(": “{c}”")).unwrap_or_default();
    match entry.action {
        AuditAction::Upload => format!("uploaded{version}{filename}"),
        AuditAction::NewVersion => format!("uploaded{version}{filename}"),
        AuditAction::RestoreVersion => match number("restored_from") {
            Some(from) => format!("restored version {from} as{version}"),
            None => format!("restored an old version as{version}"),
        },
        AuditAction::Update => {
            let changes: Vec<&str> = d
                .get("changes")
                .and_then(Value::as_array)
                .map(|c| c.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if changes.is_empty() { "changed the details".into() } else { format!("changed {}", changes.join(", ")) }
        }
        AuditAction::View => "viewed it".into(),
        AuditAction::Download => {
            let size = number("size").map(|s| format!(", {}", human_size(s))).unwrap_or_default();
            format!("downloaded{version}{size}")
        }
        AuditAction::Trash => "moved it to the trash".into(),
        AuditAction::Untrash => "took it out of the trash".into(),
        AuditAction::Purge => "deleted it for good".into(),
        AuditAction::Share => {
            let mut parts = vec!["created a share link".to_owned()];
            if let Some(until) = text("expires_at") {
                parts.push(format!("until {}", super::when(minijinja::Value::from(until))));
            }
            if d.get("password").and_then(Value::as_bool) == Some(true) {
                parts.push("with a password".into());
            }
            if let Some(max) = number("max_downloads") {
                parts.push(format!("for at most {max} downloads"));
            }
            parts.join(" ")
        }
        AuditAction::Unshare => "revoked a share link".into(),
        AuditAction::ShareDownload => format!("served{version} through a share link"),
        AuditAction::Grant => {
            let access = text("access").unwrap_or_else(|| "view".into());
            format!("shared it with {member} ({access})")
        }
        AuditAction::Ungrant => format!("took {member}'s access away"),
        AuditAction::RequestApproval => format!("requested approval of{version}"),
        AuditAction::Approve => format!("approved{comment}"),
        AuditAction::Reject => format!("rejected{comment}"),
        AuditAction::CancelApproval => match text("reason").as_deref() {
            Some("new_version") => "an approval was voided by a new version".into(),
            _ => format!("withdrew an approval{comment}"),
        },
    }
}

/// The newest entries of the tenant's audit chain about one document, newest first, and
/// whether they are all of them.
async fn document_audit(state: &AppState, viewer: &Viewer, id: DocumentId) -> Result<(Vec<AuditEntry>, bool)> {
    let limit = u32::try_from(AUDIT_SHOWN).unwrap_or(100);
    let mut entries = state.crm().documents().document_audit(viewer.actor(), id, None, limit + 1).await?;
    let complete = entries.len() <= AUDIT_SHOWN;
    entries.truncate(AUDIT_SHOWN);
    Ok((entries, complete))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(text: &str, mark: bool) -> Piece {
        Piece { text: text.into(), mark }
    }

    #[test]
    fn highlights_become_plain_pieces() {
        let html = "…a &lt;b&gt;<mark>Invoice</mark>&lt;/b&gt; &amp; <mark>net</mark>";
        assert_eq!(
            pieces(html),
            [piece("…a <b>", false), piece("Invoice", true), piece("</b> & ", false), piece("net", true)]
        );
        assert_eq!(pieces(""), []);
    }

    #[test]
    fn stray_markup_stays_text() {
        // Whatever reaches the page besides the marks is text, escaped again when rendered.
        let html = "<script>alert(1)</script> <mark>x<b>y</b></mark> &bogus; &#39;";
        let got = pieces(html);
        assert_eq!(got[0], piece("<script>alert(1)</script> ", false));
        assert_eq!(got[1], piece("x<b>y</b>", true));
        assert_eq!(got[2], piece(" &bogus; '", false));
        let template =
            "{% for p in ps %}{% if p.mark %}<mark>{{ p.text }}</mark>{% else %}{{ p.text }}{% endif %}{% endfor %}";
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template("t.html", template).unwrap();
        let out = env
            .get_template("t.html")
            .unwrap()
            .render(minijinja::context! { ps => minijinja::value::Serde(&got) })
            .unwrap();
        assert!(!out.contains("<script>") && !out.contains("<b>"), "{out}");
        assert!(out.contains("<mark>x&lt;b&gt;y&lt;&#x2f;b&gt;</mark>"), "{out}");
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(14_200), "14.2 kB");
        assert_eq!(human_size(3_100_000), "3.1 MB");
        assert_eq!(human_size(25 * 1024 * 1024), "26.2 MB");
    }
}
