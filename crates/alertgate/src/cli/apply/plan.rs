//! The plan: what it takes to bring a workspace from what the server holds to what a declarations
//! file says — per object, create / update (with the fields that change) / unchanged / delete —
//! and the API requests that do it. Pure: no I/O, so every decision is tested here.
//!
//! Objects are matched by name within the workspace. A webhook is never recreated (its intake URL
//! is its identity for the senders); a change the API cannot make in place (a webhook's platform,
//! a destination's kind) is refused rather than done by deleting.

use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Map, Value};

use alertgate_core::correlation::CorrelationSettings;
use alertgate_core::mapping::{Field, FieldMapping};

use super::declarations::{Declarations, DestinationSpec, WebhookSettings, WebhookSpec};
use crate::cli::client::segment;

/// What the server holds now: the list replies of webhooks and destinations and the workspace's
/// correlation settings.
pub struct Current {
    pub webhooks: Vec<Value>,
    pub destinations: Vec<Value>,
    pub correlation: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    Webhook,
    Destination,
    Correlation,
}

impl Object {
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Webhook => "webhook",
            Object::Destination => "destination",
            Object::Correlation => "correlation",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Delete,
    /// On the server, not in the file, and no `--prune`: left alone.
    Unmanaged,
}

/// One field that changes. Values are shown as the API shows them; secrets never are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: String,
    pub to: String,
}

/// An API call. The body may carry a secret: it is sent, never printed.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

#[derive(Serialize)]
pub struct Step {
    pub object: Object,
    pub name: String,
    pub id: Option<String>,
    pub action: Action,
    pub changes: Vec<Change>,
    #[serde(skip)]
    pub requests: Vec<Request>,
}

#[derive(Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.steps.iter().filter(|s| s.action == action).count()
    }

    /// Whether applying would change anything.
    pub fn is_noop(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s.action, Action::Unchanged | Action::Unmanaged))
    }
}

/// Shown instead of a secret's value.
const SECRET: &str = "(secret)";

/// Work out the plan, or say why the file cannot be applied to this workspace as it is.
pub fn plan(decl: &Declarations, current: &Current, prune: bool) -> Result<Plan, String> {
    let mut steps = Vec::new();
    if let Some(desired) = &decl.correlation {
        steps.push(correlation_step(desired, &current.correlation)?);
    }
    // Undeclared destinations go first: a workspace has one investigation endpoint, so renaming
    // it in the file (with --prune) must free its place before the new one is created.
    let declared_destinations: Vec<&str> =
        decl.destinations.iter().map(|d| d.name.as_str()).collect();
    for d in &current.destinations {
        if !declared_destinations.contains(&text(&d["name"]).as_str()) {
            steps.push(leftover(
                Object::Destination,
                "/api/v1/destinations",
                d,
                prune,
            ));
        }
    }
    for d in &decl.destinations {
        steps.push(destination_step(
            d,
            find(&current.destinations, "destination", &d.name)?,
        )?);
    }
    for w in &decl.webhooks {
        steps.push(webhook_step(
            w,
            find(&current.webhooks, "webhook", &w.name)?,
        )?);
    }
    let declared_webhooks: Vec<&str> = decl.webhooks.iter().map(|w| w.name.as_str()).collect();
    for w in &current.webhooks {
        if !declared_webhooks.contains(&text(&w["name"]).as_str()) {
            steps.push(leftover(Object::Webhook, "/api/v1/webhooks", w, prune));
        }
    }
    Ok(Plan { steps })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The one object of the workspace with this name; several are ambiguous.
fn find<'a>(items: &'a [Value], what: &str, name: &str) -> Result<Option<&'a Value>, String> {
    let matches: Vec<&Value> = items.iter().filter(|i| i["name"] == name).collect();
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(format!(
            "the workspace has {} {what}s named `{name}`; declarations identify them by name, so rename or delete the extra ones first",
            many.len()
        )),
    }
}

fn leftover(object: Object, collection: &str, item: &Value, prune: bool) -> Step {
    let id = text(&item["id"]);
    Step {
        object,
        name: text(&item["name"]),
        action: if prune {
            Action::Delete
        } else {
            Action::Unmanaged
        },
        changes: Vec::new(),
        requests: if prune {
            vec![Request {
                method: Method::DELETE,
                path: format!("{collection}/{}", segment(&id)),
                body: None,
            }]
        } else {
            Vec::new()
        },
        id: Some(id),
    }
}

fn to_object(v: impl Serialize) -> Result<Map<String, Value>, String> {
    match serde_json::to_value(v).map_err(|e| e.to_string())? {
        Value::Object(m) => Ok(m),
        other => Err(format!("expected an object, got {other}")),
    }
}

/// Every field of a mapping, a cleared one as `""`: the API merges a mapping into the current one
/// (and a new webhook's into the platform's defaults), so sending all of them makes the result
/// exactly this mapping.
fn full_mapping(m: &FieldMapping) -> Value {
    let mut out = Map::new();
    for f in Field::ALL {
        out.insert(f.as_str().to_string(), json!(m.get(f).unwrap_or("")));
    }
    Value::Object(out)
}

fn webhook_body(settings: &WebhookSettings) -> Result<Map<String, Value>, String> {
    let mut body = to_object(settings)?;
    body.insert(
        "field_mapping".into(),
        full_mapping(&settings.field_mapping),
    );
    Ok(body)
}

fn webhook_step(spec: &WebhookSpec, current: Option<&Value>) -> Result<Step, String> {
    let Some(current) = current else {
        let mut body = webhook_body(&spec.settings)?;
        body.insert("name".into(), json!(spec.name));
        if let Some(s) = &spec.secret {
            body.insert("secret".into(), json!(s.value.expose()));
        }
        return Ok(Step {
            object: Object::Webhook,
            name: spec.name.clone(),
            id: None,
            action: Action::Create,
            changes: Vec::new(),
            requests: vec![Request {
                method: Method::POST,
                path: "/api/v1/webhooks".into(),
                body: Some(Value::Object(body)),
            }],
        });
    };
    let id = text(&current["id"]);
    let now: WebhookSettings = serde_json::from_value(current.clone())
        .map_err(|e| format!("reading webhook `{}` from the server: {e}", spec.name))?;
    if now.platform != spec.settings.platform {
        return Err(format!(
            "webhook `{}` is a {} webhook on the server and declared as {}; a webhook's platform cannot change (delete it, or declare a new name)",
            spec.name, now.platform, spec.settings.platform
        ));
    }
    let (from, to) = (to_object(&now)?, to_object(&spec.settings)?);
    let mut changes = Vec::new();
    let mut patch = Map::new();
    let desired = webhook_body(&spec.settings)?;
    for (key, want) in &to {
        let have = from.get(key).unwrap_or(&Value::Null);
        if have != want {
            diff(key, have, want, &mut changes);
            patch.insert(
                key.clone(),
                desired.get(key).cloned().unwrap_or(Value::Null),
            );
        }
    }
    let mut requests = Vec::new();
    let path = format!("/api/v1/webhooks/{}", segment(&id));
    if !patch.is_empty() {
        requests.push(Request {
            method: Method::PATCH,
            path: path.clone(),
            body: Some(Value::Object(patch)),
        });
    }
    if let Some(secret) = &spec.secret {
        let hint = current["secret_hint"].as_str();
        if hint != Some(secret.hint().as_str()) {
            changes.push(Change {
                field: "secret".into(),
                from: if hint.is_some() {
                    SECRET.into()
                } else {
                    "(none)".into()
                },
                to: format!("{SECRET} from the {}", secret.source),
            });
            // The previous secret stays valid until the next change, so senders can switch over
            // without losing alerts — unless there was none anyone could know of.
            requests.push(Request {
                method: Method::POST,
                path: format!("{path}/rotate-secret"),
                body: Some(json!({
                    "secret": secret.value.expose(),
                    "revoke_previous": hint.is_none(),
                })),
            });
        }
    }
    Ok(Step {
        object: Object::Webhook,
        name: spec.name.clone(),
        id: Some(id),
        action: if requests.is_empty() {
            Action::Unchanged
        } else {
            Action::Update
        },
        changes,
        requests,
    })
}

fn destination_step(spec: &DestinationSpec, current: Option<&Value>) -> Result<Step, String> {
    let Some(current) = current else {
        let mut body = json!({
            "kind": spec.kind,
            "name": spec.name,
            "url": spec.url.value(),
            "event_types": spec.event_types,
            "enabled": spec.enabled,
        });
        if let Some(s) = &spec.secret {
            body["secret"] = json!(s.value.expose());
        }
        return Ok(Step {
            object: Object::Destination,
            name: spec.name.clone(),
            id: None,
            action: Action::Create,
            changes: Vec::new(),
            requests: vec![Request {
                method: Method::POST,
                path: "/api/v1/destinations".into(),
                body: Some(body),
            }],
        });
    };
    let id = text(&current["id"]);
    let kind = text(&current["kind"]);
    if kind != spec.kind.as_str() {
        return Err(format!(
            "destination `{}` is a {kind} destination on the server and declared as {}; its kind cannot change (delete it, or declare a new name)",
            spec.name,
            spec.kind.as_str()
        ));
    }
    let mut changes = Vec::new();
    let mut patch = Map::new();
    let shown = spec.url.shown();
    if current["url"].as_str() != Some(shown.as_str()) {
        changes.push(Change {
            field: "url".into(),
            from: text(&current["url"]),
            to: shown,
        });
        patch.insert("url".into(), json!(spec.url.value()));
    }
    let want_types = json!(spec.event_types);
    if current["event_types"] != want_types {
        diff(
            "event_types",
            &current["event_types"],
            &want_types,
            &mut changes,
        );
        patch.insert("event_types".into(), want_types);
    }
    if current["enabled"] != json!(spec.enabled) {
        diff(
            "enabled",
            &current["enabled"],
            &json!(spec.enabled),
            &mut changes,
        );
        patch.insert("enabled".into(), json!(spec.enabled));
    }
    if let Some(secret) = &spec.secret {
        if current["secret_hint"].as_str() != Some(secret.hint().as_str()) {
            changes.push(Change {
                field: "secret".into(),
                from: SECRET.into(),
                to: format!("{SECRET} from the {}", secret.source),
            });
            patch.insert("secret".into(), json!(secret.value.expose()));
        }
    }
    let requests = if patch.is_empty() {
        Vec::new()
    } else {
        vec![Request {
            method: Method::PATCH,
            path: format!("/api/v1/destinations/{}", segment(&id)),
            body: Some(Value::Object(patch)),
        }]
    };
    Ok(Step {
        object: Object::Destination,
        name: spec.name.clone(),
        id: Some(id),
        action: if requests.is_empty() {
            Action::Unchanged
        } else {
            Action::Update
        },
        changes,
        requests,
    })
}

fn correlation_step(desired: &CorrelationSettings, current: &Value) -> Result<Step, String> {
    let now: CorrelationSettings = serde_json::from_value(current.clone())
        .map_err(|e| format!("reading the workspace's correlation settings: {e}"))?;
    let (from, to) = (
        serde_json::to_value(&now).map_err(|e| e.to_string())?,
        serde_json::to_value(desired).map_err(|e| e.to_string())?,
    );
    let mut changes = Vec::new();
    diff("", &from, &to, &mut changes);
    let requests = if changes.is_empty() {
        Vec::new()
    } else {
        vec![Request {
            method: Method::PUT,
            path: "/api/v1/correlation".into(),
            body: Some(to),
        }]
    };
    Ok(Step {
        object: Object::Correlation,
        name: "workspace".into(),
        id: None,
        action: if requests.is_empty() {
            Action::Unchanged
        } else {
            Action::Update
        },
        changes,
        requests,
    })
}

/// The leaves that differ between two JSON documents, named by path
/// (`field_mapping.title`, `correlation_rules.rules[0].weight`).
fn diff(path: &str, from: &Value, to: &Value, out: &mut Vec<Change>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff(
                    &join(k),
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if from != to => out.push(Change {
            field: path.to_string(),
            from: show(from),
            to: show(to),
        }),
        _ => {}
    }
}

fn show(v: &Value) -> String {
    const MAX: usize = 120;
    let s = match v {
        Value::Null => "(none)".to_string(),
        other => other.to_string(),
    };
    if s.chars().count() > MAX {
        let mut cut: String = s.chars().take(MAX).collect();
        cut.push('…');
        cut
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::declarations::SecretSource;
    use super::*;

    struct Env;
    impl SecretSource for Env {
        fn env(&self, name: &str) -> Option<String> {
            (name == "S").then(|| "a-declared-secret-wxyz".to_string())
        }
        fn file(&self, _: &std::path::Path) -> std::io::Result<String> {
            Err(std::io::ErrorKind::NotFound.into())
        }
    }

    fn decl(text: &str) -> Declarations {
        Declarations::parse(text, &Env).unwrap()
    }

    /// The server's reply for a webhook created from `text`'s first webhook.
    fn server_webhook(text: &str, hint: &str) -> Value {
        let d = decl(text);
        let w = &d.webhooks[0];
        let mut v = serde_json::to_value(&w.settings).unwrap();
        v["id"] = json!("whk_1");
        v["name"] = json!(w.name);
        v["intake_url"] = json!("http://x/webhook/t/trigger");
        v["secret_hint"] = json!(hint);
        v
    }

    fn current(webhooks: Vec<Value>) -> Current {
        Current {
            webhooks,
            destinations: Vec::new(),
            correlation: json!({}),
        }
    }

    const PROD: &str =
        "[[webhook]]\nname = \"prod\"\nplatform = \"prometheus\"\nsecret_env = \"S\"\n";

    #[test]
    fn a_webhook_as_declared_is_unchanged() {
        let plan = plan(
            &decl(PROD),
            &current(vec![server_webhook(PROD, "…wxyz")]),
            false,
        )
        .unwrap();
        assert!(plan.is_noop());
        assert_eq!(plan.steps[0].action, Action::Unchanged);
    }

    #[test]
    fn a_changed_field_is_an_update_of_that_field_only() {
        let changed =
            format!("{PROD}rate_limit_per_hour = 600\n[webhook.field_mapping]\ntitle = \"$.x\"\n");
        let plan = plan(
            &decl(&changed),
            &current(vec![server_webhook(PROD, "…wxyz")]),
            false,
        )
        .unwrap();
        let step = &plan.steps[0];
        assert_eq!(step.action, Action::Update);
        let fields: Vec<&str> = step.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["field_mapping.title", "rate_limit_per_hour"]);
        assert_eq!(step.changes[1].from, "100");
        assert_eq!(step.changes[1].to, "600");
        let body = step.requests[0].body.as_ref().unwrap();
        assert_eq!(step.requests[0].method, Method::PATCH);
        assert_eq!(body["rate_limit_per_hour"], 600);
        assert_eq!(body["field_mapping"]["title"], "$.x");
        assert!(body.get("auth").is_none(), "{body}");
    }

    #[test]
    fn a_different_secret_is_rotated_in_and_never_shown() {
        let plan = plan(
            &decl(PROD),
            &current(vec![server_webhook(PROD, "…abcd")]),
            false,
        )
        .unwrap();
        let step = &plan.steps[0];
        assert_eq!(step.action, Action::Update);
        assert_eq!(step.changes.len(), 1);
        assert!(!step.changes[0].to.contains("wxyz"));
        assert!(step.requests[0].path.ends_with("/rotate-secret"));
        assert_eq!(
            step.requests[0].body.as_ref().unwrap()["revoke_previous"],
            false
        );
    }

    #[test]
    fn undeclared_objects_are_deleted_only_with_prune() {
        let mut other = server_webhook(PROD, "…wxyz");
        other["name"] = json!("old");
        other["id"] = json!("whk_2");
        let keep = plan(&decl(""), &current(vec![other.clone()]), false).unwrap();
        assert_eq!(keep.steps[0].action, Action::Unmanaged);
        assert!(keep.steps[0].requests.is_empty());
        let prune = plan(&decl(""), &current(vec![other]), true).unwrap();
        assert_eq!(prune.steps[0].action, Action::Delete);
        assert_eq!(prune.steps[0].requests[0].path, "/api/v1/webhooks/whk_2");
    }

    #[test]
    fn a_platform_change_is_refused_rather_than_recreated() {
        let grafana = PROD.replace("prometheus", "grafana");
        let err = match plan(
            &decl(&grafana),
            &current(vec![server_webhook(PROD, "…wxyz")]),
            false,
        ) {
            Err(e) => e,
            Ok(_) => panic!("refused"),
        };
        assert!(err.contains("platform cannot change"), "{err}");
    }

    #[test]
    fn two_webhooks_with_the_declared_name_are_ambiguous() {
        let w = server_webhook(PROD, "…wxyz");
        assert!(plan(&decl(PROD), &current(vec![w.clone(), w]), false).is_err());
    }

    #[test]
    fn a_new_webhook_sends_its_whole_mapping_and_its_secret() {
        let plan = plan(&decl(PROD), &current(vec![]), false).unwrap();
        let body = plan.steps[0].requests[0].body.as_ref().unwrap();
        assert_eq!(body["secret"], "a-declared-secret-wxyz");
        assert_eq!(body["name"], "prod");
        assert_eq!(
            body["field_mapping"].as_object().unwrap().len(),
            Field::ALL.len()
        );
    }
}
