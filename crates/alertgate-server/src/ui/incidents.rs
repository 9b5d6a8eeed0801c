//! Incidents: the list (filters, title search, keyset pagination that costs the same on page one
//! and page ten thousand) and the detail page (alerts timeline with why each alert is here, state
//! changes, acknowledge and resolve).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use alertgate_core::ids::{IncidentId, WebhookId};
use alertgate_core::{IncidentStatus, Severity, Timestamp};
use alertgate_store::{IncidentAction, IncidentEvent, IncidentQuery, Role};

use crate::dry_run::explain;
use crate::state::AppState;

use super::layout::{
    ago, csrf_input, maybe_link, monogram, severity_badge, shell, status_badge, when, Nav,
};
use super::{see_other, url_encode, HtmlResponse, Ui, UiError};

const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    severity: Option<String>,
    service: Option<String>,
    webhook: Option<String>,
    q: Option<String>,
    before: Option<String>,
}

impl ListQuery {
    /// The filters as a query string (without the cursor), to carry into the next page.
    fn filters(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("status", &self.status),
            ("severity", &self.severity),
            ("service", &self.service),
            ("webhook", &self.webhook),
            ("q", &self.q),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={}", url_encode(v)));
            }
        }
        parts.join("&")
    }
}

fn platform_cell(id: &str) -> Markup {
    match alertgate_core::platforms::get(id) {
        Some(p) => html! { span.platform { (monogram(p, "xs")) " " (p.name) } },
        None => html! { (id) },
    }
}

pub async fn list(
    ui: Ui,
    State(app): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let status = q.status.as_deref().and_then(IncidentStatus::parse);
    let severity = q
        .severity
        .as_deref()
        .and_then(|s| s.parse::<Severity>().ok());
    let webhook = q
        .webhook
        .as_deref()
        .and_then(|w| w.parse::<WebhookId>().ok());
    let before = q
        .before
        .as_deref()
        .and_then(|b| b.parse::<IncidentId>().ok());
    let page_items = app
        .store
        .list_incidents(&IncidentQuery {
            workspace: Some(ui.caller.workspace),
            status,
            severity,
            webhook,
            service: q.service.clone().filter(|s| !s.trim().is_empty()),
            search: q.q.clone().filter(|s| !s.trim().is_empty()),
            before,
            limit: PAGE_SIZE,
        })
        .await?;
    let hooks = app.store.list_webhooks(ui.caller.workspace).await?;
    let now = app.clock.now();
    let filters = q.filters();
    let filtered = !filters.is_empty();
    let body = html! {
        form.toolbar.filters method="get" action="/ui/incidents" role="search" {
            div.field.inline.grow {
                label for="q" { "Search titles" }
                input #q type="search" name="q" value=(q.q.as_deref().unwrap_or("")) placeholder="e.g. checkout";
            }
            div.field.inline {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "Any" }
                    @for s in [IncidentStatus::Open, IncidentStatus::Acknowledged, IncidentStatus::Resolved] {
                        option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) }
                    }
                }
            }
            div.field.inline {
                label for="severity" { "Severity" }
                select #severity name="severity" {
                    option value="" { "Any" }
                    @for s in Severity::ALL {
                        option value=(s.as_str()) selected[severity == Some(s)] { (s.as_str()) }
                    }
                }
            }
            div.field.inline {
                label for="service" { "Service" }
                input #service type="text" name="service" value=(q.service.as_deref().unwrap_or(""));
            }
            div.field.inline {
                label for="webhook" { "Webhook" }
                select #webhook name="webhook" {
                    option value="" { "Any" }
                    @for w in &hooks {
                        option value=(w.id) selected[webhook == Some(w.id)] { (w.name.as_str()) }
                    }
                }
            }
            div.field.inline.buttons {
                button.primary type="submit" { "Filter" }
                @if filtered { a.button href="/ui/incidents" { "Clear" } }
            }
        }
        @if page_items.items.is_empty() {
            div.empty {
                @if filtered || before.is_some() {
                    p { "No incidents match these filters." }
                } @else {
                    p { "No incidents yet." }
                    p.muted { "Connect a platform under " a href="/ui/integrations" { "Integrations" } "; its alerts appear here." }
                }
            }
        } @else {
            table.list.incidents #incidents {
                thead { tr {
                    th scope="col" { "Severity" }
                    th scope="col" { "Incident" }
                    th scope="col" { "Status" }
                    th scope="col" { "Services" }
                    th scope="col" { "Source" }
                    th scope="col" class="num" { "Alerts" }
                    th scope="col" class="num" { "Occurrences" }
                    th scope="col" class="num" { "Age" }
                } }
                tbody {
                    @for i in &page_items.items {
                        tr data-incident=(i.id) {
                            td { (severity_badge(i.severity)) }
                            td.title-cell { a.incident-title href={"/ui/incidents/" (i.id)} { (i.title) } }
                            td { (status_badge(i.status)) }
                            td.services { @for s in &i.services { span.tag { (s) } " " } }
                            td.small { (platform_cell(&i.platform)) }
                            td.num {
                                (i.alert_count)
                                @if i.correlated_alert_count > 0 {
                                    span.muted.small title="joined by correlation" { " (" (i.correlated_alert_count) " corr.)" }
                                }
                            }
                            td.num { (i.occurrence_count) }
                            td.num { (ago(now, i.created_at)) }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if before.is_some() {
                    a href={"/ui/incidents" @if filtered { "?" (filters) }} { "← Newest" }
                }
                @if let Some(cursor) = &page_items.next_cursor {
                    a href={"/ui/incidents?" @if filtered { (filters) "&" } "before=" (url_encode(cursor))} { "Older →" }
                }
            }
        }
    };
    Ok(shell(&ui, Nav::Incidents, "Incidents", html! {}, body).into_response_html())
}

fn event_text(e: &IncidentEvent) -> String {
    let who = if e.actor == "api" {
        "by a person (UI or API)"
    } else {
        "by the source"
    };
    match e.kind.as_str() {
        "acknowledged" => format!("Acknowledged {who}"),
        "resolved" => format!("Resolved {who}"),
        "reopened" => format!("Reopened {who}"),
        "alert_correlated" => {
            let title = e.detail.get("title").and_then(Value::as_str).unwrap_or("");
            format!("Alert “{title}” joined by correlation")
        }
        "severity_raised" => {
            let from = e.detail.get("from").and_then(Value::as_str).unwrap_or("?");
            let to = e.detail.get("to").and_then(Value::as_str).unwrap_or("?");
            format!("Severity raised from {from} to {to}")
        }
        other => other.replace('_', " "),
    }
}

pub async fn detail(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id: IncidentId = id.parse().map_err(|_| UiError::not_found("incident"))?;
    let Some(d) = app.store.get_incident(ui.caller.workspace, id).await? else {
        return Err(UiError::not_found("incident"));
    };
    let i = &d.incident;
    let webhook = app
        .store
        .get_webhook(ui.caller.workspace, i.webhook_id)
        .await?;
    let now = app.clock.now();
    let responder = ui.can(Role::Responder);
    let actions = html! {
        @if responder && i.status == IncidentStatus::Open {
            form.inline method="post" action={"/ui/incidents/" (i.id) "/acknowledge"} {
                (csrf_input(&ui))
                button #acknowledge type="submit" { "Acknowledge" }
            }
        }
        @if responder && i.status != IncidentStatus::Resolved {
            form.inline method="post" action={"/ui/incidents/" (i.id) "/resolve"} {
                (csrf_input(&ui))
                button.primary #resolve type="submit" { "Resolve" }
            }
        }
    };
    let mut timeline: Vec<(Timestamp, Markup)> = vec![(
        i.created_at,
        html! { "Opened by alert “" (d.alerts.first().map_or(i.title.as_str(), |a| a.title.as_str())) "”" },
    )];
    for e in &d.timeline {
        timeline.push((e.at, html! { (event_text(e)) }));
    }
    let body = html! {
        nav.breadcrumb aria-label="Breadcrumb" {
            a href="/ui/incidents" { "Incidents" } " / " span { code { (i.id) } }
        }
        section.incident-head.card {
            h2.incident-title #incident-title { (i.title) }
            div.meta {
                (severity_badge(i.severity)) " " span #incident-status { (status_badge(i.status)) }
                " · " (platform_cell(&i.platform))
                @if let Some(w) = &webhook { " via " a href={"/ui/webhooks/" (w.id)} { (w.name.as_str()) } }
                " · opened " (ago(now, i.created_at))
            }
            @if let Some(desc) = &i.description { p.description { (desc) } }
            dl.kv.compact {
                dt { "Services" } dd { @if i.services.is_empty() { span.muted { "—" } } @for s in &i.services { span.tag { (s) } " " } }
                dt { "Alerts" } dd { (i.alert_count) @if i.correlated_alert_count > 0 { " (" (i.correlated_alert_count) " joined by correlation)" } }
                dt { "Occurrences" } dd { (i.occurrence_count) }
                dt { "Last alert" } dd { (ago(now, i.last_alert_at)) }
                @if let Some(u) = &i.source_url { dt { "Link" } dd { (maybe_link(u)) } }
                @if let Some(t) = i.acknowledged_at { dt { "Acknowledged" } dd { (when(t)) } }
                @if let Some(t) = i.resolved_at { dt { "Resolved" } dd { (when(t)) } }
            }
        }
        div.grid-main {
            section.block aria-labelledby="h-alerts" {
                h3 #h-alerts { "Alerts" }
                ol.timeline.alerts {
                    @for a in &d.alerts {
                        li.alert-item data-alert=(a.id) {
                            div.alert-line {
                                (severity_badge(a.severity))
                                strong.alert-title { (a.title) }
                                span class={"badge alert-status status-" (a.status.as_str())} { (a.status.as_str()) }
                            }
                            p.muted.small {
                                "first " (when(a.first_seen_at)) " · last " (ago(now, a.last_seen_at))
                                " · " (a.occurrence_count) " occurrence" @if a.occurrence_count != 1 { "s" }
                                @if let Some(raw) = &a.raw_severity { " · severity “" (raw) "”" }
                            }
                            p.explanation { strong { "Why here: " } (explain(&a.decision, false)) }
                            @if let Some(desc) = &a.description { p.alert-description { (desc) } }
                            @if !a.services.is_empty() {
                                p { @for s in &a.services { span.tag { (s) } " " } }
                            }
                            @if let Some(u) = &a.source_url { p.small { "Link: " (maybe_link(u)) } }
                            details {
                                summary { "Payload and dedup key" }
                                p.small { "Dedup key " code.break { (a.dedup_key) } }
                                pre.small { (serde_json::to_string_pretty(&a.payload).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            section.block aria-labelledby="h-timeline" {
                h3 #h-timeline { "State changes" }
                ol.timeline.events #timeline {
                    @for (at, text) in &timeline {
                        li { span.when { (when(*at)) } span { (text) } }
                    }
                }
            }
        }
    };
    Ok(shell(&ui, Nav::Incidents, "Incident", actions, body).into_response_html())
}

async fn act(
    ui: Ui,
    app: AppState,
    id: String,
    action: IncidentAction,
) -> Result<Response, UiError> {
    ui.require(Role::Responder)?;
    let parsed: IncidentId = id.parse().map_err(|_| UiError::not_found("incident"))?;
    app.store
        .incident_action(ui.caller.workspace, parsed, action, app.clock.now())
        .await?
        .ok_or_else(|| UiError::not_found("incident"))?;
    Ok(see_other(&format!("/ui/incidents/{parsed}")))
}

pub async fn acknowledge(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    act(ui, app, id, IncidentAction::Acknowledge).await
}

pub async fn resolve(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    act(ui, app, id, IncidentAction::Resolve).await
}
