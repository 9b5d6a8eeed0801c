//! Signing in with an API key (or the admin token), and signing out (which ends the session on
//! the server, not only in the browser).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use crate::api::auth::csrf_token;
use crate::api::sessions::{cookie, open_session};
use crate::api::Credential;
use crate::state::{new_token, AppState};

use super::layout::{bare, notice};
use super::{cookie_value, see_other, HtmlResponse, Ui, UiError, CSRF_FIELD, SIGN_IN_PATH};

/// Carries the sign-in form's CSRF token before there is a session.
pub const PRESESSION_COOKIE: &str = "alertgate_signin";

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    api_key: String,
    #[serde(default)]
    next: String,
}

/// Only paths of the UI itself are followed after signing in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/ui/")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/ui/incidents".to_string(),
    }
}

fn render(
    app: &AppState,
    presession: &str,
    next: &str,
    error: Option<&str>,
    info: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        main.sign-in #main {
            div.card.narrow {
                div.brand.brand-large {
                    span.brand-mark aria-hidden="true" {}
                    span { "alertgate" }
                }
                h1 { "Sign in" }
                p.muted { "Use a workspace API key, or the server's admin token." }
                @if let Some(i) = info { (notice("info", i)) }
                form method="post" action=(SIGN_IN_PATH) {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf_token(presession));
                    input type="hidden" name="next" value=(next);
                    div.field {
                        label for="api_key" { "API key" }
                        input #api_key type="password" name="api_key" required autocomplete="off"
                            spellcheck="false" autofocus
                            aria-invalid=[error.map(|_| "true")]
                            aria-describedby=[error.map(|_| "api_key-error")];
                        @if let Some(e) = error {
                            p.field-error #api_key-error role="alert" { (e) }
                        }
                    }
                    button.primary.wide type="submit" { "Sign in" }
                }
            }
        }
    };
    let mut resp = (status, bare("Sign in", body).into_response_html()).into_response();
    let secure = if app.config.base_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{PRESESSION_COOKIE}={presession}; Path={SIGN_IN_PATH}; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

pub async fn page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    // Already signed in: go on.
    if let Some(c) = cookie_value(&headers, crate::api::SESSION_COOKIE) {
        let hash = crate::state::sha256_hex(&c);
        if let Ok(Some(_)) = app.store.session_by_hash(&hash, app.clock.now()).await {
            return see_other(&next);
        }
    }
    let presession = cookie_value(&headers, PRESESSION_COOKIE).unwrap_or_else(|| new_token(""));
    let info = q.signed_out.map(|_| "You are signed out.");
    render(&app, &presession, &next, None, info, StatusCode::OK)
}

pub async fn submit(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = safe_next(Some(&form.next));
    match open_session(&app, &form.api_key).await {
        Ok((token, _)) => {
            let mut resp = see_other(&next);
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&cookie(&app, Some(&token))) {
                h.append(header::SET_COOKIE, v);
            }
            let clear = format!(
                "{PRESESSION_COOKIE}=; Path={SIGN_IN_PATH}; HttpOnly; SameSite=Strict; Max-Age=0"
            );
            if let Ok(v) = HeaderValue::from_str(&clear) {
                h.append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            // The guard already checked this cookie exists.
            let presession = cookie_value(&headers, PRESESSION_COOKIE).unwrap_or_default();
            render(
                &app,
                &presession,
                &next,
                Some("That key is not valid, or it has been revoked."),
                None,
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(e) => UiError::from(e).into_response(),
    }
}

pub async fn sign_out(ui: Ui, State(app): State<AppState>) -> Result<Response, UiError> {
    if let Credential::Session { token_hash, .. } = &ui.caller.credential {
        app.store.delete_session(token_hash).await?;
    }
    let mut resp = see_other(&format!("{SIGN_IN_PATH}?signed_out=1"));
    if let Ok(v) = HeaderValue::from_str(&cookie(&app, None)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_ui_paths_are_followed() {
        assert_eq!(safe_next(Some("/ui/webhooks/x")), "/ui/webhooks/x");
        assert_eq!(safe_next(Some("https://evil.example")), "/ui/incidents");
        assert_eq!(safe_next(Some("//evil.example/ui/")), "/ui/incidents");
        assert_eq!(safe_next(Some("/ui/\\evil")), "/ui/incidents");
        assert_eq!(safe_next(None), "/ui/incidents");
    }
}
