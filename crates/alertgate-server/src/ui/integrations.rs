//! Integrations: the platform catalogue (grouped as the seed groups it), the workspace's
//! webhooks, and the Connect wizard: 1 basic info → 2 field mapping → 3 auto-trigger settings →
//! 4 the new webhook's Setup tab.
//!
//! The wizard keeps no server state: every step posts everything entered so far (earlier steps
//! ride along as hidden fields), is validated, and renders the next step. Only the last step
//! creates the webhook, through the same function as `POST /api/v1/webhooks`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde_json::json;

use alertgate_core::ids::WebhookId;
use alertgate_core::mapping::Field;
use alertgate_core::platforms::{self, Category, Platform};
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::webhook::{validate_description, DedupWindow, RateLimit, WebhookName};
use alertgate_core::{Severity, Timestamp};
use alertgate_store::{DeliveryQuery, IncidentQuery, Role};

use crate::api::webhooks::create_webhook;
use crate::state::AppState;

use super::form::{form_from_mapping, mapping_errors, mapping_from_form, FormData};
use super::layout::{ago, auth_label, csrf_input, monogram, notice, outcome_chip, shell, Nav};
use super::webhook::{mapping_inputs, preview_markup, render as render_webhook, View};
use super::{HtmlResponse, Ui, UiError};

const CATEGORIES: [Category; 5] = [
    Category::IncidentManagement,
    Category::MonitoringObservability,
    Category::CloudProviderAlerting,
    Category::ApmErrorTracking,
    Category::Custom,
];

pub async fn page(ui: Ui, State(app): State<AppState>) -> Result<Response, UiError> {
    let hooks = app.store.list_webhooks(ui.caller.workspace).await?;
    let now = app.clock.now();
    let mut rows = Vec::with_capacity(hooks.len());
    for w in &hooks {
        let recent = app
            .store
            .list_deliveries(&DeliveryQuery {
                webhook: w.id,
                outcome: None,
                before: None,
                limit: 200,
            })
            .await?
            .items;
        let open = app
            .store
            .list_incidents(&IncidentQuery {
                workspace: Some(ui.caller.workspace),
                webhook: Some(w.id),
                status: Some(alertgate_core::IncidentStatus::Open),
                limit: 200,
                ..IncidentQuery::default()
            })
            .await?
            .items
            .len();
        rows.push((w, recent, open));
    }
    let admin = ui.can(Role::Admin);
    let body = html! {
        section.block aria-labelledby="h-connected" {
            h2 #h-connected { "Connected webhooks" }
            @if rows.is_empty() {
                div.empty {
                    p { "No webhooks yet." }
                    p.muted { "Connect a platform below; its alerts become incidents here." }
                }
            } @else {
                table.list #webhooks {
                    thead { tr {
                        th scope="col" { "Webhook" }
                        th scope="col" { "Status" }
                        th scope="col" { "Auth" }
                        th scope="col" { "Last delivery" }
                        th scope="col" class="num" title="Of the last 200 deliveries" { "Recent deliveries" }
                        th scope="col" class="num" { "Open incidents" }
                    } }
                    tbody {
                        @for (w, recent, open) in &rows {
                            @let p = platforms::get(&w.platform);
                            @let ok = recent.iter().filter(|d| (200..300).contains(&d.status_code)).count();
                            tr {
                                td {
                                    div.name-cell {
                                        @if let Some(p) = p { (monogram(p, "sm")) }
                                        div {
                                            a.strong href={"/ui/webhooks/" (w.id)} { (w.name.as_str()) }
                                            br;
                                            span.muted.small { (p.map_or(w.platform.as_str(), |p| p.name)) }
                                        }
                                    }
                                }
                                td { @if w.enabled { span.badge.ok { "enabled" } } @else { span.badge.refused { "disabled" } } }
                                td.small { (auth_label(&w.auth)) }
                                td {
                                    @if let Some(d) = recent.first() {
                                        (ago(now, d.received_at)) " " (outcome_chip(&d.outcome, d.status_code))
                                    } @else { span.muted { "never" } }
                                }
                                td.num {
                                    (ok) " ok"
                                    @if recent.len() > ok { " · " span.text-refused { (recent.len() - ok) " refused" } }
                                }
                                td.num { (if *open >= 200 { "200+".to_string() } else { open.to_string() }) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="h-platforms" {
            h2 #h-platforms { "Connect a platform" }
            @for cat in CATEGORIES {
                @let group: Vec<&Platform> = platforms::ALL.iter().copied().filter(|p| p.category == cat).collect();
                @if !group.is_empty() {
                    section.category aria-labelledby={"cat-" (cat.id())} {
                        h3 id={"cat-" (cat.id())} { (cat.label()) }
                        ul.cards {
                            @for p in group {
                                @let connected = hooks.iter().filter(|w| w.platform == p.id).count();
                                li.card.platform-card data-platform=(p.id) {
                                    div.card-top {
                                        (monogram(p, "md"))
                                        div {
                                            h4 { (p.name) }
                                            p.muted.small { (auth_label(&(p.default_auth)())) }
                                        }
                                    }
                                    div.card-bottom {
                                        span.muted.small {
                                            @if connected > 0 { (connected) " connected" }
                                        }
                                        @if admin {
                                            a.button.connect href={"/ui/integrations/new/" (p.id)} aria-label={"Connect " (p.name)} { "Connect" }
                                        } @else {
                                            span.muted.small { "Admins can connect" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(shell(&ui, Nav::Integrations, "Integrations", html! {}, body).into_response_html())
}

/// The wizard's progress: `current` is 1 to 4.
pub fn stepper(current: u8) -> Markup {
    let steps = ["Basic info", "Field mapping", "Auto-trigger", "Setup"];
    html! {
        ol.stepper aria-label="Steps" {
            @for (i, label) in steps.iter().enumerate() {
                @let n = i as u8 + 1;
                li class=(if n < current { "done" } else if n == current { "current" } else { "todo" })
                    aria-current=[(n == current).then_some("step")] {
                    span.step-n aria-hidden="true" { (n) } " " (label)
                }
            }
        }
    }
}

fn platform_or_404(id: &str) -> Result<&'static Platform, UiError> {
    platforms::get(id).ok_or_else(|| UiError::not_found("platform"))
}

/// The fields of each step, so a step can carry the others as hidden inputs.
const STEP1: &[&str] = &["name", "description"];
const STEP3: &[&str] = &[
    "auto_trigger_rca",
    "rca_min_severity",
    "notify_workspace",
    "enable_correlation",
    "dedup_window_hours",
    "rate_limit_per_hour",
    "step3_seen",
];

fn step2_fields() -> Vec<String> {
    Field::ALL
        .iter()
        .map(|f| super::form::mapping_field_name(*f))
        .collect()
}

fn hidden(form: &FormData, names: &[&str]) -> Markup {
    html! {
        @for n in names {
            @if form.0.iter().any(|(k, _)| k == n) {
                input type="hidden" name=(n) value=(form.get(n));
            }
        }
    }
}

/// Defaults of a new wizard: the platform's mapping, and step 3's settings.
fn initial(p: &Platform) -> FormData {
    let mut f = form_from_mapping(&p.default_field_mapping());
    f.set("name", p.name);
    f.set("description", "");
    f
}

fn step3_value<'a>(form: &'a FormData, name: &str, default: &'a str) -> &'a str {
    if form.checked("step3_seen") {
        form.get(name)
    } else {
        default
    }
}

#[derive(Default)]
struct Errors(Vec<(String, String)>);

impl Errors {
    fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

fn text_field(
    form: &FormData,
    errors: &Errors,
    name: &str,
    label: &str,
    hint: Option<&str>,
    kind: &str,
) -> Markup {
    let error = errors.get(name);
    let described = match (hint.is_some(), error.is_some()) {
        (true, true) => Some(format!("{name}-hint {name}-error")),
        (true, false) => Some(format!("{name}-hint")),
        (false, true) => Some(format!("{name}-error")),
        (false, false) => None,
    };
    html! {
        div.field {
            label for=(name) { (label) }
            @if kind == "textarea" {
                textarea id=(name) name=(name) rows="3" aria-describedby=[described.clone()] aria-invalid=[error.map(|_| "true")] { (form.get(name)) }
            } @else {
                input id=(name) name=(name) type=(kind) value=(form.get(name)) aria-describedby=[described] aria-invalid=[error.map(|_| "true")];
            }
            @if let Some(h) = hint { p.hint id={(name) "-hint"} { (h) } }
            @if let Some(e) = error { p.field-error id={(name) "-error"} role="alert" { (e) } }
        }
    }
}

fn wizard_page(
    app: &AppState,
    ui: &Ui,
    p: &'static Platform,
    step: u8,
    form: &FormData,
    errors: &Errors,
) -> Markup {
    let action = format!("/ui/integrations/new/{}", p.id);
    let mapping_errors_list: Vec<(Field, String)> = Field::ALL
        .iter()
        .filter_map(|f| {
            errors
                .get(&super::form::mapping_field_name(*f))
                .map(|m| (*f, m.to_string()))
        })
        .collect();
    let step2 = step2_fields();
    let step2_refs: Vec<&str> = step2.iter().map(String::as_str).collect();
    let body = html! {
        nav.breadcrumb aria-label="Breadcrumb" {
            a href="/ui/integrations" { "Integrations" } " / " span { "Connect " (p.name) }
        }
        (stepper(step))
        @if let Some(e) = errors.get("_") { (notice("error", e)) }
        section.dialog.wizard aria-labelledby="wizard-title" {
            header.dialog-head {
                (monogram(p, "lg"))
                div {
                    h2 #wizard-title {
                        @match step { 1 => "Basic info", 2 => "Review the field mapping", _ => "Auto-trigger settings" }
                    }
                    p.muted { "Connect " (p.name) " · " (auth_label(&(p.default_auth)())) }
                }
                a.close href="/ui/integrations" aria-label="Cancel and go back to Integrations" { "×" }
            }
            form.wizard-form method="post" action=(action) {
                (csrf_input(ui))
                input type="hidden" name="step" value=(step);
                @match step {
                    1 => {
                        (hidden(form, &step2_refs))
                        (hidden(form, STEP3))
                        (text_field(form, errors, "name", "Name", Some("Shown in incident lists, e.g. “Production Alertmanager”."), "text"))
                        (text_field(form, errors, "description", "Description", Some("Optional: what sends here, who owns it."), "textarea"))
                    }
                    2 => {
                        (hidden(form, STEP1))
                        (hidden(form, STEP3))
                        div.grid-2 {
                            div {
                                p.muted { (p.name) "'s defaults are filled in. Edit any path; the preview follows as you type." }
                                (mapping_inputs(form, &mapping_errors_list, true, &format!("{action}/preview")))
                            }
                            div {
                                h3 { "Preview" }
                                div #mapping-preview.preview aria-live="polite" {
                                    (preview_markup(app, p, form, &SeverityPolicy::default(), preview_id(), p.sample.as_bytes(), "the platform's sample"))
                                }
                            }
                        }
                    }
                    _ => {
                        (hidden(form, STEP1))
                        (hidden(form, &step2_refs))
                        input type="hidden" name="step3_seen" value="1";
                        fieldset {
                            legend { "Investigation" }
                            // PLUG-IN: `auto_trigger_rca`, `rca_min_severity` and `notify_workspace` are
                            // rendered and posted, but not stored until the webhook has those fields
                            // (the outbox branch); see `create_request` below.
                            p.hint { "Stored once investigation triggers ship; until then these choices are not saved." }
                            label.check {
                                input #auto_trigger_rca type="checkbox" name="auto_trigger_rca" value="1" checked[step3_value(form, "auto_trigger_rca", "1") == "1"];
                                " Auto-trigger an investigation for new incidents"
                            }
                            div.field {
                                label for="rca_min_severity" { "Minimum severity to investigate" }
                                select #rca_min_severity name="rca_min_severity" {
                                    @for s in Severity::ALL.iter() {
                                        option value=(s.as_str()) selected[step3_value(form, "rca_min_severity", "high") == s.as_str()] { (s.as_str()) }
                                    }
                                }
                            }
                            label.check {
                                input #notify_workspace type="checkbox" name="notify_workspace" value="1" checked[step3_value(form, "notify_workspace", "1") == "1"];
                                " Notify the workspace of new incidents"
                            }
                        }
                        fieldset {
                            legend { "Grouping and limits" }
                            label.check {
                                input #enable_correlation type="checkbox" name="enable_correlation" value="1" checked[step3_value(form, "enable_correlation", "") == "1"];
                                " Enable correlation (join related alerts into one incident)"
                            }
                            (text_field(&with_default(form, "dedup_window_hours", "24"), errors, "dedup_window_hours", "Dedup window (hours)", Some("1 to 168. A repeat of an open alert within this window counts as an occurrence."), "number"))
                            (text_field(&with_default(form, "rate_limit_per_hour", "100"), errors, "rate_limit_per_hour", "Rate limit (requests per hour)", Some("0 (unlimited) to 10,000. Resolves and acknowledgements are never limited."), "number"))
                        }
                    }
                }
                div.row.wizard-buttons {
                    @if step > 1 {
                        button type="submit" name="action" value="back" formnovalidate { "Back" }
                    }
                    button.primary type="submit" name="action" value="next" {
                        @if step >= 3 { "Create webhook" } @else { "Continue" }
                    }
                }
            }
        }
    };
    shell(
        ui,
        Nav::Integrations,
        &format!("Connect {}", p.name),
        html! {},
        body,
    )
}

fn with_default(form: &FormData, name: &str, default: &str) -> FormData {
    let mut f = form.clone();
    if !form.checked("step3_seen") || form.get(name).is_empty() {
        f.set(name, default);
    }
    f
}

/// The webhook id previews use before the webhook exists (only the default dedup key uses it).
fn preview_id() -> WebhookId {
    WebhookId::new(Timestamp::from_millis(0), 0)
}

pub async fn wizard_start(
    ui: Ui,
    State(app): State<AppState>,
    Path(platform): Path<String>,
) -> Result<Response, UiError> {
    ui.require(Role::Admin)?;
    let p = platform_or_404(&platform)?;
    Ok(wizard_page(&app, &ui, p, 1, &initial(p), &Errors::default()).into_response_html())
}

fn check_step(step: u8, form: &FormData) -> Errors {
    let mut errors = Errors::default();
    match step {
        1 => {
            if let Err(e) = WebhookName::parse(form.get("name")) {
                errors.0.push(("name".into(), capitalize(&e)));
            }
            if let Err(e) = validate_description(form.get("description")) {
                errors.0.push(("description".into(), capitalize(&e)));
            }
        }
        2 => {
            for (f, e) in mapping_errors(form) {
                errors.0.push((super::form::mapping_field_name(f), e));
            }
        }
        _ => {
            let number = |name: &str, default: i64| -> Result<i64, String> {
                let v = form.get(name).trim();
                if v.is_empty() {
                    return Ok(default);
                }
                v.parse::<i64>()
                    .map_err(|_| format!("“{v}”, not a whole number"))
            };
            if let Err(got) = number("dedup_window_hours", 24)
                .and_then(|n| DedupWindow::try_from(n).map_err(|_| n.to_string()))
            {
                errors.0.push((
                    "dedup_window_hours".into(),
                    format!("Enter 1 to 168 hours (got {got})."),
                ));
            }
            if let Err(got) = number("rate_limit_per_hour", 100)
                .and_then(|n| RateLimit::try_from(n).map_err(|_| n.to_string()))
            {
                errors.0.push((
                    "rate_limit_per_hour".into(),
                    format!("Enter 0 (unlimited) to 10,000 requests per hour (got {got})."),
                ));
            }
        }
    }
    errors
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The create request, in the API's shape.
fn create_request(p: &Platform, form: &FormData) -> serde_json::Value {
    let int = |name: &str, default: i64| form.get(name).trim().parse::<i64>().unwrap_or(default);
    // PLUG-IN: when the webhook gains `auto_trigger_rca`, `rca_min_severity` and
    // `notify_workspace`, add them here from `form.checked("auto_trigger_rca")`,
    // `form.get("rca_min_severity")` and `form.checked("notify_workspace")`.
    json!({
        "platform": p.id,
        "name": form.get("name"),
        "description": form.get("description"),
        "field_mapping": mapping_from_form(form),
        "dedup_window_hours": int("dedup_window_hours", 24),
        "rate_limit_per_hour": int("rate_limit_per_hour", 100),
        "enable_correlation": form.checked("enable_correlation"),
    })
}

pub async fn wizard_step(
    ui: Ui,
    State(app): State<AppState>,
    Path(platform): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    ui.require(Role::Admin)?;
    let p = platform_or_404(&platform)?;
    let form = FormData(pairs);
    let step: u8 = form.get("step").parse().unwrap_or(1).clamp(1, 3);
    if form.get("action") == "back" {
        let back = step.saturating_sub(1).max(1);
        return Ok(wizard_page(&app, &ui, p, back, &form, &Errors::default()).into_response_html());
    }
    let errors = check_step(step, &form);
    if !errors.0.is_empty() {
        let page = wizard_page(&app, &ui, p, step, &form, &errors);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page.into_response_html()).into_response());
    }
    if step < 3 {
        return Ok(
            wizard_page(&app, &ui, p, step + 1, &form, &Errors::default()).into_response_html(),
        );
    }
    match create_webhook(&ui.caller, &app, create_request(p, &form)).await {
        Ok(w) => {
            let view = View {
                reveal: true,
                wizard_done: true,
                banner: Some((
                    "success",
                    format!(
                        "{} is connected. Copy the secret now: it is shown only this once.",
                        p.name
                    ),
                )),
                ..View::default()
            };
            let page = render_webhook(&app, &ui, &w, view).await?;
            Ok((StatusCode::CREATED, page.into_response_html()).into_response())
        }
        Err(e) if e.status.is_client_error() => {
            let errors = Errors(vec![("_".into(), e.message)]);
            let page = wizard_page(&app, &ui, p, 3, &form, &errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page.into_response_html()).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn wizard_preview(
    ui: Ui,
    State(app): State<AppState>,
    Path(platform): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    ui.require(Role::Admin)?;
    let p = platform_or_404(&platform)?;
    let form = FormData(pairs);
    Ok(preview_markup(
        &app,
        p,
        &form,
        &SeverityPolicy::default(),
        preview_id(),
        p.sample.as_bytes(),
        "the platform's sample",
    )
    .into_response_html())
}
