//! What a destination receives for a message: the Standard Webhooks envelope around the
//! incident context for the investigation endpoint and generic channels, `text` + `blocks` for
//! Slack-compatible ones.
//!
//! The context was captured when the event was written; only the links back to alertgate are
//! added here, from the server's public URL. Rendering is a pure function of the stored message
//! and that URL, so every attempt of a message sends the same bytes.

use serde_json::{json, Value};

use alertgate_core::outbox::{DestinationKind, EventType};
use alertgate_store::ClaimedMessage;

/// The body for `kind`.
pub fn body(m: &ClaimedMessage, kind: DestinationKind, base_url: &str) -> Vec<u8> {
    let v = match kind {
        DestinationKind::Slack => slack(m, base_url),
        DestinationKind::Investigation | DestinationKind::Webhook => envelope(m, base_url),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Links back to alertgate and to the sources that raised the alerts.
pub fn links(m: &ClaimedMessage, base_url: &str) -> Value {
    let incident = format!("{base_url}/api/v1/incidents/{}", m.incident_id);
    let alerts = m.data["alerts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut sources: Vec<&str> = Vec::new();
    for u in std::iter::once(&m.data["incident"]["source_url"])
        .chain(alerts.iter().map(|a| &a["source_url"]))
        .filter_map(Value::as_str)
    {
        if !sources.contains(&u) {
            sources.push(u);
        }
    }
    json!({
        "incident": incident,
        "deliveries": format!("{incident}/deliveries"),
        "acknowledge": format!("{incident}/acknowledge"),
        "resolve": format!("{incident}/resolve"),
        "sources": sources,
    })
}

/// `{type, timestamp, data}`, as Standard Webhooks recommends.
fn envelope(m: &ClaimedMessage, base_url: &str) -> Value {
    let mut data = m.data.clone();
    if let Value::Object(o) = &mut data {
        o.insert("event_id".into(), json!(m.event_id));
        o.insert("purpose".into(), json!(m.purpose));
        o.insert("links".into(), links(m, base_url));
    }
    json!({
        "type": m.event_type,
        "timestamp": m.event_at,
        "data": data,
    })
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn change_line(change: &Value) -> Option<String> {
    let d = &change["detail"];
    let text = match change["kind"].as_str()? {
        "alert_correlated" => format!(
            "Alert correlated: {}",
            escape(&clip(d["title"].as_str().unwrap_or("?"), 200))
        ),
        "severity_raised" => format!(
            "Severity raised: {} → {}",
            d["from"].as_str().unwrap_or("?"),
            d["to"].as_str().unwrap_or("?")
        ),
        "reopened" => "Reopened by its source".to_string(),
        "acknowledged" | "resolved" => format!(
            "{} by {}",
            if change["kind"] == "resolved" {
                "Resolved"
            } else {
                "Acknowledged"
            },
            if change["actor"] == "api" {
                "a person"
            } else {
                "its source"
            }
        ),
        _ => return None,
    };
    Some(text)
}

fn slack(m: &ClaimedMessage, base_url: &str) -> Value {
    let inc = &m.data["incident"];
    let title = clip(inc["title"].as_str().unwrap_or("incident"), 300);
    let severity = inc["severity"].as_str().unwrap_or("unknown");
    let status = inc["status"].as_str().unwrap_or("unknown");
    let alerts = inc["alert_count"].as_i64().unwrap_or(0);
    let services: Vec<&str> = inc["services"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).take(10).collect())
        .unwrap_or_default();
    let verb = match m.event_type {
        EventType::Created => "opened",
        EventType::Updated => "updated",
        EventType::Acknowledged => "acknowledged",
        EventType::Resolved => "resolved",
    };
    let links = links(m, base_url);
    let link = links["incident"].as_str().unwrap_or_default();
    let text = format!("[{}] {} — incident {verb}", severity.to_uppercase(), title);
    let mut summary = format!(
        "*<{link}|{}>*\n*{}* · {status} · {alerts} alert{}",
        escape(&title),
        severity.to_uppercase(),
        if alerts == 1 { "" } else { "s" }
    );
    if !services.is_empty() {
        summary.push_str(&format!(
            " · services: {}",
            escape(&clip(&services.join(", "), 300))
        ));
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": summary},
    })];
    let changes: Vec<String> = m.data["changes"]
        .as_array()
        .map(|c| c.iter().filter_map(change_line).take(10).collect())
        .unwrap_or_default();
    if m.event_type != EventType::Created && !changes.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": changes.join("\n")},
        }));
    }
    let mut context = format!("alertgate · {} · {}", m.incident_id, m.event_type);
    if let Some(src) = links["sources"][0].as_str() {
        context.push_str(&format!(" · <{}|source>", escape(src)));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": context}],
    }));
    json!({ "text": escape(&text), "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alertgate_core::ids::{EventId, IncidentId, MessageId, WorkspaceId};
    use alertgate_core::outbox::Purpose;
    use alertgate_core::Timestamp;
    use alertgate_store::Claim;

    fn message(event_type: EventType, data: Value) -> ClaimedMessage {
        let t = Timestamp::from_millis(1_700_000_000_000);
        ClaimedMessage {
            claim: Claim {
                message: MessageId::new(t, 1),
                token: "t".into(),
            },
            event_id: EventId::new(t, 2),
            event_type,
            purpose: Purpose::Notification,
            incident_id: IncidentId::new(t, 3),
            workspace_id: WorkspaceId::DEFAULT,
            attempt: 1,
            budget_attempt: 1,
            event_at: t,
            data,
            destination: None,
        }
    }

    fn data() -> Value {
        json!({
            "incident": {"title": "<b>db</b> & co", "severity": "high", "status": "open",
                         "alert_count": 2, "services": ["db"], "source_url": "https://src/1"},
            "alerts": [{"source_url": "https://src/1"}, {"source_url": "https://src/2"}],
            "changes": [{"kind": "severity_raised", "actor": "source",
                         "detail": {"from": "medium", "to": "high"}}],
        })
    }

    #[test]
    fn the_envelope_carries_type_timestamp_data_and_links() {
        let m = message(EventType::Created, data());
        let v: Value = serde_json::from_slice(&body(
            &m,
            DestinationKind::Investigation,
            "https://ag.example.com",
        ))
        .unwrap();
        assert_eq!(v["type"], "incident.created");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(v["data"]["incident"]["severity"], "high");
        assert_eq!(
            v["data"]["links"]["incident"],
            format!("https://ag.example.com/api/v1/incidents/{}", m.incident_id)
        );
        assert_eq!(
            v["data"]["links"]["sources"],
            json!(["https://src/1", "https://src/2"])
        );
        assert_eq!(v["data"]["purpose"], "notification");
    }

    #[test]
    fn slack_messages_escape_markup_and_say_what_changed() {
        let m = message(EventType::Updated, data());
        let v: Value =
            serde_json::from_slice(&body(&m, DestinationKind::Slack, "https://ag")).unwrap();
        let text = v["text"].as_str().unwrap();
        assert!(text.contains("&lt;b&gt;db&lt;/b&gt; &amp; co"), "{text}");
        assert!(text.contains("incident updated"));
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "section");
        assert!(blocks[1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Severity raised: medium → high"));
        assert_eq!(blocks.last().unwrap()["type"], "context");
    }

    #[test]
    fn rendering_is_stable_across_attempts() {
        let m = message(EventType::Created, data());
        assert_eq!(
            body(&m, DestinationKind::Webhook, "https://ag"),
            body(&m, DestinationKind::Webhook, "https://ag")
        );
    }
}
