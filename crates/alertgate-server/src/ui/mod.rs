//! The web UI: server-rendered HTML (maud, which escapes every interpolated value unless it is
//! explicitly marked `PreEscaped`, which no user data ever is), progressively enhanced with a
//! vendored htmx and one small script, styled by one stylesheet. Assets are embedded in the
//! binary; nothing is fetched from anywhere else.
//!
//! The UI has its own router, merged beside the API's route table: its pages answer HTML and
//! send a signed-out browser to the sign-in page instead of answering a JSON 401. Handlers call
//! the same functions and store as the API (never HTTP to itself).
//!
//! Sessions and CSRF: signing in with an API key (or the admin token) opens a session through
//! [`crate::api::sessions::open_session`] and sets its HttpOnly, SameSite=Strict cookie. Every
//! state-changing request to a UI route passes [`csrf_guard`] first, so no handler can forget it:
//! it must carry the session's CSRF token (derived from the cookie, see
//! [`crate::api::auth::csrf_token`]) in the `csrf_token` form field or, for htmx requests, the
//! `X-CSRF-Token` header. The sign-in form itself is protected the same way with a short-lived
//! pre-session cookie, so another site cannot sign a browser into its own account.
//!
//! Every response carries a Content-Security-Policy without inline scripts or styles, as a second
//! line of defence behind the escaping.

mod correlation;
mod form;
mod incidents;
mod integrations;
mod layout;
mod sign_in;
mod webhook;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use maud::{html, Markup};
use subtle::ConstantTimeEq;

use alertgate_store::Role;

use crate::api::auth::{csrf_token, session_cookie, Caller, Credential};
use crate::error::ApiError;
use crate::state::{sha256_hex, AppState};

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// Where a signed-out browser is sent.
pub const SIGN_IN_PATH: &str = "/ui/sign-in";
/// The largest form body a UI route reads (the Test tab's payload editor: the intake limit,
/// URL-encoded).
const MAX_FORM_BYTES: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/incidents") }))
        .route("/ui", get(|| async { Redirect::to("/ui/incidents") }))
        .route("/ui/assets/{name}", get(asset))
        .route(SIGN_IN_PATH, get(sign_in::page).post(sign_in::submit))
        .route("/ui/sign-out", post(sign_in::sign_out))
        .route("/ui/integrations", get(integrations::page))
        .route(
            "/ui/integrations/new/{platform}",
            get(integrations::wizard_start).post(integrations::wizard_step),
        )
        .route(
            "/ui/integrations/new/{platform}/preview",
            post(integrations::wizard_preview),
        )
        .route("/ui/webhooks/{id}", get(webhook::page))
        .route("/ui/webhooks/{id}/rotate-secret", post(webhook::rotate))
        .route("/ui/webhooks/{id}/test", post(webhook::test))
        .route("/ui/webhooks/{id}/mapping", post(webhook::save_mapping))
        .route(
            "/ui/webhooks/{id}/mapping/preview",
            post(webhook::preview_mapping),
        )
        .route("/ui/webhooks/{id}/deliveries", get(webhook::deliveries))
        .route("/ui/incidents", get(incidents::list))
        .route("/ui/incidents/{id}", get(incidents::detail))
        .route(
            "/ui/incidents/{id}/acknowledge",
            post(incidents::acknowledge),
        )
        .route("/ui/incidents/{id}/resolve", post(incidents::resolve))
        .route(
            "/ui/correlation",
            get(correlation::page_handler).post(correlation::save),
        )
        .layer(axum::middleware::from_fn(csrf_guard))
        .layer(axum::middleware::map_response(security_headers))
}

/// A signed-in person: who they are, and the CSRF token their pages embed.
#[derive(Debug, Clone)]
pub struct Ui {
    pub caller: Caller,
    pub csrf: String,
}

impl Ui {
    pub fn can(&self, role: Role) -> bool {
        self.caller.role >= role
    }

    pub fn require(&self, role: Role) -> Result<(), UiError> {
        if self.can(role) {
            Ok(())
        } else {
            Err(UiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Your role ({}) does not allow this; it needs {}.",
                    self.caller.role.as_str(),
                    role.as_str()
                ),
            ))
        }
    }
}

fn is_htmx(parts: &Parts) -> bool {
    parts.headers.contains_key("hx-request")
}

/// Send a signed-out browser to the sign-in page, then back to where it was going.
fn to_sign_in(parts: &Parts) -> Response {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with("/ui/") && !p.starts_with(SIGN_IN_PATH))
        .unwrap_or("/ui/incidents");
    let target = format!("{SIGN_IN_PATH}?next={}", url_encode(next));
    if is_htmx(parts) {
        // htmx follows this header with a full page load instead of swapping in a login page.
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            resp.headers_mut().insert("hx-redirect", v);
        }
        return resp;
    }
    Redirect::to(&target).into_response()
}

/// Percent-encode everything but unreserved characters and `/`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FromRequestParts<AppState> for Ui {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let Some(cookie) = session_cookie(parts) else {
            return Err(to_sign_in(parts));
        };
        let cookie = cookie.to_string();
        let session = app
            .store
            .session_by_hash(&sha256_hex(&cookie), app.clock.now())
            .await
            .map_err(|e| UiError::from(ApiError::from(e)).into_response())?;
        let Some(s) = session else {
            return Err(to_sign_in(parts));
        };
        let csrf = csrf_token(&cookie);
        Ok(Ui {
            caller: Caller {
                workspace: s.workspace_id,
                role: s.role,
                superuser: s.api_key_id.is_none(),
                credential: Credential::Session {
                    token_hash: s.token_hash,
                    csrf_token: csrf.clone(),
                },
            },
            csrf,
        })
    }
}

/// An error shown as a page (or, to htmx, as a fragment it shows in its error region).
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub message: String,
}

impl UiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("That {what} does not exist."),
        )
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        Self::new(e.status, e.message)
    }
}

impl From<alertgate_store::StoreError> for UiError {
    fn from(e: alertgate_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Something went wrong");
        let body = html! {
            main.error-page #main {
                div.card.narrow {
                    p.eyebrow { (self.status.as_u16()) }
                    h1 { (title) }
                    p role="alert" { (self.message) }
                    p { a href="/ui/incidents" { "Back to incidents" } }
                }
            }
        };
        (self.status, layout::bare(title, body).into_response_html()).into_response()
    }
}

/// Markup as an HTML response.
pub trait HtmlResponse {
    fn into_response_html(self) -> Response;
}

impl HtmlResponse for Markup {
    fn into_response_html(self) -> Response {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.into_string(),
        )
            .into_response()
    }
}

/// A 303 to `location` after a successful form post.
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// The token a request presents, from the header or the URL-encoded form body.
fn presented_token(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(v) = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return Some(v.to_string());
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return None;
    }
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned())
}

/// Refuse every state-changing UI request that does not carry its CSRF token. The expected
/// token is derived from the session cookie (or, for signing in, the pre-session cookie), so
/// only a page this server rendered for this browser can know it.
pub async fn csrf_guard(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let cookie_name = if parts.uri.path() == SIGN_IN_PATH {
        sign_in::PRESESSION_COOKIE
    } else {
        crate::api::SESSION_COOKIE
    };
    let expected = cookie_value(&parts.headers, cookie_name).map(|c| csrf_token(&c));
    let bytes = match http_body_util::Limited::new(body, MAX_FORM_BYTES)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return UiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "That form is larger than alertgate accepts.",
            )
            .into_response()
        }
    };
    let sent = presented_token(&parts.headers, &bytes);
    let ok = match (expected, sent) {
        (Some(want), Some(got)) => bool::from(want.as_bytes().ct_eq(got.as_bytes())),
        _ => false,
    };
    if !ok {
        tracing::info!(
            path = parts.uri.path(),
            "UI request refused: CSRF token missing or wrong"
        );
        if cookie_name == crate::api::SESSION_COOKIE
            && cookie_value(&parts.headers, cookie_name).is_none()
        {
            return to_sign_in(&parts);
        }
        return UiError::new(
            StatusCode::FORBIDDEN,
            "This form could not be verified (its security token is missing or out of date). \
             Reload the page and try again.",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The value of cookie `name`.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Headers on every UI response: no inline script or style, no framing, no caching of pages
/// that may show a secret, no referrer (intake URLs carry tokens).
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    resp
}

static HTMX_JS: &str = include_str!("../../assets/htmx.min.js");
static APP_JS: &str = include_str!("../../assets/app.js");
static APP_CSS: &str = include_str!("../../assets/app.css");
static HTMX_LICENSE: &str = include_str!("../../assets/htmx.LICENSE");

async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "htmx.min.js" => (HTMX_JS, "text/javascript; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "htmx.LICENSE" => (HTMX_LICENSE, "text/plain; charset=utf-8"),
        _ => return UiError::not_found("file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        Bytes::from_static(body.as_bytes()),
    )
        .into_response()
}
