//! The JSONPath expressions users type into a webhook's field mapping, and what they extract.
//!
//! Input: text. The lines before the first empty line are paths for title, description,
//! severity, services, dedup_key, status and source_url, in that order (`-` leaves a field out);
//! the rest is the JSON document they run on (through the payload limits, as at intake).
//!
//! Invariants: no panic; over-long paths are refused; the mapping compiles exactly when every
//! path does, and a refusal names the first bad field; an extraction has a trimmed, non-empty title, a non-blank dedup key if
//! any, and services that are trimmed, non-empty, sorted and distinct.
#![no_main]

use alertgate_core::limits::Limits;
use alertgate_core::mapping::{compile_path, Field, FieldMapping, MappingError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, doc) = text.split_once("\n\n").unwrap_or((text, "{}"));
    let mut paths: Vec<Option<String>> = head
        .split('\n')
        .take(Field::ALL.len())
        .map(|l| (l != "-").then(|| l.to_string()))
        .collect();
    paths.resize(Field::ALL.len(), None);
    let mapping = FieldMapping {
        title: paths[0].clone(),
        description: paths[1].clone(),
        severity: paths[2].clone(),
        services: paths[3].clone(),
        dedup_key: paths[4].clone(),
        status: paths[5].clone(),
        source_url: paths[6].clone(),
    };
    let doc = Limits::default()
        .parse(doc.as_bytes())
        .ok()
        .map(|s| s.value);
    // (A compiled path's `Display` is not asserted to parse again: serde_json_path 0.7 prints
    // `$..*` as `$...*`. alertgate keeps and shows the text the user typed, never the printed
    // form; see fuzz/README.md.)

    let mut first_bad = None;
    for (field, path) in Field::ALL.iter().zip(&paths) {
        let Some(path) = path else { continue };
        match compile_path(path) {
            Ok(_) => assert!(path.len() <= 1_000),
            Err(_) => {
                first_bad.get_or_insert(*field);
            }
        }
    }
    let compiled = match mapping.compile() {
        Ok(c) => {
            assert_eq!(first_bad, None);
            c
        }
        Err(MappingError::InvalidPath { field, path, .. }) => {
            assert_eq!(Some(field), first_bad);
            assert!(path.chars().count() <= 200);
            return;
        }
        Err(e) => panic!("compile failed with {e:?}"),
    };
    let Some(doc) = doc else {
        return;
    };
    match compiled.extract(&doc) {
        Ok(e) => {
            assert!(!e.title.is_empty() && e.title == e.title.trim());
            if let Some(k) = &e.dedup_key {
                assert!(!k.trim().is_empty());
            }
            for s in &e.services {
                assert!(!s.is_empty() && s == s.trim());
            }
            assert!(e.services.windows(2).all(|w| w[0] < w[1]));
        }
        Err(MappingError::NoTitlePath) => assert!(paths[0].is_none()),
        Err(MappingError::TitleNotFound { path }) => assert_eq!(Some(path), paths[0].clone()),
        Err(e) => panic!("extract failed with {e:?}"),
    }
});
