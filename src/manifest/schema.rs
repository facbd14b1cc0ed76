//! JSON Schemas of a manifest repository's files, checked in under `schemas/`: one per
//! manifest kind, `manifest.schema.json` for any manifest document, and the schemas of
//! `approvals.yaml` and `mcpbox-gitops.yaml`.
//!
//! They serve editors (`# yaml-language-server: $schema=…`) and linters only:
//! `manifest::validate` stays the authority, and checks what a schema cannot (unique
//! names, references between documents, Python). The plan's schema is
//! `plan::json_schema`; the serde types the manifest schemas derive from are in `kinds`.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use super::kinds::{
    Doc, Metadata, ModulesSpec, ServerScopedMetadata, ServerSpec, SourceMetadata, SourceSpec,
    ToolSpec, TunnelSpec, API_VERSION, KINDS,
};
use crate::policy::Policy;
use crate::settings::{Values, KNOWN};

/// Where the schemas are published: each file's `$id` is this followed by its name.
pub const BASE_URL: &str = "https://mcpbox-gitops.dev/schemas/";

/// The dialect of every schema (the one schemars generates).
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Every schema with its file name under `schemas/`, in a fixed order: the kinds
/// (in [`KINDS`] order), any manifest, `approvals.yaml`, `mcpbox-gitops.yaml`.
pub fn manifest_schemas() -> Vec<(&'static str, Value)> {
    let kinds = kind_schemas();
    let mut out: Vec<(&'static str, Value)> =
        kinds.iter().map(|k| (k.file, k.file_schema())).collect();
    out.push(("manifest.schema.json", any_manifest(&kinds)));
    out.push(("approvals.schema.json", approvals()));
    out.push(("policy.schema.json", policy()));
    out
}

/// The text of a schema file: pretty JSON with a final newline, keywords in the
/// order schemars writes them (`$id`, `$schema`, `title`, `description`, `type`,
/// `properties`, the rest, `$defs`) so the files read top-down.
pub fn render(schema: &Value) -> String {
    let text = match schemars::Schema::try_from(schema.clone()) {
        Ok(ordered) => serde_json::to_string_pretty(&ordered),
        // Every value built here is an object; plain JSON is the fallback anyway.
        Err(_) => serde_json::to_string_pretty(schema),
    };
    let mut text = text.unwrap_or_default();
    text.push('\n');
    text
}

/// One kind's document schema, kept apart from its definitions so that
/// `manifest.schema.json` can hold every kind with one shared `$defs`.
struct KindSchema {
    /// As written in `kind:`.
    kind: &'static str,
    /// File name under `schemas/`.
    file: &'static str,
    /// The document's schema without `$schema`, `$id` and `$defs`.
    document: Map<String, Value>,
    /// The definitions `document` refers to (`#/$defs/…`).
    defs: Map<String, Value>,
}

impl KindSchema {
    /// The stand-alone file: the document schema with its own `$defs`.
    fn file_schema(&self) -> Value {
        let mut out = head(self.file);
        out.extend(self.document.clone());
        out.insert("$defs".into(), Value::Object(self.defs.clone()));
        Value::Object(out)
    }
}

/// `$schema` and `$id` of a file.
fn head(file: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("$schema".into(), DIALECT.into());
    out.insert("$id".into(), format!("{BASE_URL}{file}").into());
    out
}

/// The kinds, in [`KINDS`] order.
fn kind_schemas() -> Vec<KindSchema> {
    let mut settings = kind_schema::<Metadata, serde_json::Value>(
        "Settings",
        "settings.schema.json",
        "MCPBox settings (the `settings` table): each key MCPBox reads, with the values it accepts.",
    );
    // `SettingsSpec` holds YAML values, which have no derived schema; its schema is
    // built from the table MCPBox's values are checked against.
    settings.defs.insert("SettingsSpec".into(), settings_spec());
    if let Some(Value::Object(props)) = settings.document.get_mut("properties") {
        props.insert(
            "spec".into(),
            json!({ "description": "Setting key → value.", "$ref": "#/$defs/SettingsSpec" }),
        );
    }
    let mut source = kind_schema::<SourceMetadata, SourceSpec>(
        "ExternalSource",
        "source.schema.json",
        "An external MCP server whose tools a server proxies (pass-through tools): its URL, transport, authentication and status.",
    );
    // `oauth` is an auth type MCPBox rows may hold (so the plan's schema keeps
    // it), but not one git can ask for: its tokens come from MCPBox's OAuth flow.
    if let Some(Value::Array(variants)) = source
        .defs
        .get_mut("AuthType")
        .and_then(|d| d.get_mut("oneOf"))
    {
        variants.retain(|v| v.get("const") != Some(&Value::from("oauth")));
    }
    vec![
        kind_schema::<Metadata, ServerSpec>(
            "Server",
            "server.schema.json",
            "An MCPBox server: its description, default timeout, secret placeholders and approved network hosts.",
        ),
        kind_schema::<ServerScopedMetadata, ToolSpec>(
            "Tool",
            "tool.schema.json",
            "A tool of a server: Python code (inline or in a file) or a pass-through to an external MCP server's tool.",
        ),
        source,
        kind_schema::<Metadata, ModulesSpec>(
            "Modules",
            "modules.schema.json",
            "Python modules added to MCPBox's global allow-list, each with a justification.",
        ),
        settings,
        kind_schema::<Metadata, TunnelSpec>(
            "TunnelConfiguration",
            "tunnel.schema.json",
            "A Cloudflare tunnel configuration: public URL, token (read at apply time, stored encrypted) and whether it is the active one.",
        ),
    ]
}

/// Derives the schema of `Doc<M, S>` and pins `apiVersion` and `kind`, which the
/// Rust type leaves as strings because `load` reads them first to pick the type.
fn kind_schema<M: JsonSchema, S: JsonSchema>(
    kind: &'static str,
    file: &'static str,
    description: &str,
) -> KindSchema {
    let root = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<Doc<M, S>>();
    // A struct's schema is always an object, never `true`/`false`.
    let mut document = json_object(root.to_value());
    let defs = match document.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    document.remove("$schema");
    document.insert("title".into(), kind.into());
    document.insert("description".into(), description.into());
    if let Some(Value::Object(props)) = document.get_mut("properties") {
        props.insert(
            "apiVersion".into(),
            json!({ "description": "The API version.", "const": API_VERSION }),
        );
        props.insert(
            "kind".into(),
            json!({ "description": "The document's kind.", "const": kind }),
        );
    }
    KindSchema {
        kind,
        file,
        document,
        defs,
    }
}

/// `manifest.schema.json`: any manifest document, checked against its kind's schema.
fn any_manifest(kinds: &[KindSchema]) -> Value {
    let mut defs = Map::new();
    for k in kinds {
        // The same Rust type gives the same definition in every kind (a unit test
        // checks it), so the first one seen is kept.
        for (name, def) in &k.defs {
            defs.entry(name.clone()).or_insert_with(|| def.clone());
        }
        defs.insert(k.kind.into(), Value::Object(k.document.clone()));
    }
    // `if`/`then` on `kind` rather than `oneOf`: a bad Server document is then
    // reported against the Server schema only, not against every kind.
    let dispatch: Vec<Value> = kinds
        .iter()
        .map(|k| {
            json!({
                "if": { "properties": { "kind": { "const": k.kind } }, "required": ["kind"] },
                "then": { "$ref": format!("#/$defs/{}", k.kind) }
            })
        })
        .collect();
    let mut out = head("manifest.schema.json");
    out.extend(json_object(json!({
        "title": "mcpbox/v1 manifest",
        "description": "Any manifest document (Server, Tool, ExternalSource, Modules, Settings or TunnelConfiguration), checked against the schema of its `kind`.",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {
            "apiVersion": { "description": "The API version.", "const": API_VERSION },
            "kind": { "description": "The document's kind.", "enum": KINDS }
        },
        "allOf": dispatch,
        "$defs": defs
    })));
    Value::Object(out)
}

/// `spec` of a Settings document, from [`KNOWN`]. A value may be written as a YAML
/// string, number or boolean: `validate` compares its text (`setting_text`), so
/// `onboarding_completed: true` and `log_retention_days: 30` are as good as quoted.
fn settings_spec() -> Value {
    let mut props = Map::new();
    for k in KNOWN {
        let schema = match k.values {
            Values::OneOf(allowed) => json!({
                "description": k.description,
                "enum": allowed.iter().flat_map(|s| scalar_spellings(s)).collect::<Vec<_>>()
            }),
            Values::Integer(lo, hi) => json!({
                "description": format!("{}. A whole number from {lo} to {hi}, quoted or not; MCPBox reads it with int() and fails to start on anything else.", k.description),
                "anyOf": [
                    { "type": "integer", "minimum": lo, "maximum": hi },
                    { "type": "string", "pattern": decimal_range_pattern(lo, hi) }
                ]
            }),
        };
        // Or `{valueFrom: …}`: the value is read at apply time and stored encrypted.
        let schema = json!({ "anyOf": [schema, value_from_setting()] });
        props.insert(k.key.into(), schema);
    }
    json!({
        "description": "MCPBox settings by key; a key MCPBox does not read is an error.",
        "type": "object",
        "properties": props,
        "additionalProperties": false
    })
}

/// `{valueFrom: {env: NAME}}` or `{valueFrom: {file: PATH}}` for a setting.
fn value_from_setting() -> Value {
    json!({
        "type": "object",
        "description": "A value read at apply time and stored encrypted (AAD `setting:<key>`).",
        "properties": {
            "valueFrom": {
                "type": "object",
                "properties": {
                    "env": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
                    "file": { "type": "string", "minLength": 1 }
                },
                "additionalProperties": false,
                "minProperties": 1,
                "maxProperties": 1
            }
        },
        "required": ["valueFrom"],
        "additionalProperties": false
    })
}

/// The YAML scalars whose text is `s`: the string itself, and the boolean or
/// number YAML reads when it is written unquoted.
fn scalar_spellings(s: &str) -> Vec<Value> {
    let mut out = vec![Value::from(s)];
    if let Ok(b) = s.parse::<bool>() {
        out.push(b.into());
    } else if let Ok(n) = s.parse::<i64>() {
        if n.to_string() == s {
            out.push(n.into());
        }
    }
    out
}

/// A regular expression matching exactly the digit strings `settings::check`
/// accepts for `lo..=hi`: ASCII digits only, leading zeros allowed, value in range.
fn decimal_range_pattern(lo: i64, hi: i64) -> String {
    let (lo, hi) = (lo.max(0) as u64, hi.max(0) as u64);
    let mut alternatives = Vec::new();
    // Split the range by number of digits; each piece is then a same-length range.
    let digits = |n: u64| n.to_string().len() as u32;
    for width in digits(lo)..=digits(hi) {
        let first = if width == 1 { 0 } else { 10u64.pow(width - 1) };
        let last = 10u64.pow(width) - 1;
        let (a, b) = (lo.max(first), hi.min(last));
        if a <= b {
            same_width(
                a.to_string().as_bytes(),
                b.to_string().as_bytes(),
                "",
                &mut alternatives,
            );
        }
    }
    format!("^0*(?:{})$", alternatives.join("|"))
}

/// Appends to `out` patterns for the numbers from `a` to `b` (digit strings of one
/// width, `a <= b`), each prefixed with `prefix`.
fn same_width(a: &[u8], b: &[u8], prefix: &str, out: &mut Vec<String>) {
    let (Some((&a0, a_rest)), Some((&b0, b_rest))) = (a.split_first(), b.split_first()) else {
        out.push(prefix.to_string());
        return;
    };
    if a0 == b0 {
        return same_width(a_rest, b_rest, &format!("{prefix}{}", a0 as char), out);
    }
    let rest = a_rest.len();
    let any = match rest {
        0 => String::new(),
        1 => "[0-9]".to_string(),
        n => format!("[0-9]{{{n}}}"),
    };
    let class = |from: u8, to: u8| {
        if from == to {
            (from as char).to_string()
        } else {
            format!("[{}-{}]", from as char, to as char)
        }
    };
    // Low end: `a0` followed by a_rest..=99…9, unless a_rest is all zeros.
    let mut from = a0;
    if a_rest.iter().any(|&d| d != b'0') {
        let nines = vec![b'9'; rest];
        same_width(a_rest, &nines, &format!("{prefix}{}", a0 as char), out);
        from = a0 + 1;
    }
    // High end: `b0` followed by 00…0..=b_rest, unless b_rest is all nines.
    let mut to = b0;
    let mut high = Vec::new();
    if b_rest.iter().any(|&d| d != b'9') {
        let zeros = vec![b'0'; rest];
        same_width(
            &zeros,
            b_rest,
            &format!("{prefix}{}", b0 as char),
            &mut high,
        );
        to = b0 - 1;
    }
    if from <= to {
        out.push(format!("{prefix}{}{any}", class(from, to)));
    }
    out.extend(high);
}

/// `approvals.schema.json`, hand-built from `approvals::parse` (its file type is
/// private); the tests below check that both accept and refuse the same files.
fn approvals() -> Value {
    let mut out = head("approvals.schema.json");
    out.extend(json_object(json!({
        "title": "approvals.yaml",
        "description": "Approval pins: each binds a tool's approval to one content hash. Written by `mcpbox-gitops approve SERVER/TOOL --by EMAIL`; changing a tool's code without re-pinning sends it back to review. An empty file pins nothing.",
        "type": ["object", "null"],
        "properties": {
            "approvals": {
                "description": "The pins, one per tool.",
                "type": "array",
                "items": { "$ref": "#/$defs/Pin" }
            }
        },
        "additionalProperties": false,
        "$defs": {
            "Pin": {
                "description": "One pin: this content of this tool is approved by this person.",
                "type": "object",
                "properties": {
                    "tool": {
                        "description": "`server/tool`.",
                        "type": "string",
                        "pattern": "^[^/]+/[^/]+$"
                    },
                    "sha256": {
                        "description": "The tool's content hash (hex sha256) that was approved.",
                        "type": "string",
                        "pattern": "^[0-9a-fA-F]{64}$"
                    },
                    "approvedBy": {
                        "description": "Who approved it (written as `tools.approved_by`).",
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 255,
                        "pattern": "\\S"
                    },
                    "approvedAt": {
                        "description": "When (RFC 3339); re-pinning the same content changes it, which is how an approval revoked in MCPBox is granted again.",
                        "type": ["string", "null"]
                    },
                    "signature": {
                        "description": "The approver's SSH signature of the pin (`ssh-keygen -Y sign`, namespace `mcpbox-gitops`), written by `approve --sign-with KEY`. Required when the policy sets `requireSignedApprovals`.",
                        "type": ["string", "null"],
                        "pattern": "^\\s*-----BEGIN SSH SIGNATURE-----"
                    }
                },
                "required": ["tool", "sha256", "approvedBy"],
                "additionalProperties": false
            }
        }
    })));
    Value::Object(out)
}

/// `policy.schema.json`, hand-built from `policy::Policy` with its defaults taken
/// from `Policy::default()`; the tests below check it against `policy::parse`.
fn policy() -> Value {
    // Serializing a struct of strings, booleans and integers cannot fail.
    let defaults = serde_json::to_value(Policy::default()).unwrap_or(Value::Null);
    let default = |pointer: &str| defaults.pointer(pointer).cloned().unwrap_or(Value::Null);
    let mut out = head("policy.schema.json");
    out.extend(json_object(json!({
        "title": "mcpbox-gitops.yaml",
        "description": "The reconciler's policy for this repository; CLI flags override it. An empty file means every default.",
        "type": ["object", "null"],
        "properties": {
            "approval": {
                "description": "Approval of tool content.",
                "type": "object",
                "properties": {
                    "mode": {
                        "description": "Who approves tool content: `pinned` writes content with a matching pin in approvals.yaml as approved; with `admin` the reconciler never approves, an MCPBox admin does.",
                        "enum": ["pinned", "admin"],
                        "default": default("/approval/mode")
                    },
                    "onDependencyChange": {
                        "description": "What a change to a tool's dependencies alone does to its approval: `revoke` (default) resets it like a code change, because dependencies are code that runs; `keep` leaves it, as MCPBox's own update does.",
                        "enum": ["revoke", "keep"],
                        "default": "revoke"
                    }
                },
                "additionalProperties": false
            },
            "reviewer": {
                "description": "Identity written as `reviewed_by` / `requested_by` of request rows and `created_by` of tools the reconciler creates.",
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": "\\S",
                "default": default("/reviewer")
            },
            "approvers": {
                "description": "Who may approve: when not empty, a pin in approvals.yaml by anyone else is ignored with a warning. In PR mode the list is read from the base commit.",
                "type": "array",
                "items": { "type": "string", "minLength": 1 },
                "uniqueItems": true
            },
            "onCodeDrift": {
                "description": "What apply (and the daemon) does about a managed tool whose code or dependencies were changed in MCPBox outside git: `revert` writes git's version back; `quarantine` disables the tool through MCPBox's own transition and keeps the changed code for inspection until git changes the tool or `apply --restore-quarantined`.",
                "enum": ["revert", "quarantine"],
                "default": "revert"
            },
            "unsetToolTimeout": {
                "description": "A tool without timeoutMs on a server whose defaultTimeoutMs is not 30000: `server_default` (default) writes the server's default into the tool, because MCPBox's sandbox never reads the server default; `inherit` leaves timeout_ms NULL as MCPBox does (the sandbox then runs it with 30000 ms).",
                "enum": ["server_default", "inherit"],
                "default": "server_default"
            },
            "requireSignedApprovals": {
                "description": "A pin counts only with a valid SSH signature (approve --sign-with) from a key the allowedSigners file lists for its approver; other pins count as none, and the plan says why.",
                "type": "boolean",
                "default": false
            },
            "allowedSigners": {
                "description": "The allowed_signers file (git's format: principals, options, key) relative to the repository root, read from the same commit as this policy (BASE in PR mode). A principal EMAIL may approve every tool; EMAIL/SERVER-GLOB only those servers' tools.",
                "type": "string",
                "minLength": 1,
                "default": "allowed_signers"
            },
            "prune": {
                "description": "Delete owned objects that left git. When false, they are listed but kept.",
                "type": "boolean",
                "default": default("/prune")
            },
            "deletionGuard": {
                "description": "Refuses plans that delete too much.",
                "type": "object",
                "properties": {
                    "maxDeletePercent": {
                        "description": "A plan deleting more than this share (percent) of owned objects is refused unless destruction is explicitly allowed.",
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 100,
                        "default": default("/deletionGuard/maxDeletePercent")
                    }
                },
                "additionalProperties": false
            },
            "values": {
                "description": "Where valueFrom may read. --values-dir and --env-prefix replace these when given; in PR mode this section is read from the base commit.",
                "type": "object",
                "properties": {
                    "dirs": {
                        "description": "Absolute directories a valueFrom.file must resolve inside, after symbolic links (e.g. the mount point of a secrets volume). Empty: no value file is read. /proc, /sys and /dev are never read.",
                        "type": "array",
                        "items": { "type": "string", "pattern": "^/" }
                    },
                    "envPrefixes": {
                        "description": "Prefixes a valueFrom.env name must start with (default MCPBOX_SECRET_). The reconciler's own variables are refused whatever the prefix.",
                        "type": "array",
                        "items": { "type": "string" }
                    }
                },
                "additionalProperties": false
            }
        },
        "additionalProperties": false
    })));
    Value::Object(out)
}

/// The map inside a `json!({…})` literal.
fn json_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files under `schemas/` are generated from the code; regenerate them with
    /// `UPDATE_SCHEMAS=1 cargo test --lib manifest::schema`.
    #[test]
    fn schema_files_are_current() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");
        let mut stale = Vec::new();
        for (name, schema) in manifest_schemas() {
            let path = format!("{dir}/{name}");
            let want = render(&schema);
            if std::env::var_os("UPDATE_SCHEMAS").is_some() {
                std::fs::write(&path, &want).unwrap();
            }
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have != want {
                let diff = similar::TextDiff::from_lines(&have, &want)
                    .unified_diff()
                    .header(&format!("schemas/{name}"), "generated")
                    .to_string();
                stale.push(format!("schemas/{name} is stale:\n{diff}"));
            }
        }
        assert!(
            stale.is_empty(),
            "{}\nrun UPDATE_SCHEMAS=1 cargo test --lib manifest::schema",
            stale.join("\n")
        );
    }

    /// A file left behind by a renamed schema would still be served to editors.
    #[test]
    fn schemas_dir_holds_only_generated_files() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");
        let mut known: Vec<&str> = manifest_schemas().iter().map(|(n, _)| *n).collect();
        known.push("plan.schema.json");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                known.contains(&name.as_str()),
                "schemas/{name} is generated by nothing"
            );
        }
    }

    #[test]
    fn every_schema_is_valid_2020_12_with_its_id() {
        for (name, schema) in manifest_schemas() {
            if let Err(e) = jsonschema::meta::validate(&schema) {
                panic!("{name} is not a valid JSON Schema: {e}");
            }
            assert_eq!(schema["$schema"], DIALECT, "{name}");
            assert_eq!(schema["$id"], format!("{BASE_URL}{name}"), "{name}");
            assert!(schema["title"].is_string(), "{name} has no title");
            assert!(
                schema["description"].is_string(),
                "{name} has no description"
            );
            jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn shared_definitions_agree_and_do_not_shadow_kinds() {
        let kinds = kind_schemas();
        assert_eq!(kinds.iter().map(|k| k.kind).collect::<Vec<_>>(), KINDS);
        let mut seen: Map<String, Value> = Map::new();
        for k in &kinds {
            for (name, def) in &k.defs {
                assert!(
                    !KINDS.contains(&name.as_str()),
                    "definition {name} shadows a kind"
                );
                if let Some(other) = seen.insert(name.clone(), def.clone()) {
                    assert_eq!(&other, def, "definition {name} differs between kinds");
                }
            }
        }
    }

    fn valid(schema: &Value, yaml: &str) -> bool {
        valid_for(&jsonschema::validator_for(schema).unwrap(), yaml)
    }

    fn valid_for(validator: &jsonschema::Validator, yaml: &str) -> bool {
        let instance: Value = serde_yaml::from_str(yaml).unwrap();
        validator.is_valid(&instance)
    }

    fn schema(name: &str) -> Value {
        manifest_schemas()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
    }

    /// The pattern for numeric settings accepts exactly what `settings::check` does.
    #[test]
    fn decimal_range_pattern_matches_settings_check() {
        let settings = jsonschema::validator_for(&schema("settings.schema.json")).unwrap();
        for k in KNOWN {
            let Values::Integer(lo, hi) = k.values else {
                continue;
            };
            let re = jsonschema::validator_for(&json!({
                "type": "string",
                "pattern": decimal_range_pattern(lo, hi)
            }))
            .unwrap();
            let mut texts: Vec<String> = (0..=hi + 1000).map(|n| n.to_string()).collect();
            for extra in [
                "", "0", "00", "030", "0010", "+30", "-5", " 30", "30 ", "30.0", "1e3", "x",
            ] {
                texts.push(extra.into());
            }
            texts.push("9".repeat(30));
            for text in texts {
                let want = crate::settings::check(k.key, &text).is_ok();
                assert_eq!(
                    re.is_valid(&Value::from(text.clone())),
                    want,
                    "{} = {text:?}",
                    k.key
                );
                let doc = format!("apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {{name: m}}\nspec:\n  {}: {:?}\n", k.key, text);
                assert_eq!(valid_for(&settings, &doc), want, "{doc}");
            }
        }
        assert_eq!(
            decimal_range_pattern(1, 3650),
            "^0*(?:[1-9]|[1-9][0-9]|[1-9][0-9]{2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)$"
        );
    }

    /// The pattern for ranges `KNOWN` does not have yet (bounds at 0, at a power of
    /// ten, inside one width), checked against plain comparison.
    #[test]
    fn decimal_range_pattern_is_exact_for_any_range() {
        for (lo, hi) in [
            (0, 0),
            (0, 9),
            (5, 5),
            (7, 123),
            (99, 100),
            (120, 4567),
            (1000, 1999),
        ] {
            let re =
                jsonschema::validator_for(&json!({ "pattern": decimal_range_pattern(lo, hi) }))
                    .unwrap();
            for n in 0..=hi + 200 {
                let text = Value::from(n.to_string());
                assert_eq!(
                    re.is_valid(&text),
                    (lo..=hi).contains(&n),
                    "{lo}..={hi}: {n}"
                );
            }
        }
    }

    #[test]
    fn settings_accept_unquoted_scalars_as_validate_does() {
        let settings = schema("settings.schema.json");
        let doc = |body: &str| {
            format!("apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {{name: m}}\nspec:\n{body}")
        };
        assert!(valid(
            &settings,
            &doc("  onboarding_completed: true\n  log_retention_days: 30\n")
        ));
        assert!(valid(
            &settings,
            &doc("  onboarding_completed: \"false\"\n")
        ));
        assert!(!valid(&settings, &doc("  onboarding_completed: yes\n")));
        assert!(!valid(&settings, &doc("  log_retention_days: 0\n")));
        assert!(!valid(&settings, &doc("  tool_approval_mode: ~\n")));
        assert!(!valid(&settings, &doc("  no_such_setting: x\n")));
    }

    /// The hand-built approvals schema refuses what `approvals::parse` refuses
    /// (except a tool pinned twice, which a schema cannot express).
    #[test]
    fn approvals_schema_agrees_with_parser() {
        let s = schema("approvals.schema.json");
        let h = "ab".repeat(32);
        let mut pins = crate::approvals::Pins::new();
        for (tool, at) in [("a/b", Some("2026-11-26T00:00:00Z")), ("a/c", None)] {
            pins.insert(
                tool.into(),
                crate::approvals::Pin {
                    tool: tool.into(),
                    sha256: h.clone(),
                    approved_by: "x@y.z".into(),
                    approved_at: at.map(Into::into),
                    signature: None,
                },
            );
        }
        let cases = [
            crate::approvals::render(&pins),
            crate::approvals::render(&Default::default()),
            "approvals:\n  - tool: a/b\n    sha256: nope\n    approvedBy: x\n".into(),
            format!("approvals:\n  - {{tool: a/b, sha256: {h}, approvedBy: \" \"}}\n"),
            format!(
                "approvals:\n  - {{tool: a/b, sha256: {h}, approvedBy: {}}}\n",
                "x".repeat(256)
            ),
            format!("approvals:\n  - {{tool: a/b, sha256: {h}, approvedBy: x, approvedAt: ~}}\n"),
            format!("approvals:\n  - {{tool: a/b, sha256: {h}}}\n"),
            format!("approvals:\n  - {{tool: a/b, sha256: {h}, approvedBy: x, note: y}}\n"),
            "pins: []\n".into(),
        ];
        for text in cases {
            let parsed = crate::approvals::parse("approvals.yaml", &text).is_ok();
            assert_eq!(valid(&s, &text), parsed, "{text}");
        }
    }

    /// The hand-built policy schema accepts and refuses what `policy::parse` does.
    #[test]
    fn policy_schema_agrees_with_parser() {
        let s = schema("policy.schema.json");
        let cases = [
            "approval: {mode: admin}\nreviewer: a@b\nprune: false\ndeletionGuard: {maxDeletePercent: 0}\n",
            "approvers: [alice@example.com, bob@example.com]\n",
            "approvers: alice@example.com\n",
            "approval: {mode: pinned}\n",
            "approval: {onDependencyChange: keep}\n",
            "approval: {onDependencyChange: sometimes}\n",
            "unsetToolTimeout: inherit\n",
            "unsetToolTimeout: server_default\n",
            "unsetToolTimeout: 30000\n",
            "approval: {}\ndeletionGuard: {}\n",
            "approval: {mode: nobody}\n",
            "aproval: {}\n",
            "reviewer: \"  \"\n",
            "prune: maybe\n",
            "deletionGuard: {maxDeletePercent: 101}\n",
            "deletionGuard: {maxDeletePercent: -1}\n",
            "deletionGuard: {maxDeletePercent: 50, extra: 1}\n",
        ];
        for text in cases {
            let parsed = crate::policy::parse("mcpbox-gitops.yaml", text).is_ok();
            assert_eq!(valid(&s, text), parsed, "{text}");
        }
        let defaults = serde_json::to_value(Policy::default()).unwrap();
        assert!(jsonschema::validator_for(&s).unwrap().is_valid(&defaults));
        assert_eq!(s["properties"]["reviewer"]["default"], defaults["reviewer"]);
    }

    #[test]
    fn kind_schemas_pin_api_version_and_kind() {
        for (name, kind) in [
            ("server.schema.json", "Server"),
            ("tool.schema.json", "Tool"),
            ("modules.schema.json", "Modules"),
            ("settings.schema.json", "Settings"),
            ("source.schema.json", "ExternalSource"),
            ("tunnel.schema.json", "TunnelConfiguration"),
        ] {
            let s = schema(name);
            assert_eq!(s["properties"]["apiVersion"]["const"], API_VERSION);
            assert_eq!(s["properties"]["kind"]["const"], kind);
            let other = if kind == "Tool" { "Server" } else { "Tool" };
            let doc = format!("apiVersion: mcpbox/v1\nkind: {other}\nmetadata: {{name: a, server: b}}\nspec: {{}}\n");
            assert!(!valid(&s, &doc), "{name} accepts kind {other}");
            let doc =
                format!("apiVersion: mcpbox/v2\nkind: {kind}\nmetadata: {{name: a}}\nspec: {{}}\n");
            assert!(!valid(&s, &doc), "{name} accepts mcpbox/v2");
        }
    }

    /// ExternalSource and TunnelConfiguration documents: what the schema accepts
    /// and refuses (OAuth, a literal token, a name over 255 characters).
    #[test]
    fn source_and_tunnel_documents() {
        let m = schema("manifest.schema.json");
        let source = |spec: &str| {
            format!("apiVersion: mcpbox/v1\nkind: ExternalSource\nmetadata: {{name: GitHub MCP, server: github}}\nspec: {spec}\n")
        };
        assert!(valid(&m, &source("{url: 'https://a.io/mcp', transport: sse, auth: {type: bearer, secret: GH_TOKEN}, status: disabled}")));
        assert!(valid(
            &m,
            &source(
                "{url: 'https://a.io/mcp', auth: {type: header, secret: K, header: X-Api-Key}}"
            )
        ));
        assert!(!valid(
            &m,
            &source("{url: 'https://a.io/mcp', auth: {type: oauth}}")
        ));
        assert!(!valid(
            &m,
            &source("{url: 'https://a.io/mcp', status: error}")
        ));
        assert!(!valid(&m, &source("{url: ''}")));
        assert!(!valid(
            &m,
            &source(&format!("{{url: '{}'}}", "x".repeat(2001)))
        ));
        assert!(!valid(&m, &source("{transport: sse}")));
        let tunnel = |name: &str, spec: &str| {
            format!("apiVersion: mcpbox/v1\nkind: TunnelConfiguration\nmetadata: {{name: {name}}}\nspec: {spec}\n")
        };
        assert!(valid(&m, &tunnel("prod", "{publicUrl: mcp.example.com, active: true, token: {valueFrom: {env: TUNNEL_TOKEN}}}")));
        assert!(!valid(&m, &tunnel("prod", "{token: hunter2hunter2}")));
        assert!(!valid(&m, &tunnel("prod", "{active: true}")));
        assert!(!valid(
            &m,
            &tunnel(
                "prod",
                &format!(
                    "{{publicUrl: {}, token: {{valueFrom: {{env: T}}}}}}",
                    "a".repeat(1025)
                )
            )
        ));
    }

    /// Constraints taken from `rules::limits` reach the schema, through `Option`.
    #[test]
    fn server_and_tool_limits_are_in_the_schema() {
        let m = schema("manifest.schema.json");
        let server = |spec: &str| {
            format!("apiVersion: mcpbox/v1\nkind: Server\nmetadata: {{name: s}}\nspec: {spec}\n")
        };
        assert!(valid(&m, &server("{defaultTimeoutMs: 1000, secrets: [{name: A_B}], network: [{host: h, port: 443, justification: j}]}")));
        assert!(!valid(&m, &server("{defaultTimeoutMs: 999}")));
        assert!(!valid(&m, &server("{secrets: [{name: a_b}]}")));
        assert!(!valid(
            &m,
            &server("{network: [{host: h, port: 0, justification: j}]}")
        ));
        assert!(!valid(&m, &server("{network: [{host: h}]}")));
        let tool = |spec: &str| {
            format!("apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: t, server: s}}\nspec: {spec}\n")
        };
        assert!(valid(
            &m,
            &tool("{type: mcp_passthrough, timeoutMs: 300000, dependencies: [a]}")
        ));
        assert!(!valid(&m, &tool("{type: python}")));
        assert!(!valid(&m, &tool("{timeoutMs: 300001}")));
        assert!(valid(&m, &tool("{timeoutMs: inherit}")));
        assert!(!valid(&m, &tool("{timeoutMs: soon}")));
        assert!(!valid(
            &m,
            &tool(&format!("{{dependencies: [{}]}}", vec!["a"; 21].join(", ")))
        ));
        assert!(!valid(
            &m,
            "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: Bad, server: s}\nspec: {}\n"
        ));
        assert!(!valid(
            &m,
            "apiVersion: mcpbox/v1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n"
        ));
        let modules = "apiVersion: mcpbox/v1\nkind: Modules\nmetadata: {name: p}\nspec: {modules: [{name: xml.etree, justification: j}]}\n";
        assert!(valid(&m, modules));
        assert!(!valid(&m, &modules.replace("xml.etree", "py-yaml")));
        // A tool's entry takes any name, as MCPBox's LLM path does.
        let tools = modules.replace("justification: j}", "justification: j, tool: s/t}");
        assert!(valid(&m, &tools.replace("xml.etree", "py-yaml")));
        assert!(!valid(
            &m,
            &modules.replace("justification: j}", "justification: j, tool: t}")
        ));
    }
}
