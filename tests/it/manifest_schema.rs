//! The checked-in JSON Schemas (`schemas/`) against the example repositories: every
//! YAML document under `examples/` validates, and each file names its schema.
//!
//! That the files match the code is checked in `manifest::schema`'s unit tests;
//! the full validator (`mcpbox-gitops validate`) is exercised in `cli`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A checked-in schema, compiled.
fn validator(file: &str) -> jsonschema::Validator {
    let path = format!("{ROOT}/schemas/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The schema file a repository file is checked against, by file name.
fn schema_for(path: &Path) -> &'static str {
    match path.file_name().and_then(|n| n.to_str()) {
        Some("approvals.yaml") => "approvals.schema.json",
        Some("mcpbox-gitops.yaml") => "policy.schema.json",
        _ => "manifest.schema.json",
    }
}

/// Every `*.yaml` / `*.yml` file under `dir`, recursively, sorted; `examples/ci`
/// holds CI pipelines, not manifests.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.ends_with("examples/ci") {
                continue;
            }
            out.extend(yaml_files(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    out
}

/// Every YAML document of a file, as JSON.
fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("YAML document converts to JSON"))
        .collect()
}

/// The errors of one document, one line each.
fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("at `{}`: {e}", e.instance_path))
        .collect()
}

#[test]
fn every_example_document_matches_its_schema() {
    let examples = Path::new(ROOT).join("examples");
    let mut checked = 0;
    let mut problems = Vec::new();
    for path in yaml_files(&examples) {
        let schema = schema_for(&path);
        let validator = validator(schema);
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = path.strip_prefix(ROOT).unwrap().display().to_string();
        for (i, doc) in documents(&text).iter().enumerate() {
            checked += 1;
            for e in errors(&validator, doc) {
                problems.push(format!(
                    "{shown} (document {}) against {schema}: {e}",
                    i + 1
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "examples do not match the schemas:\n{}",
        problems.join("\n")
    );
    // The homelab example alone has 19 documents; far fewer means the walk broke.
    assert!(checked >= 10, "only {checked} documents checked");
}

/// The editor line (`# yaml-language-server: $schema=…`) heads every example file
/// and points at the schema the test above uses.
#[test]
fn every_example_names_its_schema() {
    let examples = Path::new(ROOT).join("examples");
    let schemas = Path::new(ROOT).join("schemas").canonicalize().unwrap();
    let files = yaml_files(&examples);
    assert!(!files.is_empty());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let Some(target) = first.strip_prefix("# yaml-language-server: $schema=") else {
            panic!(
                "{} does not start with `# yaml-language-server: $schema=…`",
                path.display()
            );
        };
        let resolved = path.parent().unwrap().join(target);
        let resolved = resolved
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {target}: {e}", path.display()));
        assert_eq!(
            resolved,
            schemas.join(schema_for(&path)),
            "{} names the wrong schema",
            path.display()
        );
    }
}

/// Each case breaks one rule; the schema must say so, at the right place.
#[test]
fn schema_rejects_bad_documents() {
    let manifest = validator("manifest.schema.json");
    let cases = [
        (
            "unknown field in a Server",
            "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: github}\nspec:\n  description: d\n  colour: blue\n",
            "/spec",
        ),
        (
            "non-numeric Tool timeout",
            "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: github}\nspec:\n  timeoutMs: \"x\"\n  code: x\n",
            "/spec/timeoutMs",
        ),
        (
            "unknown Settings value",
            "apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {name: mcpbox}\nspec:\n  tool_approval_mode: maybe\n",
            "/spec/tool_approval_mode",
        ),
    ];
    for (what, yaml, at) in cases {
        let docs = documents(yaml);
        assert_eq!(docs.len(), 1);
        let errs: Vec<_> = manifest.iter_errors(&docs[0]).collect();
        assert!(!errs.is_empty(), "{what}: accepted\n{yaml}");
        assert!(
            errs.iter().any(|e| e.instance_path.to_string() == at),
            "{what}: no error at {at}: {:?}",
            errs.iter()
                .map(|e| format!("{}: {e}", e.instance_path))
                .collect::<Vec<_>>()
        );
        // The same document with the fault removed is accepted, so the rejection
        // above is about the fault and nothing else.
        let fixed = yaml
            .replace("  colour: blue\n", "")
            .replace("\"x\"", "10000")
            .replace("maybe", "auto_approve");
        assert!(
            errors(&manifest, &documents(&fixed)[0]).is_empty(),
            "{what}: fixed document rejected:\n{fixed}"
        );
    }
}
