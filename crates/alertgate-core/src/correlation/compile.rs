//! Validation: settings are checked once, when saved, and compiled into the form evaluation uses.
//!
//! [`compile`] walks everything and collects every problem (not just the first), each naming the
//! rule (its number and name), the place in it, and what is wrong, so a 400 can list them all.
//! Regexes are compiled here, once, with the `regex` crate (linear-time matching) and a bound on
//! their compiled size.

use std::collections::HashSet;
use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::Serialize;
use serde_json::Value;

use super::config::{clip, CorrelationSettings, Node};
use super::field::{FieldRef, Texts, Vocabulary};
use super::operator::{Kind, Op, Operand, OPERATORS};

/// At most this many rules per scope.
pub const MAX_RULES: usize = 50;
/// At most this many nested groups from a rule's root to a condition (the root group counts).
pub const MAX_DEPTH: usize = 5;
/// At most this many conditions in one rule.
pub const MAX_CONDITIONS_PER_RULE: usize = 50;
/// At most this many `regex` conditions per scope (each may take up to [`REGEX_SIZE_LIMIT`]).
pub const MAX_REGEXES: usize = 20;
/// The bound given to `RegexBuilder::size_limit` (and to its lazy DFA cache).
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// A regex pattern is at most this many characters.
pub const MAX_PATTERN_LEN: usize = 1_000;
/// A literal list has at most this many values.
pub const MAX_LIST_VALUES: usize = 1_000;
/// A literal text is at most this many characters.
pub const MAX_VALUE_LEN: usize = 1_000;
/// A rule name is at most this many characters.
pub const MAX_RULE_NAME_LEN: usize = 100;

/// How far back a candidate's last alert may be: 1 minute to 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CorrelationWindow(u16);

impl CorrelationWindow {
    pub const DEFAULT: CorrelationWindow = CorrelationWindow(5);
    pub const MAX_MINUTES: i64 = 24 * 60;

    pub fn minutes(self) -> u16 {
        self.0
    }

    pub fn millis(self) -> i64 {
        i64::from(self.0) * 60_000
    }
}

impl Default for CorrelationWindow {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for CorrelationWindow {
    type Error = String;
    fn try_from(minutes: i64) -> Result<Self, String> {
        match u16::try_from(minutes) {
            Ok(m) if (1..=Self::MAX_MINUTES).contains(&minutes) => Ok(CorrelationWindow(m)),
            _ => Err(format!(
                "must be between 1 and {} minutes (got {minutes})",
                Self::MAX_MINUTES
            )),
        }
    }
}

/// A weight or score in millionths of 1: sums and comparisons are exact, so `0.1 + 0.2 + 0.2`
/// reaches a minimum of `0.5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Weight(u32);

impl Weight {
    pub(crate) const ZERO: Weight = Weight(0);
    pub(crate) const ONE: Weight = Weight(1_000_000);

    fn parse(w: f64) -> Result<Weight, String> {
        if w.is_finite() && (0.0..=1.0).contains(&w) {
            // In range by the check above, so the cast neither truncates nor saturates.
            Ok(Weight((w * 1_000_000.0).round() as u32))
        } else {
            Err(format!("must be between 0 and 1 (got {w})"))
        }
    }

    pub(crate) fn saturating_add_capped(self, other: Weight) -> Weight {
        Weight(self.0.saturating_add(other.0).min(Self::ONE.0))
    }

    pub(crate) fn as_f64(self) -> f64 {
        f64::from(self.0) / 1_000_000.0
    }
}

/// What a compiled scope does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `enable_correlation` is off.
    Off,
    /// On, with no enabled rules: join the newest open incident of the same webhook in the window.
    /// (In workspace scope this does nothing: crossing webhooks takes a matching rule.)
    TimeWindow,
    /// On, with rules: join the best-scoring candidate.
    Rules,
}

/// One scope's settings, checked and ready to evaluate. Build with
/// [`CorrelationSettings::compile`]; [`CompiledCorrelation::default`] is "off".
#[derive(Debug, Clone)]
pub struct CompiledCorrelation {
    pub(crate) mode: Mode,
    pub(crate) window: CorrelationWindow,
    pub(crate) min_weight: Weight,
    /// In evaluation order: by priority (absent last), then as configured.
    pub(crate) rules: Vec<CompiledRule>,
    /// One memo slot per condition, numbered across all rules.
    pub(crate) slots: usize,
    /// The distinct fields the conditions read; tests refer to them by index, so each is read
    /// once per alert and once per candidate however many conditions use it.
    pub(crate) fields: Vec<FieldRef>,
}

impl Default for CompiledCorrelation {
    fn default() -> Self {
        Self {
            mode: Mode::Off,
            window: CorrelationWindow::DEFAULT,
            min_weight: Weight(500_000),
            rules: Vec::new(),
            slots: 0,
            fields: Vec::new(),
        }
    }
}

impl CompiledCorrelation {
    /// Correlation off.
    pub fn off() -> Self {
        Self::default()
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn window(&self) -> CorrelationWindow {
        self.window
    }

    /// The score a candidate needs, 0 to 1.
    pub fn min_match_weight(&self) -> f64 {
        self.min_weight.as_f64()
    }

    /// The rule names in evaluation order (priority, then as configured).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) name: String,
    pub(crate) priority: Option<u32>,
    pub(crate) weight: Weight,
    pub(crate) root: Tree,
}

#[derive(Debug, Clone)]
pub(crate) enum Tree {
    All(Vec<Tree>),
    Any(Vec<Tree>),
    Test(Box<Test>),
}

#[derive(Debug, Clone)]
pub(crate) struct Test {
    /// Where this test's result on the new alert alone is memoized (when it does not depend on
    /// the candidate).
    pub(crate) slot: usize,
    /// Index into [`CompiledCorrelation::fields`].
    pub(crate) field: usize,
    pub(crate) op: Op,
    pub(crate) case_insensitive: bool,
}

impl Test {
    /// True when the result depends on the new alert only (so it can be computed once per alert).
    pub(crate) fn alert_only(&self) -> bool {
        !matches!(self.op, Op::Compare(_, Operand::Candidate))
    }
}

/// One thing wrong with correlation settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// 1-based position in `correlation_rules.rules`, when the problem is in a rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_number: Option<usize>,
    /// The rule's name (shortened to 100 characters), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Where: a setting (`correlation_window_minutes`) or a place in the rule
    /// (`conditions.items[1]`).
    pub at: String,
    /// What is wrong, and what is expected.
    pub problem: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.rule, self.rule_number) {
            (Some(name), Some(n)) => write!(f, "rule \"{name}\" (#{n}), ")?,
            (Some(name), None) => write!(f, "rule \"{name}\", ")?,
            (None, Some(n)) => write!(f, "rule #{n}, ")?,
            (None, None) => {}
        }
        write!(f, "{}: {}", self.at, self.problem)
    }
}

/// Correlation settings that cannot be saved: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct InvalidCorrelation {
    pub problems: Vec<ConfigProblem>,
}

impl InvalidCorrelation {
    /// The machine-readable error code for the API's error body.
    pub fn code(&self) -> &'static str {
        "invalid_correlation_rules"
    }
}

impl fmt::Display for InvalidCorrelation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid correlation settings: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Where problems are collected while walking one rule.
struct Checker<'a> {
    problems: &'a mut Vec<ConfigProblem>,
    rule_number: usize,
    rule: Option<String>,
    slots: &'a mut usize,
    /// Fields by their source text, shared by all rules.
    fields: &'a mut Vec<(String, FieldRef)>,
    regexes: &'a mut usize,
    conditions: usize,
    too_deep_reported: bool,
}

impl Checker<'_> {
    fn problem(&mut self, at: &str, problem: impl Into<String>) {
        self.problems.push(ConfigProblem {
            rule_number: Some(self.rule_number),
            rule: self.rule.clone(),
            at: at.to_string(),
            problem: problem.into(),
        });
    }

    /// `depth` is the number of groups enclosing `node`.
    fn node(&mut self, node: &Node, at: &str, depth: usize) -> Option<Tree> {
        match node {
            Node::Group(g) => {
                if depth + 1 > MAX_DEPTH {
                    if !self.too_deep_reported {
                        self.too_deep_reported = true;
                        self.problem(at, format!("groups are nested more than {MAX_DEPTH} deep"));
                    }
                    return None;
                }
                let all = match g.operator.as_str() {
                    "and" => Some(true),
                    "or" => Some(false),
                    other => {
                        let hint = if Kind::parse(other).is_some() {
                            " (a condition's operator; a condition needs a `field`)"
                        } else {
                            ""
                        };
                        self.problem(
                            at,
                            format!(
                                "unknown group operator `{}`: expected `and` or `or`{hint}",
                                clip(other)
                            ),
                        );
                        None
                    }
                };
                if g.items.is_empty() {
                    self.problem(at, "a group needs at least one item");
                }
                let mut items = Vec::with_capacity(g.items.len());
                let mut ok = true;
                for (i, item) in g.items.iter().enumerate() {
                    match self.node(item, &format!("{at}.items[{i}]"), depth + 1) {
                        Some(t) => items.push(t),
                        None => ok = false,
                    }
                }
                match (all, ok && !g.items.is_empty()) {
                    (Some(true), true) => Some(Tree::All(items)),
                    (Some(false), true) => Some(Tree::Any(items)),
                    _ => None,
                }
            }
            Node::Condition(c) => {
                self.conditions += 1;
                if self.conditions == MAX_CONDITIONS_PER_RULE + 1 {
                    self.problem(
                        at,
                        format!("a rule has at most {MAX_CONDITIONS_PER_RULE} conditions"),
                    );
                }
                let known = self.fields.iter().position(|(src, _)| *src == c.field);
                let field = match known {
                    Some(i) => Some(i),
                    None => match FieldRef::parse(&c.field) {
                        Ok(f) => {
                            self.fields.push((c.field.clone(), f));
                            Some(self.fields.len() - 1)
                        }
                        Err(e) => {
                            self.problem(at, format!("field: {e}"));
                            None
                        }
                    },
                };
                let vocabulary = field
                    .and_then(|i| self.fields.get(i))
                    .and_then(|(_, f)| f.vocabulary());
                let op = match Kind::parse(&c.operator) {
                    Some(kind) => {
                        self.operand(kind, c.value.as_ref(), c.case_insensitive, vocabulary, at)
                    }
                    None => {
                        let hint = if matches!(c.operator.as_str(), "and" | "or") {
                            " (`and`/`or` combine a group's `items`)"
                        } else {
                            ""
                        };
                        self.problem(
                            at,
                            format!(
                                "unknown operator `{}`: expected one of {}{hint}",
                                clip(&c.operator),
                                OPERATORS.join(", ")
                            ),
                        );
                        None
                    }
                };
                let slot = *self.slots;
                *self.slots += 1;
                Some(Tree::Test(Box::new(Test {
                    slot,
                    field: field?,
                    op: op?,
                    case_insensitive: c.case_insensitive,
                })))
            }
        }
    }

    fn operand(
        &mut self,
        kind: Kind,
        value: Option<&Value>,
        ci: bool,
        vocabulary: Option<Vocabulary>,
        at: &str,
    ) -> Option<Op> {
        let name = kind.as_str();
        let empty = match value {
            None => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(_) => false,
        };
        match kind {
            Kind::Exists => match value {
                _ if empty => Some(Op::Exists(true)),
                Some(Value::Bool(b)) => Some(Op::Exists(*b)),
                Some(other) => {
                    self.problem(
                        at,
                        format!(
                            "`exists` takes true, false or no value (got {})",
                            describe(other)
                        ),
                    );
                    None
                }
                None => Some(Op::Exists(true)),
            },
            Kind::Regex => {
                let pattern = match value {
                    Some(Value::String(p)) if !p.is_empty() => p,
                    None | Some(Value::String(_)) => {
                        self.problem(
                            at,
                            "`regex` needs a pattern (a non-empty string); it has no form that compares with the incident",
                        );
                        return None;
                    }
                    Some(other) => {
                        self.problem(
                            at,
                            format!("`regex` needs a string pattern (got {})", describe(other)),
                        );
                        return None;
                    }
                };
                self.regex(pattern, ci, at).map(Op::Regex)
            }
            _ if empty => Some(Op::Compare(kind, Operand::Candidate)),
            Kind::In | Kind::Intersects => match value {
                Some(Value::Array(items)) => {
                    let texts = self.list(name, items, at)?;
                    self.literal(kind, texts, ci, vocabulary, at)
                }
                Some(other) => {
                    self.problem(
                        at,
                        format!(
                            "`{name}` needs an array of values, e.g. [\"critical\", \"high\"] (got {}); use [] to compare with the incident",
                            describe(other)
                        ),
                    );
                    None
                }
                None => None,
            },
            Kind::Equals => match value {
                Some(Value::Array(items)) => {
                    let texts = self.list(name, items, at)?;
                    self.literal(kind, texts, ci, vocabulary, at)
                }
                Some(v) => {
                    let text = self.scalar(name, v, at)?;
                    self.literal(kind, text, ci, vocabulary, at)
                }
                None => None,
            },
            Kind::Contains | Kind::StartsWith => {
                match value {
                    Some(Value::Array(_)) => {
                        self.problem(
                        at,
                        format!("`{name}` takes one value (a string, number or boolean), not an array"),
                    );
                        None
                    }
                    Some(v) => {
                        let text = self.scalar(name, v, at)?;
                        self.literal(kind, text, ci, vocabulary, at)
                    }
                    None => None,
                }
            }
        }
    }

    fn literal(
        &mut self,
        kind: Kind,
        texts: Texts<'static>,
        ci: bool,
        vocabulary: Option<Vocabulary>,
        at: &str,
    ) -> Option<Op> {
        let texts = if ci { texts.lowercased() } else { texts };
        if let (Some(vocab), Kind::Equals | Kind::In | Kind::Intersects) = (vocabulary, kind) {
            let mut ok = true;
            for t in texts.items() {
                if let Err(e) = vocab.check(t) {
                    self.problem(at, e);
                    ok = false;
                }
            }
            if !ok {
                return None;
            }
        }
        Some(Op::Compare(kind, Operand::Literal(texts)))
    }

    fn scalar(&mut self, op: &str, v: &Value, at: &str) -> Option<Texts<'static>> {
        match scalar_text(v) {
            Ok(t) if t.chars().count() > MAX_VALUE_LEN => {
                self.problem(
                    at,
                    format!("a value of `{op}` is at most {MAX_VALUE_LEN} characters"),
                );
                None
            }
            Ok(t) => Some(Texts::One(t.into())),
            Err(got) => {
                self.problem(
                    at,
                    format!("`{op}` takes a string, number or boolean (got {got})"),
                );
                None
            }
        }
    }

    fn list(&mut self, op: &str, items: &[Value], at: &str) -> Option<Texts<'static>> {
        if items.len() > MAX_LIST_VALUES {
            self.problem(
                at,
                format!(
                    "`{op}` takes at most {MAX_LIST_VALUES} values (got {})",
                    items.len()
                ),
            );
            return None;
        }
        let mut texts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match scalar_text(item) {
                Ok(t) if t.chars().count() > MAX_VALUE_LEN => {
                    self.problem(
                        at,
                        format!("value {i} of `{op}` is longer than {MAX_VALUE_LEN} characters"),
                    );
                    return None;
                }
                Ok(t) => texts.push(t.into()),
                Err(got) => {
                    self.problem(
                        at,
                        format!(
                            "the values of `{op}` must be non-empty strings, numbers or booleans (value {i} is {got})"
                        ),
                    );
                    return None;
                }
            }
        }
        Some(Texts::Many(texts))
    }

    fn regex(&mut self, pattern: &str, ci: bool, at: &str) -> Option<Regex> {
        if pattern.chars().count() > MAX_PATTERN_LEN {
            self.problem(
                at,
                format!("a regex is at most {MAX_PATTERN_LEN} characters"),
            );
            return None;
        }
        *self.regexes += 1;
        if *self.regexes == MAX_REGEXES + 1 {
            self.problem(
                at,
                format!("at most {MAX_REGEXES} `regex` conditions per rule set"),
            );
        }
        match RegexBuilder::new(pattern)
            .case_insensitive(ci)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => Some(re),
            Err(regex::Error::CompiledTooBig(_)) => {
                self.problem(
                    at,
                    format!(
                        "the regex `{}` compiles to more than {} KiB; simplify it",
                        clip(pattern),
                        REGEX_SIZE_LIMIT / 1024
                    ),
                );
                None
            }
            Err(e) => {
                self.problem(at, format!("`{}` is not a valid regex: {e}", clip(pattern)));
                None
            }
        }
    }
}

/// A literal's text: strings (non-empty) as themselves, numbers and booleans as their JSON text.
fn scalar_text(v: &Value) -> Result<String, &'static str> {
    match v {
        Value::String(s) if s.is_empty() => Err("an empty string"),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(describe(other)),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// See [`CorrelationSettings::compile`].
pub(super) fn compile(s: &CorrelationSettings) -> Result<CompiledCorrelation, InvalidCorrelation> {
    let mut problems = Vec::new();
    let mut setting = |at: &str, problem: String| {
        problems.push(ConfigProblem {
            rule_number: None,
            rule: None,
            at: at.to_string(),
            problem,
        })
    };

    let window = CorrelationWindow::try_from(s.correlation_window_minutes)
        .map_err(|e| setting("correlation_window_minutes", e))
        .ok();
    let set = &s.correlation_rules;
    let min_weight = Weight::parse(set.min_match_weight)
        .map_err(|e| setting("correlation_rules.min_match_weight", e))
        .ok();
    if set.rules.len() > MAX_RULES {
        setting(
            "correlation_rules.rules",
            format!("at most {MAX_RULES} rules (got {})", set.rules.len()),
        );
    }

    let mut slots = 0;
    let mut fields = Vec::new();
    let mut regexes = 0;
    let mut seen_names = HashSet::new();
    let mut rules = Vec::with_capacity(set.rules.len());
    for (i, rule) in set.rules.iter().enumerate() {
        let trimmed = rule.name.trim();
        let mut checker = Checker {
            problems: &mut problems,
            rule_number: i + 1,
            rule: (!trimmed.is_empty()).then(|| clip(trimmed)),
            slots: &mut slots,
            fields: &mut fields,
            regexes: &mut regexes,
            conditions: 0,
            too_deep_reported: false,
        };
        let mut ok = true;
        if trimmed.is_empty() {
            checker.problem("name", "the rule has no name");
            ok = false;
        } else if trimmed.chars().count() > MAX_RULE_NAME_LEN {
            checker.problem(
                "name",
                format!("a rule name is at most {MAX_RULE_NAME_LEN} characters"),
            );
            ok = false;
        } else if trimmed.chars().any(char::is_control) {
            checker.problem("name", "a rule name must not contain control characters");
            ok = false;
        } else if !seen_names.insert(trimmed.to_string()) {
            checker.problem(
                "name",
                "another rule has the same name (names must be unique)",
            );
            ok = false;
        }
        let weight = match Weight::parse(rule.weight) {
            Ok(w) => Some(w),
            Err(e) => {
                checker.problem("weight", e);
                None
            }
        };
        let root = checker.node(&rule.conditions, "conditions", 0);
        if let (true, Some(weight), Some(root)) = (ok, weight, root) {
            rules.push(CompiledRule {
                name: trimmed.to_string(),
                priority: rule.priority,
                weight,
                root,
            });
        }
    }

    match (problems.is_empty(), window, min_weight) {
        (true, Some(window), Some(min_weight)) => {
            // Stable: equal priorities keep their configured order.
            rules.sort_by_key(|r| (r.priority.is_none(), r.priority.unwrap_or(0)));
            let mode = if !s.enable_correlation {
                Mode::Off
            } else if set.enabled && !rules.is_empty() {
                Mode::Rules
            } else {
                Mode::TimeWindow
            };
            Ok(CompiledCorrelation {
                mode,
                window,
                min_weight,
                rules,
                slots,
                fields: fields.into_iter().map(|(_, f)| f).collect(),
            })
        }
        _ => Err(InvalidCorrelation { problems }),
    }
}
