//! Operators: what each one means for a field's value and an operand (a literal, or the
//! candidate's value of the same field).
//!
//! Throughout, a single text behaves as a one-element set where sets are compared; only
//! `contains` tells a text (substring) from a list (membership), as users expect.

use std::borrow::Cow;
use std::collections::BTreeSet;

use regex::Regex;

use super::field::Texts;

/// The operator names, in the order error messages list them.
pub const OPERATORS: [&str; 7] = [
    "equals",
    "contains",
    "regex",
    "starts_with",
    "in",
    "intersects",
    "exists",
];

/// The kinds of comparison, without their operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Equals,
    Contains,
    Regex,
    StartsWith,
    In,
    Intersects,
    Exists,
}

impl Kind {
    pub(crate) fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "equals" => Kind::Equals,
            "contains" => Kind::Contains,
            "regex" => Kind::Regex,
            "starts_with" => Kind::StartsWith,
            "in" => Kind::In,
            "intersects" => Kind::Intersects,
            "exists" => Kind::Exists,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Equals => "equals",
            Kind::Contains => "contains",
            Kind::Regex => "regex",
            Kind::StartsWith => "starts_with",
            Kind::In => "in",
            Kind::Intersects => "intersects",
            Kind::Exists => "exists",
        }
    }
}

/// What a field's value is compared with.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// The candidate incident's value of the same field.
    Candidate,
    /// A literal from the rule (already lowercased when the condition is case-insensitive).
    Literal(Texts<'static>),
}

/// A compiled test.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `equals`, `contains`, `starts_with`, `in`, `intersects`.
    Compare(Kind, Operand),
    Regex(Regex),
    /// Whether the field must be present (`true`) or absent (`false`) on the new alert.
    Exists(bool),
}

/// `value` (the new alert's field, present) against `operand` (present) with operator `kind`.
/// `kind` is never `Regex` or `Exists` here; they have operands of their own.
pub(crate) fn compare(kind: Kind, value: &Texts<'_>, operand: &Texts<'_>) -> bool {
    match kind {
        Kind::Equals => match (value, operand) {
            (Texts::One(v), Texts::One(o)) => v == o,
            _ => Lookup::new(value).has_all(operand) && Lookup::new(operand).has_all(value),
        },
        Kind::Intersects => {
            let theirs = Lookup::new(operand);
            value.items().iter().any(|v| theirs.has(v))
        }
        Kind::In => Lookup::new(operand).has_all(value),
        Kind::Contains => match (value, operand) {
            (Texts::One(v), Texts::One(o)) => v.contains(o.as_ref()),
            (Texts::Many(vs), Texts::One(o)) => vs.iter().any(|v| v == o),
            (_, Texts::Many(_)) => Lookup::new(value).has_all(operand),
        },
        Kind::StartsWith => value
            .items()
            .iter()
            .any(|v| operand.items().iter().any(|o| v.starts_with(o.as_ref()))),
        Kind::Regex | Kind::Exists => false,
    }
}

/// Whether any of the value's texts matches (unanchored: use `^…$` to anchor).
pub(crate) fn regex_matches(re: &Regex, value: &Texts<'_>) -> bool {
    value.items().iter().any(|v| re.is_match(v))
}

/// Membership in a set of texts: a scan for the short lists rules usually hold, a tree beyond.
enum Lookup<'t> {
    Scan(&'t [Cow<'t, str>]),
    Tree(BTreeSet<&'t str>),
}

impl<'t> Lookup<'t> {
    const SCAN_UP_TO: usize = 16;

    fn new(t: &'t Texts<'t>) -> Self {
        let items = t.items();
        if items.len() <= Self::SCAN_UP_TO {
            Lookup::Scan(items)
        } else {
            Lookup::Tree(items.iter().map(|c| c.as_ref()).collect())
        }
    }

    fn has(&self, x: &str) -> bool {
        match self {
            Lookup::Scan(items) => items.iter().any(|i| i == x),
            Lookup::Tree(set) => set.contains(x),
        }
    }

    /// Every text of `other` is in this set.
    fn has_all(&self, other: &Texts<'_>) -> bool {
        other.items().iter().all(|o| self.has(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Texts<'_> {
        Texts::One(Cow::Borrowed(s))
    }

    fn many<'a>(xs: &[&'a str]) -> Texts<'a> {
        Texts::Many(xs.iter().map(|x| Cow::Borrowed(*x)).collect())
    }

    #[test]
    fn equals_is_set_equality_with_a_text_as_a_one_element_set() {
        assert!(compare(Kind::Equals, &one("a"), &one("a")));
        assert!(!compare(Kind::Equals, &one("a"), &one("A")));
        assert!(compare(
            Kind::Equals,
            &many(&["b", "a"]),
            &many(&["a", "b", "a"])
        ));
        assert!(!compare(Kind::Equals, &many(&["a", "b"]), &many(&["a"])));
        assert!(compare(Kind::Equals, &many(&["a"]), &one("a")));
        assert!(compare(Kind::Equals, &one("a"), &many(&["a", "a"])));
    }

    #[test]
    fn contains_is_substring_on_text_and_membership_on_lists() {
        assert!(compare(
            Kind::Contains,
            &one("db-primary down"),
            &one("primary")
        ));
        assert!(!compare(
            Kind::Contains,
            &many(&["db-primary"]),
            &one("primary")
        ));
        assert!(compare(Kind::Contains, &many(&["db", "api"]), &one("api")));
        // a list operand (only from a candidate): every one of its elements is present
        assert!(compare(
            Kind::Contains,
            &many(&["db", "api", "web"]),
            &many(&["api", "db"])
        ));
        assert!(!compare(
            Kind::Contains,
            &many(&["db"]),
            &many(&["api", "db"])
        ));
        assert!(compare(Kind::Contains, &one("db"), &many(&["db"])));
    }

    #[test]
    fn in_means_every_element_is_allowed_and_intersects_means_one_is_shared() {
        assert!(compare(
            Kind::In,
            &one("high"),
            &many(&["critical", "high"])
        ));
        assert!(!compare(
            Kind::In,
            &one("low"),
            &many(&["critical", "high"])
        ));
        assert!(compare(
            Kind::In,
            &many(&["a", "b"]),
            &many(&["a", "b", "c"])
        ));
        assert!(!compare(
            Kind::In,
            &many(&["a", "z"]),
            &many(&["a", "b", "c"])
        ));
        assert!(compare(
            Kind::Intersects,
            &many(&["a", "z"]),
            &many(&["a", "b"])
        ));
        assert!(!compare(
            Kind::Intersects,
            &many(&["y", "z"]),
            &many(&["a", "b"])
        ));
        assert!(compare(Kind::Intersects, &one("a"), &many(&["a", "b"])));
    }

    #[test]
    fn long_lists_answer_like_short_ones() {
        let long: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        let long = Texts::Many(long.iter().map(|s| Cow::Borrowed(s.as_str())).collect());
        let mut reversed = long.items().to_vec();
        reversed.reverse();
        let reversed = Texts::Many(reversed);
        assert!(compare(Kind::Equals, &long, &reversed));
        assert!(compare(Kind::In, &many(&["s5", "s99"]), &long));
        assert!(!compare(Kind::In, &many(&["s5", "t"]), &long));
        assert!(compare(Kind::Intersects, &many(&["x", "s42"]), &long));
        assert!(compare(Kind::Contains, &long, &many(&["s1", "s2"])));
        assert!(!compare(Kind::Equals, &long, &many(&["s1"])));
    }

    #[test]
    fn starts_with_holds_when_any_element_has_any_prefix() {
        assert!(compare(Kind::StartsWith, &one("db-primary"), &one("db-")));
        assert!(!compare(
            Kind::StartsWith,
            &one("the db-primary"),
            &one("db-")
        ));
        assert!(compare(
            Kind::StartsWith,
            &many(&["api", "db-1"]),
            &one("db-")
        ));
        assert!(compare(Kind::StartsWith, &one("é-crit"), &one("é")));
    }

    #[test]
    fn regexes_search_anywhere_in_any_element() {
        let re = Regex::new("^db-[0-9]+$").unwrap();
        assert!(regex_matches(&re, &many(&["api", "db-12"])));
        assert!(!regex_matches(&re, &one("x db-12")));
        let re = Regex::new("disk").unwrap();
        assert!(regex_matches(&re, &one("the disk is full")));
    }
}
