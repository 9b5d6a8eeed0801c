//! ServiceNow: an incident record posted by a Business Rule, Flow or outbound REST message.
//!
//! ServiceNow has no built-in incident webhook; the body is whatever the customer's script sends.
//! The decoder accepts the incident record in the Table API shape (every value a string,
//! references as `{"value": "<sys_id>", "link": …}`, optionally with `display_value`) either bare,
//! or wrapped as `{"result": {…}}` / `{"result": [{…}, …]}` (a Table API response, one alert per
//! record) or `{"incident": {…}}`. The setup text gives a Business Rule that sends exactly what
//! the default mapping reads.
//!
//! Fields: title `short_description`; state `state` (else `incident_state`): `1` New, `2` In
//! Progress, `3` On Hold → firing, `6` Resolved, `7` Closed, `8` Canceled → resolved (ServiceNow
//! has no acknowledged state); severity `priority` `1`…`5` (Critical, High, Moderate, Low,
//! Planning); identity `sys_id`.
//!
//! Derived by the decoder, in `alertgate`:
//! * `services` — the configuration item (`cmdb_ci`) and the business service
//!   (`business_service`): their `display_value` when the record has one, else the referenced
//!   sys_id (or the plain string a script put there).
//! * `source_url` — the record's top-level `url` when the script sends one, else a link to the
//!   record built from the instance host found in any reference `link`:
//!   `https://<instance>/nav_to.do?uri=<table>.do%3Fsys_id%3D<sys_id>`.

use serde_json::{json, Map, Value};

use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;
use crate::timestamps;

pub static PLATFORM: Platform = Platform {
    id: "servicenow",
    name: "ServiceNow",
    category: Category::IncidentManagement,
    default_auth: || AuthMethod::Basic {
        username: "servicenow".into(),
    },
    default_mapping: &[
        (Field::Title, "$.short_description"),
        (Field::Description, "$.description"),
        (Field::Severity, "$.priority"),
        (Field::Services, "$.alertgate.services"),
        (Field::DedupKey, "$.sys_id"),
        (Field::Status, "$['state','incident_state']"),
        (Field::SourceUrl, "$.alertgate.source_url"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: SETUP,
    decode,
};

const SAMPLE: &str = r#"{
  "sys_id": "ef43c6d40a0a0b5700c77f9bf387afe3",
  "number": "INC0010042",
  "sys_class_name": "incident",
  "short_description": "Email server unreachable from the London office",
  "description": "Users in London cannot connect to Exchange since 09:40 UTC.",
  "state": "2",
  "incident_state": "2",
  "priority": "1",
  "impact": "1",
  "urgency": "1",
  "category": "network",
  "opened_at": "2025-03-14 09:42:11",
  "sys_updated_on": "2025-03-14 09:58:02",
  "cmdb_ci": {"display_value": "EXCH-LON-01", "link": "https://acme.service-now.com/api/now/table/cmdb_ci/281190e3c0a8000b003f593aa3f20ca6", "value": "281190e3c0a8000b003f593aa3f20ca6"},
  "business_service": {"display_value": "Email", "link": "https://acme.service-now.com/api/now/table/cmdb_ci_service/27d32778c0a8000b00db970eeaa60f16", "value": "27d32778c0a8000b00db970eeaa60f16"},
  "assignment_group": {"display_value": "Messaging", "link": "https://acme.service-now.com/api/now/table/sys_user_group/8a5055c9c61122780043563ef53438e3", "value": "8a5055c9c61122780043563ef53438e3"}
}"#;

const SETUP: &str = "ServiceNow has no built-in incident webhook; add a Business Rule that posts the \
incident when it changes.

System Definition > Business Rules > New. Table: Incident (incident). Advanced: on. When: after, \
Insert and Update. Script:

(function executeRule(current, previous) {
  function ref(field) {
    return { value: current.getValue(field) || '', display_value: current.getDisplayValue(field) || '' };
  }
  var body = {
    sys_id: current.getUniqueValue(),
    number: current.getValue('number'),
    sys_class_name: current.getTableName(),
    short_description: current.getValue('short_description'),
    description: current.getValue('description'),
    state: current.getValue('state'),
    priority: current.getValue('priority'),
    opened_at: current.getValue('opened_at'),
    cmdb_ci: ref('cmdb_ci'),
    business_service: ref('business_service'),
    assignment_group: ref('assignment_group'),
    url: gs.getProperty('glide.servlet.uri') + current.getLink(true)
  };
  var r = new sn_ws.RESTMessageV2();
  r.setEndpoint('<intake URL>');
  r.setHttpMethod('post');
  r.setBasicAuth('servicenow', '<secret>');
  r.setRequestHeader('Content-Type', 'application/json');
  r.setRequestBody(JSON.stringify(body));
  r.executeAsync();
})(current, previous);

Store the secret in a system property or credential record rather than in the script if you can. \
Records posted by other means are accepted too: the Table API shape (bare, or wrapped in result \
or incident). States 1-3 (New, In Progress, On Hold) are firing, 6-8 (Resolved, Closed, \
Canceled) resolve the alert; priority 1-5 sets the severity; sys_id identifies the incident.";

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    let records = records(body)?;
    if records.is_empty() {
        return Ok(Decoded::Ignore {
            reason: "the ServiceNow response carries no records".into(),
        });
    }
    let docs = records
        .into_iter()
        .map(|mut record| {
            let started_at = record.get("opened_at").and_then(timestamps::parse_value);
            let mut derived = Map::new();
            let services: Vec<String> = ["cmdb_ci", "business_service"]
                .iter()
                .filter_map(|f| reference_name(record.get(*f)))
                .collect();
            if !services.is_empty() {
                derived.insert("services".into(), json!(services));
            }
            if let Some(url) = source_url(&record) {
                derived.insert("source_url".into(), Value::String(url));
            }
            record.insert("alertgate".into(), Value::Object(derived));
            AlertDoc {
                doc: Value::Object(record),
                status: None,
                identity: None,
                started_at,
            }
        })
        .collect();
    Ok(Decoded::Alerts(docs))
}

/// The incident records in the body: bare, `{"result": …}` or `{"incident": …}`.
fn records(body: Value) -> Result<Vec<Map<String, Value>>, String> {
    let Value::Object(mut root) = body else {
        return Err("expected a ServiceNow incident record: a JSON object".into());
    };
    if !root.contains_key("sys_id") {
        for key in ["result", "incident"] {
            if !matches!(root.get(key), Some(Value::Object(_) | Value::Array(_))) {
                continue;
            }
            return match root.remove(key) {
                Some(Value::Object(record)) => Ok(vec![record]),
                Some(Value::Array(items)) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::Object(record) => Ok(record),
                        _ => Err(format!("{key}[{i}] is not a JSON object")),
                    })
                    .collect(),
                _ => Err("expected a ServiceNow incident record".into()),
            };
        }
    }
    Ok(vec![root])
}

/// A reference's display value, else its sys_id; or a plain non-empty string.
fn reference_name(v: Option<&Value>) -> Option<String> {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match v? {
        Value::String(_) => text(v),
        Value::Object(r) => text(r.get("display_value")).or_else(|| text(r.get("value"))),
        _ => None,
    }
}

/// The record's own `url`, or a link to it on the instance its references point at.
fn source_url(record: &Map<String, Value>) -> Option<String> {
    if let Some(Value::String(url)) = record.get("url") {
        let url = url.trim();
        if url.starts_with("https://") || url.starts_with("http://") {
            return Some(url.to_string());
        }
    }
    let plain = |field: &str| match record.get(field)? {
        Value::String(s) => Some(s.trim()),
        Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::trim),
        _ => None,
    };
    let sys_id = plain("sys_id").filter(|s| is_token(s, false))?;
    let table = plain("sys_class_name")
        .filter(|s| is_token(s, true))
        .unwrap_or("incident");
    let origin = record.values().find_map(|v| {
        let link = v.as_object()?.get("link")?.as_str()?;
        instance_origin(link)
    })?;
    Some(format!(
        "{origin}/nav_to.do?uri={table}.do%3Fsys_id%3D{sys_id}"
    ))
}

/// `https://host[:port]` of a reference link, if it is a plain http(s) URL.
fn instance_origin(link: &str) -> Option<&str> {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"))?;
    let host_len = rest.find('/').unwrap_or(rest.len());
    let host = rest.get(..host_len)?;
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
    if !host_ok {
        return None;
    }
    link.get(..link.len() - rest.len() + host_len)
}

fn is_token(s: &str, underscores: bool) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || (underscores && b == b'_'))
}

/// Priority codes `1`…`5` and their labels (`1 - Critical` … `5 - Planning`).
fn severity(raw: &str) -> Option<Severity> {
    let raw = raw.trim().to_ascii_lowercase();
    let code = match raw.split_once(" - ") {
        Some((code, _)) => code.trim(),
        None => raw.as_str(),
    };
    let s = match code {
        "1" | "critical" => Severity::Critical,
        "2" | "high" => Severity::High,
        "3" | "moderate" => Severity::Medium,
        "4" | "low" => Severity::Low,
        "5" | "planning" => Severity::Info,
        _ => return None,
    };
    Some(s)
}

/// Incident state codes and their labels.
fn status(raw: &str) -> Option<AlertStatus> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "2" | "3" | "new" | "in progress" | "on hold" => Some(AlertStatus::Firing),
        "6" | "7" | "8" | "resolved" | "closed" | "canceled" | "cancelled" => {
            Some(AlertStatus::Resolved)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(body: Value) -> Vec<AlertDoc> {
        let none: &[(&str, &str)] = &[];
        match decode(&none, body).unwrap() {
            Decoded::Alerts(docs) => docs,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrapped_and_bare_records_decode_alike() {
        let record = json!({"sys_id": "abc", "short_description": "t"});
        for body in [
            record.clone(),
            json!({"result": record.clone()}),
            json!({"incident": record.clone()}),
        ] {
            let d = docs(body);
            assert_eq!(d.len(), 1);
            assert_eq!(d[0].doc["sys_id"], "abc");
        }
        assert_eq!(docs(json!({"result": [record.clone(), record]})).len(), 2);
        let none: &[(&str, &str)] = &[];
        assert!(matches!(
            decode(&none, json!({"result": []})),
            Ok(Decoded::Ignore { .. })
        ));
        assert!(decode(&none, json!({"result": [1]})).is_err());
        assert!(decode(&none, json!("x")).is_err());
    }

    #[test]
    fn services_prefer_display_values_and_the_link_is_built_from_the_instance() {
        let d = docs(json!({
            "sys_id": "1c741bd70b2322007518478d83673af3",
            "cmdb_ci": {"display_value": "EXCH-01", "value": "281190e3", "link": "https://dev1.service-now.com/api/now/table/cmdb_ci/281190e3"},
            "business_service": {"value": "27d32778", "link": "https://dev1.service-now.com/api/now/table/cmdb_ci_service/27d32778"},
        }));
        assert_eq!(
            d[0].doc["alertgate"]["services"],
            json!(["EXCH-01", "27d32778"])
        );
        assert_eq!(
            d[0].doc["alertgate"]["source_url"],
            "https://dev1.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3D1c741bd70b2322007518478d83673af3"
        );
    }

    #[test]
    fn hostile_links_and_ids_build_no_link() {
        for (link, sys_id) in [
            ("https://evil.example/\"><script>", "abc"),
            ("javascript:alert(1)", "abc"),
            ("https://a b/", "abc"),
            ("https://dev1.service-now.com/x", "a&b=c"),
            ("https://€.example/x", "abc"),
        ] {
            let d = docs(json!({"sys_id": sys_id, "company": {"link": link, "value": "x"}}));
            let url = d[0].doc["alertgate"].get("source_url");
            match url {
                None => {}
                Some(u) => {
                    let u = u.as_str().unwrap();
                    assert!(
                        !u.contains('"') && !u.contains(' ') && !u.contains('&'),
                        "{u}"
                    );
                }
            }
        }
    }

    #[test]
    fn state_and_priority_codes_and_labels_normalize() {
        assert_eq!(status("2"), Some(AlertStatus::Firing));
        assert_eq!(status("In Progress"), Some(AlertStatus::Firing));
        assert_eq!(status("8"), Some(AlertStatus::Resolved));
        assert_eq!(status("4"), None);
        assert_eq!(severity("1 - Critical"), Some(Severity::Critical));
        assert_eq!(severity("3"), Some(Severity::Medium));
        assert_eq!(severity("5 - Planning"), Some(Severity::Info));
        assert_eq!(severity("9"), None);
    }
}
