//! Document generation: templates (a title and an HTML body, minijinja, auto-escaped, checked
//! when saved) filled from a contact or a deal, rendered to HTML and — through the
//! [`PdfWriter`](crate::ports::PdfWriter) port — to PDF, and stored as a new document whose first
//! version is the rendered file, linked to the record it was made for.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::service::{DocumentService, FileUpload, NewDocument, Source};
use super::{Category, Document, DocumentVersion, Visibility};
use crate::actor::{Actor, Permission, Principal};
use crate::error::{CrmError, FieldError, Result};
use crate::event::{EntityKind, EntityRef};
use crate::id::{ContactId, DealId, DocumentTemplateId};
use crate::record::check_expected_version;
use crate::template::{TemplateSet, Variable};

/// Longest template body, in bytes.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// A document template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentTemplate {
    /// Its id.
    pub id: DocumentTemplateId,
    /// Its tenant.
    pub tenant_id: crate::id::TenantId,
    /// Its name (unique in the tenant).
    pub name: String,
    /// Free text.
    pub description: String,
    /// The category of generated documents.
    pub category: Category,
    /// The title of generated documents (a template, not escaped).
    pub title: String,
    /// The HTML body (a template, auto-escaped).
    pub body: String,
    /// Who created it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub created_by: Principal,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Updated at.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// A new template, or the full replacement of one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateInput {
    /// Its name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The category of generated documents (default `other`).
    pub category: Option<Category>,
    /// The title template, e.g. `Proposal for {{ contact.company }}`.
    pub title: String,
    /// The HTML body template.
    pub body: String,
    /// On update: fail with `Conflict` unless the stored version equals this.
    pub expected_version: Option<i64>,
}

/// What to generate from a template.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenerateRequest {
    /// The contact or deal the document is for (its fields fill the template).
    pub subject: EntityRef,
    /// `pdf` (default) or `html`.
    #[serde(default)]
    pub format: GeneratedFormat,
    /// Tags of the new document.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Who sees the new document (default: the whole tenant).
    #[serde(default)]
    pub visibility: Visibility,
}

/// The file a template is rendered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum GeneratedFormat {
    /// A PDF laid out on A4 pages.
    #[default]
    Pdf,
    /// A standalone HTML page.
    Html,
}

/// A template rendered for one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderedDocument {
    /// The title.
    pub title: String,
    /// The standalone HTML page.
    pub html: String,
}

/// The variables templates may use: `contact`, `deal`, `owner` (the member generating),
/// `tenant` and `today` (ISO date). `deal` is absent for a contact unless given a default.
fn variables() -> Vec<Variable> {
    vec![
        Variable::new("contact"),
        Variable::new("deal"),
        Variable::new("owner"),
        Variable::new("tenant"),
        Variable::new("today"),
    ]
}

/// Compiles a template's title and body; errors name the fields `title` and `body`.
fn compile(title: &str, body: &str) -> Result<crate::template::CompiledTemplate> {
    TemplateSet::new(title, body, Some(String::new())).compile(&variables()).map_err(rename_fields)
}

fn rename_fields(error: CrmError) -> CrmError {
    match error {
        CrmError::Validation(fields) => CrmError::Validation(
            fields
                .into_iter()
                .map(|f| {
                    let field = match f.field.as_str() {
                        "subject" => "title",
                        "html" => "body",
                        other => other,
                    };
                    FieldError { field: field.to_owned(), ..f }
                })
                .collect(),
        ),
        other => other,
    }
}

fn check_input(input: &TemplateInput) -> Result<(String, Category)> {
    let name = input.name.trim().to_owned();
    let mut errors = Vec::new();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "invalid", "names are 1 to 200 characters"));
    }
    if input.description.chars().count() > 2000 {
        errors.push(FieldError::new("description", "too_long", "at most 2000 characters"));
    }
    if input.title.trim().is_empty() || input.title.chars().count() > 500 {
        errors.push(FieldError::new("title", "invalid", "titles are 1 to 500 characters"));
    }
    if input.body.len() > MAX_BODY_BYTES {
        errors.push(FieldError::new("body", "too_long", "bodies are at most 256 KiB"));
    }
    if !errors.is_empty() {
        return Err(CrmError::Validation(errors));
    }
    compile(&input.title, &input.body)?;
    Ok((name, input.category.unwrap_or(Category::Other)))
}

/// `html` as a standalone page (unless it is one already), titled `title`.
fn standalone(title: &str, html: &str) -> String {
    let lower = html.trim_start().get(..15).unwrap_or_default().to_ascii_lowercase();
    if lower.starts_with("<!doctype") || lower.starts_with("<html") {
        return html.to_owned();
    }
    let escaped = super::search::escape(title);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escaped}</title></head>\n<body>\n{html}\n</body></html>\n"
    )
}

/// A file name from a title: letters, digits and dashes.
fn file_stem(title: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let stem: String = stem.chars().take(80).collect();
    if stem.is_empty() { "document".to_owned() } else { stem }
}

impl DocumentService<'_> {
    /// Creates a template (needs `edit_records`). Syntax errors and unknown variables are
    /// reported with line numbers, on `title` and `body`.
    pub async fn create_template(&self, actor: &Actor, input: TemplateInput) -> Result<DocumentTemplate> {
        actor.require(Permission::EditRecords)?;
        let (name, category) = check_input(&input)?;
        let now = self.crm().clock().now();
        let template = DocumentTemplate {
            id: DocumentTemplateId::new(),
            tenant_id: actor.tenant_id,
            name,
            description: input.description.trim().to_owned(),
            category,
            title: input.title,
            body: input.body,
            created_by: actor.principal,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.crm().store().documents().insert_template(&template).await?;
        Ok(template)
    }

    /// Replaces a template (needs `edit_records`).
    pub async fn update_template(
        &self,
        actor: &Actor,
        id: DocumentTemplateId,
        input: TemplateInput,
    ) -> Result<DocumentTemplate> {
        actor.require(Permission::EditRecords)?;
        let current = self.crm().store().documents().get_template(actor.tenant_id, id).await?;
        check_expected_version(input.expected_version, &current, "template")?;
        let (name, category) = check_input(&input)?;
        let next = DocumentTemplate {
            name,
            description: input.description.trim().to_owned(),
            category,
            title: input.title,
            body: input.body,
            updated_at: self.crm().clock().now(),
            version: current.version + 1,
            ..current
        };
        self.crm().store().documents().update_template(&next).await?;
        Ok(next)
    }

    /// Deletes a template (needs `delete_records`); documents made from it stay.
    pub async fn delete_template(&self, actor: &Actor, id: DocumentTemplateId) -> Result<()> {
        actor.require(Permission::DeleteRecords)?;
        self.crm().store().documents().delete_template(actor.tenant_id, id).await
    }

    /// One template.
    pub async fn template(&self, actor: &Actor, id: DocumentTemplateId) -> Result<DocumentTemplate> {
        actor.require(Permission::ViewRecords)?;
        self.crm().store().documents().get_template(actor.tenant_id, id).await
    }

    /// The tenant's templates, by name.
    pub async fn templates(&self, actor: &Actor) -> Result<Vec<DocumentTemplate>> {
        actor.require(Permission::ViewRecords)?;
        self.crm().store().documents().templates(actor.tenant_id).await
    }

    /// Renders a template for a contact or a deal, without storing anything.
    pub async fn render_template(
        &self,
        actor: &Actor,
        id: DocumentTemplateId,
        subject: EntityRef,
    ) -> Result<RenderedDocument> {
        let template = self.template(actor, id).await?;
        let context = self.context(actor, subject).await?;
        let rendered = compile(&template.title, &template.body)?.render(&context).map_err(rename_fields)?;
        let title = rendered.subject.trim().chars().take(200).collect::<String>();
        let title = if title.is_empty() { template.name.clone() } else { title };
        Ok(RenderedDocument { html: standalone(&title, &rendered.html), title })
    }

    /// Renders a template for a contact or a deal and stores the result as a new document
    /// (PDF by default, or HTML), linked to that record; needs `edit_records`.
    pub async fn generate(
        &self,
        actor: &Actor,
        id: DocumentTemplateId,
        request: GenerateRequest,
        source: &Source,
    ) -> Result<(Document, DocumentVersion)> {
        actor.require(Permission::EditRecords)?;
        let template = self.template(actor, id).await?;
        let rendered = self.render_template(actor, id, request.subject).await?;
        let stem = file_stem(&rendered.title);
        let (filename, bytes) = match request.format {
            GeneratedFormat::Html => (format!("{stem}.html"), rendered.html.into_bytes()),
            GeneratedFormat::Pdf => {
                let pdf = self.crm().pdf_writer()?.html_to_pdf(&rendered.html, &rendered.title).await?;
                (format!("{stem}.pdf"), pdf)
            }
        };
        let input = NewDocument {
            title: Some(rendered.title),
            description: format!("Generated from the template “{}”.", template.name),
            category: Some(template.category),
            tags: request.tags,
            links: vec![request.subject],
            note: Some(format!("generated from template {}", template.id)),
            visibility: request.visibility,
        };
        let file = FileUpload { filename, declared_type: None, bytes };
        self.upload(actor, input, file, source).await
    }

    /// The render context for `subject`: the contact (and, for a deal, the deal and its
    /// contact), the generating member, the tenant and today's date.
    async fn context(&self, actor: &Actor, subject: EntityRef) -> Result<Value> {
        let store = self.crm().store();
        let (contact, deal) = match subject.kind {
            EntityKind::Contact => (Some(store.contacts().get(actor.tenant_id, ContactId(subject.id)).await?), None),
            EntityKind::Deal => {
                let deal = store.deals().get(actor.tenant_id, DealId(subject.id)).await?;
                let contact = match deal.contact_id {
                    Some(c) => store.contacts().get(actor.tenant_id, c).await.ok(),
                    None => None,
                };
                (contact, Some(deal))
            }
            _ => return Err(CrmError::invalid("subject", "unsupported", "generate documents for a contact or a deal")),
        };
        let owner = match actor.principal {
            Principal::Member(m) => store.members().get(actor.tenant_id, m).await.ok(),
            _ => None,
        };
        let tenant = store.tenants().get(actor.tenant_id).await?;
        let mut context = json!({
            "tenant": {"name": tenant.name},
            "today": self.crm().clock().now().date_naive().to_string(),
        });
        if let Some(contact) = contact {
            context["contact"] = serde_json::to_value(&contact).map_err(|e| CrmError::Internal(e.to_string()))?;
        }
        if let Some(deal) = deal {
            context["deal"] = serde_json::to_value(&deal).map_err(|e| CrmError::Internal(e.to_string()))?;
        }
        if let Some(owner) = owner {
            context["owner"] =
                json!({"display_name": owner.display_name, "email": owner.email, "handle": owner.handle});
        }
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked_when_saved_with_line_numbers() {
        let input = |title: &str, body: &str| TemplateInput {
            name: "Proposal".into(),
            description: String::new(),
            category: None,
            title: title.into(),
            body: body.into(),
            expected_version: None,
        };
        assert!(check_input(&input("For {{ contact.company }}", "<p>{{ deal.title }}</p>")).is_ok());
        let CrmError::Validation(errors) = check_input(&input("For {{ customer }}", "<p>\n{% if %}</p>")).unwrap_err()
        else {
            panic!("validation expected")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"title") && fields.contains(&"body"), "{errors:?}");
        assert!(errors.iter().any(|e| e.field == "body" && e.message.starts_with("line 2")), "{errors:?}");
    }

    #[test]
    fn pages_and_file_names_are_safe() {
        assert_eq!(file_stem("Q3 / Proposal: <Acme>"), "Q3-Proposal-Acme");
        assert_eq!(file_stem("../.."), "document");
        let page = standalone("A <b>", "<p>x</p>");
        assert!(page.contains("<title>A &lt;b&gt;</title>") && page.contains("<p>x</p>"), "{page}");
        assert_eq!(standalone("t", "<!DOCTYPE html><p>x</p>"), "<!DOCTYPE html><p>x</p>");
    }
}
