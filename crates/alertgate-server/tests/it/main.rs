//! One integration-test binary: every test boots the real server on port 0 with a fresh database
//! and speaks HTTP to it.

mod access;
mod api;
mod browser;
mod clients;
mod concurrency;
mod correlation;
mod helpers;
mod intake;
mod lifecycle;
mod ui;
mod ui_browser;
mod ui_xss;
