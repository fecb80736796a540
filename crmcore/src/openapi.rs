//! OpenAPI schemas for crmcore's public types (feature `openapi`), so an HTTP layer documents
//! the real request and response bodies instead of opaque objects. Structs and enums derive
//! `utoipa::ToSchema`; the validated value types and typed ids, which serialize as strings, get
//! string schemas here.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

fn string_schema(format: Option<KnownFormat>, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(format.map(SchemaFormat::KnownFormat))
        .description(Some(description))
        .examples([example])
        .into()
}

macro_rules! string_schemas {
    ($($t:ty => ($format:expr, $description:literal, $example:expr)),* $(,)?) => {$(
        impl utoipa::PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                string_schema($format, $description, $example)
            }
        }
        impl utoipa::ToSchema for $t {}
    )*};
}

const UUID: Option<KnownFormat> = Some(KnownFormat::Uuid);
const ID_EXAMPLE: &str = "01931b9e-8f3a-7c2e-9b1d-5a4f3e2d1c0b";

string_schemas! {
    crate::id::TenantId => (UUID, "Tenant id (UUID v7).", ID_EXAMPLE),
    crate::id::MemberId => (UUID, "Member id (UUID v7).", ID_EXAMPLE),
    crate::id::ContactId => (UUID, "Contact id (UUID v7).", ID_EXAMPLE),
    crate::id::DealId => (UUID, "Deal id (UUID v7).", ID_EXAMPLE),
    crate::id::EventId => (UUID, "Event id (UUID v7).", ID_EXAMPLE),
    crate::id::ApiKeyId => (UUID, "API key id (UUID v7).", ID_EXAMPLE),
    crate::id::CampaignId => (UUID, "Campaign id (UUID v7).", ID_EXAMPLE),
    crate::id::EmailTemplateId => (UUID, "E-mail template id (UUID v7).", ID_EXAMPLE),
    crate::id::RecipientId => (UUID, "Campaign recipient id (UUID v7).", ID_EXAMPLE),
    crate::id::WebhookEndpointId => (UUID, "Webhook endpoint id (UUID v7).", ID_EXAMPLE),
    crate::id::DocumentId => (UUID, "Document id (UUID v7).", ID_EXAMPLE),
    crate::id::ShareLinkId => (UUID, "Share link id (UUID v7).", ID_EXAMPLE),
    crate::id::ApprovalId => (UUID, "Approval id (UUID v7).", ID_EXAMPLE),
    crate::id::DocumentTemplateId => (UUID, "Document template id (UUID v7).", ID_EXAMPLE),
    crate::id::OAuthProviderId => (UUID, "OAuth provider id (UUID v7).", ID_EXAMPLE),
    crate::id::ConnectionId => (UUID, "Integration connection id (UUID v7).", ID_EXAMPLE),
    crate::id::SyncLogId => (UUID, "Sync log id (UUID v7).", ID_EXAMPLE),
    crate::id::DeliveryId => (UUID, "Webhook delivery id (UUID v7).", ID_EXAMPLE),
    crate::event::EventType => (None, "An event type of the catalogue (`GET /api/v1/event-types`).", "deal.won"),
    crate::activity::ActivityId => (UUID, "Activity id (UUID v7).", ID_EXAMPLE),
    crate::activity::CommentId => (UUID, "Comment id (UUID v7).", ID_EXAMPLE),
    crate::activity::NotificationId => (UUID, "Notification id (UUID v7).", ID_EXAMPLE),
    crate::value::EmailAddress => (Some(KnownFormat::Email), "E-mail address, stored lowercased.", "ada@example.com"),
    crate::value::Handle => (None, "@handle without the `@`: 2-32 of a-z, 0-9, `_`, `.`, `-`.", "ada.lovelace"),
    crate::value::Tag => (None, "Label: 1-64 characters, lowercased, no commas.", "vip"),
    crate::value::Currency => (None, "ISO 4217 currency code.", "EUR"),
}

impl utoipa::PartialSchema for crate::value::CustomFields {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Tenant-defined fields: keys `[a-z][a-z0-9_]{0,63}`, values scalars or arrays of scalars.",
            ))
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(true)))
            .into()
    }
}
impl utoipa::ToSchema for crate::value::CustomFields {}
