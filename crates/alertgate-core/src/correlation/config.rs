//! The correlation settings as users write them and the store keeps them: plain serde types.
//!
//! These types accept anything well-formed, including operators and values that make no sense,
//! so that a stored configuration always loads and every problem in it can be reported at once,
//! by rule, by [`CorrelationSettings::compile`]. Evaluation only ever sees the compiled form.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::compile::{CompiledCorrelation, InvalidCorrelation};

/// The window used when the settings do not say: 5 minutes.
pub const DEFAULT_WINDOW_MINUTES: i64 = 5;
/// The minimum score used when the rule set does not say.
pub const DEFAULT_MIN_MATCH_WEIGHT: f64 = 0.5;

/// One scope's correlation settings (a webhook's, or a workspace's).
///
/// Unknown keys are ignored at this level (these three keys usually sit inside a larger webhook
/// or workspace document); inside `correlation_rules` unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CorrelationSettings {
    /// Off by default: correlation is opt-in.
    #[serde(default)]
    pub enable_correlation: bool,
    /// 1 to 1440 minutes; checked by [`CorrelationSettings::compile`].
    #[serde(default = "default_window_minutes")]
    #[schema(minimum = 1, maximum = 1440)]
    pub correlation_window_minutes: i64,
    #[serde(default)]
    pub correlation_rules: RuleSet,
}

impl Default for CorrelationSettings {
    fn default() -> Self {
        Self {
            enable_correlation: false,
            correlation_window_minutes: DEFAULT_WINDOW_MINUTES,
            correlation_rules: RuleSet::default(),
        }
    }
}

impl CorrelationSettings {
    /// Check everything and build the form evaluation uses (regexes compiled once, here).
    /// Every problem found is reported, each naming its rule and what is wrong.
    pub fn compile(&self) -> Result<CompiledCorrelation, InvalidCorrelation> {
        super::compile::compile(self)
    }

    /// [`CorrelationSettings::compile`], keeping only the verdict: for a save endpoint's 400.
    pub fn validate(&self) -> Result<(), InvalidCorrelation> {
        self.compile().map(|_| ())
    }
}

fn default_window_minutes() -> i64 {
    DEFAULT_WINDOW_MINUTES
}

fn default_min_match_weight() -> f64 {
    DEFAULT_MIN_MATCH_WEIGHT
}

fn yes() -> bool {
    true
}

/// The rules of one scope, and the score a candidate needs to be joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// With `false` (or no rules) a webhook correlates by time window only.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// 0 to 1.
    #[serde(default = "default_min_match_weight")]
    #[schema(minimum = 0, maximum = 1)]
    pub min_match_weight: f64,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self {
            enabled: true,
            min_match_weight: DEFAULT_MIN_MATCH_WEIGHT,
            rules: Vec::new(),
        }
    }
}

/// One named rule: when its conditions hold for (new alert, candidate), the candidate earns
/// `weight`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Shown in explanations; unique within its rule set, 1 to 100 characters.
    pub name: String,
    /// Lower number = higher priority (1 before 2). Absent ranks after every number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// 0 to 1.
    #[schema(minimum = 0, maximum = 1)]
    pub weight: f64,
    /// A single condition or a group.
    pub conditions: Node,
}

/// An item of a rule's conditions: either a condition (it has `field`) or a group (it has
/// `items`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Node {
    Group(Group),
    Condition(Condition),
}

/// `and` / `or` over items, which may themselves be groups.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Group {
    /// `and` or `or`.
    pub operator: String,
    #[schema(no_recursion)]
    pub items: Vec<Node>,
}

/// One test on one field.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Condition {
    /// A normalized field name or a payload path.
    pub field: String,
    /// `equals`, `contains`, `regex`, `starts_with`, `in`, `intersects` or `exists`.
    pub operator: String,
    /// A literal tests the new alert; absent, `null`, `""` or `[]` compares the new alert with the
    /// candidate incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Compare texts after Unicode lowercasing (regexes: case-insensitive matching).
    #[serde(default, skip_serializing_if = "is_false")]
    pub case_insensitive: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What an item may contain, before deciding whether it is a condition or a group. Reading into
/// this first (instead of an untagged enum) lets a malformed item get a message that says what is
/// wrong with it.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a condition (an object with `field`) or a group (an object with `items`)"
)]
struct RawNode {
    field: Option<String>,
    operator: Option<String>,
    #[serde(default)]
    value: Option<Value>,
    case_insensitive: Option<bool>,
    items: Option<Vec<Node>>,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawNode::deserialize(d)?;
        match (raw.field, raw.items) {
            (Some(field), None) => {
                let operator = raw.operator.ok_or_else(|| {
                    D::Error::custom(format!(
                        "the condition on `{}` has no `operator`",
                        clip(&field)
                    ))
                })?;
                Ok(Node::Condition(Condition {
                    field,
                    operator,
                    value: raw.value,
                    case_insensitive: raw.case_insensitive.unwrap_or(false),
                }))
            }
            (None, Some(items)) => {
                if raw.value.is_some() || raw.case_insensitive.is_some() {
                    return Err(D::Error::custom(
                        "a group (an item with `items`) takes only `operator` and `items`",
                    ));
                }
                let operator = raw.operator.ok_or_else(|| {
                    D::Error::custom("a group has no `operator` (expected `and` or `or`)")
                })?;
                Ok(Node::Group(Group { operator, items }))
            }
            (Some(_), Some(_)) => Err(D::Error::custom(
                "an item has both `field` and `items`: a condition has a `field`, a group has `items`",
            )),
            (None, None) => Err(D::Error::custom(
                "an item has neither `field` nor `items`: a condition needs a `field`, a group needs `items`",
            )),
        }
    }
}

/// A user string shortened for an error message.
pub(super) fn clip(s: &str) -> String {
    const MAX: usize = 100;
    if s.chars().count() > MAX {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seed_shape_deserializes() {
        let s: CorrelationSettings = serde_json::from_value(json!({
            "enable_correlation": true,
            "correlation_window_minutes": 5,
            "correlation_rules": {"enabled": true, "min_match_weight": 0.5, "rules": [
                {"name": "Same Service", "priority": 1, "weight": 0.8, "conditions": {
                    "operator": "and", "items": [
                        {"field": "services", "operator": "intersects", "value": []},
                        {"field": "severity", "operator": "in", "value": ["critical", "high"]}
                    ]}}
            ]}
        }))
        .unwrap();
        assert!(s.enable_correlation);
        assert_eq!(s.correlation_window_minutes, 5);
        let rule = &s.correlation_rules.rules[0];
        assert_eq!(rule.name, "Same Service");
        assert_eq!(rule.priority, Some(1));
        let Node::Group(g) = &rule.conditions else {
            panic!("a group")
        };
        assert_eq!(g.operator, "and");
        assert_eq!(g.items.len(), 2);
        assert_eq!(
            g.items[0],
            Node::Condition(Condition {
                field: "services".into(),
                operator: "intersects".into(),
                value: Some(json!([])),
                case_insensitive: false,
            })
        );
        assert!(s.compile().is_ok());
    }

    #[test]
    fn settings_round_trip_through_json() {
        let v = json!({
            "enable_correlation": true,
            "correlation_window_minutes": 10,
            "correlation_rules": {"enabled": false, "min_match_weight": 0.7, "rules": [
                {"name": "r", "weight": 1.0, "conditions":
                    {"field": "title", "operator": "contains", "value": "db", "case_insensitive": true}}
            ]}
        });
        let s: CorrelationSettings = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
    }

    #[test]
    fn absent_keys_take_their_defaults() {
        let s: CorrelationSettings = serde_json::from_value(json!({})).unwrap();
        assert_eq!(s, CorrelationSettings::default());
        assert!(!s.enable_correlation);
        assert_eq!(s.correlation_window_minutes, 5);
        assert!(s.correlation_rules.enabled);
        assert_eq!(s.correlation_rules.min_match_weight, 0.5);
    }

    #[test]
    fn a_null_value_is_the_same_as_no_value() {
        let n: Node =
            serde_json::from_value(json!({"field": "title", "operator": "equals", "value": null}))
                .unwrap();
        let Node::Condition(c) = n else {
            panic!("a condition")
        };
        assert_eq!(c.value, None);
    }

    fn node_error(v: Value) -> String {
        serde_json::from_value::<Node>(v).unwrap_err().to_string()
    }

    #[test]
    fn malformed_items_get_messages_that_say_what_is_wrong() {
        assert!(node_error(json!({"operator": "and"})).contains("neither `field` nor `items`"));
        assert!(
            node_error(json!({"field": "a", "operator": "and", "items": []}))
                .contains("both `field` and `items`")
        );
        assert!(node_error(json!({"field": "title"})).contains("has no `operator`"));
        assert!(node_error(json!("title equals x")).contains(
            "expected a condition (an object with `field`) or a group (an object with `items`)"
        ));
        assert!(node_error(json!({"items": []})).contains("group has no `operator`"));
        assert!(
            node_error(json!({"operator": "or", "items": [], "value": 1}))
                .contains("takes only `operator` and `items`")
        );
        assert!(
            node_error(json!({"field": "title", "operator": "equals", "valeu": 1}))
                .contains("unknown field `valeu`")
        );
        let err = serde_json::from_value::<RuleSet>(json!({"rules": [{"name": "x", "weight": 1}]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `conditions`"), "{err}");
    }
}
