//! Evaluation: which open incident, if any, a new alert joins. See the [module docs](super) for
//! the semantics; this file is their implementation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::compile::{CompiledCorrelation, Mode, Test, Tree, Weight};
use super::field::{FieldRef, Subject, Texts};
use super::operator::{compare, regex_matches, Op, Operand};
use crate::alert::NormalizedAlert;
use crate::ids::{IncidentId, WebhookId, WorkspaceId};
use crate::severity::Severity;
use crate::status::IncidentStatus;
use crate::time::Timestamp;

/// The new alert, with where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub alert: &'a NormalizedAlert,
    pub webhook_id: WebhookId,
    pub workspace_id: WorkspaceId,
    /// The webhook's platform id (`generic`, `alertmanager`, …): the alert's `source` field.
    pub platform: &'a str,
}

/// An open incident the new alert might join, as the store loads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub incident_id: IncidentId,
    pub webhook_id: WebhookId,
    pub workspace_id: WorkspaceId,
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub services: Vec<String>,
    /// A resolved incident is never joined, whatever the store passes.
    pub status: IncidentStatus,
    /// The platform id of the incident's webhook.
    pub source: String,
    pub source_url: Option<String>,
    /// A representative payload: that of the incident's first alert.
    pub payload: Value,
    /// When the incident last received an alert (created, deduplicated or correlated).
    pub last_alert_at: Timestamp,
}

/// Whose rules made the match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Webhook,
    Workspace,
}

/// How the match was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// One or more rules matched; `rules` names them and `score` is their capped sum.
    Rules,
    /// The webhook has correlation on and no rules: the newest open incident in the window.
    /// `rules` is empty and `score` is 0.
    TimeWindow,
}

/// Why the new alert joins an incident: stored with the alert so the decision is explainable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CorrelationMatch {
    pub incident_id: IncidentId,
    pub scope: Scope,
    pub by: MatchedBy,
    /// The sum of the matched rules' weights, capped at 1.
    pub score: f64,
    /// The matched rules' names, in priority order.
    pub rules: Vec<String>,
    /// The window of the scope that matched.
    pub window_minutes: u16,
}

/// What the store should load as candidates: open incidents whose last alert is at or after
/// `since`, of the alert's webhook only, or of its whole workspace when `across_webhooks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandidateQuery {
    pub since: Timestamp,
    pub across_webhooks: bool,
}

/// How many candidates the store should load at most (the newest first). Evaluation costs
/// candidates × conditions, so this keeps one decision cheap inside the writer's transaction.
pub const MAX_CANDIDATES: usize = 200;

/// Whether an alert of a webhook with these settings can join an existing incident at all: when
/// not, nothing reads its document after it is stored.
pub fn may_correlate(webhook: &CompiledCorrelation, workspace: &CompiledCorrelation) -> bool {
    candidate_query(webhook, workspace, Timestamp::from_millis(0)).is_some()
}

/// Which candidates could matter under these settings; `None` when correlation can not apply
/// ([`may_correlate`]; the store then skips the query).
pub fn candidate_query(
    webhook: &CompiledCorrelation,
    workspace: &CompiledCorrelation,
    now: Timestamp,
) -> Option<CandidateQuery> {
    let own = (webhook.mode() != Mode::Off).then(|| webhook.window().millis());
    let across = (workspace.mode() == Mode::Rules).then(|| workspace.window().millis());
    let widest = own.into_iter().chain(across).max()?;
    Some(CandidateQuery {
        since: now.saturating_sub_millis(widest),
        across_webhooks: across.is_some(),
    })
}

/// Decide whether the new alert joins one of `candidates` instead of opening an incident.
///
/// Webhook-scope rules are tried first (on the alert's webhook's incidents), then
/// workspace-scope rules (on all of the workspace's incidents), then the webhook's time-window
/// mode. A candidate of another workspace, or a resolved one, is never returned.
pub fn correlate(
    incoming: &Incoming<'_>,
    webhook: &CompiledCorrelation,
    workspace: &CompiledCorrelation,
    candidates: &[Candidate],
    now: Timestamp,
) -> Option<CorrelationMatch> {
    let alert = incoming_subject(incoming);
    let open = |c: &&Candidate| {
        c.workspace_id == incoming.workspace_id && c.status != IncidentStatus::Resolved
    };
    let same_webhook = |c: &&Candidate| c.webhook_id == incoming.webhook_id;
    let within = |cfg: &CompiledCorrelation| {
        let since = now.saturating_sub_millis(cfg.window().millis());
        move |c: &&Candidate| c.last_alert_at >= since
    };

    if webhook.mode() == Mode::Rules {
        let pool = candidates
            .iter()
            .filter(open)
            .filter(same_webhook)
            .filter(within(webhook));
        if let Some(m) = best_by_rules(Scope::Webhook, webhook, alert, pool) {
            return Some(m);
        }
    }
    if workspace.mode() == Mode::Rules {
        let pool = candidates.iter().filter(open).filter(within(workspace));
        if let Some(m) = best_by_rules(Scope::Workspace, workspace, alert, pool) {
            return Some(m);
        }
    }
    if webhook.mode() == Mode::TimeWindow {
        return candidates
            .iter()
            .filter(open)
            .filter(same_webhook)
            .filter(within(webhook))
            .max_by_key(|c| (c.last_alert_at, c.incident_id))
            .map(|c| CorrelationMatch {
                incident_id: c.incident_id,
                scope: Scope::Webhook,
                by: MatchedBy::TimeWindow,
                score: 0.0,
                rules: Vec::new(),
                window_minutes: webhook.window().minutes(),
            });
    }
    None
}

/// The best candidate by score, then best matched priority, then recency, then newest id.
fn best_by_rules<'c>(
    scope: Scope,
    cfg: &CompiledCorrelation,
    alert: Subject<'_>,
    pool: impl Iterator<Item = &'c Candidate>,
) -> Option<CorrelationMatch> {
    let fields = cfg.fields.as_slice();
    let mut ours = Side::new(alert, fields.len());
    let mut theirs: Option<Side<'c>> = None;
    // Tests that read only the new alert are computed once, not once per candidate.
    let mut memo: Vec<Option<bool>> = vec![None; cfg.slots];
    let mut best: Option<(RankKey, &Candidate, Vec<&str>, Weight)> = None;
    for candidate in pool {
        let side = match theirs.as_mut() {
            Some(side) => {
                side.reset(candidate_subject(candidate));
                side
            }
            None => theirs.insert(Side::new(candidate_subject(candidate), fields.len())),
        };
        let mut score = Weight::ZERO;
        let mut matched = Vec::new();
        // Rules are in priority order, so the first one matched has the best priority.
        let mut best_priority = None;
        for rule in &cfg.rules {
            if holds(&rule.root, fields, &mut ours, side, &mut memo) {
                score = score.saturating_add_capped(rule.weight);
                matched.push(rule.name.as_str());
                best_priority.get_or_insert(rule.priority);
            }
        }
        let Some(priority) = best_priority else {
            continue;
        };
        if score < cfg.min_weight {
            continue;
        }
        let key = RankKey {
            score,
            // Lower number first; no priority after every number.
            priority: std::cmp::Reverse((priority.is_none(), priority.unwrap_or(0))),
            last_alert_at: candidate.last_alert_at,
            incident_id: candidate.incident_id,
        };
        if best.as_ref().is_none_or(|(k, ..)| key > *k) {
            best = Some((key, candidate, matched, score));
        }
    }
    best.map(|(_, c, rules, score)| CorrelationMatch {
        incident_id: c.incident_id,
        scope,
        by: MatchedBy::Rules,
        score: score.as_f64(),
        rules: rules.into_iter().map(str::to_string).collect(),
        window_minutes: cfg.window().minutes(),
    })
}

/// Field order is the tie-break order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RankKey {
    score: Weight,
    priority: std::cmp::Reverse<(bool, u32)>,
    last_alert_at: Timestamp,
    incident_id: IncidentId,
}

/// One side of the comparison, each field read (and lowercased, where asked) at most once.
struct Side<'a> {
    subject: Subject<'a>,
    /// Indexed by `field * 2 + case_insensitive`.
    values: Vec<Option<Option<Texts<'a>>>>,
}

impl<'a> Side<'a> {
    fn new(subject: Subject<'a>, fields: usize) -> Self {
        Self {
            subject,
            values: vec![None; fields * 2],
        }
    }

    fn reset(&mut self, subject: Subject<'a>) {
        self.subject = subject;
        self.values.iter_mut().for_each(|v| *v = None);
    }

    fn value(&mut self, fields: &[FieldRef], field: usize, ci: bool) -> Option<&Texts<'a>> {
        let subject = self.subject;
        let slot = self.values.get_mut(field * 2 + usize::from(ci))?;
        let read = slot.get_or_insert_with(|| {
            let read = fields.get(field).and_then(|f| f.read(&subject));
            if ci {
                read.map(|t| t.lowercased())
            } else {
                read
            }
        });
        read.as_ref()
    }
}

fn holds(
    tree: &Tree,
    fields: &[FieldRef],
    ours: &mut Side<'_>,
    theirs: &mut Side<'_>,
    memo: &mut [Option<bool>],
) -> bool {
    match tree {
        Tree::All(items) => items.iter().all(|t| holds(t, fields, ours, theirs, memo)),
        Tree::Any(items) => items.iter().any(|t| holds(t, fields, ours, theirs, memo)),
        Tree::Test(test) if test.alert_only() => {
            if let Some(Some(known)) = memo.get(test.slot) {
                return *known;
            }
            let result = run(test, fields, ours, theirs);
            if let Some(slot) = memo.get_mut(test.slot) {
                *slot = Some(result);
            }
            result
        }
        Tree::Test(test) => run(test, fields, ours, theirs),
    }
}

fn run(test: &Test, fields: &[FieldRef], ours: &mut Side<'_>, theirs: &mut Side<'_>) -> bool {
    let ci = test.case_insensitive;
    match &test.op {
        Op::Exists(present) => ours.value(fields, test.field, false).is_some() == *present,
        // A case-insensitive regex was compiled as such: it reads the text as it is.
        Op::Regex(re) => ours
            .value(fields, test.field, false)
            .is_some_and(|v| regex_matches(re, v)),
        Op::Compare(kind, Operand::Literal(literal)) => ours
            .value(fields, test.field, ci)
            .is_some_and(|v| compare(*kind, v, literal)),
        Op::Compare(kind, Operand::Candidate) => {
            let Some(v) = ours.value(fields, test.field, ci) else {
                return false;
            };
            let Some(o) = theirs.value(fields, test.field, ci) else {
                return false;
            };
            compare(*kind, v, o)
        }
    }
}

fn incoming_subject<'a>(incoming: &Incoming<'a>) -> Subject<'a> {
    let a = incoming.alert;
    Subject {
        title: &a.title,
        description: a.description.as_deref(),
        severity: a.severity,
        services: &a.services,
        status: a.status.as_str(),
        source: incoming.platform,
        source_url: a.source_url.as_deref(),
        payload: &a.payload,
    }
}

fn candidate_subject(c: &Candidate) -> Subject<'_> {
    Subject {
        title: &c.title,
        description: c.description.as_deref(),
        severity: c.severity,
        services: &c.services,
        // In the alert vocabulary, so `status equals ""` can compare the two.
        status: match c.status {
            IncidentStatus::Open => "firing",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        },
        source: &c.source,
        source_url: c.source_url.as_deref(),
        payload: &c.payload,
    }
}
