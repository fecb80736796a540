//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::api_key::{ApiKeyView, CreatedApiKey, NewApiKeyRequest};
use crate::auth::session::{LoginRequest, RefreshRequest, TokenResponse};
use crate::error::{Problem, ProblemField};
use crate::routes::{api_keys, auth, contacts, deals, members, ops};

/// The API description served at `/api/v1/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "crmcore", description = "The crmcore reference HTTP API. Errors are RFC 9457 problem documents."),
    paths(
        auth::login, auth::refresh,
        api_keys::create, api_keys::list, api_keys::revoke,
        members::list, members::create, members::get, members::update, members::me,
        contacts::list, contacts::create, contacts::get, contacts::update, contacts::delete,
        deals::list, deals::create, deals::get, deals::update, deals::delete, deals::move_stage, deals::history,
        deals::pipeline,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ),
    components(schemas(
        Problem, ProblemField, LoginRequest, RefreshRequest, TokenResponse, NewApiKeyRequest, ApiKeyView,
        CreatedApiKey, members::NewMemberRequest, deals::MoveStageRequest,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT or API key").build(),
            ),
        );
    }
}
