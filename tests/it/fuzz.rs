//! Property tests: no input makes loading, validation or diagnostic rendering
//! panic. Three generators: raw bytes, random edits of the example manifests and
//! their Python, and random YAML trees inside a manifest envelope.
//!
//! The default case count keeps CI fast; for a long run set e.g.
//! `PROPTEST_CASES=200000 cargo test --release --test it fuzz`.

use std::path::Path;

use mcpbox_gitops::cli::diagnostics::{render, render_json};
use mcpbox_gitops::source::FileSet;
use proptest::prelude::*;

/// Loads, validates and renders; only a panic fails.
fn check(files: &FileSet) {
    if let Err(diags) = mcpbox_gitops::desired::build(files) {
        assert!(!diags.is_empty());
        let text = render(files, &diags, false);
        assert!(text.contains("error(s)"));
        let _ = render_json(&diags);
    }
    for (path, entry) in &files.files {
        if let mcpbox_gitops::source::Entry::Bytes(b) = entry {
            if let Ok(text) = std::str::from_utf8(b) {
                formats_stably(path, text);
            }
        }
    }
}

/// `fmt` never panics, and what it writes is canonical: formatting it again
/// changes nothing (meaning-preservation it checks itself before returning).
fn formats_stably(path: &str, text: &str) {
    use mcpbox_gitops::fmt::{format, FileKind};
    let kind = FileKind::of(path);
    if let Ok(once) = format(text, kind) {
        let twice = format(&once, kind);
        assert_eq!(
            twice.as_deref(),
            Ok(once.as_str()),
            "fmt is not idempotent on {text:?}"
        );
    }
}

fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab");
    let set = FileSet::from_dir(&dir).unwrap();
    set.files
        .iter()
        .filter_map(|(p, e)| match e {
            mcpbox_gitops::source::Entry::Bytes(b) => Some((p.clone(), b.clone())),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Replace(usize, u8),
    Duplicate(usize, usize),
}

/// YAML-ish fragments that stress the parser more than random bytes do.
const FRAGMENTS: &[&str] = &[
    "\n",
    ": ",
    "- ",
    "---\n",
    "&a ",
    "*a",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "|\n",
    ">-\n",
    "\t",
    "#",
    "!!binary ",
    "? ",
    "é",
    "\u{feff}",
    "\\",
    "  ",
    "ghp_",
    "..",
    "\r\n",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), prop::sample::select(FRAGMENTS))
            .prop_map(|(i, f)| Edit::Insert(i, f.as_bytes().to_vec())),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), 1usize..200).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

fn apply_edit(bytes: &mut Vec<u8>, e: &Edit) {
    let n = bytes.len().max(1);
    match e {
        Edit::Insert(i, b) => {
            let at = i % (bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Edit::Delete(i, len) => {
            let at = i % n;
            let end = (at + len).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
        Edit::Replace(i, b) => {
            if !bytes.is_empty() {
                let at = i % bytes.len();
                bytes[at] = *b;
            }
        }
        Edit::Duplicate(i, len) => {
            let at = i % n;
            let end = (at + len).min(bytes.len());
            if at < end {
                let copy: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(end..end, copy);
            }
        }
    }
}

/// A random YAML value, a few levels deep.
fn yaml_value() -> impl Strategy<Value = serde_yaml::Value> {
    let leaf = prop_oneof![
        Just(serde_yaml::Value::Null),
        any::<bool>().prop_map(serde_yaml::Value::Bool),
        any::<i64>().prop_map(|n| serde_yaml::Value::Number(n.into())),
        "[a-zA-Z0-9_ .:/-]{0,20}".prop_map(serde_yaml::Value::String),
        prop::sample::select(vec![
            "GITHUB_TOKEN",
            "api.github.com",
            "async def main():\n    pass\n",
            "weather",
            "mcpbox/v1",
            "Server",
            "Tool",
            "python_code",
            "mcp_passthrough",
            "require_approval",
        ])
        .prop_map(|s| serde_yaml::Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_yaml::Value::Sequence),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "name",
                        "server",
                        "description",
                        "secrets",
                        "network",
                        "host",
                        "port",
                        "justification",
                        "tool",
                        "code",
                        "codeFile",
                        "timeoutMs",
                        "enabled",
                        "dependencies",
                        "inputSchema",
                        "modules",
                        "value",
                        "type",
                        "defaultTimeoutMs",
                        "externalSource",
                        "tool_approval_mode",
                        "x",
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| {
                serde_yaml::Value::Mapping(
                    kv.into_iter()
                        .map(|(k, v)| (serde_yaml::Value::String(k.to_string()), v))
                        .collect(),
                )
            }),
        ]
    })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut set = FileSet::empty("fuzz");
        set.insert("a.yaml", bytes.clone());
        set.insert("t.py", bytes);
        check(&set);
    }

    #[test]
    fn edited_examples_never_panic(
        file in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..12),
    ) {
        let mut files = examples();
        let i = file.index(files.len());
        for e in &edits {
            apply_edit(&mut files[i].1, e);
        }
        let mut set = FileSet::empty("fuzz");
        for (p, b) in &files {
            set.insert(p, b.clone());
        }
        check(&set);
    }

    #[test]
    fn random_yaml_trees_never_panic(
        kind in prop::sample::select(vec![
            "Server", "Tool", "Modules", "Settings", "ExternalSource", "TunnelConfiguration", "Nope",
        ]),
        metadata in yaml_value(),
        spec in yaml_value(),
    ) {
        let doc = serde_yaml::to_string(&serde_yaml::Value::Mapping(
            [
                ("apiVersion", serde_yaml::Value::String("mcpbox/v1".into())),
                ("kind", serde_yaml::Value::String(kind.into())),
                ("metadata", metadata),
                ("spec", spec),
            ]
            .into_iter()
            .map(|(k, v)| (serde_yaml::Value::String(k.into()), v))
            .collect(),
        ))
        .unwrap();
        let mut set = FileSet::empty("fuzz");
        set.insert("s.yaml", doc.as_bytes());
        check(&set);
    }
}
