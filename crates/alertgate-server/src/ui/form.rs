//! Reading URL-encoded forms as name/value pairs (checkboxes are present or absent, some forms
//! repeat numbered fields), and the field-mapping form shared by the wizard and the mapping tab.

use alertgate_core::mapping::{compile_path, Field, FieldMapping};

/// A submitted form, in order.
#[derive(Debug, Clone, Default)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && !v.is_empty())
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.retain(|(k, _)| k != name);
        self.0.push((name.to_string(), value.into()));
    }
}

/// The form field of a mapping path.
pub fn mapping_field_name(f: Field) -> String {
    format!("map_{}", f.as_str())
}

pub fn field_label(f: Field) -> &'static str {
    match f {
        Field::Title => "Title",
        Field::Description => "Description",
        Field::Severity => "Severity",
        Field::Services => "Services",
        Field::DedupKey => "Dedup key",
        Field::Status => "Status",
        Field::SourceUrl => "Link (source URL)",
    }
}

pub fn field_hint(f: Field) -> &'static str {
    match f {
        Field::Title => "Required. The first node found becomes the incident title.",
        Field::Description => "Optional longer text.",
        Field::Severity => "Normalized to critical, high, medium, low or info.",
        Field::Services => "A string or an array of strings.",
        Field::DedupKey => "Empty: a hash of title, severity and webhook.",
        Field::Status => "firing / acknowledged / resolved, in the platform's words.",
        Field::SourceUrl => "Shown as a link only when it is http(s).",
    }
}

/// The paths a form holds, as a complete mapping (an empty path means "not extracted").
pub fn mapping_from_form(form: &FormData) -> FieldMapping {
    let mut over = FieldMapping::default();
    for f in Field::ALL {
        let v = Some(form.get(&mapping_field_name(f)).trim().to_string());
        match f {
            Field::Title => over.title = v,
            Field::Description => over.description = v,
            Field::Severity => over.severity = v,
            Field::Services => over.services = v,
            Field::DedupKey => over.dedup_key = v,
            Field::Status => over.status = v,
            Field::SourceUrl => over.source_url = v,
        }
    }
    over
}

/// A form holding `m`'s paths.
pub fn form_from_mapping(m: &FieldMapping) -> FormData {
    FormData(
        Field::ALL
            .iter()
            .map(|f| (mapping_field_name(*f), m.get(*f).unwrap_or("").to_string()))
            .collect(),
    )
}

/// Every problem with the paths, by field (all of them, not only the first).
pub fn mapping_errors(form: &FormData) -> Vec<(Field, String)> {
    let mut errors = Vec::new();
    for f in Field::ALL {
        let src = form.get(&mapping_field_name(f)).trim();
        if src.is_empty() {
            if f == Field::Title {
                errors.push((f, "A title path is required.".to_string()));
            }
            continue;
        }
        if let Err(e) = compile_path(src) {
            errors.push((f, format!("Not valid JSONPath: {e}")));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_path_is_reported_by_field() {
        let form = FormData(vec![
            ("map_title".into(), "".into()),
            ("map_severity".into(), "$.[".into()),
            ("map_services".into(), "$.ok".into()),
        ]);
        let errs = mapping_errors(&form);
        let fields: Vec<_> = errs.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec![Field::Title, Field::Severity]);
    }

    #[test]
    fn empty_paths_clear_and_others_are_kept() {
        let form = FormData(vec![
            ("map_title".into(), " $.t ".into()),
            ("map_dedup_key".into(), "".into()),
        ]);
        let m = FieldMapping {
            dedup_key: Some("$.k".into()),
            ..Default::default()
        }
        .overlay(&mapping_from_form(&form));
        assert_eq!(m.title.as_deref(), Some("$.t"));
        assert_eq!(m.dedup_key, None);
    }
}
