//! The HTTP surface: intake, the management API under `/api/v1`, health endpoints.
//!
//! Every API route is declared once, with its method, path and [`Access`] level, in [`routes`];
//! the access level is enforced there, so no handler can forget it, and the same table drives the
//! authorization-matrix test (a route without a level cannot be written).

pub(crate) mod auth;
pub(crate) mod correlation;
mod destinations;
mod health;
mod incident_deliveries;
pub(crate) mod incidents;
mod json;
pub mod openapi;
mod platforms;
pub(crate) mod sessions;
pub(crate) mod webhooks;
mod workspaces;

use axum::extract::{MatchedPath, Request};
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

pub use auth::{Access, Caller, Credential, Role, CSRF_HEADER, SESSION_COOKIE};
pub use json::ApiJson;

/// A list reply: `{"items": [...]}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// One route as declared: what the authorization matrix is generated from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: &'static str,
    /// The full path template, e.g. `/api/v1/webhooks/{id}`.
    pub path: &'static str,
    pub access: Access,
}

type AddRoute = Box<dyn FnOnce(Router<AppState>, &AppState) -> Router<AppState>>;

/// The declared routes, and how to mount each once the app state exists.
pub struct Routes {
    specs: Vec<RouteSpec>,
    mounts: Vec<AddRoute>,
}

impl Routes {
    fn new() -> Self {
        Self {
            specs: Vec::new(),
            mounts: Vec::new(),
        }
    }

    fn add<H, T>(mut self, method: Method, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        let method_name: &'static str = match method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            _ => "OTHER",
        };
        self.specs.push(RouteSpec {
            method: method_name,
            path,
            access,
        });
        self.mounts.push(Box::new(move |router, state| {
            let route = on(filter, handler);
            if access == Access::Public {
                return router.route(path, route);
            }
            let enforce =
                axum::middleware::from_fn_with_state((state.clone(), access), auth::enforce);
            router.route(path, route.route_layer(enforce))
        }));
        self
    }

    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }
}

/// Every route alertgate serves, with its access level.
pub fn routes() -> Routes {
    use auth::Access::{Public, Role as R, Superuser};
    use Role::{Admin, Responder, Viewer};
    Routes::new()
        .add(
            Method::POST,
            "/webhook/{token}/trigger",
            Public,
            crate::intake::trigger,
        )
        .add(Method::GET, "/healthz", Public, health::healthz)
        .add(Method::GET, "/readyz", Public, health::readyz)
        .add(Method::GET, "/metrics", Public, crate::metrics::scrape)
        .add(Method::GET, "/api/v1/openapi.json", Public, openapi::serve)
        .add(Method::POST, "/api/v1/sessions", Public, sessions::create)
        .add(
            Method::GET,
            "/api/v1/sessions/current",
            R(Viewer),
            sessions::current,
        )
        .add(
            Method::DELETE,
            "/api/v1/sessions/current",
            R(Viewer),
            sessions::delete,
        )
        .add(
            Method::GET,
            "/api/v1/workspaces",
            Superuser,
            workspaces::list,
        )
        .add(
            Method::POST,
            "/api/v1/workspaces",
            Superuser,
            workspaces::create,
        )
        .add(
            Method::GET,
            "/api/v1/workspaces/{id}/api-keys",
            R(Admin),
            workspaces::list_keys,
        )
        .add(
            Method::POST,
            "/api/v1/workspaces/{id}/api-keys",
            R(Admin),
            workspaces::create_key,
        )
        .add(
            Method::DELETE,
            "/api/v1/workspaces/{id}/api-keys/{key_id}",
            R(Admin),
            workspaces::revoke_key,
        )
        .add(Method::GET, "/api/v1/platforms", R(Viewer), platforms::list)
        .add(
            Method::GET,
            "/api/v1/platforms/{id}",
            R(Viewer),
            platforms::get,
        )
        .add(Method::GET, "/api/v1/webhooks", R(Viewer), webhooks::list)
        .add(Method::POST, "/api/v1/webhooks", R(Admin), webhooks::create)
        .add(
            Method::GET,
            "/api/v1/webhooks/{id}",
            R(Viewer),
            webhooks::get,
        )
        .add(
            Method::PATCH,
            "/api/v1/webhooks/{id}",
            R(Admin),
            webhooks::update,
        )
        .add(
            Method::DELETE,
            "/api/v1/webhooks/{id}",
            R(Admin),
            webhooks::delete,
        )
        .add(
            Method::POST,
            "/api/v1/webhooks/{id}/rotate-secret",
            R(Admin),
            webhooks::rotate_secret,
        )
        .add(
            Method::GET,
            "/api/v1/webhooks/{id}/deliveries",
            R(Viewer),
            webhooks::deliveries,
        )
        .add(
            Method::POST,
            "/api/v1/webhooks/{id}/test",
            R(Admin),
            webhooks::test,
        )
        .add(
            Method::GET,
            "/api/v1/webhooks/{id}/examples",
            R(Viewer),
            webhooks::examples,
        )
        .add(Method::GET, "/api/v1/incidents", R(Viewer), incidents::list)
        .add(
            Method::GET,
            "/api/v1/incidents/{id}",
            R(Viewer),
            incidents::get,
        )
        .add(
            Method::POST,
            "/api/v1/incidents/{id}/acknowledge",
            R(Responder),
            incidents::acknowledge,
        )
        .add(
            Method::POST,
            "/api/v1/incidents/{id}/resolve",
            R(Responder),
            incidents::resolve,
        )
        .add(
            Method::GET,
            "/api/v1/incidents/{id}/deliveries",
            R(Viewer),
            incident_deliveries::list,
        )
        .add(
            Method::POST,
            "/api/v1/incidents/{id}/deliveries/{delivery_id}/retry",
            R(Responder),
            incident_deliveries::retry,
        )
        .add(
            Method::GET,
            "/api/v1/destinations",
            R(Viewer),
            destinations::list,
        )
        .add(
            Method::POST,
            "/api/v1/destinations",
            R(Admin),
            destinations::create,
        )
        .add(
            Method::GET,
            "/api/v1/destinations/{id}",
            R(Viewer),
            destinations::get,
        )
        .add(
            Method::PATCH,
            "/api/v1/destinations/{id}",
            R(Admin),
            destinations::update,
        )
        .add(
            Method::DELETE,
            "/api/v1/destinations/{id}",
            R(Admin),
            destinations::delete,
        )
        .add(
            Method::GET,
            "/api/v1/correlation",
            R(Viewer),
            correlation::get,
        )
        .add(
            Method::PUT,
            "/api/v1/correlation",
            R(Admin),
            correlation::put,
        )
}

/// The declared routes, for tests and documentation.
pub fn route_specs() -> Vec<RouteSpec> {
    routes().specs
}

pub fn router(state: AppState) -> Router {
    let max_in_flight = state.config.max_concurrent_requests.max(1);
    let mut router = Router::new();
    for mount in routes().mounts {
        router = mount(router, &state);
    }
    // A known intake URL called with the wrong method is answered 405 by the intake handler,
    // which records it in that webhook's delivery log (the fallback could not say whose it is)
    // and answers `Allow: POST` (the fallback would list these methods too).
    let wrong_methods = MethodFilter::GET
        .or(MethodFilter::PUT)
        .or(MethodFilter::PATCH)
        .or(MethodFilter::DELETE)
        .or(MethodFilter::OPTIONS)
        .or(MethodFilter::TRACE);
    router = router.route(
        "/webhook/{token}/trigger",
        on(wrong_methods, crate::intake::trigger),
    );
    router
        // The web UI: its own router (HTML, redirects to sign-in), not part of the API's table.
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            // A global bound on requests in flight: beyond it a request is shed at once with a
            // 503, so overload never becomes an unbounded pile of waiting tasks.
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(shed))
                .load_shed()
                .concurrency_limit(max_in_flight),
        )
        .layer(
            // Spans name the route template, never the raw path: intake URLs carry tokens.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", |p| p.as_str());
                tracing::info_span!("http", method = %req.method(), route)
            }),
        )
        .with_state(state)
}

async fn shed(_: tower::BoxError) -> ApiError {
    ApiError {
        retry_after_secs: Some(1),
        ..ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "alertgate is handling as many requests as it is configured for; retry shortly",
        )
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}
