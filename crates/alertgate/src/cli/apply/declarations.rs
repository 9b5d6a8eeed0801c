//! The declarations file (TOML): webhooks, destinations and the workspace's correlation rules as
//! they should be. Reading it parses every value into the same types the server uses, resolves
//! the secrets it references, and refuses secrets written inline — so a file that loads is one the
//! server will accept.
//!
//! ```toml
//! [[webhook]]
//! name = "prod-alertmanager"      # identifies the webhook within the workspace
//! platform = "prometheus"
//! secret_env = "AM_SECRET"        # or secret_file = "/run/secrets/am"
//! rate_limit_per_hour = 600
//!
//! [[destination]]
//! kind = "slack"
//! name = "ops"
//! url_env = "SLACK_URL"           # a Slack URL is itself a credential
//!
//! [correlation]                   # the workspace's rules; absent = left alone
//! enable_correlation = true
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use alertgate_core::auth::{AuthMethod, Secret};
use alertgate_core::correlation::{CorrelationSettings, RuleSet};
use alertgate_core::mapping::FieldMapping;
use alertgate_core::outbox::{AutomationSettings, DestinationKind, EventType};
use alertgate_core::platforms;
use alertgate_core::severity::Severity;
use alertgate_core::webhook::{validate_description, DedupWindow, RateLimit, WebhookName};

/// Everything one file declares, validated, with its secrets read.
#[derive(Debug, Clone)]
pub struct Declarations {
    pub webhooks: Vec<WebhookSpec>,
    pub destinations: Vec<DestinationSpec>,
    /// `None`: the file does not manage the workspace's correlation settings.
    pub correlation: Option<CorrelationSettings>,
}

/// A declared webhook: its name, the settings the server should hold, and its secret if managed.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    pub name: String,
    pub settings: WebhookSettings,
    /// `None`: the server's (generated) secret is left as it is.
    pub secret: Option<DeclaredSecret>,
}

/// The settings of a webhook that a declaration manages, in the management API's JSON shape, so
/// the same type reads the server's reply and the file's intent and the two compare field by
/// field. A key left out of the file means the server's default, not "leave as is".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSettings {
    pub platform: String,
    pub description: String,
    pub enabled: bool,
    pub field_mapping: FieldMapping,
    pub severity_mapping: BTreeMap<String, Severity>,
    pub default_severity: Severity,
    pub dedup_window_hours: DedupWindow,
    pub rate_limit_per_hour: RateLimit,
    #[serde(flatten)]
    pub correlation: CorrelationSettings,
    #[serde(flatten)]
    pub automation: AutomationSettings,
    pub auth: AuthMethod,
}

/// A declared destination.
#[derive(Debug, Clone)]
pub struct DestinationSpec {
    pub name: String,
    pub kind: DestinationKind,
    pub url: DestinationUrl,
    /// `None`: the server's (generated) signing secret is left as it is.
    pub secret: Option<DeclaredSecret>,
    pub event_types: Vec<EventType>,
    pub enabled: bool,
}

/// A destination's URL. A Slack URL is a credential: it comes from the environment or a file
/// and is only ever shown the way the server shows it (host and last four characters).
#[derive(Debug, Clone)]
pub enum DestinationUrl {
    Plain(String),
    Credential(DeclaredSecret),
}

impl DestinationUrl {
    pub fn value(&self) -> &str {
        match self {
            DestinationUrl::Plain(u) => u,
            DestinationUrl::Credential(s) => s.value.expose(),
        }
    }

    /// What the server's API shows for this URL.
    pub fn shown(&self) -> String {
        match self {
            DestinationUrl::Plain(u) => u.clone(),
            DestinationUrl::Credential(s) => redact_url(s.value.expose()),
        }
    }
}

/// A secret read from where the file pointed; `source` says where, for messages.
#[derive(Clone)]
pub struct DeclaredSecret {
    pub source: String,
    pub value: Secret,
}

impl std::fmt::Debug for DeclaredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeclaredSecret({})", self.source)
    }
}

impl DeclaredSecret {
    /// The server's `secret_hint` for this secret: its last four characters.
    pub fn hint(&self) -> String {
        format!("…{}", last_four(self.value.expose()))
    }
}

fn last_four(s: &str) -> String {
    let tail: Vec<char> = s.chars().rev().take(4).collect();
    tail.into_iter().rev().collect()
}

/// How the server shows a Slack URL: `https://hooks.slack.com/…abcd`.
pub fn redact_url(raw: &str) -> String {
    let tail = last_four(raw);
    match reqwest::Url::parse(raw) {
        Ok(u) => format!(
            "{}://{}/…{tail}",
            u.scheme(),
            u.host_str().unwrap_or_default()
        ),
        Err(_) => format!("…{tail}"),
    }
}

/// Where secrets come from; tests substitute a fixed environment.
pub trait SecretSource {
    fn env(&self, name: &str) -> Option<String>;
    fn file(&self, path: &Path) -> std::io::Result<String>;
}

/// The process environment and the file system.
pub struct System;

impl SecretSource for System {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    webhook: Vec<RawWebhook>,
    #[serde(default)]
    destination: Vec<RawDestination>,
    correlation: Option<RawCorrelation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: String,
    platform: Option<String>,
    #[serde(default)]
    description: String,
    enabled: Option<bool>,
    #[serde(default)]
    field_mapping: FieldMapping,
    #[serde(default)]
    severity_mapping: BTreeMap<String, Severity>,
    default_severity: Option<Severity>,
    dedup_window_hours: Option<i64>,
    rate_limit_per_hour: Option<i64>,
    enable_correlation: Option<bool>,
    correlation_window_minutes: Option<i64>,
    correlation_rules: Option<RuleSet>,
    auto_trigger_rca: Option<bool>,
    rca_min_severity: Option<Severity>,
    notify_workspace: Option<bool>,
    auth: Option<AuthMethod>,
    /// Accepted by the parser only to be refused with a useful message; never read.
    secret: Option<IgnoredAny>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    name: String,
    kind: DestinationKind,
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    /// Refused with a useful message; never read.
    secret: Option<IgnoredAny>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    event_types: Option<Vec<EventType>>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorrelation {
    enable_correlation: Option<bool>,
    correlation_window_minutes: Option<i64>,
    correlation_rules: Option<RuleSet>,
}

impl Declarations {
    /// Read and validate `path`, taking secrets from the environment and the file system.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::parse(&text, &System).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parse and validate a declarations document; every problem is reported, one per line.
    pub fn parse(text: &str, secrets: &dyn SecretSource) -> Result<Self, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        let mut webhooks = Vec::new();
        let mut names = HashSet::new();
        for w in raw.webhook {
            let label = format!("webhook `{}`", w.name.trim());
            if !names.insert(w.name.trim().to_string()) {
                problems.push(format!(
                    "{label} is declared twice (webhooks are identified by name)"
                ));
                continue;
            }
            match webhook_spec(w, secrets) {
                Ok(spec) => webhooks.push(spec),
                Err(e) => problems.push(format!("{label}: {e}")),
            }
        }
        let mut destinations = Vec::new();
        let mut names = HashSet::new();
        for d in raw.destination {
            let label = format!("destination `{}`", d.name.trim());
            if !names.insert(d.name.trim().to_string()) {
                problems.push(format!(
                    "{label} is declared twice (destinations are identified by name)"
                ));
                continue;
            }
            match destination_spec(d, secrets) {
                Ok(spec) => destinations.push(spec),
                Err(e) => problems.push(format!("{label}: {e}")),
            }
        }
        let investigations = destinations
            .iter()
            .filter(|d| d.kind == DestinationKind::Investigation)
            .count();
        if investigations > 1 {
            problems.push(format!(
                "{investigations} investigation destinations are declared; a workspace has one"
            ));
        }
        let correlation = match raw.correlation {
            None => None,
            Some(c) => {
                let settings = correlation_settings(
                    c.enable_correlation,
                    c.correlation_window_minutes,
                    c.correlation_rules,
                );
                if let Err(e) = settings.validate() {
                    problems.push(format!("correlation: {e}"));
                }
                Some(settings)
            }
        };
        if problems.is_empty() {
            Ok(Self {
                webhooks,
                destinations,
                correlation,
            })
        } else {
            Err(problems.join("\n"))
        }
    }
}

fn correlation_settings(
    enable: Option<bool>,
    window: Option<i64>,
    rules: Option<RuleSet>,
) -> CorrelationSettings {
    let defaults = CorrelationSettings::default();
    CorrelationSettings {
        enable_correlation: enable.unwrap_or(defaults.enable_correlation),
        correlation_window_minutes: window.unwrap_or(defaults.correlation_window_minutes),
        correlation_rules: rules.unwrap_or(defaults.correlation_rules),
    }
}

/// Read the secret that `env` or `file` names; at most one of them, never an inline value.
fn read_secret(
    inline: bool,
    env: Option<String>,
    file: Option<PathBuf>,
    key: &str,
    secrets: &dyn SecretSource,
) -> Result<Option<DeclaredSecret>, String> {
    if inline {
        return Err(format!(
            "`{key}` must not be written in the file; name where to read it with `{key}_env` or `{key}_file`"
        ));
    }
    let (source, value) = match (env, file) {
        (Some(_), Some(_)) => {
            return Err(format!("give `{key}_env` or `{key}_file`, not both"));
        }
        (None, None) => return Ok(None),
        (Some(var), None) => {
            let value = secrets
                .env(&var)
                .ok_or_else(|| format!("`{key}_env`: the environment variable {var} is not set"))?;
            (format!("environment variable {var}"), value)
        }
        (None, Some(path)) => {
            let value = secrets
                .file(&path)
                .map_err(|e| format!("`{key}_file`: reading {}: {e}", path.display()))?;
            (format!("file {}", path.display()), value)
        }
    };
    // A trailing newline is how files (and `echo`) end; it is not part of the secret.
    let value = value.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err(format!("`{key}`: the {source} is empty"));
    }
    Ok(Some(DeclaredSecret {
        source,
        value: Secret::new(value),
    }))
}

fn webhook_spec(w: RawWebhook, secrets: &dyn SecretSource) -> Result<WebhookSpec, String> {
    let name = WebhookName::parse(&w.name)?.as_str().to_string();
    let platform_id = w.platform.unwrap_or_else(|| "generic".into());
    let platform = platforms::get(&platform_id).ok_or_else(|| {
        let known: Vec<_> = platforms::ALL.iter().map(|p| p.id).collect();
        format!(
            "unknown platform `{platform_id}`; expected one of: {}",
            known.join(", ")
        )
    })?;
    validate_description(&w.description)?;
    let field_mapping = platform.default_field_mapping().overlay(&w.field_mapping);
    field_mapping.compile().map_err(|e| e.to_string())?;
    if field_mapping.title.is_none() {
        return Err("field_mapping.title is required".into());
    }
    let correlation = correlation_settings(
        w.enable_correlation,
        w.correlation_window_minutes,
        w.correlation_rules,
    );
    correlation.validate().map_err(|e| e.to_string())?;
    let auth = w.auth.unwrap_or_else(platform.default_auth);
    auth.validate().map_err(|e| format!("auth: {e}"))?;
    let defaults = AutomationSettings::default();
    let settings = WebhookSettings {
        platform: platform.id.to_string(),
        description: w.description.trim().to_string(),
        enabled: w.enabled.unwrap_or(true),
        field_mapping,
        severity_mapping: w.severity_mapping,
        default_severity: w.default_severity.unwrap_or(Severity::Medium),
        dedup_window_hours: match w.dedup_window_hours {
            Some(h) => DedupWindow::try_from(h)?,
            None => DedupWindow::DEFAULT,
        },
        rate_limit_per_hour: match w.rate_limit_per_hour {
            Some(n) => RateLimit::try_from(n)?,
            None => RateLimit::DEFAULT,
        },
        correlation,
        automation: AutomationSettings {
            auto_trigger_rca: w.auto_trigger_rca.unwrap_or(defaults.auto_trigger_rca),
            rca_min_severity: w.rca_min_severity.unwrap_or(defaults.rca_min_severity),
            notify_workspace: w.notify_workspace.unwrap_or(defaults.notify_workspace),
        },
        auth,
    };
    let secret = read_secret(
        w.secret.is_some(),
        w.secret_env,
        w.secret_file,
        "secret",
        secrets,
    )?;
    if let Some(s) = &secret {
        if !settings.auth.needs_secret() {
            return Err(format!(
                "its authentication ({}) takes no secret; remove `secret_env`/`secret_file`",
                settings.auth.kind()
            ));
        }
        let n = s.value.expose().chars().count();
        if !(8..=512).contains(&n) || s.value.expose().chars().any(char::is_control) {
            return Err(format!(
                "the secret in the {} must be 8-512 characters without control characters",
                s.source
            ));
        }
    }
    Ok(WebhookSpec {
        name,
        settings,
        secret,
    })
}

fn destination_spec(
    d: RawDestination,
    secrets: &dyn SecretSource,
) -> Result<DestinationSpec, String> {
    let name = WebhookName::parse(&d.name)?.as_str().to_string();
    let url = if d.kind == DestinationKind::Slack {
        if d.url.is_some() {
            return Err(
                "a Slack URL is a credential: name where to read it with `url_env` or `url_file` instead of `url`"
                    .into(),
            );
        }
        let secret = read_secret(false, d.url_env, d.url_file, "url", secrets)?
            .ok_or("a Slack destination needs `url_env` or `url_file`")?;
        let parsed = parse_url(secret.value.expose())
            .map_err(|e| format!("the URL in the {}: {e}", secret.source))?;
        DestinationUrl::Credential(DeclaredSecret {
            source: secret.source,
            value: Secret::new(parsed),
        })
    } else {
        match (d.url, d.url_env.is_some() || d.url_file.is_some()) {
            (Some(_), true) => return Err("give `url` or `url_env`/`url_file`, not both".into()),
            (Some(u), false) => {
                DestinationUrl::Plain(parse_url(&u).map_err(|e| format!("url: {e}"))?)
            }
            (None, _) => {
                let secret = read_secret(false, d.url_env, d.url_file, "url", secrets)?
                    .ok_or("`url` is required")?;
                DestinationUrl::Plain(
                    parse_url(secret.value.expose())
                        .map_err(|e| format!("the URL in the {}: {e}", secret.source))?,
                )
            }
        }
    };
    let secret = read_secret(
        d.secret.is_some(),
        d.secret_env,
        d.secret_file,
        "secret",
        secrets,
    )?;
    if let Some(s) = &secret {
        if !d.kind.is_signed() {
            return Err(
                "Slack-compatible webhooks are not signed; remove `secret_env`/`secret_file`"
                    .into(),
            );
        }
        alertgate_server::outbox::signing::parse_secret(s.value.expose())
            .map_err(|e| format!("the {}: {e}", s.source))?;
    }
    let event_types = match d.kind {
        DestinationKind::Investigation => match d.event_types.as_deref() {
            None | Some([EventType::Created]) => vec![EventType::Created],
            Some(_) => {
                return Err("the investigation destination receives incident.created only".into())
            }
        },
        _ => {
            let mut types = d.event_types.unwrap_or_else(|| EventType::ALL.to_vec());
            types.sort();
            types.dedup();
            if types.is_empty() {
                return Err("event_types must name at least one event type".into());
            }
            types
        }
    };
    Ok(DestinationSpec {
        name,
        kind: d.kind,
        url,
        secret,
        event_types,
        enabled: d.enabled.unwrap_or(true),
    })
}

/// A URL in the form the server stores it (so that comparing with its reply is exact). Whether
/// the server accepts the host (https, public address) is its decision, made when applying.
fn parse_url(raw: &str) -> Result<String, String> {
    reqwest::Url::parse(raw.trim())
        .map(|u| u.to_string())
        .map_err(|e| format!("not a valid URL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Env(Vec<(&'static str, &'static str)>);

    impl SecretSource for Env {
        fn env(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
        fn file(&self, path: &Path) -> std::io::Result<String> {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                path.display().to_string(),
            ))
        }
    }

    #[test]
    fn an_inline_secret_is_refused_without_echoing_it() {
        let err = Declarations::parse(
            "[[webhook]]\nname = \"a\"\nplatform = \"prometheus\"\nsecret = \"hunter2-hunter2\"\n",
            &Env(vec![]),
        )
        .unwrap_err();
        assert!(err.contains("secret_env"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_secret_is_read_from_the_named_environment_variable() {
        let d = Declarations::parse(
            "[[webhook]]\nname = \"a\"\nplatform = \"prometheus\"\nsecret_env = \"AM\"\n",
            &Env(vec![("AM", "s3cret-value-wxyz\n")]),
        )
        .unwrap();
        let secret = d.webhooks[0].secret.as_ref().unwrap();
        assert_eq!(secret.value.expose(), "s3cret-value-wxyz");
        assert_eq!(secret.hint(), "…wxyz");
    }

    #[test]
    fn a_missing_environment_variable_is_named() {
        let err = Declarations::parse(
            "[[webhook]]\nname = \"a\"\nsecret_env = \"NOPE\"\n",
            &Env(vec![]),
        )
        .unwrap_err();
        assert!(err.contains("NOPE is not set"), "{err}");
    }

    #[test]
    fn keys_left_out_mean_the_servers_defaults() {
        let d = Declarations::parse("[[webhook]]\nname = \" a \"\n", &Env(vec![])).unwrap();
        let w = &d.webhooks[0];
        assert_eq!(w.name, "a");
        assert_eq!(w.settings.platform, "generic");
        assert_eq!(w.settings.rate_limit_per_hour, RateLimit::DEFAULT);
        assert_eq!(w.settings.dedup_window_hours, DedupWindow::DEFAULT);
        assert!(w.settings.enabled);
        assert!(d.correlation.is_none());
    }

    #[test]
    fn every_problem_is_listed_and_typos_are_refused() {
        let err = Declarations::parse(
            "[[webhook]]\nname = \"a\"\nrate_limit_per_hour = 99999\n[[webhook]]\nname = \"a\"\n[[webhook]]\nname = \"b\"\nplatform = \"nope\"\n",
            &Env(vec![]),
        )
        .unwrap_err();
        assert_eq!(err.lines().count(), 3, "{err}");
        let typo = Declarations::parse("[[webhook]]\nname = \"a\"\nrate_limit = 5\n", &Env(vec![]))
            .unwrap_err();
        assert!(typo.contains("rate_limit"), "{typo}");
    }

    #[test]
    fn a_slack_url_must_come_from_the_environment_or_a_file() {
        let err = Declarations::parse(
            "[[destination]]\nname = \"s\"\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/x\"\n",
            &Env(vec![]),
        )
        .unwrap_err();
        assert!(err.contains("url_env"), "{err}");
        let d = Declarations::parse(
            "[[destination]]\nname = \"s\"\nkind = \"slack\"\nurl_env = \"SLACK\"\n",
            &Env(vec![("SLACK", "https://hooks.slack.com/services/T/B/abcd")]),
        )
        .unwrap();
        assert_eq!(
            d.destinations[0].url.shown(),
            "https://hooks.slack.com/…abcd"
        );
    }

    /// Secrets for the README's example, each in the form its key needs.
    struct Deployment;

    impl SecretSource for Deployment {
        fn env(&self, name: &str) -> Option<String> {
            Some(match name {
                "SLACK_WEBHOOK_URL" => "https://hooks.slack.com/services/T0/B0/abcdef".into(),
                "RCA_SIGNING_SECRET" => "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
                _ => format!("secret-of-{name}"),
            })
        }
        fn file(&self, path: &Path) -> std::io::Result<String> {
            Ok(format!("secret-in-{}\n", path.display()))
        }
    }

    #[test]
    fn the_readme_example_is_a_valid_declarations_file() {
        let readme = include_str!("../../../../../README.md");
        let start = readme.find("# declarations.toml\n").unwrap();
        let end = start + readme[start..].find("```").unwrap();
        let d = Declarations::parse(&readme[start..end], &Deployment).unwrap();
        assert_eq!(d.webhooks.len(), 2);
        assert_eq!(d.destinations.len(), 2);
        assert!(d.correlation.is_some());
    }

    #[test]
    fn a_webhook_without_secret_auth_takes_no_secret() {
        let err = Declarations::parse(
            "[[webhook]]\nname = \"a\"\nsecret_env = \"S\"\n[webhook.auth]\ntype = \"none\"\n",
            &Env(vec![("S", "long-enough-secret")]),
        )
        .unwrap_err();
        assert!(err.contains("takes no secret"), "{err}");
    }
}
