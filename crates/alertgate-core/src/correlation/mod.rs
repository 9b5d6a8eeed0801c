//! Correlation: whether a new alert joins an open incident instead of opening one.
//!
//! When a database goes down, twenty alerts from five tools arrive in a minute; users want one
//! incident. When triage says "open a new incident", the store — inside the writer's
//! transaction — loads candidate open incidents ([`candidate_query`] says which) and calls
//! [`correlate`]. Everything here is pure: `now` is passed in.
//!
//! # Settings
//!
//! Each scope (a webhook, and the workspace) has [`CorrelationSettings`]:
//!
//! ```json
//! {"enable_correlation": true, "correlation_window_minutes": 5,
//!  "correlation_rules": {"enabled": true, "min_match_weight": 0.5, "rules": [
//!    {"name": "Same Service", "priority": 1, "weight": 0.8, "conditions": {"operator": "and", "items": [
//!      {"field": "services", "operator": "intersects", "value": []},
//!      {"field": "severity", "operator": "in", "value": ["critical", "high"]}]}}]}}
//! ```
//!
//! Settings are checked and compiled once, when saved: [`CorrelationSettings::compile`] returns a
//! [`CompiledCorrelation`] (regexes compiled) or an [`InvalidCorrelation`] listing every problem,
//! each naming the rule (number and name), where in it, and what is wrong. Defaults:
//! correlation off, window 5 minutes (1 minute to 24 hours), `min_match_weight` 0.5, rules
//! enabled. Bounds: 50 rules, 50 conditions per rule, groups nested 5 deep (the root group
//! counts), 20 regexes per rule set, each at most 1,000 characters and compiled within 256 KiB,
//! literal lists of at most 1,000 values of at most 1,000 characters, rule names of at most 100
//! characters, unique within the set.
//!
//! # Conditions
//!
//! A rule's `conditions` is one item; an item is a condition (it has `field`, `operator`,
//! optionally `value` and `case_insensitive`) or a group (`operator` `and`/`or` and non-empty
//! `items`, which nest).
//!
//! ## Fields
//!
//! - Normalized fields: `title`, `description`, `severity` (`critical` … `info`), `services`
//!   (a list), `status`, `source`, `source_url`.
//!   - `source` is the **platform id** of the webhook the alert came through (`generic`,
//!     `alertmanager`, …): it names the tool, which is what correlating "across five tools"
//!     needs. The alert's link is `source_url`.
//!   - `status` is in the alert vocabulary (`firing`, `acknowledged`, `resolved`). A candidate
//!     incident's status is read in the same vocabulary: `open` reads as `firing`.
//! - Anything else is a path into the payload (the new alert's document, the candidate's
//!   representative payload). `labels.cluster` and `payload.labels.cluster` are the same path;
//!   the `payload.` prefix is needed only to reach a payload key that shadows a normalized name
//!   (`payload.title`). Segments are object keys, or array indexes when numeric
//!   (`alerts.0.status`). A field starting with `$` is an RFC 9535 JSONPath over the payload
//!   whose first node is the value, for keys that contain dots (`$['k8s.io/app']`).
//! - Field names are case-sensitive.
//!
//! ## Values
//!
//! A field reads as one text, a list of texts, or nothing. Strings are themselves; numbers and
//! booleans are their JSON text (`42`, `1.5`, `true`: so `equals 42` matches `"42"` and `42`, but
//! not `42.0`); objects are their compact JSON. An array is the list of its elements' texts,
//! leaving out nulls and empty strings. A missing field, `null`, `""`, `[]` and `{}` all read as
//! **nothing**, and nothing matches no operator except `exists`.
//!
//! Texts compare exactly, by Unicode code points: case-sensitive, no normalization (`é` as one
//! code point differs from `e` + combining accent). With `"case_insensitive": true` both sides
//! are lowercased first (Unicode lowercase, not full case folding: `ß` does not match `SS`) and
//! regexes match case-insensitively.
//!
//! ## Literal or candidate
//!
//! - A condition with a literal `value` tests the **new alert** only:
//!   `{"field": "severity", "operator": "in", "value": ["critical", "high"]}`.
//! - A condition whose value is **empty** (absent, `null`, `""` or `[]`) compares the new alert's
//!   field with the **candidate incident's** same field, the candidate's value taking the
//!   literal's place: `services intersects []` = the alert's services intersect the incident's;
//!   `labels.cluster equals ""` = same cluster. Both sides must read as something.
//!
//! ## Operators
//!
//! Below, a single text counts as a one-element set where sets are compared.
//!
//! | operator | literal | meaning |
//! | --- | --- | --- |
//! | `equals` | string, number, boolean, or array of them | same set of texts (so on lists, set equality: order and repeats do not matter) |
//! | `contains` | string, number or boolean | text: has the literal as a substring; list: has an element equal to it. With a list operand (a candidate's list): has every one of its elements |
//! | `starts_with` | string, number or boolean | some text (or element) starts with the operand (or one of its elements) |
//! | `regex` | non-empty string | some text (or element) matches; unanchored — use `^…$`. Literal only |
//! | `in` | array | every text (or element) of the field is one of the operand's |
//! | `intersects` | array | the field and the operand share at least one text |
//! | `exists` | `true`, `false`, or empty (= `true`) | `true`: the new alert's field reads as something; `false`: as nothing. Never looks at the candidate |
//!
//! Literals for `severity` and `status` with `equals`, `in` and `intersects` are checked against
//! their vocabularies when saved, so `"Critical"` (without `case_insensitive`) or `"open"` is
//! reported instead of never matching.
//!
//! # Scoring
//!
//! For each candidate, the score is the sum of the weights of the rules whose conditions hold,
//! capped at 1 (weights are summed exactly, in millionths). A candidate needs at least one
//! matching rule and a score of at least `min_match_weight`. Among those the winner is the one
//! with, in order:
//! 1. the highest score;
//! 2. the best priority among its matched rules — **lower number = higher priority** (1 before
//!    2), a rule without priority after every number;
//! 3. the most recent `last_alert_at`;
//! 4. the newest incident id (ids sort by creation time), so the choice is deterministic.
//!
//! `CorrelationMatch::rules` lists the matched rules in priority order.
//!
//! # Windows, scopes and modes
//!
//! A candidate is in a scope's window when its **last correlated alert** (`last_alert_at`: the
//! last alert created in, deduplicated into or correlated into it) is at most the window before
//! `now`, inclusive. So an incident that keeps receiving alerts stays joinable; one that went
//! quiet for longer than the window does not.
//!
//! Candidates of another workspace, and resolved ones, are never joined. Then, in order:
//! 1. **Webhook rules** (webhook correlation on, rules enabled and non-empty): candidates of the
//!    same webhook in the webhook's window.
//! 2. **Workspace rules** (workspace correlation on, rules enabled and non-empty): candidates of
//!    every webhook of the workspace in the workspace's window. This is the only way an alert
//!    joins another webhook's incident.
//! 3. **Time-window-only mode** (webhook correlation on, rules disabled or none): the most
//!    recent open incident of the same webhook in the window (`by: time_window`, score 0).
//!    A workspace without rules correlates nothing: crossing webhooks takes a matching rule.
//!
//! The narrower scope goes first because its rules are the webhook owner's statement about
//! their own alerts, and because scores from two independently written rule sets are not
//! comparable; time-window-only goes last because it is the weakest evidence (none but timing),
//! so a workspace rule that actually matched is preferred to it.

mod compile;
mod config;
mod engine;
mod field;
mod operator;

pub use compile::{
    CompiledCorrelation, ConfigProblem, CorrelationWindow, InvalidCorrelation, Mode,
    MAX_CONDITIONS_PER_RULE, MAX_DEPTH, MAX_LIST_VALUES, MAX_PATTERN_LEN, MAX_REGEXES, MAX_RULES,
    MAX_RULE_NAME_LEN, MAX_VALUE_LEN, REGEX_SIZE_LIMIT,
};
pub use config::{
    Condition, CorrelationSettings, Group, Node, Rule, RuleSet, DEFAULT_MIN_MATCH_WEIGHT,
    DEFAULT_WINDOW_MINUTES,
};
pub use engine::{
    candidate_query, correlate, may_correlate, Candidate, CandidateQuery, CorrelationMatch,
    Incoming, MatchedBy, Scope, MAX_CANDIDATES,
};
pub use field::{MAX_FIELD_LEN, MAX_PATH_SEGMENTS, NORMALIZED_FIELDS};
pub use operator::OPERATORS;

#[cfg(test)]
mod tests;
