//! The correlation rule editor, for the workspace (rules across all its webhooks, the data of
//! `/api/v1/correlation`) or for one webhook (fields of the webhook). Each rule is a card:
//! name, priority and weight as fields, its conditions as JSON (groups nest, so a form of fixed
//! shape cannot express them). Every problem is shown next to the rule it is in.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use alertgate_core::correlation::{CorrelationSettings, Node, Rule, RuleSet};
use alertgate_core::ids::WebhookId;
use alertgate_core::webhook::Webhook;
use alertgate_store::Role;

use crate::api::webhooks::update_webhook;
use crate::state::AppState;

use super::form::FormData;
use super::layout::{csrf_input, notice, shell, Nav};
use super::{see_other, HtmlResponse, Ui, UiError};

#[derive(Debug, Default, Deserialize)]
pub struct ScopeQuery {
    webhook: Option<String>,
    saved: Option<String>,
}

/// One rule as the form holds it (text, so a bad value can be shown back as typed).
#[derive(Debug, Clone, Default)]
struct RuleForm {
    name: String,
    priority: String,
    weight: String,
    conditions: String,
    errors: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct EditorForm {
    enable: bool,
    window: String,
    rules_enabled: bool,
    min_weight: String,
    rules: Vec<RuleForm>,
    general_errors: Vec<String>,
}

fn from_settings(s: &CorrelationSettings) -> EditorForm {
    EditorForm {
        enable: s.enable_correlation,
        window: s.correlation_window_minutes.to_string(),
        rules_enabled: s.correlation_rules.enabled,
        min_weight: s.correlation_rules.min_match_weight.to_string(),
        rules: s
            .correlation_rules
            .rules
            .iter()
            .map(|r| RuleForm {
                name: r.name.clone(),
                priority: r.priority.map(|p| p.to_string()).unwrap_or_default(),
                weight: r.weight.to_string(),
                conditions: serde_json::to_string_pretty(&r.conditions).unwrap_or_default(),
                errors: Vec::new(),
            })
            .collect(),
        general_errors: Vec::new(),
    }
}

/// Read the form; `Err` carries the form with every problem attached where it belongs.
fn parse(form: &FormData) -> Result<CorrelationSettings, EditorForm> {
    let mut editor = EditorForm {
        enable: form.checked("enable_correlation"),
        window: form.get("correlation_window_minutes").trim().to_string(),
        rules_enabled: form.checked("rules_enabled"),
        min_weight: form.get("min_match_weight").trim().to_string(),
        ..EditorForm::default()
    };
    let count: usize = form.get("rule_count").parse().unwrap_or(0).min(200);
    // (position among the rules kept, index in the form)
    let mut kept: Vec<(Rule, usize)> = Vec::new();
    for i in 0..=count {
        let get = |f: &str| form.get(&format!("rule{i}_{f}")).trim().to_string();
        let mut r = RuleForm {
            name: get("name"),
            priority: get("priority"),
            weight: get("weight"),
            conditions: form.get(&format!("rule{i}_conditions")).to_string(),
            errors: Vec::new(),
        };
        let blank = r.name.is_empty() && r.conditions.trim().is_empty();
        if form.checked(&format!("rule{i}_remove")) || blank {
            continue;
        }
        let priority = if r.priority.is_empty() {
            None
        } else {
            match r.priority.parse::<u32>() {
                Ok(p) => Some(p),
                Err(_) => {
                    r.errors.push(
                        "priority: enter a whole number (1 is the highest), or leave it empty"
                            .into(),
                    );
                    None
                }
            }
        };
        let weight = match r.weight.parse::<f64>() {
            Ok(w) => w,
            Err(_) => {
                r.errors.push("weight: enter a number from 0 to 1".into());
                0.0
            }
        };
        let conditions = match serde_json::from_str::<Node>(&r.conditions) {
            Ok(n) => Some(n),
            Err(e) => {
                r.errors.push(format!("conditions: {e}"));
                None
            }
        };
        let index = editor.rules.len();
        if let (Some(conditions), true) = (conditions, r.errors.is_empty()) {
            kept.push((
                Rule {
                    name: r.name.clone(),
                    priority,
                    weight,
                    conditions,
                },
                index,
            ));
        }
        editor.rules.push(r);
    }
    let window = editor.window.parse::<i64>();
    let min = editor.min_weight.parse::<f64>();
    if window.is_err() {
        editor
            .general_errors
            .push("correlation window: enter a whole number of minutes".into());
    }
    if min.is_err() {
        editor
            .general_errors
            .push("minimum score: enter a number from 0 to 1".into());
    }
    let settings = CorrelationSettings {
        enable_correlation: editor.enable,
        correlation_window_minutes: window.unwrap_or(0),
        correlation_rules: RuleSet {
            enabled: editor.rules_enabled,
            min_match_weight: min.unwrap_or(0.0),
            rules: kept.iter().map(|(r, _)| r.clone()).collect(),
        },
    };
    if let Err(invalid) = settings.compile() {
        for p in invalid.problems {
            let text = format!("{}: {}", p.at, p.problem);
            match p.rule_number.and_then(|n| kept.get(n.wrapping_sub(1))) {
                Some((_, index)) => editor.rules[*index].errors.push(text),
                None => editor.general_errors.push(text),
            }
        }
    }
    let has_errors =
        !editor.general_errors.is_empty() || editor.rules.iter().any(|r| !r.errors.is_empty());
    if has_errors {
        Err(editor)
    } else {
        Ok(settings)
    }
}

fn rule_card(i: usize, r: &RuleForm, editable: bool, is_new: bool) -> Markup {
    let p = format!("rule{i}");
    let errors_id = format!("{p}-errors");
    html! {
        fieldset.card.rule data-rule=(i) aria-invalid=[(!r.errors.is_empty()).then_some("true")]
            aria-describedby=[(!r.errors.is_empty()).then(|| errors_id.clone())] {
            legend {
                @if is_new { "New rule" } @else { "Rule " (i + 1) @if !r.name.is_empty() { ": " (r.name) } }
            }
            @if !r.errors.is_empty() {
                ul.field-error.rule-errors id=(errors_id) role="alert" {
                    @for e in &r.errors { li { (e) } }
                }
            }
            div.rule-grid {
                div.field {
                    label for={(p) "_name"} { "Name" }
                    input id={(p) "_name"} name={(p) "_name"} type="text" value=(r.name) readonly[!editable];
                }
                div.field {
                    label for={(p) "_priority"} { "Priority" }
                    input id={(p) "_priority"} name={(p) "_priority"} type="text" inputmode="numeric" value=(r.priority) placeholder="none" readonly[!editable];
                }
                div.field {
                    label for={(p) "_weight"} { "Weight" }
                    input id={(p) "_weight"} name={(p) "_weight"} type="text" inputmode="decimal" value=(r.weight) placeholder="0.5" readonly[!editable];
                }
            }
            div.field {
                label for={(p) "_conditions"} { "Conditions (JSON)" }
                textarea.code id={(p) "_conditions"} name={(p) "_conditions"} rows=(if is_new { "3" } else { "6" }) spellcheck="false"
                    placeholder=r#"{"operator": "and", "items": [{"field": "service", "operator": "equals"}]}"# readonly[!editable] { (r.conditions) }
            }
            @if editable && !is_new {
                label.check {
                    input type="checkbox" name={(p) "_remove"} value="1";
                    " Remove this rule"
                }
            }
        }
    }
}

async fn render(
    app: &AppState,
    ui: &Ui,
    webhook: Option<&Webhook>,
    editor: &EditorForm,
    banner: Option<(&str, String)>,
) -> Result<Markup, UiError> {
    let hooks = app.store.list_webhooks(ui.caller.workspace).await?;
    let editable = ui.can(Role::Admin);
    let scope_value = webhook.map(|w| w.id.to_string()).unwrap_or_default();
    let body = html! {
        form.toolbar method="get" action="/ui/correlation" {
            div.field.inline {
                label for="scope" { "Scope" }
                select #scope name="webhook" data-autosubmit {
                    option value="" selected[webhook.is_none()] { "Workspace: across all webhooks" }
                    @for w in &hooks {
                        option value=(w.id) selected[webhook.is_some_and(|x| x.id == w.id)] { "Webhook: " (w.name.as_str()) }
                    }
                }
            }
            noscript { button type="submit" { "Show" } }
        }
        @if let Some((kind, text)) = &banner { (notice(kind, text)) }
        p.muted {
            @match webhook {
                None => "Workspace rules compare a new alert with open incidents of every webhook in the workspace.",
                Some(_) => "Webhook rules compare a new alert with open incidents of the same webhook. Without rules, an enabled webhook correlates by time window alone.",
            }
            " A condition with a " code { "value" } " tests the new alert; without one it compares the new alert with the candidate incident. Operators: "
            code { "equals" } ", " code { "contains" } ", " code { "regex" } ", " code { "starts_with" } ", " code { "in" } ", " code { "intersects" } ", " code { "exists" } "."
        }
        form.correlation-form method="post" action="/ui/correlation" {
            (csrf_input(ui))
            input type="hidden" name="scope" value=(scope_value);
            input type="hidden" name="rule_count" value=(editor.rules.len());
            @if !editor.general_errors.is_empty() {
                ul.field-error #general-errors role="alert" { @for e in &editor.general_errors { li { (e) } } }
            }
            div.card.settings-row {
                label.check {
                    input #enable_correlation type="checkbox" name="enable_correlation" value="1" checked[editor.enable] disabled[!editable];
                    " Correlation enabled"
                }
                div.field.inline {
                    label for="correlation_window_minutes" { "Window (minutes)" }
                    input #correlation_window_minutes type="number" min="1" max="1440" name="correlation_window_minutes" value=(editor.window) readonly[!editable];
                }
                label.check {
                    input #rules_enabled type="checkbox" name="rules_enabled" value="1" checked[editor.rules_enabled] disabled[!editable];
                    " Rules enabled"
                }
                div.field.inline {
                    label for="min_match_weight" { "Minimum score" }
                    input #min_match_weight type="text" inputmode="decimal" name="min_match_weight" value=(editor.min_weight) readonly[!editable];
                }
            }
            @for (i, r) in editor.rules.iter().enumerate() { (rule_card(i, r, editable, false)) }
            @if editable {
                (rule_card(editor.rules.len(), &RuleForm { weight: "0.5".into(), ..RuleForm::default() }, true, true))
                div.row { button.primary type="submit" { "Save rules" } }
            }
        }
    };
    let title = match webhook {
        Some(w) => format!("Correlation rules · {}", w.name.as_str()),
        None => "Correlation rules".to_string(),
    };
    Ok(shell(ui, Nav::Correlation, &title, html! {}, body))
}

async fn scoped_webhook(app: &AppState, ui: &Ui, id: &str) -> Result<Option<Webhook>, UiError> {
    if id.is_empty() {
        return Ok(None);
    }
    let id: WebhookId = id.parse().map_err(|_| UiError::not_found("webhook"))?;
    app.store
        .get_webhook(ui.caller.workspace, id)
        .await?
        .map(Some)
        .ok_or_else(|| UiError::not_found("webhook"))
}

pub async fn page_handler(
    ui: Ui,
    State(app): State<AppState>,
    Query(q): Query<ScopeQuery>,
) -> Result<Response, UiError> {
    let webhook = scoped_webhook(&app, &ui, q.webhook.as_deref().unwrap_or("")).await?;
    let settings = match &webhook {
        Some(w) => w.correlation.clone(),
        None => {
            app.workspace_correlation
                .settings(ui.caller.workspace)
                .await?
        }
    };
    let banner = q
        .saved
        .map(|_| ("success", "Correlation rules saved.".to_string()));
    Ok(render(
        &app,
        &ui,
        webhook.as_ref(),
        &from_settings(&settings),
        banner,
    )
    .await?
    .into_response_html())
}

pub async fn save(
    ui: Ui,
    State(app): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    ui.require(Role::Admin)?;
    let form = FormData(pairs);
    let webhook = scoped_webhook(&app, &ui, form.get("scope")).await?;
    let settings = match parse(&form) {
        Ok(s) => s,
        Err(editor) => {
            let banner = Some((
                "error",
                "Nothing was saved: fix the problems marked below.".to_string(),
            ));
            let page = render(&app, &ui, webhook.as_ref(), &editor, banner).await?;
            return Ok(
                (StatusCode::UNPROCESSABLE_ENTITY, page.into_response_html()).into_response(),
            );
        }
    };
    match &webhook {
        Some(w) => {
            let req = serde_json::from_value(serde_json::json!({
                "enable_correlation": settings.enable_correlation,
                "correlation_window_minutes": settings.correlation_window_minutes,
                "correlation_rules": settings.correlation_rules,
            }))
            .map_err(|e| UiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            update_webhook(&ui.caller, &app, &w.id.to_string(), req).await?;
            Ok(see_other(&format!(
                "/ui/correlation?webhook={}&saved=1",
                w.id
            )))
        }
        None => {
            crate::api::correlation::save(&app, &ui.caller, &settings).await?;
            Ok(see_other("/ui/correlation?saved=1"))
        }
    }
}
