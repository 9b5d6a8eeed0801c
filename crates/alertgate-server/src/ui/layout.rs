//! The page shell (navigation, header) and the small pieces every page uses: badges, times,
//! platform monograms, links that are only links when they are safe.

use maud::{html, Markup, DOCTYPE};

use alertgate_core::auth::AuthMethod;
use alertgate_core::platforms::Platform;
use alertgate_core::{IncidentStatus, Severity, Timestamp};

use super::Ui;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Incidents,
    Integrations,
    Correlation,
}

fn head(title: &str, csrf: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · alertgate" }
            @if let Some(token) = csrf {
                meta name="csrf-token" content=(token);
            }
            // No inline styles (the CSP forbids them) and no eval.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}"#;
            link rel="stylesheet" href="/ui/assets/app.css";
            script src="/ui/assets/htmx.min.js" defer {}
            script src="/ui/assets/app.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body.bare { (body) }
        }
    }
}

/// A signed-in page: navigation, title bar, content.
pub fn shell(ui: &Ui, nav: Nav, title: &str, actions: Markup, body: Markup) -> Markup {
    let item = |target: Nav, href: &str, label: &str| {
        html! {
            li {
                a href=(href) aria-current=[(nav == target).then_some("page")] { (label) }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, Some(&ui.csrf)))
            body {
                a.skip href="#main" { "Skip to content" }
                div.shell {
                    nav.sidebar aria-label="Main" {
                        a.brand href="/ui/incidents" {
                            span.brand-mark aria-hidden="true" {}
                            span { "alertgate" }
                        }
                        ul {
                            (item(Nav::Incidents, "/ui/incidents", "Incidents"))
                            (item(Nav::Integrations, "/ui/integrations", "Integrations"))
                            (item(Nav::Correlation, "/ui/correlation", "Correlation rules"))
                        }
                        div.session {
                            p.who {
                                span.muted { "Signed in as" }
                                br;
                                strong { (ui.caller.role.as_str()) }
                                @if ui.caller.superuser { " (admin token)" }
                            }
                            form method="post" action="/ui/sign-out" {
                                input type="hidden" name=(super::CSRF_FIELD) value=(ui.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                    div.content {
                        header.topbar {
                            h1 { (title) }
                            div.actions { (actions) }
                        }
                        main #main tabindex="-1" { (body) }
                    }
                }
                div #toast role="status" aria-live="polite" {}
            }
        }
    }
}

pub fn csrf_input(ui: &Ui) -> Markup {
    html! { input type="hidden" name=(super::CSRF_FIELD) value=(ui.csrf); }
}

pub fn severity_badge(s: Severity) -> Markup {
    html! { span class={"badge sev sev-" (s.as_str())} { (s.as_str()) } }
}

pub fn status_badge(s: IncidentStatus) -> Markup {
    html! { span class={"badge status status-" (s.as_str())} { (s.as_str()) } }
}

/// A delivery's outcome: accepted (2xx) or refused, with its word.
pub fn outcome_chip(outcome: &str, status_code: u16) -> Markup {
    let class = if (200..300).contains(&status_code) {
        "ok"
    } else {
        "refused"
    };
    html! { span class={"badge outcome " (class)} { (outcome) } }
}

/// "5m ago", with the exact time on hover and for assistive technology.
pub fn ago(now: Timestamp, t: Timestamp) -> Markup {
    let secs = (now.as_millis() - t.as_millis()).max(0) / 1000;
    let text = if secs < 60 {
        format!("{secs}s ago")
    } else if secs < 3600 {
        format!("{}m ago", secs / 60)
    } else if secs < 86_400 {
        format!("{}h ago", secs / 3600)
    } else {
        format!("{}d ago", secs / 86_400)
    };
    let exact = t.to_rfc3339();
    html! { time datetime=(exact) title=(exact) { (text) } }
}

/// The exact time, compact.
pub fn when(t: Timestamp) -> Markup {
    let exact = t.to_rfc3339();
    let shown = exact
        .get(..19)
        .map(|s| s.replace('T', " "))
        .unwrap_or_else(|| exact.clone());
    html! { time datetime=(exact) { (shown) " UTC" } }
}

/// A platform's monogram: two letters on its colour (a class; inline styles are not allowed).
pub fn monogram(p: &Platform, size: &str) -> Markup {
    let letters = match p.id {
        "pagerduty" => "PD",
        "opsgenie" => "OG",
        "servicenow" => "SN",
        "datadog" => "DD",
        "grafana" => "GF",
        "prometheus" => "AM",
        "splunk" => "SP",
        "aws_cloudwatch" => "CW",
        "azure_monitor" => "AZ",
        "gcp_monitoring" => "GC",
        "newrelic" => "NR",
        "dynatrace" => "DT",
        "sentry" => "SE",
        _ => "{}",
    };
    html! {
        span class={"mono mono-" (p.id) " mono-" (size)} aria-hidden="true" { (letters) }
    }
}

/// How a webhook's senders authenticate, in words.
pub fn auth_label(a: &AuthMethod) -> String {
    match a {
        AuthMethod::None => "URL token only".into(),
        AuthMethod::Bearer => "Bearer token".into(),
        AuthMethod::ApiKey { header, prefix } if prefix.is_empty() => {
            format!("API key in {header}")
        }
        AuthMethod::ApiKey { header, prefix } => {
            format!("API key in {header} ({})", prefix.trim())
        }
        AuthMethod::Basic { .. } => "HTTP Basic auth".into(),
        AuthMethod::HmacSha256 { header, .. } => format!("HMAC-SHA256 signature in {header}"),
        AuthMethod::AwsSns { .. } => "AWS SNS message signature".into(),
    }
}

/// `url` when it is an http(s) URL, safe to put in an `href`; anything else (`javascript:`,
/// `data:`, relative tricks) is shown as text only.
pub fn safe_href(url: &str) -> Option<&str> {
    let t = url.trim_start();
    let lower: String = t.chars().take(8).collect::<String>().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        .then_some(t)
        .filter(|u| !u.chars().any(|c| c.is_control() || c.is_whitespace()))
}

/// A link to `url` when it is safe, its text otherwise.
pub fn maybe_link(url: &str) -> Markup {
    html! {
        @match safe_href(url) {
            Some(href) => a href=(href) rel="noopener noreferrer nofollow" target="_blank" { (url) },
            None => span.mono-text { (url) },
        }
    }
}

/// A notice at the top of a page.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { div class={"notice notice-" (kind)} role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_are_links() {
        assert_eq!(
            safe_href("https://x.example/a"),
            Some("https://x.example/a")
        );
        assert_eq!(safe_href("HTTP://x"), Some("HTTP://x"));
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href(" JaVaScRiPt:alert(1)"), None);
        assert_eq!(safe_href("data:text/html,<script>"), None);
        assert_eq!(safe_href("//evil.example"), None);
        assert_eq!(safe_href("https://x\u{0}y"), None);
    }

    #[test]
    fn interpolated_text_is_escaped() {
        let evil = "<script>alert(1)</script>\" onmouseover=\"x";
        let out = html! { p title=(evil) { (evil) } }.into_string();
        assert!(!out.contains("<script>"));
        assert!(out.contains("&lt;script&gt;"));
        assert!(out.contains("&quot; onmouseover=&quot;x"));
    }
}
