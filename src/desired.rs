//! The desired state: what git says MCPBox should hold, normalised and keyed.
//!
//! Built from a [`FileSet`] in one pure step: load → validate → resolve. Diffing it
//! against the database lives in `plan::diff`.

use std::collections::BTreeMap;

use crate::approvals::{self, Pins};
use crate::diagnostic::{self, Diagnostic};
use crate::manifest::kinds::{Doc, Document, ServerScopedMetadata, Timeout, ToolSpec};
use crate::manifest::load::{self, APPROVALS_FILE, POLICY_FILE};
use crate::manifest::validate::{self, setting_text};
use crate::model::ToolType;
use crate::model::{
    AuthType, Module, Network, Object, Secret, Server, Setting, Source, SourceStatus, Tool,
    Transport, Tunnel,
};
use crate::policy::{self, Policy};
use crate::source::FileSet;
use crate::values::{Resolved, ValueSource};

/// MCPBox's default for `servers.default_timeout_ms`.
pub const DEFAULT_SERVER_TIMEOUT_MS: i32 = 30_000;

/// Everything git asks for.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// Where it came from (path or commit), for plans and audit rows.
    pub source: String,
    /// The repository's policy file (or defaults).
    pub policy: Policy,
    /// Approval pins by `server/tool` that count under the policy.
    pub pins: Pins,
    /// Every pin of `approvals.yaml`, including those the policy ignores.
    pub all_pins: Pins,
    /// The commit the manifests were read from, when read from git.
    pub revision: Option<String>,
    /// The source's identity for ownership (repository location + subdir);
    /// None for an unnamed source (library callers, tests), which never
    /// conflicts. Set by the CLI and the daemon.
    pub owner: Option<String>,
    /// Things the reader should know (e.g. pins ignored by policy); shown as plan
    /// notes.
    pub warnings: Vec<Warning>,
    /// Every object, by kind and natural key.
    pub objects: BTreeMap<(crate::model::Kind, String), Object>,
    /// `valueFrom` of secrets (`server/NAME`), settings (key) and tunnel tokens
    /// (`tunnel:<name>`, see `values::tunnel_key`).
    pub value_sources: BTreeMap<String, ValueSource>,
    /// The values read for this run (empty unless the CLI read them).
    pub values: Resolved,
    /// `apply --restore-quarantined`: lift every quarantine, so git's version
    /// of each quarantined tool is planned again.
    pub restore_quarantined: bool,
    /// `apply --restore-removed`: owned hosts and modules removed in MCPBox
    /// are granted again instead of the removal standing.
    pub restore_removed: bool,
    /// The policy's `allowed_signers` file, when the repository has one (in PR
    /// mode, BASE's): whose signatures make a pin count.
    pub signers: Option<crate::signing::AllowedSigners>,
    /// What each tool's code needs and what git grants, placed in the
    /// repository, for the least-privilege diff (`infer::check`).
    pub inventory: crate::least_privilege::Inventory,
    /// [`Object::hash`] of every object, computed once (in parallel) when the
    /// state is built: the diff and the fingerprint need them, and hashing
    /// 10,000 tools' code is not free. `objects` is not changed after `build`.
    hashes: BTreeMap<(crate::model::Kind, String), String>,
}

/// Something a plan's reader should know about the desired state, by what it
/// concerns: what the policy decides about pins is recomputed whenever the
/// policy is set (PR mode sets BASE's), so those are told apart by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A pin the policy does not count (not an approver, or not signed as
    /// required), and why.
    IgnoredPin(String),
    /// About `allowed_signers` or a signature that does not verify.
    Signers(String),
}

impl Warning {
    /// Whether the policy decided it (recomputed with the policy).
    fn decided_by_policy(&self) -> bool {
        matches!(self, Warning::IgnoredPin(_) | Warning::Signers(_))
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::IgnoredPin(text) => f.write_str(text),
            Warning::Signers(text) => write!(f, "allowed signers: {text}"),
        }
    }
}

impl DesiredState {
    /// Sets the policy and recomputes which pins count: with an `approvers` list,
    /// pins by anyone else are ignored, with a warning. PR mode calls this again
    /// with the base commit's policy.
    pub fn set_policy(&mut self, policy: Policy) {
        let allowed: Vec<String> = policy.approvers.iter().map(|a| a.to_lowercase()).collect();
        self.warnings.retain(|w| !w.decided_by_policy());
        self.pins = Pins::new();
        if policy.require_signed_approvals {
            if let Some(signers) = &self.signers {
                self.warnings
                    .extend(signers.skipped.iter().cloned().map(Warning::Signers));
            }
        }
        for (key, pin) in &self.all_pins {
            if !(allowed.is_empty() || allowed.contains(&pin.approved_by.to_lowercase())) {
                self.warnings.push(Warning::IgnoredPin(format!(
                    "ignored pin of {key} by {}: not in the policy's approvers ({})",
                    pin.approved_by,
                    policy.approvers.join(", ")
                )));
                continue;
            }
            if policy.require_signed_approvals || pin.signature.is_some() {
                if let crate::signing::Verdict::Refused(why) =
                    crate::signing::verify(pin, self.signers.as_ref())
                {
                    if policy.require_signed_approvals {
                        self.warnings.push(Warning::IgnoredPin(format!(
                            "ignored pin of {key} by {}: the policy requires signed approvals and {why}",
                            pin.approved_by
                        )));
                        continue;
                    }
                    // Not required: the pin counts, but a signature that does
                    // not verify is worth a reviewer's attention.
                    self.warnings.push(Warning::Signers(format!(
                        "the signature of the pin of {key} by {} does not verify: {why} (it counts: the policy does not set requireSignedApprovals)",
                        pin.approved_by
                    )));
                }
            }
            self.pins.insert(key.clone(), pin.clone());
        }
        self.policy = policy;
    }

    /// Replaces one object (its cached hash is dropped with it).
    pub fn replace_object(&mut self, key: (crate::model::Kind, String), obj: Object) {
        self.hashes.remove(&key);
        self.objects.insert(key, obj);
    }

    /// The desired value of a setting, if git sets it.
    pub fn setting(&self, key: &str) -> Option<&str> {
        match self
            .objects
            .get(&(crate::model::Kind::Setting, key.to_string()))
        {
            Some(Object::Setting(s)) => match self.values.get(key) {
                // An encrypted setting's object holds a label; its value was read.
                Some(v) if self.value_sources.contains_key(key) => Some(v.expose()),
                _ => s.value.as_deref(),
            },
            _ => None,
        }
    }

    /// Number of managed objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether git asks for nothing at all.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// `obj.hash()`, taken from the hashes computed at build time when `obj`
    /// is (or equals) this state's own object for `(kind, key)`; the diff
    /// sometimes hashes an object it derived from it instead.
    pub fn hash_of(&self, kind: crate::model::Kind, key: &str, obj: &Object) -> String {
        let k = (kind, key.to_string());
        match (self.objects.get(&k), self.hashes.get(&k)) {
            (Some(own), Some(hash)) if std::ptr::eq(own, obj) || own == obj => hash.clone(),
            _ => obj.hash(),
        }
    }

    /// A fingerprint of the desired state: sha256 over every object and pin.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for ((kind, key), obj) in &self.objects {
            h.update(kind.as_str().as_bytes());
            h.update(key.as_bytes());
            h.update(self.hash_of(*kind, key, obj).as_bytes());
        }
        for pin in self.pins.values() {
            h.update(pin.identity().as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The `allowed_signers` file `policy` names, parsed, if `files` has it.
pub fn signers_of(files: &FileSet, policy: &Policy) -> Option<crate::signing::AllowedSigners> {
    load::text_of(files, &policy.allowed_signers)
        .map(|text| crate::signing::AllowedSigners::parse(&policy.allowed_signers, text))
}

/// Loads, validates and resolves a repository. Returns every diagnostic when
/// anything is wrong, sorted by file and position.
pub fn build(files: &FileSet) -> Result<DesiredState, Vec<Diagnostic>> {
    let timer = crate::timing::Laps::default();
    let manifests = load::load(files);
    timer.lap("manifests loaded");
    let mut diags = manifests.diagnostics.clone();
    diags.extend(validate::validate_with(
        files,
        &manifests.docs,
        &manifests.unloaded,
    ));
    timer.lap("manifests validated");
    let policy = match load::text_of(files, POLICY_FILE) {
        Some(text) => policy::parse(POLICY_FILE, text)
            .map_err(|d| diags.push(d))
            .unwrap_or_default(),
        None => Policy::default(),
    };
    let pins = match load::text_of(files, APPROVALS_FILE) {
        Some(text) => approvals::parse(APPROVALS_FILE, text)
            .map_err(|d| diags.push(d))
            .unwrap_or_default(),
        None => Pins::new(),
    };
    if !diags.is_empty() {
        crate::manifest::secrets::scrub(&mut diags, &manifests.literals);
        diagnostic::sort(&mut diags);
        return Err(diags);
    }
    let mut state = DesiredState {
        source: files.label.clone(),
        policy: Policy::default(),
        pins: Pins::new(),
        all_pins: pins,
        revision: None,
        owner: None,
        warnings: Vec::new(),
        objects: BTreeMap::new(),
        value_sources: BTreeMap::new(),
        values: Resolved::unread(),
        signers: signers_of(files, &policy),
        restore_quarantined: false,
        restore_removed: false,
        inventory: crate::least_privilege::inventory::collect(files, &manifests.docs),
        hashes: BTreeMap::new(),
    };
    state.set_policy(policy);
    timer.lap("inventory and policy");
    for doc in &manifests.docs {
        match &doc.doc {
            Document::Server(s) => {
                for secret in &s.spec.secrets {
                    if let Some(src) = secret.value_from.as_ref().and_then(|v| v.source()) {
                        let key = format!("{}/{}", s.metadata.name, secret.name);
                        state.value_sources.insert(key, src);
                    }
                }
            }
            Document::Settings(s) => {
                for (key, value) in &s.spec {
                    if let Some(Ok(vf)) = crate::manifest::kinds::setting_value_from(value) {
                        if let Some(src) = vf.source() {
                            state.value_sources.insert(key.clone(), src);
                        }
                    }
                }
            }
            Document::Tunnel(t) => {
                if let Some(src) = t.spec.token.value_from.source() {
                    let key = crate::values::tunnel_key(&t.metadata.name);
                    state.value_sources.insert(key, src);
                }
            }
            _ => {}
        }
    }
    // A tool without `timeoutMs` runs with its server's `defaultTimeoutMs`. MCPBox's
    // sandbox never reads the server default (it uses 30000 ms, MCPBOX.md §4.5), so
    // an explicit, non-default server value is written into each such tool —
    // unless the policy asks for MCPBox's own way (`unsetToolTimeout: inherit`).
    let server_timeouts: BTreeMap<String, i32> = manifests
        .docs
        .iter()
        .filter_map(|d| match &d.doc {
            Document::Server(s) => s
                .spec
                .default_timeout_ms
                .map(|t| (s.metadata.name.clone(), t as i32)),
            _ => None,
        })
        .filter(|(_, t)| *t != DEFAULT_SERVER_TIMEOUT_MS)
        // `unsetToolTimeout: inherit`: MCPBox's way, NULL whatever the server says.
        .filter(|_| {
            state.policy.unset_tool_timeout == crate::policy::UnsetToolTimeout::ServerDefault
        })
        .collect();
    for doc in manifests.docs {
        for obj in resolve(doc, &server_timeouts) {
            state.objects.insert((obj.kind(), obj.key()), obj);
        }
    }
    let all: Vec<(&(crate::model::Kind, String), &Object)> = state.objects.iter().collect();
    let hashes = crate::parallel::map(&all, |(_, obj)| obj.hash());
    state.hashes = all.iter().map(|(k, _)| (*k).clone()).zip(hashes).collect();
    timer.lap("desired state resolved");
    Ok(state)
}

/// The objects one document declares.
/// Takes the document: a tool's code and schema move into its object instead
/// of being copied (at 100,000 tools a copy is hundreds of megabytes).
fn resolve(doc: load::Loaded, server_timeouts: &BTreeMap<String, i32>) -> Vec<Object> {
    let load::Loaded { doc, code, .. } = doc;
    match doc {
        Document::Tool(t) => vec![tool(t, code, server_timeouts)],
        other => resolve_other(&other),
    }
}

/// The tool one document declares.
fn tool(
    t: Doc<ServerScopedMetadata, ToolSpec>,
    code: Option<load::ToolCode>,
    server_timeouts: &BTreeMap<String, i32>,
) -> Object {
    let spec = t.spec;
    let tool_type = spec.tool_type.unwrap_or(ToolType::PythonCode);
    let input_schema = match (spec.input_schema, tool_type) {
        (Some(s), _) => s,
        // A pass-through tool's schema is the external server's: null here
        // means "not given", filled from the source's discovery cache (or
        // kept as stored) by `plan::diff`.
        (None, ToolType::McpPassthrough) => serde_json::Value::Null,
        (None, ToolType::PythonCode) => match &code {
            Some(c) => crate::python::input_schema(c.python()),
            None => crate::python::input_schema(&crate::python::validate("")),
        },
    };
    let timeout_ms = match spec.timeout_ms {
        Some(Timeout::Ms(ms)) => Some(ms as i32),
        Some(Timeout::Inherit) => None,
        None => server_timeouts.get(&t.metadata.server).copied(),
    };
    Object::Tool(Tool {
        server: t.metadata.server,
        name: t.metadata.name,
        description: spec.description,
        enabled: spec.enabled.unwrap_or(true),
        timeout_ms,
        tool_type,
        python_code: code.map(|c| c.text),
        dependencies: spec.dependencies.unwrap_or_default(),
        input_schema,
        external_source: spec.external_source,
        external_tool_name: spec.external_tool_name,
    })
}

/// The objects a document other than a tool declares.
fn resolve_other(doc: &Document) -> Vec<Object> {
    let mut out = Vec::new();
    match doc {
        Document::Server(s) => {
            let name = &s.metadata.name;
            out.push(Object::Server(Server {
                name: name.clone(),
                description: s.spec.description.clone(),
                default_timeout_ms: s
                    .spec
                    .default_timeout_ms
                    .map(|t| t as i32)
                    .unwrap_or(DEFAULT_SERVER_TIMEOUT_MS),
            }));
            for secret in &s.spec.secrets {
                out.push(Object::Secret(Secret {
                    server: name.clone(),
                    name: secret.name.clone(),
                    description: secret.description.clone(),
                    value: None,
                }));
            }
            for n in &s.spec.network {
                out.push(Object::Network(Network {
                    server: name.clone(),
                    tool: n.tool.clone(),
                    host: n.host.clone(),
                    port: n.port.map(|p| p as i32),
                    justification: n.justification.clone(),
                }));
            }
        }
        // Moved, not copied: see `resolve`.
        Document::Tool(_) => {}
        Document::Source(src) => {
            let auth = src.spec.auth.as_ref();
            let auth_type = auth.map_or(AuthType::None, |a| a.auth_type);
            out.push(Object::Source(Source {
                server: src.metadata.server.clone(),
                name: src.metadata.name.clone(),
                url: src.spec.url.clone(),
                transport: src.spec.transport.unwrap_or(Transport::StreamableHttp),
                auth_type,
                // Validation allows a secret only for bearer/header and a header
                // only for header auth.
                auth_secret: auth.and_then(|a| a.secret.clone()),
                auth_header: auth.and_then(|a| a.header.clone()),
                status: src.spec.status.unwrap_or(SourceStatus::Active),
            }));
        }
        Document::Tunnel(t) => {
            out.push(Object::Tunnel(Tunnel {
                name: t.metadata.name.clone(),
                description: t.spec.description.clone(),
                public_url: t
                    .spec
                    .public_url
                    .as_deref()
                    .and_then(crate::rules::tunnel::normalise_public_url),
                active: t.spec.active.unwrap_or(false),
                // The token's label is set by the diff, like a secret's value.
                token: None,
            }));
        }
        Document::Modules(m) => {
            for module in &m.spec.modules {
                out.push(Object::Module(Module {
                    name: module.name.clone(),
                    justification: module.justification.clone(),
                    tool: module.tool.clone(),
                }));
            }
        }
        Document::Settings(s) => {
            for (key, value) in &s.spec {
                // An encrypted setting's label is set by the diff, like a secret's.
                out.push(Object::Setting(Setting {
                    key: key.clone(),
                    value: setting_text(value),
                }));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    #[test]
    fn builds_objects_with_derived_schema() {
        let mut set = FileSet::empty("t");
        set.insert("s.yaml", "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec:\n  secrets: [{name: TOKEN}]\n  network: [{host: a.io, port: 443, justification: j}]\n---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec:\n  code: |\n    async def main(city: str, days: int | None):\n        pass\n");
        let d = build(&set).unwrap();
        assert_eq!(d.len(), 4);
        let Some(Object::Tool(t)) = d.objects.get(&(Kind::Tool, "s/t".into())) else {
            panic!("no tool")
        };
        assert_eq!(t.input_schema["required"], serde_json::json!(["city"]));
        assert!(d
            .objects
            .contains_key(&(Kind::Network, "s/a.io:443".into())));
        assert!(d.objects.contains_key(&(Kind::Secret, "s/TOKEN".into())));
        let Some(Object::Server(s)) = d.objects.get(&(Kind::Server, "s".into())) else {
            panic!()
        };
        assert_eq!(s.default_timeout_ms, 30000);
    }

    #[test]
    fn all_diagnostics_are_returned_sorted() {
        let mut set = FileSet::empty("t");
        set.insert("b.yaml", "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: T, server: nope}\nspec: {code: 'async def main(): pass'}\n");
        set.insert("a.yaml", "apiVersion: v2\n");
        set.insert("approvals.yaml", "approvals: [{tool: x}]\n");
        let diags = build(&set).unwrap_err();
        assert!(diags.len() >= 4, "{diags:?}");
        let files: Vec<&str> = diags.iter().map(|d| d.file.as_str()).collect();
        let mut sorted = files.clone();
        sorted.sort();
        assert_eq!(files, sorted);
    }

    #[test]
    fn tools_inherit_an_explicit_server_timeout() {
        let mut set = FileSet::empty("t");
        set.insert("s.yaml", "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec: {defaultTimeoutMs: 20000}\n---\napiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: d}\nspec: {defaultTimeoutMs: 30000}\n");
        for (server, name, extra) in [
            ("s", "a", ""),
            ("s", "b", "  timeoutMs: 5000\n"),
            ("d", "c", ""),
        ] {
            set.insert(format!("{name}.yaml"), format!("apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: {name}, server: {server}}}\nspec:\n  code: 'async def main(): pass'\n{extra}"));
        }
        let d = build(&set).unwrap();
        let timeout = |key: &str| match d.objects.get(&(Kind::Tool, key.to_string())) {
            Some(Object::Tool(t)) => t.timeout_ms,
            _ => panic!("no tool {key}"),
        };
        assert_eq!(timeout("s/a"), Some(20000));
        assert_eq!(timeout("s/b"), Some(5000));
        assert_eq!(timeout("d/c"), None, "MCPBox's own default stays NULL");
    }

    #[test]
    fn sources_tunnels_and_passthrough_tools_resolve() {
        let mut set = FileSet::empty("t");
        set.insert("s.yaml", "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: gh}\nspec:\n  secrets: [{name: TOKEN}]\n---\napiVersion: mcpbox/v1\nkind: ExternalSource\nmetadata: {name: GitHub MCP, server: gh}\nspec:\n  url: https://x.io/mcp\n  auth: {type: bearer, secret: TOKEN}\n---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: search, server: gh}\nspec: {type: mcp_passthrough, externalSource: GitHub MCP, externalToolName: search_code}\n---\napiVersion: mcpbox/v1\nkind: TunnelConfiguration\nmetadata: {name: prod}\nspec:\n  publicUrl: ' mcp.example.com/ '\n  token: {valueFrom: {env: TUNNEL_TOKEN}}\n");
        let d = build(&set).unwrap();
        let Some(Object::Source(src)) = d.objects.get(&(Kind::Source, "gh/GitHub MCP".into()))
        else {
            panic!("no source")
        };
        assert_eq!(
            (
                src.transport,
                src.auth_type,
                src.auth_secret.as_deref(),
                src.status
            ),
            (
                Transport::StreamableHttp,
                AuthType::Bearer,
                Some("TOKEN"),
                SourceStatus::Active
            )
        );
        let Some(Object::Tool(t)) = d.objects.get(&(Kind::Tool, "gh/search".into())) else {
            panic!("no tool")
        };
        // Not given: filled from the source's discovery by the diff.
        assert!(t.input_schema.is_null() && t.python_code.is_none());
        let Some(Object::Tunnel(tn)) = d.objects.get(&(Kind::Tunnel, "prod".into())) else {
            panic!("no tunnel")
        };
        assert_eq!(tn.public_url.as_deref(), Some("https://mcp.example.com"));
        assert!(!tn.active);
        assert_eq!(
            d.value_sources.get("tunnel:prod"),
            Some(&ValueSource::Env("TUNNEL_TOKEN".into()))
        );
    }

    #[test]
    fn empty_repository_is_empty_state() {
        let d = build(&FileSet::empty("t")).unwrap();
        assert!(d.is_empty());
        assert_eq!(d.fingerprint().len(), 64);
    }
}
