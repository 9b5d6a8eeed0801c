//! The HTTP surface: intake, the management API under `/api/v1`, health endpoints.

mod auth;
mod correlation;
mod health;
mod incidents;
mod json;
mod platforms;
mod webhooks;

use axum::extract::{MatchedPath, Request};
use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

pub use auth::{Caller, Role};
pub use json::ApiJson;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/platforms", get(platforms::list))
        .route("/platforms/{id}", get(platforms::get))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/examples", get(webhooks::examples))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::get))
        .route("/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/correlation", get(correlation::get).put(correlation::put));
    Router::new()
        .route("/webhook/{token}/trigger", post(crate::intake::trigger))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
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
