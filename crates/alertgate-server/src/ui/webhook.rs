//! The webhook dialog and its four tabs: Setup (URL, credentials shown once, request format,
//! client examples, the platform's guide), Test (a dry run of a payload), Field Mapping (edit the
//! paths with a live preview) and Delivery Logs (what arrived, and what became of it).
//!
//! All four panels are rendered on every load; without JavaScript the tabs are links (`?tab=`),
//! with it they switch in place and follow the WAI-ARIA tabs pattern (arrow keys, Home, End).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use alertgate_core::alert::NormalizedAlert;
use alertgate_core::auth::AuthMethod;
use alertgate_core::ids::{DeliveryId, WebhookId};
use alertgate_core::mapping::{Field, FieldMapping};
use alertgate_core::platforms::{self, Decoded, Platform};
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::webhook::Webhook;
use alertgate_core::{AlertStatus, Timestamp};
use alertgate_store::{Delivery, DeliveryQuery, Role};

use crate::api::webhooks::{examples_for, load, rotate as rotate_secret, update_webhook};
use crate::dry_run::{self, TestReport};
use crate::state::AppState;

use super::form::{
    field_hint, field_label, form_from_mapping, mapping_errors, mapping_field_name,
    mapping_from_form, FormData,
};
use super::layout::{
    ago, auth_label, csrf_input, maybe_link, monogram, notice, outcome_chip, severity_badge, shell,
    when, Nav,
};
use super::{see_other, HtmlResponse, Ui, UiError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Setup,
    Test,
    Mapping,
    Deliveries,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::Setup, Tab::Test, Tab::Mapping, Tab::Deliveries];

    fn id(self) -> &'static str {
        match self {
            Tab::Setup => "setup",
            Tab::Test => "test",
            Tab::Mapping => "mapping",
            Tab::Deliveries => "deliveries",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Setup => "Setup",
            Tab::Test => "Test",
            Tab::Mapping => "Field Mapping",
            Tab::Deliveries => "Delivery Logs",
        }
    }

    fn parse(s: Option<&str>) -> Tab {
        Tab::ALL
            .into_iter()
            .find(|t| Some(t.id()) == s)
            .unwrap_or(Tab::Setup)
    }
}

/// What one rendering of the dialog shows beyond the stored webhook.
#[derive(Default)]
pub struct View {
    pub tab: Option<Tab>,
    /// The secret, shown in full this one time (after creation or rotation).
    pub reveal: bool,
    pub banner: Option<(&'static str, String)>,
    /// The mapping form as submitted, with its problems (a failed save).
    pub mapping: Option<(FormData, Vec<(Field, String)>)>,
    /// A test's payload, whether it created an incident, and its report (without JavaScript).
    pub test: Option<(String, bool, TestReport)>,
    pub outcome: Option<String>,
    pub before: Option<String>,
    /// The wizard's last step: show its stepper above the dialog.
    pub wizard_done: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    tab: Option<String>,
    saved: Option<String>,
    outcome: Option<String>,
    before: Option<String>,
}

fn platform_of(w: &Webhook) -> &'static Platform {
    platforms::get(&w.platform)
        .or_else(|| platforms::get("generic"))
        .unwrap_or(platforms::ALL[platforms::ALL.len() - 1])
}

async fn webhook_for(app: &AppState, ui: &Ui, id: &str) -> Result<Webhook, UiError> {
    load(app, &ui.caller, id)
        .await
        .map_err(|_| UiError::not_found("webhook"))
}

pub async fn page(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let w = webhook_for(&app, &ui, &id).await?;
    let banner = match q.saved.as_deref() {
        Some("mapping") => Some(("success", "Field mapping saved.".to_string())),
        _ => None,
    };
    let view = View {
        tab: Some(Tab::parse(q.tab.as_deref())),
        banner,
        outcome: q.outcome,
        before: q.before,
        ..View::default()
    };
    Ok(render(&app, &ui, &w, view).await?.into_response_html())
}

/// The whole dialog page.
pub async fn render(app: &AppState, ui: &Ui, w: &Webhook, view: View) -> Result<Markup, UiError> {
    let platform = platform_of(w);
    let tab = view.tab.unwrap_or(Tab::Setup);
    let recent = app
        .store
        .list_deliveries(&DeliveryQuery {
            webhook: w.id,
            outcome: None,
            before: None,
            limit: 20,
        })
        .await?
        .items;
    let deliveries =
        deliveries_panel(app, w, view.outcome.as_deref(), view.before.as_deref()).await?;
    let base = format!("/ui/webhooks/{}", w.id);
    let actions = html! {
        a.button href={"/ui/correlation?webhook=" (w.id)} { "Correlation rules" }
    };
    let body = html! {
        @if view.wizard_done { (super::integrations::stepper(4)) }
        nav.breadcrumb aria-label="Breadcrumb" {
            a href="/ui/integrations" { "Integrations" } " / " span { (w.name.as_str()) }
        }
        @if let Some((kind, text)) = &view.banner { (notice(kind, text)) }
        section.dialog aria-labelledby="dialog-title" data-replace-url=[view.reveal.then(|| format!("{base}?tab=setup"))] {
            header.dialog-head {
                (monogram(platform, "lg"))
                div {
                    h2 #dialog-title { (w.name.as_str()) }
                    p.muted {
                        (platform.name) " · " (auth_label(&w.auth)) " · "
                        @if w.enabled { span.badge.ok { "enabled" } } @else { span.badge.refused { "disabled" } }
                    }
                    @if !w.description.is_empty() { p.description { (w.description) } }
                }
                a.close href="/ui/integrations" aria-label="Close and go back to Integrations" { "×" }
            }
            div.tabs role="tablist" aria-label="Webhook" data-tab-param="tab" {
                @for t in Tab::ALL {
                    a role="tab" id={"tab-" (t.id())} href={(base) "?tab=" (t.id())}
                        aria-controls={"panel-" (t.id())}
                        aria-selected=(if t == tab { "true" } else { "false" })
                        tabindex=(if t == tab { "0" } else { "-1" })
                        data-tab=(t.id()) { (t.label()) }
                }
            }
            div.panel role="tabpanel" id="panel-setup" aria-labelledby="tab-setup" hidden[tab != Tab::Setup] {
                (setup_panel(app, ui, w, platform, view.reveal))
            }
            div.panel role="tabpanel" id="panel-test" aria-labelledby="tab-test" hidden[tab != Tab::Test] {
                (test_panel(ui, w, platform, view.test.as_ref()))
            }
            div.panel role="tabpanel" id="panel-mapping" aria-labelledby="tab-mapping" hidden[tab != Tab::Mapping] {
                (mapping_panel(app, ui, w, platform, view.mapping.as_ref(), &recent))
            }
            div.panel role="tabpanel" id="panel-deliveries" aria-labelledby="tab-deliveries" hidden[tab != Tab::Deliveries] {
                (deliveries_controls(w, view.outcome.as_deref()))
                (deliveries)
            }
        }
    };
    Ok(shell(ui, Nav::Integrations, w.name.as_str(), actions, body))
}

fn copy_button(target: &str, what: &str) -> Markup {
    html! {
        button.copy type="button" data-copy=(target) aria-label={"Copy " (what)} { "Copy" }
    }
}

/// The headers a sender must add, in words.
fn auth_headers(a: &AuthMethod) -> Vec<(String, String)> {
    match a {
        AuthMethod::None => vec![],
        AuthMethod::Bearer => vec![("Authorization".into(), "Bearer <secret>".into())],
        AuthMethod::ApiKey { header, prefix } => {
            vec![(header.clone(), format!("{prefix}<secret>"))]
        }
        AuthMethod::Basic { username } => vec![(
            "Authorization".into(),
            format!("Basic base64({username}:<secret>)"),
        )],
        AuthMethod::HmacSha256 {
            header,
            prefix,
            timestamp_header,
            encoding,
            ..
        } => {
            let signed = if timestamp_header.is_some() {
                "HMAC-SHA256(secret, \"<timestamp>:<raw body>\")"
            } else {
                "HMAC-SHA256(secret, <raw body>)"
            };
            let enc = match encoding {
                alertgate_core::auth::SignatureEncoding::Hex => "hex",
                alertgate_core::auth::SignatureEncoding::Base64 => "base64",
            };
            let mut v = vec![(header.clone(), format!("{prefix}{enc}({signed})"))];
            if let Some(t) = timestamp_header {
                v.push((t.clone(), "<unix seconds>".into()));
            }
            v
        }
        AuthMethod::AwsSns { .. } => vec![(
            "x-amz-sns-message-type".into(),
            "set by SNS; the signature is inside the body".into(),
        )],
    }
}

fn setup_panel(app: &AppState, ui: &Ui, w: &Webhook, platform: &Platform, reveal: bool) -> Markup {
    let url = format!("{}/webhook/{}/trigger", app.config.base_url(), w.token);
    let examples = examples_for(app, w, reveal);
    let secret = w.secrets.first().map(|s| s.expose().to_string());
    let hint = secret.as_ref().map(|s| {
        let tail: String = s
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("••••••••••••{tail}")
    });
    let mut guide = platform.setup.replace("<intake URL>", &url);
    if reveal {
        if let Some(s) = &secret {
            guide = guide.replace("<secret>", s);
        }
    }
    html! {
        div.grid-2 {
            section.block aria-labelledby="h-intake" {
                h3 #h-intake { "Intake URL" }
                p.muted { "Senders POST their alerts here. The URL is itself a credential: share it only with the platform." }
                div.copy-row {
                    label.visually-hidden for="intake-url" { "Intake URL" }
                    input #intake-url.code type="text" readonly value=(url);
                    (copy_button("intake-url", "intake URL"))
                }
                h3 { "Request format" }
                dl.kv {
                    dt { "Method" } dd { code { "POST" } }
                    dt { "Content-Type" } dd { code { "application/json" } }
                    @for (name, value) in auth_headers(&w.auth) {
                        dt { (name) } dd { code { (value) } }
                    }
                    dt { "Body" } dd { "JSON, at most " (app.config.limits.max_body_bytes / 1024) " KB, nested at most " (app.config.limits.max_depth) " levels" }
                    dt { "Answers" } dd { code { "201" } " created · " code { "200" } " deduplicated, correlated, resolved · " code { "4xx" } " with " code { "{\"error\", \"message\"}" } }
                }
            }
            section.block aria-labelledby="h-auth" {
                h3 #h-auth { "Authentication" }
                p { (auth_label(&w.auth)) }
                @match (&secret, reveal) {
                    (Some(s), true) => {
                        div.notice.notice-warning role="status" {
                            strong { "Copy this secret now. " }
                            "It is shown only this once; afterwards only its last characters are."
                        }
                        div.copy-row {
                            label.visually-hidden for="webhook-secret" { "Webhook secret" }
                            input #webhook-secret.code type="text" readonly value=(s);
                            (copy_button("webhook-secret", "secret"))
                        }
                    }
                    (Some(_), false) => {
                        div.copy-row {
                            label.visually-hidden for="webhook-secret" { "Webhook secret (masked)" }
                            input #webhook-secret.code type="text" readonly value=(hint.clone().unwrap_or_default());
                        }
                        p.muted { "Masked: the full secret was shown once, when it was created. Lost it? Rotate it." }
                    }
                    (None, _) => {
                        p.muted { "This method has no shared secret." }
                    }
                }
                @if w.auth.needs_secret() && ui.can(Role::Admin) {
                    form.inline method="post" action={"/ui/webhooks/" (w.id) "/rotate-secret"}
                        data-confirm="Rotate the secret? The current one keeps working until the next rotation, so you can update the sender first." {
                        (csrf_input(ui))
                        button type="submit" { "Rotate secret" }
                    }
                    p.muted.small { "After a rotation the previous secret stays valid (two at most), so senders can switch without dropping alerts." }
                }
            }
        }
        section.block aria-labelledby="h-examples" {
            h3 #h-examples { "Send a test alert" }
            p.muted {
                "Copy-ready requests with this webhook's URL"
                @if reveal { " and secret" } @else { " (the secret as a placeholder)" }
                ", sending " (platform.name) "'s sample payload."
            }
            div.tabs.tabs-small role="tablist" aria-label="Example language" {
                @for (i, (key, label)) in [("curl", "cURL"), ("javascript", "JavaScript"), ("python", "Python")].into_iter().enumerate() {
                    button type="button" role="tab" id={"ex-tab-" (key)} aria-controls={"ex-" (key)}
                        aria-selected=(if i == 0 { "true" } else { "false" })
                        tabindex=(if i == 0 { "0" } else { "-1" }) { (label) }
                }
            }
            @for (i, (key, code)) in [("curl", &examples.curl), ("javascript", &examples.javascript), ("python", &examples.python)].into_iter().enumerate() {
                div.example role="tabpanel" id={"ex-" (key)} aria-labelledby={"ex-tab-" (key)} hidden[i != 0] {
                    div.example-bar { (copy_button(&format!("example-{key}"), "example")) }
                    pre #{"example-" (key)} tabindex="0" { code { (code) } }
                }
            }
        }
        section.block aria-labelledby="h-guide" {
            h3 #h-guide { "Set up " (platform.name) }
            pre.guide tabindex="0" { (guide) }
        }
    }
}

fn test_panel(
    ui: &Ui,
    w: &Webhook,
    platform: &Platform,
    last: Option<&(String, bool, TestReport)>,
) -> Markup {
    let payload = last
        .map(|(p, _, _)| p.clone())
        .unwrap_or_else(|| platform.sample.to_string());
    let create = last.is_some_and(|(_, c, _)| *c);
    html! {
        @if !ui.can(Role::Admin) {
            p.muted { "Testing a webhook needs the admin role." }
        } @else {
            form.test-form method="post" action={"/ui/webhooks/" (w.id) "/test"}
                hx-post={"/ui/webhooks/" (w.id) "/test"} hx-target="#test-result" hx-swap="innerHTML" {
                (csrf_input(ui))
                div.field {
                    label for="test-payload" { "Payload" }
                    p.hint #test-payload-hint { "The platform's sample is filled in; edit it freely. It goes through the same limits, decoding and mapping as a real delivery. Authentication is not checked." }
                    textarea #test-payload.code name="payload" rows="18" spellcheck="false" aria-describedby="test-payload-hint" { (payload) }
                }
                div.row {
                    label.check {
                        input #test-create type="checkbox" name="create_incident" value="1" checked[create];
                        " Create a test incident (otherwise nothing is written)"
                    }
                    button.primary #send-test type="submit" { "Send Test" }
                }
            }
            div #test-result aria-live="polite" {
                @if let Some((_, _, report)) = last { (test_result(w, report)) }
            }
        }
    }
}

fn field_rows(fields: &alertgate_core::mapping::Extracted, status: AlertStatus) -> Markup {
    html! {
        dt { "Title" } dd.extracted-title { (fields.title) }
        dt { "Description" } dd { @if let Some(d) = &fields.description { (d) } @else { span.muted { "—" } } }
        dt { "Services" } dd {
            @if fields.services.is_empty() { span.muted { "—" } }
            @for s in &fields.services { span.tag { (s) } " " }
        }
        dt { "Status" } dd {
            span class={"badge alert-status status-" (status.as_str())} { (status.as_str()) }
            @if let Some(raw) = &fields.status { span.muted { " from “" (raw) "”" } }
        }
        dt { "Link" } dd { @if let Some(u) = &fields.source_url { (maybe_link(u)) } @else { span.muted { "—" } } }
    }
}

/// The result of a test: what was extracted and what would happen, or the exact error.
pub fn test_result(w: &Webhook, r: &TestReport) -> Markup {
    html! {
        div.result.test-report data-status=(r.status_code) {
            @if let Some(e) = &r.error {
                div.result-head.refused {
                    span.badge.refused { (e.status_code) " " (e.code) }
                    strong { " A real delivery would be refused." }
                }
                p.exact-error #test-error role="alert" { (e.message) }
            } @else if let Some(reason) = &r.ignored {
                div.result-head {
                    span.badge.neutral { "200 ignored" }
                    " " (reason)
                }
            } @else {
                div.result-head.ok {
                    span.badge.ok { (r.status_code) }
                    @if r.dry_run {
                        strong { " Dry run: nothing was written." }
                    } @else {
                        strong { " Stored like a real delivery." }
                        @if let Some(d) = r.delivery_id { " " span.muted { "Delivery " code { (d) } } }
                    }
                }
                @if let Some(why) = &r.triage_unavailable {
                    (notice("warning", &format!("Triage could not be previewed: {why}")))
                }
                @for (i, a) in r.alerts.iter().enumerate() {
                    article.alert-result {
                        header {
                            h4 { "Alert " (i + 1) " of " (r.alerts.len()) }
                            @if let Some(o) = &a.outcome {
                                span class={"badge outcome decision-" (o.status)} { (o.status) }
                                @if let Some(inc) = o.incident_id {
                                    " " a href={"/ui/incidents/" (inc)} { (inc) }
                                }
                            }
                        }
                        @if let Some(x) = &a.explanation { p.explanation { (x) } }
                        dl.kv {
                            dt { "Severity" } dd {
                                (severity_badge(a.severity))
                                @if let Some(raw) = a.fields.severity.as_deref() {
                                    span.muted { " from “" (raw) "”" }
                                } @else {
                                    span.muted { " (no severity found: the webhook's default)" }
                                }
                            }
                            (field_rows(&a.fields, a.status))
                            dt { "Dedup key" } dd {
                                code.break { (a.dedup_key) }
                                span.muted { @if a.dedup_key_custom { " from the payload" } @else { " default: hash of title, severity and webhook" } }
                            }
                        }
                    }
                }
            }
            @if !r.warnings.is_empty() {
                ul.warnings {
                    @for warn in &r.warnings { li { (serde_json::to_string(warn).unwrap_or_default()) } }
                }
            }
            p.muted.small { "Tested against " (w.name.as_str()) "'s saved mapping." }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    payload: String,
    #[serde(default)]
    create_incident: Option<String>,
}

pub async fn test(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TestForm>,
) -> Result<Response, UiError> {
    ui.require(Role::Admin)?;
    let w = webhook_for(&app, &ui, &id).await?;
    let create = form.create_incident.is_some_and(|v| !v.is_empty());
    let compiled = crate::webhooks::CompiledWebhook::compile(w.clone())
        .map_err(|e| UiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let report = dry_run::run(&app, &compiled, form.payload.as_bytes(), create).await?;
    if headers.contains_key("hx-request") {
        return Ok(test_result(&w, &report).into_response_html());
    }
    let view = View {
        tab: Some(Tab::Test),
        test: Some((form.payload, create, report)),
        ..View::default()
    };
    Ok(render(&app, &ui, &w, view).await?.into_response_html())
}

fn mapping_panel(
    app: &AppState,
    ui: &Ui,
    w: &Webhook,
    platform: &Platform,
    submitted: Option<&(FormData, Vec<(Field, String)>)>,
    recent: &[Delivery],
) -> Markup {
    let form = submitted
        .map(|(f, _)| f.clone())
        .unwrap_or_else(|| form_from_mapping(&w.field_mapping));
    let errors = submitted.map(|(_, e)| e.as_slice()).unwrap_or(&[]);
    let action = format!("/ui/webhooks/{}/mapping", w.id);
    let preview_url = format!("{action}/preview");
    let editable = ui.can(Role::Admin);
    let preview = preview_markup(
        app,
        platform,
        &form,
        &w.severity,
        w.id,
        platform.sample.as_bytes(),
        "the platform's sample",
    );
    html! {
        form.mapping-form method="post" action=(action) {
            (csrf_input(ui))
            div.grid-2 {
                div {
                    p.muted { "JSONPath (RFC 9535) per field, evaluated on each alert document. A union such as " code { "$['summary','title']" } " takes the first that exists." }
                    (mapping_inputs(&form, errors, editable, &preview_url))
                    @if editable {
                        div.row { button.primary type="submit" { "Save mapping" } }
                    }
                }
                div {
                    div.field {
                        label for="preview-source" { "Preview against" }
                        select #preview-source name="source" hx-post=(preview_url) hx-trigger="change" hx-target="#mapping-preview" hx-include="closest form" {
                            option value="sample" { "The platform's sample payload" }
                            @for d in recent.iter().filter(|d| !d.body.is_empty()) {
                                option value=(d.id) { "Delivery " (d.received_at.to_rfc3339()) " · " (d.outcome) }
                            }
                        }
                    }
                    div #mapping-preview.preview aria-live="polite" { (preview) }
                }
            }
        }
    }
}

/// The seven path inputs, each with its label, hint and error; typing refreshes the preview.
pub fn mapping_inputs(
    form: &FormData,
    errors: &[(Field, String)],
    editable: bool,
    preview_url: &str,
) -> Markup {
    html! {
        @for f in Field::ALL {
            @let name = mapping_field_name(f);
            @let error = errors.iter().find(|(e, _)| *e == f).map(|(_, m)| m.as_str());
            div.field {
                label for=(name) { (field_label(f)) }
                input.code id=(name) name=(name) type="text" value=(form.get(&name))
                    spellcheck="false" autocomplete="off" readonly[!editable]
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby={(name) "-hint" @if error.is_some() { " " (name) "-error" }}
                    hx-post=(preview_url) hx-trigger="input changed delay:350ms" hx-target="#mapping-preview" hx-include="closest form";
                p.hint id={(name) "-hint"} { (field_hint(f)) }
                @if let Some(e) = error { p.field-error id={(name) "-error"} role="alert" { (e) } }
            }
        }
    }
}

/// What `form`'s paths extract from `payload`, alert by alert, or why they cannot.
pub fn preview_markup(
    app: &AppState,
    platform: &Platform,
    form: &FormData,
    policy: &SeverityPolicy,
    webhook: WebhookId,
    payload: &[u8],
    source: &str,
) -> Markup {
    let errors = mapping_errors(form);
    if !errors.is_empty() {
        return html! {
            div.result.refused {
                p { strong { "Fix the paths to see a preview:" } }
                ul { @for (f, e) in &errors { li { (field_label(*f)) ": " (e) } } }
            }
        };
    }
    let mapping = FieldMapping::default().overlay(&mapping_from_form(form));
    let compiled = match mapping.compile() {
        Ok(c) => c,
        Err(e) => return html! { div.result.refused { p.exact-error { (e.to_string()) } } },
    };
    let docs = match app.config.limits.parse(payload) {
        Err(e) => Err(e.to_string()),
        Ok(s) => match (platform.decode)(&NO_HEADERS, s.value) {
            Ok(Decoded::Alerts(docs)) => Ok(docs),
            Ok(Decoded::Ignore { reason }) => {
                Err(format!("this payload carries no alert: {reason}"))
            }
            Ok(Decoded::SubscriptionConfirmation { .. }) => {
                Err("this payload is an SNS subscription confirmation, not an alert".into())
            }
            Err(e) => Err(e),
        },
    };
    let docs = match docs {
        Ok(d) => d,
        Err(e) => return html! { div.result.refused { p.exact-error { (e) } } },
    };
    let n = docs.len();
    html! {
        p.muted.small { "Extracted from " (source) " (" (n) " alert" @if n != 1 { "s" } "):" }
        @for (i, doc) in docs.into_iter().enumerate() {
            @match NormalizedAlert::from_doc(platform, &compiled, policy, webhook, doc) {
                Ok((alert, fields)) => article.alert-result {
                    header { h4 { "Alert " (i + 1) } }
                    dl.kv {
                        dt { "Severity" } dd {
                            (severity_badge(alert.severity))
                            @if let Some(raw) = &fields.severity { span.muted { " from “" (raw) "”" } }
                        }
                        (field_rows(&fields, alert.status))
                        dt { "Dedup key" } dd {
                            @if let Some(k) = &fields.dedup_key { code.break { (k) } }
                            @else { span.muted { "default: hash of title, severity and webhook" } }
                        }
                    }
                },
                Err(e) => article.alert-result.refused {
                    header { h4 { "Alert " (i + 1) } }
                    p.exact-error role="alert" { (e.to_string()) }
                },
            }
        }
    }
}

struct NoHeaders;

impl alertgate_core::auth::Headers for NoHeaders {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

static NO_HEADERS: NoHeaders = NoHeaders;

pub async fn preview_mapping(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    let w = webhook_for(&app, &ui, &id).await?;
    let form = FormData(pairs);
    let platform = platform_of(&w);
    let source = form.get("source");
    let (payload, label) = match source.parse::<DeliveryId>() {
        Ok(did) => {
            let page = app
                .store
                .list_deliveries(&DeliveryQuery {
                    webhook: w.id,
                    outcome: None,
                    before: None,
                    limit: 200,
                })
                .await?;
            match page.items.into_iter().find(|d| d.id == did) {
                Some(d) => (d.body.into_bytes(), format!("delivery {did}")),
                None => return Err(UiError::not_found("delivery")),
            }
        }
        Err(_) => (
            platform.sample.as_bytes().to_vec(),
            "the platform's sample".to_string(),
        ),
    };
    Ok(
        preview_markup(&app, platform, &form, &w.severity, w.id, &payload, &label)
            .into_response_html(),
    )
}

pub async fn save_mapping(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    ui.require(Role::Admin)?;
    let w = webhook_for(&app, &ui, &id).await?;
    let form = FormData(pairs);
    let errors = mapping_errors(&form);
    if errors.is_empty() {
        let req = serde_json::from_value(serde_json::json!({
            "field_mapping": mapping_from_form(&form)
        }))
        .map_err(|e| UiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        match update_webhook(&ui.caller, &app, &id, req).await {
            Ok(_) => {
                return Ok(see_other(&format!(
                    "/ui/webhooks/{}?tab=mapping&saved=mapping",
                    w.id
                )))
            }
            Err(e) if e.status == StatusCode::BAD_REQUEST => {
                let view = View {
                    tab: Some(Tab::Mapping),
                    banner: Some(("error", e.message)),
                    mapping: Some((form, Vec::new())),
                    ..View::default()
                };
                let page = render(&app, &ui, &w, view).await?;
                return Ok(
                    (StatusCode::UNPROCESSABLE_ENTITY, page.into_response_html()).into_response(),
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    let view = View {
        tab: Some(Tab::Mapping),
        banner: Some((
            "error",
            "The mapping was not saved: fix the highlighted paths.".into(),
        )),
        mapping: Some((form, errors)),
        ..View::default()
    };
    let page = render(&app, &ui, &w, view).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page.into_response_html()).into_response())
}

pub async fn rotate(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    ui.require(Role::Admin)?;
    let (w, _) = rotate_secret(&ui.caller, &app, &id, Default::default()).await?;
    let view = View {
        tab: Some(Tab::Setup),
        reveal: true,
        banner: Some((
            "success",
            "A new secret is active. The previous one keeps working until the next rotation."
                .into(),
        )),
        ..View::default()
    };
    Ok(render(&app, &ui, &w, view).await?.into_response_html())
}

/// Outcome filters offered on the Delivery Logs tab.
const OUTCOMES: &[(&str, &str)] = &[
    ("", "All outcomes"),
    ("accepted", "Accepted (2xx)"),
    ("rejected", "Refused (4xx/5xx)"),
    ("created", "Created"),
    ("deduplicated", "Deduplicated"),
    ("correlated", "Correlated"),
    ("resolved", "Resolved"),
    ("acknowledged", "Acknowledged"),
    ("ignored", "Ignored"),
];

fn deliveries_controls(w: &Webhook, outcome: Option<&str>) -> Markup {
    let url = format!("/ui/webhooks/{}/deliveries", w.id);
    html! {
        form.toolbar method="get" action={"/ui/webhooks/" (w.id)}
            hx-get=(url) hx-trigger="change" hx-target="#deliveries" hx-swap="outerHTML" {
            input type="hidden" name="tab" value="deliveries";
            div.field.inline {
                label for="outcome-filter" { "Outcome" }
                select #outcome-filter name="outcome" {
                    @for (value, label) in OUTCOMES {
                        option value=(value) selected[outcome.unwrap_or("") == *value] { (label) }
                    }
                }
            }
            label.check {
                input #auto-refresh type="checkbox" checked data-auto-refresh="deliveries";
                " Auto-refresh every 5 s"
            }
            noscript { button type="submit" { "Filter" } }
        }
    }
}

async fn deliveries_panel(
    app: &AppState,
    w: &Webhook,
    outcome: Option<&str>,
    before: Option<&str>,
) -> Result<Markup, UiError> {
    let outcome = outcome.filter(|o| !o.is_empty());
    let before = before.and_then(|b| b.parse::<DeliveryId>().ok());
    let page = app
        .store
        .list_deliveries(&DeliveryQuery {
            webhook: w.id,
            outcome: outcome.map(str::to_string),
            before,
            limit: 25,
        })
        .await?;
    let now = app.clock.now();
    let mut refresh = format!("/ui/webhooks/{}/deliveries", w.id);
    if let Some(o) = outcome {
        refresh.push_str(&format!("?outcome={}", super::url_encode(o)));
    }
    Ok(html! {
        div #deliveries.deliveries hx-get=(refresh) hx-trigger=[before.is_none().then_some("every 5s")] hx-swap="outerHTML" {
            @if page.items.is_empty() {
                div.empty {
                    p { "No deliveries" @if outcome.is_some() { " with this outcome" } " yet." }
                    p.muted { "Send the example from the Setup tab, or a Test with “create a test incident” ticked." }
                }
            } @else {
                div.delivery-head aria-hidden="true" {
                    span { "Received" } span { "Status" } span { "Outcome" } span { "Latency" } span { "Summary" }
                }
                @for d in &page.items { (delivery_row(now, d)) }
                @if let Some(cursor) = &page.next_cursor {
                    p.pager {
                        a href={"/ui/webhooks/" (w.id) "?tab=deliveries&before=" (cursor)
                            @if let Some(o) = outcome { "&outcome=" (super::url_encode(o)) } } { "Older deliveries →" }
                    }
                }
            }
        }
    })
}

fn delivery_summary(d: &Delivery) -> String {
    if let Some(e) = &d.error {
        return e.message.clone();
    }
    let first = match &d.extracted {
        Some(Value::Array(items)) => items.first(),
        other => other.as_ref(),
    };
    if let Some(t) = first
        .and_then(|v| v.pointer("/fields/title"))
        .and_then(Value::as_str)
    {
        let more = match &d.extracted {
            Some(Value::Array(items)) if items.len() > 1 => format!(" (+{} more)", items.len() - 1),
            _ => String::new(),
        };
        return format!("{t}{more}");
    }
    if let Some(r) = first.and_then(|v| v.get("ignored")).and_then(Value::as_str) {
        return r.to_string();
    }
    String::new()
}

fn delivery_row(now: Timestamp, d: &Delivery) -> Markup {
    html! {
        details.delivery data-outcome=(d.outcome) {
            summary {
                span { (ago(now, d.received_at)) }
                span { code { (d.status_code) } }
                span { (outcome_chip(&d.outcome, d.status_code)) }
                span.num { (format!("{:.1} ms", d.latency_us as f64 / 1000.0)) }
                span.summary-text { (delivery_summary(d)) }
            }
            div.delivery-body {
                p.muted.small {
                    "Delivery " code { (d.id) } " · " (when(d.received_at))
                    @if let Some(a) = &d.source_addr { " · from " (a) }
                }
                @if let Some(e) = &d.error {
                    div.result.refused {
                        p { span.badge.refused { (e.status_code) " " (e.code) } }
                        p.exact-error { (e.message) }
                    }
                }
                @for r in &d.results {
                    p.explanation {
                        span class={"badge outcome decision-" (r.status)} { (r.status) } " "
                        (dry_run::explain(&r.decision, false))
                        @if let Some(inc) = r.incident_id { " " a href={"/ui/incidents/" (inc)} { "Open incident" } }
                    }
                }
                div.grid-2 {
                    div {
                        h4 { "Headers" }
                        table.headers {
                            tbody {
                                tr { th scope="row" { "method" } td { code { (d.method) } } }
                                @for (k, v) in &d.headers { tr { th scope="row" { (k) } td { code.break { (v) } } } }
                            }
                        }
                        @if let Some(x) = &d.extracted {
                            h4 { "Extracted" }
                            pre.small { (serde_json::to_string_pretty(x).unwrap_or_default()) }
                        }
                    }
                    div {
                        h4 { "Body" }
                        pre.small.body { (d.body) }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DeliveriesQuery {
    outcome: Option<String>,
    before: Option<String>,
}

/// The Delivery Logs list: a fragment for htmx (filter, auto-refresh), else the whole page.
pub async fn deliveries(
    ui: Ui,
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Response, UiError> {
    let w = webhook_for(&app, &ui, &id).await?;
    if headers.contains_key("hx-request") {
        let m = deliveries_panel(&app, &w, q.outcome.as_deref(), q.before.as_deref()).await?;
        return Ok(m.into_response_html());
    }
    let view = View {
        tab: Some(Tab::Deliveries),
        outcome: q.outcome,
        before: q.before,
        ..View::default()
    };
    Ok(render(&app, &ui, &w, view).await?.into_response_html())
}
