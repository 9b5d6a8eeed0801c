//! The field mapping: JSONPath (RFC 9535) expressions that find the normalized fields in a payload.
//!
//! Each field takes the *first* node its path selects. RFC 9535 union selectors therefore double as
//! fallbacks: `$['title','summary']` takes `title` when present, else `summary`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json_path::JsonPath;

/// The fields a mapping can extract, for error messages and iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Description,
    Severity,
    Services,
    DedupKey,
    Status,
    SourceUrl,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Title,
        Field::Description,
        Field::Severity,
        Field::Services,
        Field::DedupKey,
        Field::Status,
        Field::SourceUrl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Description => "description",
            Field::Severity => "severity",
            Field::Services => "services",
            Field::DedupKey => "dedup_key",
            Field::Status => "status",
            Field::SourceUrl => "source_url",
        }
    }
}

/// A webhook's field mapping as configured: one optional JSONPath string per field. An absent
/// field is not extracted (title is the exception: it is required to find something).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
}

impl FieldMapping {
    pub fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::Title => self.title.as_deref(),
            Field::Description => self.description.as_deref(),
            Field::Severity => self.severity.as_deref(),
            Field::Services => self.services.as_deref(),
            Field::DedupKey => self.dedup_key.as_deref(),
            Field::Status => self.status.as_deref(),
            Field::SourceUrl => self.source_url.as_deref(),
        }
    }

    fn slot(&mut self, field: Field) -> &mut Option<String> {
        match field {
            Field::Title => &mut self.title,
            Field::Description => &mut self.description,
            Field::Severity => &mut self.severity,
            Field::Services => &mut self.services,
            Field::DedupKey => &mut self.dedup_key,
            Field::Status => &mut self.status,
            Field::SourceUrl => &mut self.source_url,
        }
    }

    /// `self` with every field that `overrides` sets replaced by it; an empty string clears it.
    pub fn overlay(&self, overrides: &FieldMapping) -> FieldMapping {
        let mut out = self.clone();
        for f in Field::ALL {
            if let Some(v) = overrides.get(f) {
                *out.slot(f) = if v.trim().is_empty() {
                    None
                } else {
                    Some(v.to_string())
                };
            }
        }
        out
    }

    /// Parse every path; the first invalid one is reported with its field and the parser's message.
    pub fn compile(&self) -> Result<CompiledMapping, MappingError> {
        let mut out = CompiledMapping::default();
        for f in Field::ALL {
            if let Some(src) = self.get(f) {
                let path = compile_path(src).map_err(|message| MappingError::InvalidPath {
                    field: f,
                    path: src.chars().take(200).collect(),
                    message,
                })?;
                *out.slot(f) = Some((src.to_string(), path));
            }
        }
        Ok(out)
    }
}

/// Parse one user-supplied JSONPath, bounded in length.
pub fn compile_path(src: &str) -> Result<JsonPath, String> {
    const MAX_PATH_LEN: usize = 1_000;
    if src.len() > MAX_PATH_LEN {
        return Err(format!("a path may be at most {MAX_PATH_LEN} bytes long"));
    }
    JsonPath::parse(src).map_err(|e| e.to_string())
}

/// A mapping whose paths are parsed, ready for use on every request.
#[derive(Debug, Clone, Default)]
pub struct CompiledMapping {
    title: Option<(String, JsonPath)>,
    description: Option<(String, JsonPath)>,
    severity: Option<(String, JsonPath)>,
    services: Option<(String, JsonPath)>,
    dedup_key: Option<(String, JsonPath)>,
    status: Option<(String, JsonPath)>,
    source_url: Option<(String, JsonPath)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the {} path `{path}` is not valid JSONPath: {message}", field.as_str())]
    InvalidPath {
        field: Field,
        path: String,
        message: String,
    },
    #[error("the title path `{path}` matched nothing in the payload")]
    TitleNotFound { path: String },
    #[error("no title path is configured")]
    NoTitlePath,
}

/// The raw values a mapping found in one alert document, before normalization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Extracted {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    pub services: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
}

impl CompiledMapping {
    fn slot(&mut self, field: Field) -> &mut Option<(String, JsonPath)> {
        match field {
            Field::Title => &mut self.title,
            Field::Description => &mut self.description,
            Field::Severity => &mut self.severity,
            Field::Services => &mut self.services,
            Field::DedupKey => &mut self.dedup_key,
            Field::Status => &mut self.status,
            Field::SourceUrl => &mut self.source_url,
        }
    }

    fn path(&self, field: Field) -> Option<&(String, JsonPath)> {
        match field {
            Field::Title => self.title.as_ref(),
            Field::Description => self.description.as_ref(),
            Field::Severity => self.severity.as_ref(),
            Field::Services => self.services.as_ref(),
            Field::DedupKey => self.dedup_key.as_ref(),
            Field::Status => self.status.as_ref(),
            Field::SourceUrl => self.source_url.as_ref(),
        }
    }

    /// The text of the first node `field`'s path selects in `doc`, if any.
    pub fn scalar(&self, field: Field, doc: &Value) -> Option<String> {
        let (_, path) = self.path(field)?;
        path.query(doc).first().and_then(scalar_text)
    }

    /// Extract every configured field from one alert document.
    pub fn extract(&self, doc: &Value) -> Result<Extracted, MappingError> {
        let (title_src, _) = self.title.as_ref().ok_or(MappingError::NoTitlePath)?;
        let title = self
            .scalar(Field::Title, doc)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| MappingError::TitleNotFound {
                path: title_src.clone(),
            })?;
        let services = match &self.services {
            None => Vec::new(),
            Some((_, path)) => match path.query(doc).first() {
                Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
                Some(v) => scalar_text(v).into_iter().collect(),
                None => Vec::new(),
            },
        };
        let mut services: Vec<String> = services
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        services.sort();
        services.dedup();
        Ok(Extracted {
            title: title.trim().to_string(),
            description: self.scalar(Field::Description, doc),
            severity: self.scalar(Field::Severity, doc),
            services,
            dedup_key: self
                .scalar(Field::DedupKey, doc)
                .filter(|k| !k.trim().is_empty()),
            status: self.scalar(Field::Status, doc),
            source_url: self.scalar(Field::SourceUrl, doc),
        })
    }
}

/// A JSON value as text: strings as themselves, numbers and booleans printed, null and empty
/// strings as nothing, objects and arrays as compact JSON.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(_) | Value::Object(_) => Some(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(title: &str) -> FieldMapping {
        FieldMapping {
            title: Some(title.into()),
            description: Some("$.description".into()),
            severity: Some("$.severity".into()),
            services: Some("$['services','service']".into()),
            dedup_key: Some("$.key".into()),
            status: Some("$.state".into()),
            source_url: Some("$.links[0].href".into()),
        }
    }

    #[test]
    fn the_seed_body_maps_to_its_fields() {
        let m = mapping("$.title").compile().unwrap();
        let doc = json!({"title": "High CPU on production-api", "description": "CPU usage exceeded 90% for 5 minutes", "severity": "high", "service": "production-api"});
        let e = m.extract(&doc).unwrap();
        assert_eq!(e.title, "High CPU on production-api");
        assert_eq!(
            e.description.as_deref(),
            Some("CPU usage exceeded 90% for 5 minutes")
        );
        assert_eq!(e.severity.as_deref(), Some("high"));
        assert_eq!(e.services, vec!["production-api"]);
        assert_eq!(e.dedup_key, None);
    }

    #[test]
    fn services_may_be_an_array_or_a_string() {
        let m = mapping("$.title").compile().unwrap();
        let e = m
            .extract(&json!({"title": "t", "services": ["b", "a", "", null, 7, "a"]}))
            .unwrap();
        assert_eq!(e.services, vec!["7", "a", "b"]);
    }

    #[test]
    fn union_selectors_act_as_fallbacks() {
        let m = mapping("$['title','summary']").compile().unwrap();
        assert_eq!(m.extract(&json!({"summary": "s"})).unwrap().title, "s");
        assert_eq!(
            m.extract(&json!({"summary": "s", "title": "t"}))
                .unwrap()
                .title,
            "t"
        );
    }

    #[test]
    fn a_title_that_matches_nothing_names_the_path() {
        let m = mapping("$.alert.name").compile().unwrap();
        let err = m.extract(&json!({"alert": {}})).unwrap_err();
        assert_eq!(
            err,
            MappingError::TitleNotFound {
                path: "$.alert.name".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "the title path `$.alert.name` matched nothing in the payload"
        );
        assert!(m.extract(&json!({"alert": {"name": "  "}})).is_err());
    }

    #[test]
    fn an_invalid_path_is_reported_with_its_field() {
        let mut m = mapping("$.title");
        m.severity = Some("$.[".into());
        match m.compile().unwrap_err() {
            MappingError::InvalidPath { field, path, .. } => {
                assert_eq!(field, Field::Severity);
                assert_eq!(path, "$.[");
            }
            other => panic!("{other:?}"),
        }
        m.severity = Some("severity".into());
        assert!(m.compile().is_err(), "a path must start with $");
    }

    #[test]
    fn numbers_and_nested_values_become_text() {
        let m = mapping("$.title").compile().unwrap();
        let e = m.extract(&json!({"title": 42, "severity": 1, "key": {"a": 1}, "links": [{"href": "https://x"}]})).unwrap();
        assert_eq!(e.title, "42");
        assert_eq!(e.severity.as_deref(), Some("1"));
        assert_eq!(e.dedup_key.as_deref(), Some("{\"a\":1}"));
        assert_eq!(e.source_url.as_deref(), Some("https://x"));
    }

    #[test]
    fn overlay_replaces_and_clears() {
        let base = mapping("$.title");
        let over = FieldMapping {
            title: Some("$.name".into()),
            dedup_key: Some("".into()),
            ..Default::default()
        };
        let m = base.overlay(&over);
        assert_eq!(m.title.as_deref(), Some("$.name"));
        assert_eq!(m.dedup_key, None);
        assert_eq!(m.severity.as_deref(), Some("$.severity"));
    }
}
