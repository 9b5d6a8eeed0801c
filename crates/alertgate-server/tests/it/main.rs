//! One integration-test binary: every test boots the real server on port 0 with a fresh database
//! and speaks HTTP to it.

mod access;
mod alertmanager_e2e;
mod api;
mod browser;
mod clients;
mod concurrency;
mod connections;
mod correlation;
mod helpers;
mod intake;
mod lifecycle;
mod malformed;
mod metrics;
mod openapi;
mod outbox;
mod overload;
mod platforms_http;
mod proxy;
mod retention;
mod several_nodes;
mod sns_http;
mod support;
mod ui;
mod ui_browser;
mod ui_xss;
