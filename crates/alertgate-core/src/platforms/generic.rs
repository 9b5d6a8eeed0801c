//! Generic Webhook: anything that can POST a JSON object.
//!
//! The defaults read alertgate's own documented shape (`title`, `description`, `severity`,
//! `service`/`services`, `dedup_key`, `status`, `source_url`) and, through union-selector fallbacks,
//! the vendor-neutral "formatted webhook" shape of Grafana OnCall (`message`, `state`, `alert_uid`,
//! `link_to_upstream_details`).

use super::{decode_single_object, no_table, Category, Platform};
use crate::auth::AuthMethod;
use crate::mapping::Field;

pub static PLATFORM: Platform = Platform {
    id: "generic",
    name: "Generic Webhook",
    category: Category::Custom,
    default_auth: || AuthMethod::Bearer,
    default_mapping: &[
        (Field::Title, "$['title','summary','message']"),
        (Field::Description, "$['description','message','details']"),
        (Field::Severity, "$['severity','priority','level']"),
        (Field::Services, "$['services','service']"),
        (Field::DedupKey, "$['dedup_key','alert_uid']"),
        (Field::Status, "$['status','state']"),
        (Field::SourceUrl, "$['source_url','link_to_upstream_details','url']"),
    ],
    severity: no_table,
    status: no_table,
    sample: r#"{
  "title": "High CPU on production-api",
  "description": "CPU usage exceeded 90% for 5 minutes",
  "severity": "high",
  "service": "production-api"
}"#,
    setup: "POST a JSON object to the intake URL with the header `Authorization: Bearer <secret>`. \
`title` is required; `description`, `severity` (critical, high, medium, low, info or a common synonym such as P1 or warning), \
`service` or `services`, `dedup_key`, `status` (firing, acknowledged, resolved) and `source_url` are optional.",
    decode: decode_single_object,
};
