//! The OpenAPI 3 description of alertgate's HTTP API, served at `GET /api/v1/openapi.json`.
//!
//! What each operation takes and returns is declared on its handler (`#[utoipa::path]`). Who may
//! call it is not repeated there: it is read from the route table ([`super::routes`]), the same
//! table that enforces it, so the document's security requirements and its 401/403 answers
//! cannot drift from what the server does.

use std::sync::OnceLock;

use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::OpenApi;

use super::auth::{Access, SESSION_COOKIE};
use super::{Role, RouteSpec};
use crate::error::{ApiError, ErrorBody};

/// Security scheme names, as the document's operations refer to them.
pub const BEARER: &str = "bearer";
pub const SESSION: &str = "session";
pub const CSRF: &str = "csrf";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "alertgate",
        description = "Incident intake gateway: receives alerts from monitoring platforms on \
            per-webhook intake URLs, deduplicates and correlates them into incidents, and \
            notifies destinations.\n\nThe management API under `/api/v1` takes a workspace API \
            key (or the admin token) as `Authorization: Bearer <key>`, or the web UI's session \
            cookie, which must send its CSRF token in `X-CSRF-Token` on every state-changing \
            request. Each operation says which role it needs (viewer < responder < admin). An \
            object of another workspace is answered 404, never 403.\n\nEvery error reply is \
            `{\"error\": code, \"message\": text}`; 503 replies carry `Retry-After`.",
        license(name = "Apache-2.0"),
    ),
    paths(
        crate::intake::trigger,
        super::health::healthz,
        super::health::readyz,
        crate::metrics::scrape,
        serve,
        super::sessions::create,
        super::sessions::current,
        super::sessions::delete,
        super::workspaces::list,
        super::workspaces::create,
        super::workspaces::list_keys,
        super::workspaces::create_key,
        super::workspaces::revoke_key,
        super::platforms::list,
        super::platforms::get,
        super::webhooks::list,
        super::webhooks::create,
        super::webhooks::get,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::rotate_secret,
        super::webhooks::deliveries,
        super::webhooks::test,
        super::webhooks::examples,
        super::incidents::list,
        super::incidents::get,
        super::incidents::acknowledge,
        super::incidents::resolve,
        super::incident_deliveries::list,
        super::incident_deliveries::retry,
        super::destinations::list,
        super::destinations::create,
        super::destinations::get,
        super::destinations::update,
        super::destinations::delete,
        super::correlation::get,
        super::correlation::put,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "intake", description = "Where monitoring platforms send alerts"),
        (name = "health", description = "Liveness, readiness, metrics and this document"),
        (name = "sessions", description = "Web UI sign-in"),
        (name = "workspaces", description = "Tenants and their API keys"),
        (name = "platforms", description = "The platforms alertgate understands"),
        (name = "webhooks", description = "Intake URLs, their settings and delivery logs"),
        (name = "incidents", description = "Incidents, their alerts and their outbound deliveries"),
        (name = "destinations", description = "Where incident events are sent"),
        (name = "correlation", description = "Workspace-wide correlation rules"),
    )
)]
struct ApiDoc;

/// The document: the handlers' declarations, with security and authorization answers added
/// from the route table.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A workspace API key (`agk_…`) or the server's admin token",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "The web UI's session, from POST /api/v1/sessions",
        ))),
    );
    components.add_security_scheme(
        CSRF,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-CSRF-Token",
            "The session's CSRF token; required with the session cookie on state-changing requests",
        ))),
    );
    for spec in super::route_specs() {
        if let Some(op) = doc
            .paths
            .paths
            .get_mut(spec.path)
            .and_then(|item| operation_mut(item, spec.method))
        {
            describe_access(op, &spec);
        }
    }
    doc
}

/// The operation for `method` in a path item, if the document has one.
pub fn operation_mut<'a>(item: &'a mut PathItem, method: &str) -> Option<&'a mut Operation> {
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "DELETE" => item.delete.as_mut(),
        _ => None,
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody")))),
        )
        .build()
}

/// Security requirements, the role needed (in the description) and the answers the route
/// table itself can give: 401 without valid credentials, 403 for too small a role (or a session
/// without its CSRF token), 503 when the server sheds load.
fn describe_access(op: &mut Operation, spec: &RouteSpec) {
    let responses = &mut op.responses.responses;
    responses.entry("503".into()).or_insert_with(|| {
        RefOr::T(error_response(
            "Overloaded or the database is unavailable; retry after `Retry-After` seconds",
        ))
    });
    let needs = match spec.access {
        Access::Public => return,
        Access::Role(Role::Viewer) => "Any role (viewer, responder, admin)",
        Access::Role(Role::Responder) => "Role responder or admin",
        Access::Role(Role::Admin) => "Role admin",
        Access::Superuser => "The admin token only",
    };
    let safe = spec.method == Method::GET.as_str();
    let mut session = SecurityRequirement::new(SESSION, Vec::<String>::new());
    if !safe {
        session = session.add(CSRF, Vec::<String>::new());
    }
    let bearer = SecurityRequirement::new(BEARER, Vec::<String>::new());
    op.security = Some(vec![bearer, session]);
    let text = format!("**Access:** {needs}.");
    op.description = Some(match op.description.take() {
        Some(d) if !d.is_empty() => format!("{d}\n\n{text}"),
        _ => text,
    });
    responses.entry("401".into()).or_insert_with(|| {
        RefOr::T(error_response(
            "No credentials, or they are not valid (`unauthorized`)",
        ))
    });
    let may_forbid = !safe || !matches!(spec.access, Access::Role(Role::Viewer));
    if may_forbid {
        responses.entry("403".into()).or_insert_with(|| {
            RefOr::T(error_response(
                "The caller's role does not allow this (`forbidden`), or a session sent no valid CSRF token (`csrf_failed`)",
            ))
        });
    }
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", responses(
    (status = 200, description = "The OpenAPI 3 document", content_type = "application/json", body = Object),
))]
pub async fn serve() -> Result<Response, ApiError> {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = match JSON.get() {
        Some(body) => body,
        None => {
            let rendered = document().to_json().map_err(ApiError::internal)?;
            JSON.get_or_init(|| rendered)
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response())
}
