//! Loading: a [`FileSet`] → parsed documents that remember where they came from.
//!
//! Every `*.yaml`/`*.yml` file is read, several documents per file; each document is
//! parsed by serde_yaml into its kind's type, and a tool's code is fetched (inline or
//! `codeFile`). Problems become [`Diagnostic`]s; one bad document never stops the
//! others. Semantic checks (names, references, limits) live in `validate`.

use serde::de::DeserializeOwned;

use super::kinds::{Doc, Document, Envelope, API_VERSION, KINDS};
use super::locate::{self, DocIndex};
use super::secrets;
use crate::diagnostic::{location_at, token_len, Code, Diagnostic};
use crate::source::{Entry, FileSet};

/// Files at the repository root that are not manifests.
pub const APPROVALS_FILE: &str = "approvals.yaml";
/// The reconciler policy file at the repository root.
pub const POLICY_FILE: &str = "mcpbox-gitops.yaml";

/// Python code of a tool with where its first line sits, so that errors in the
/// code point into the right file and line.
#[derive(Debug, Clone)]
pub struct ToolCode {
    /// The code.
    pub text: String,
    /// File that holds it (the `.py`, or the manifest for inline code).
    pub file: String,
    /// Line (0-based) in `file` of the code's first line.
    pub first_line: usize,
    /// Columns to add to positions inside the code (indent of a block scalar).
    pub indent: usize,
    /// MCPBox's validation of `text`, computed once (for every tool at the end
    /// of [`load`], in parallel) and shared by validation and `desired`.
    pub analysis: std::sync::OnceLock<crate::python::Validation>,
}

impl ToolCode {
    /// MCPBox's validation of the code (parsed on first use, then kept).
    pub fn python(&self) -> &crate::python::Validation {
        self.analysis
            .get_or_init(|| crate::python::validate(&self.text))
    }
}

/// One document, parsed, with its file and position index.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Repository-relative path of the YAML file.
    pub file: String,
    /// Where each field of the document is.
    pub index: DocIndex,
    /// The document.
    pub doc: Document,
    /// For tools: their Python code, when it could be read.
    pub code: Option<ToolCode>,
}

impl Loaded {
    /// The location of the value at `path`, for a diagnostic.
    pub fn at(&self, files: &FileSet, path: &str) -> crate::diagnostic::Location {
        let text = text_of(files, &self.file).unwrap_or("");
        let off = self.index.value_or_ancestor(path);
        location_at(text, off, token_len(text, off))
    }

    /// A diagnostic at the value of `path`.
    pub fn diag(
        &self,
        files: &FileSet,
        code: Code,
        path: &str,
        msg: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(code, &self.file, self.at(files, path), msg)
    }
}

/// Everything loaded from a repository.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    /// The documents that parsed.
    pub docs: Vec<Loaded>,
    /// Problems met while loading.
    pub diagnostics: Vec<Diagnostic>,
    /// Literal secrets found, to scrub from every message (see `secrets::scrub`).
    pub literals: Vec<secrets::Literal>,
    /// Objects declared by documents that failed to load (their own error is
    /// reported): references to them are not errors too, so one mistake is
    /// one problem.
    pub unloaded: Vec<Declared>,
}

/// What a document that failed to load still says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// `kind:`, as written.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.server`, for kinds that have one.
    pub server: Option<String>,
}

/// The text of a file of the set, if it is UTF-8, without a leading byte-order
/// mark (which YAML parsers would count as a column of indentation).
pub fn text_of<'a>(files: &'a FileSet, path: &str) -> Option<&'a str> {
    match files.get(path) {
        Some(Entry::Bytes(b)) => std::str::from_utf8(b).ok().map(without_bom),
        _ => None,
    }
}

/// `text` without a leading U+FEFF.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Whether a path is a manifest file.
pub fn is_manifest(path: &str) -> bool {
    (path.ends_with(".yaml") || path.ends_with(".yml"))
        && path != APPROVALS_FILE
        && path != POLICY_FILE
}

/// The diagnostic for an entry that is a problem in itself, whatever its name.
/// It has no line: the place is the path alone.
fn file_problem(path: &str, entry: &Entry) -> Option<Diagnostic> {
    let nowhere = crate::diagnostic::Location::default();
    let (code, message, help) = match entry {
        Entry::LinkOutside => (
            Code::Symlink,
            "symbolic link leads outside the repository (or to nothing); its files are not read, and the plan stops here rather than delete what they declare",
            "replace the link with the file or folder itself, or remove it",
        ),
        Entry::LinkLoop => (
            Code::Symlink,
            "symbolic link leads back into a folder that contains it; following it would never end",
            "remove the link, or point it at a folder that does not contain it",
        ),
        Entry::NameNotUtf8 => (
            Code::FileName,
            "file name is not valid UTF-8 (shown with its bytes escaped); the file is not read",
            "rename the file with a UTF-8 name",
        ),
        Entry::Bytes(_) | Entry::TooLarge(_) => return None,
    };
    Some(Diagnostic::new(code, path, nowhere, message).help(help))
}

/// Loads every manifest of the file set.
pub fn load(files: &FileSet) -> Manifests {
    // Files are independent: parsed in parallel, merged in path order.
    let entries: Vec<(&String, &Entry)> = files.files.iter().collect();
    let per_file = crate::parallel::map(&entries, |(path, entry)| {
        let mut one = Manifests::default();
        load_entry(files, path, entry, &mut one);
        one
    });
    let mut out = Manifests::default();
    for one in per_file {
        out.docs.extend(one.docs);
        out.diagnostics.extend(one.diagnostics);
        out.literals.extend(one.literals);
        out.unloaded.extend(one.unloaded);
    }
    analyse_code(&out.docs);
    out
}

/// Loads one entry of the file set into `out`.
fn load_entry(files: &FileSet, path: &str, entry: &Entry, out: &mut Manifests) {
    // Problems with a file itself, whatever its name: a link out of the
    // repository (a folder of manifests behind it would otherwise be
    // planned as deleted), a loop, a name we cannot print.
    if let Some(d) = file_problem(path, entry) {
        out.diagnostics.push(d);
        return;
    }
    if !is_manifest(path) {
        return;
    }
    let start = crate::diagnostic::Location {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
    };
    let text = match entry {
        Entry::Bytes(b) => match std::str::from_utf8(b) {
            Ok(t) => without_bom(t),
            Err(e) => {
                out.diagnostics.push(not_utf8(path, b, e.valid_up_to()));
                return;
            }
        },
        Entry::TooLarge(n) => {
            out.diagnostics.push(
                Diagnostic::new(
                    Code::InputLimit,
                    path,
                    start,
                    format!("file is {n} bytes, larger than the 1 MiB limit"),
                )
                .help("split it into several files"),
            );
            return;
        }
        // Reported above.
        Entry::LinkOutside | Entry::LinkLoop | Entry::NameNotUtf8 => return,
    };
    load_file(files, path, text, out);
}

/// Parses every tool's Python once, in parallel, for validation and `desired`
/// to share ([`ToolCode::python`]).
fn analyse_code(docs: &[Loaded]) {
    let codes: Vec<&ToolCode> = docs.iter().filter_map(|d| d.code.as_ref()).collect();
    let texts: Vec<&str> = codes.iter().map(|c| c.text.as_str()).collect();
    for (code, v) in codes.iter().zip(crate::python::validate_many(&texts)) {
        // Set once here; nothing read it before.
        let _ = code.analysis.set(v);
    }
}

fn load_file(files: &FileSet, path: &str, text: &str, out: &mut Manifests) {
    let at = |off: usize| location_at(text, off, token_len(text, off));
    // Credential shapes anywhere in the file: values, keys, comments, inline code,
    // and files that are not even valid YAML.
    for f in secrets::scan(text) {
        out.literals
            .push(secrets::Literal::new(&text[f.offset..f.offset + f.len]));
        out.diagnostics.push(
            Diagnostic::new(
                Code::LiteralSecret,
                path,
                location_at(text, f.offset, f.len),
                format!("this looks like {} (value not shown)", f.what),
            )
            .help(LITERAL_HELP)
            .redacted(),
        );
    }
    let (indexes, scan_error) = locate::index_checked(text);
    // Refuse documents too deep to be manifests before serde_yaml sees them:
    // libyaml spends quadratic time on deeply nested flow collections.
    let too_deep = indexes.iter().find_map(|d| d.too_deep).or(scan_error
        .filter(|(_, m)| m.contains("recursion limit"))
        .map(|(o, _)| o));
    if let Some(off) = too_deep {
        out.diagnostics.push(
            Diagnostic::new(
                Code::InputLimit,
                path,
                at(off),
                format!(
                    "nested more than {} levels deep; no manifest is",
                    locate::MAX_DEPTH
                ),
            )
            .help("a manifest is a few levels deep: check for runaway brackets or indentation"),
        );
        return;
    }
    // An alias expanding past the budget is refused before serde_yaml builds it.
    if let Some(off) = indexes.iter().find_map(|d| d.alias_bomb) {
        out.diagnostics.push(
            Diagnostic::new(
                Code::InputLimit,
                path,
                at(off),
                format!(
                    "aliases expand the document past {} MiB (an alias bomb?)",
                    locate::ALIAS_BUDGET >> 20
                ),
            )
            .help("write the values out instead of repeating `*alias` references"),
        );
        return;
    }
    // PostgreSQL's text cannot hold U+0000: apply would fail on it.
    if let Some(off) = text.find('\0') {
        out.diagnostics.push(
            Diagnostic::new(
                Code::InvalidValue,
                path,
                location_at(text, off, 1),
                "NUL character (U+0000); MCPBox's database cannot store it",
            )
            .help("remove it; a text editor may show it as ^@ or \\0"),
        );
    }
    let mut documents = 0;
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = indexes.get(i).cloned().unwrap_or_default();
        let value = serde_yaml::Value::deserialize_from(de);
        // The indexer sees every duplicate key, also those serde_yaml lets through
        // (a key repeated under a custom tag): YAML would keep only one of them.
        let duplicates = !index.duplicate_keys.is_empty()
            && value
                .as_ref()
                .map_or_else(|e| e.to_string().contains("duplicate entry"), |_| true);
        let value = match value {
            _ if duplicates => {
                // The document was read whole; report every duplicate, go on.
                documents += 1;
                for (key, second, first) in &index.duplicate_keys {
                    let first_line = location_at(text, *first, 0).line;
                    out.diagnostics.push(
                        Diagnostic::new(
                            Code::DuplicateKey,
                            path,
                            at(*second),
                            format!("duplicate key `{key}` (first given on line {first_line})"),
                        )
                        .help("YAML keeps only one of them: remove the key you do not mean"),
                    );
                }
                continue;
            }
            Ok(v) => v,
            Err(e) => {
                out.diagnostics.push(yaml_error(path, text, &index, &e));
                // After a syntax error the rest of the stream cannot be trusted.
                return;
            }
        };
        if value.is_null() {
            continue; // an empty document (e.g. a trailing `---`)
        }
        documents += 1;
        literal_secrets(path, text, &index, &value, "", out);
        nul_strings(path, text, &index, &value, "", &mut out.diagnostics);
        let declared = declared(&value);
        match load_document(files, path, text, index, value, &mut out.diagnostics) {
            Some(loaded) => out.docs.push(loaded),
            None => out.unloaded.extend(declared),
        }
    }
    if documents == 0 {
        out.diagnostics.push(
            Diagnostic::new(Code::EmptyFile, path, at(0), "the file holds no manifest document")
                .help("delete the file, or add a document starting with `apiVersion: mcpbox/v1`; an empty manifest file is refused so that a truncated file cannot silently delete what it used to declare"),
        );
    }
}

/// Strings holding U+0000 (written raw or as YAML's `"\0"` escape): PostgreSQL's
/// text cannot store them, so apply would fail after plan showed success.
fn nul_strings(
    path: &str,
    text: &str,
    index: &DocIndex,
    value: &serde_yaml::Value,
    at: &str,
    diags: &mut Vec<Diagnostic>,
) {
    use serde_yaml::Value;
    match value {
        Value::String(s) if s.contains('\0') => {
            let off = index.value_or_ancestor(at);
            diags.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    path,
                    location_at(text, off, token_len(text, off)),
                    format!(
                        "`{at}` holds a NUL character (U+0000); MCPBox's database cannot store it"
                    ),
                )
                .help("remove the `\\0`"),
            );
        }
        Value::Mapping(m) => {
            for (k, v) in m {
                if let Some(key) = k.as_str() {
                    nul_strings(path, text, index, v, &locate::join_key(at, key), diags);
                }
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                nul_strings(path, text, index, v, &format!("{at}[{i}]"), diags);
            }
        }
        Value::Tagged(t) => nul_strings(path, text, index, &t.value, at, diags),
        _ => {}
    }
}

/// How to fix a literal secret in a manifest.
const LITERAL_HELP: &str = "secret values never go in git: list the name under the server's `secrets:` (e.g. `- name: GITHUB_TOKEN`), give the value with `valueFrom: {env: GITHUB_TOKEN}` at apply time or set it in MCPBox, and rotate the leaked credential";

/// Reports every secret-named field (`password:`, `value:` under a secret…) that
/// holds a literal rather than the name of a secret. Credential shapes are found
/// in the raw text by `load_file`; code files are scanned in `validate`.
fn literal_secrets(
    path: &str,
    text: &str,
    index: &DocIndex,
    value: &serde_yaml::Value,
    at: &str,
    out: &mut Manifests,
) {
    use serde_yaml::Value;
    let help = LITERAL_HELP;
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                let Some(key) = k.as_str() else { continue };
                let child = locate::join_key(at, key);
                if secrets::is_secret_field(key) && !at.starts_with("spec.inputSchema") {
                    // `password: …` is a value whatever it says; `token: GITHUB_TOKEN`
                    // may be a reference to a secret by name.
                    let always = secrets::is_value_field(key);
                    if let Some(s) = v.as_str().filter(|s| {
                        !s.is_empty()
                            && (always || !crate::rules::names::is_secret_name(s))
                            && secrets::scan(s).is_empty()
                    }) {
                        out.literals.push(secrets::Literal::new(s));
                        let off = index.value_or_ancestor(&child);
                        out.diagnostics.push(
                            Diagnostic::new(
                                Code::LiteralSecret,
                                path,
                                location_at(text, off, token_len(text, off)),
                                format!(
                                    "`{child}` would put a secret value in git (value not shown)"
                                ),
                            )
                            .help(help)
                            .redacted(),
                        );
                        continue;
                    }
                }
                literal_secrets(path, text, index, v, &child, out);
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                literal_secrets(path, text, index, v, &format!("{at}[{i}]"), out);
            }
        }
        Value::Tagged(t) => literal_secrets(path, text, index, &t.value, at, out),
        _ => {}
    }
}

trait DeserializeFrom: Sized {
    fn deserialize_from(de: serde_yaml::Deserializer<'_>) -> Result<Self, serde_yaml::Error>;
}

impl DeserializeFrom for serde_yaml::Value {
    fn deserialize_from(de: serde_yaml::Deserializer<'_>) -> Result<Self, serde_yaml::Error> {
        serde::Deserialize::deserialize(de)
    }
}

/// A diagnostic for a file that is not UTF-8, at the first bad byte.
pub fn not_utf8(path: &str, bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    // The prefix up to `valid_up_to` is valid UTF-8 by definition.
    let good = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or("");
    let line = good.matches('\n').count() + 1;
    let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let loc = crate::diagnostic::Location {
        line,
        column,
        offset: valid_up_to,
        len: 0,
    };
    Diagnostic::new(
        Code::YamlSyntax,
        path,
        loc,
        format!(
            "file is not valid UTF-8 (byte 0x{:02x} at offset {valid_up_to})",
            bytes.get(valid_up_to).copied().unwrap_or(0)
        ),
    )
    .help("save the file as UTF-8")
}

fn yaml_error(path: &str, text: &str, index: &DocIndex, e: &serde_yaml::Error) -> Diagnostic {
    let (loc, msg) = crate::diagnostic::yaml_error_parts(text, e);
    if msg.contains("repetition limit exceeded") {
        // serde_yaml stops expanding aliases past a budget: a "billion laughs".
        let loc = match index.first_alias {
            Some(off) => location_at(text, off, token_len(text, off)),
            None => loc,
        };
        return Diagnostic::new(
            Code::InputLimit,
            path,
            loc,
            "aliases expand to too large a document (an alias bomb?)",
        )
        .help("write the values out instead of nesting `*alias` references");
    }
    if msg.contains("recursion limit exceeded") {
        return Diagnostic::new(Code::InputLimit, path, loc, "nested too deeply")
            .help("a manifest is a few levels deep: check for runaway brackets or indentation");
    }
    Diagnostic::new(Code::YamlSyntax, path, loc, format!("invalid YAML: {msg}"))
        .help("fix the YAML syntax; `---` separates documents")
}

/// `kind`, `metadata.name` and `metadata.server` of a raw document, when it
/// names them as strings.
fn declared(value: &serde_yaml::Value) -> Option<Declared> {
    let s = |v: Option<&serde_yaml::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    let meta = value.get("metadata");
    Some(Declared {
        kind: s(value.get("kind"))?,
        name: s(meta.and_then(|m| m.get("name")))?,
        server: s(meta.and_then(|m| m.get("server"))),
    })
}

fn load_document(
    files: &FileSet,
    path: &str,
    text: &str,
    index: DocIndex,
    value: serde_yaml::Value,
    diags: &mut Vec<Diagnostic>,
) -> Option<Loaded> {
    let at = |p: &str| {
        let off = index.value_or_ancestor(p);
        location_at(text, off, token_len(text, off))
    };
    if !value.is_mapping() {
        diags.push(
            Diagnostic::new(
                Code::InvalidValue,
                path,
                at(""),
                "a manifest document must be a mapping",
            )
            .help("start the document with `apiVersion: mcpbox/v1`"),
        );
        return None;
    }
    let env: Envelope = serde_yaml::from_value(value.clone()).unwrap_or(Envelope {
        api_version: None,
        kind: None,
    });
    match env.api_version.as_ref().and_then(|v| v.as_str()) {
        Some(API_VERSION) => {}
        Some(other) => {
            diags.push(
                Diagnostic::new(
                    Code::BadApiVersion,
                    path,
                    at("apiVersion"),
                    format!("unsupported apiVersion `{other}`"),
                )
                .help(format!("use `apiVersion: {API_VERSION}`")),
            );
            return None;
        }
        None => {
            diags.push(
                Diagnostic::new(Code::MissingField, path, at(""), "document has no `apiVersion`")
                    .help(format!("add `apiVersion: {API_VERSION}` (every manifest document needs apiVersion, kind and metadata.name)")),
            );
            return None;
        }
    }
    let kind = match env.kind.as_ref().and_then(|v| v.as_str()) {
        Some(k) => k.to_string(),
        None => {
            diags.push(
                Diagnostic::new(Code::MissingField, path, at(""), "document has no `kind`")
                    .help(format!("add `kind:` with one of {}", KINDS.join(", "))),
            );
            return None;
        }
    };
    let typed =
        |diags: &mut Vec<Diagnostic>| -> Option<Document> {
            match kind.as_str() {
                "Server" => parse::<Doc<_, _>>(path, text, &index, value.clone(), diags)
                    .map(Document::Server),
                "Tool" => {
                    parse::<Doc<_, _>>(path, text, &index, value.clone(), diags).map(Document::Tool)
                }
                "Modules" => parse::<Doc<_, _>>(path, text, &index, value.clone(), diags)
                    .map(Document::Modules),
                "Settings" => parse::<Doc<_, _>>(path, text, &index, value.clone(), diags)
                    .map(Document::Settings),
                "ExternalSource" => parse::<Doc<_, _>>(path, text, &index, value.clone(), diags)
                    .map(Document::Source),
                "TunnelConfiguration" => {
                    parse::<Doc<_, _>>(path, text, &index, value.clone(), diags)
                        .map(Document::Tunnel)
                }
                other => {
                    let hint = KINDS
                        .iter()
                        .find(|k| k.eq_ignore_ascii_case(other))
                        .map(|k| format!("did you mean `{k}`?"))
                        .unwrap_or_else(|| format!("use one of {}", KINDS.join(", ")));
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownKind,
                            path,
                            at("kind"),
                            format!("unknown kind `{other}`"),
                        )
                        .help(hint),
                    );
                    None
                }
            }
        };
    let doc = typed(diags)?;
    let code = match &doc {
        Document::Tool(t) => tool_code(files, path, text, &index, &t.spec, diags),
        _ => None,
    };
    Some(Loaded {
        file: path.to_string(),
        index,
        doc,
        code,
    })
}

fn parse<T: DeserializeOwned>(
    path: &str,
    text: &str,
    index: &DocIndex,
    value: serde_yaml::Value,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let field_path = e.path().to_string();
            let field_path = if field_path == "." {
                String::new()
            } else {
                field_path
            };
            let msg = e.inner().to_string();
            let d = typed_error(path, text, index, &field_path, &msg);
            // An unknown secret-named field was already refused as E060.
            let reported = diags.iter().any(|o| {
                o.code == Code::LiteralSecret
                    && o.file == d.file
                    && o.location.line == d.location.line
            });
            if !(d.code == Code::UnknownField && reported) {
                diags.push(d);
            }
            None
        }
    }
}

/// Turns a serde error at `field_path` into a diagnostic at the right place.
/// The candidate closest to `wrong`, if one is close enough to be what was
/// meant (Jaro–Winkler ≥ 0.8, as clap and cargo suggest).
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wrong, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn typed_error(
    path: &str,
    text: &str,
    index: &DocIndex,
    field_path: &str,
    msg: &str,
) -> Diagnostic {
    let backticked = |m: &str| m.split('`').nth(1).map(str::to_string);
    let (code, off, message, help) = if let Some(rest) = msg.strip_prefix("unknown field ") {
        let name = backticked(rest).unwrap_or_default();
        // serde_path_to_error's path may or may not end with the unknown key.
        let (parent, key_path) = if field_path == name || field_path.ends_with(&format!(".{name}"))
        {
            (
                locate::parent(field_path).unwrap_or_default(),
                field_path.to_string(),
            )
        } else {
            (field_path.to_string(), locate::join_key(field_path, &name))
        };
        let field_path = parent.as_str();
        let off = index
            .key(&key_path)
            .unwrap_or_else(|| index.value_or_ancestor(field_path));
        let expected = rest.split_once(", expected ").map(|(_, e)| e.to_string());
        let help = match expected {
            Some(e) => match did_you_mean(&name, e.split('`').skip(1).step_by(2)) {
                Some(close) => format!("did you mean `{close}`? (expected {e})"),
                None => format!("remove `{name}` or correct its spelling; expected {e}"),
            },
            None => format!("remove `{name}`; this object has no fields"),
        };
        (
            Code::UnknownField,
            off,
            format!("unknown field `{name}`{}", where_(field_path)),
            help,
        )
    } else if msg.starts_with("missing field ") {
        let name = backticked(msg).unwrap_or_default();
        let off = index.value_or_ancestor(field_path);
        (
            Code::MissingField,
            off,
            format!("missing field `{name}`{}", where_(field_path)),
            format!("add `{name}:`"),
        )
    } else {
        let off = index.value_or_ancestor(field_path);
        (
            Code::InvalidValue,
            off,
            format!("{}{}", plain_types(msg), where_(field_path)),
            "give a value of the expected type".to_string(),
        )
    };
    Diagnostic::new(
        code,
        path,
        location_at(text, off, token_len(text, off)),
        message,
    )
    .help(help)
}

/// serde names Rust types ("expected i64"); say what a YAML author writes.
fn plain_types(msg: &str) -> String {
    let mut out = msg.to_string();
    for (rust, plain) in [
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u8", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        out = out.replace(rust, plain);
    }
    out
}

fn where_(field_path: &str) -> String {
    if field_path.is_empty() {
        String::new()
    } else {
        format!(" at `{field_path}`")
    }
}

/// Resolves `codeFile` relative to the manifest, refusing anything that leaves
/// the repository.
pub fn resolve_relative(manifest: &str, rel: &str) -> Result<String, String> {
    if rel.is_empty() {
        return Err("`codeFile` is empty".into());
    }
    if rel.starts_with('/')
        || rel.starts_with('\\')
        || rel.contains(':') && rel.chars().nth(1) == Some(':')
    {
        return Err(format!("`codeFile: {rel}` is an absolute path"));
    }
    let mut parts: Vec<&str> = manifest.split('/').collect();
    parts.pop(); // the manifest's own file name
    for seg in rel.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("`codeFile: {rel}` leaves the repository"));
                }
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

fn tool_code(
    files: &FileSet,
    path: &str,
    text: &str,
    index: &DocIndex,
    spec: &super::kinds::ToolSpec,
    diags: &mut Vec<Diagnostic>,
) -> Option<ToolCode> {
    let at = |p: &str| {
        let off = index.value_or_ancestor(p);
        location_at(text, off, token_len(text, off))
    };
    if let Some(code) = &spec.code {
        // Inline code: find where the block scalar's content starts.
        let off = index.value("spec.code").unwrap_or(0);
        let loc = location_at(text, off, 0);
        let marker = text[loc.offset..].chars().next();
        let (first_line, indent) = if matches!(marker, Some('|') | Some('>')) {
            let next = text[loc.offset..]
                .find('\n')
                .map(|i| loc.offset + i + 1)
                .unwrap_or(text.len());
            let indent = text[next..]
                .lines()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start_matches(' ').len())
                .unwrap_or(0);
            (loc.line, indent) // 0-based line of the content = 1-based line of the marker
        } else {
            (loc.line - 1, loc.column - 1)
        };
        return Some(ToolCode {
            text: code.clone(),
            file: path.to_string(),
            first_line,
            indent,
            analysis: Default::default(),
        });
    }
    let rel = spec.code_file.as_ref()?;
    let target = match resolve_relative(path, rel) {
        Ok(t) => t,
        Err(msg) => {
            diags.push(
                Diagnostic::new(Code::CodeFile, path, at("spec.codeFile"), msg)
                    .help("give a path relative to this manifest that stays inside the repository"),
            );
            return None;
        }
    };
    let fail = |msg: String, help: &str| {
        Diagnostic::new(Code::CodeFile, path, at("spec.codeFile"), msg).help(help)
    };
    match files.get(&target) {
        Some(Entry::Bytes(b)) => match String::from_utf8(b.clone()) {
            Ok(t) => Some(ToolCode {
                text: t,
                file: target,
                first_line: 0,
                indent: 0,
                analysis: Default::default(),
            }),
            Err(_) => {
                diags.push(fail(
                    format!("`{target}` is not valid UTF-8"),
                    "save the file as UTF-8",
                ));
                None
            }
        },
        Some(Entry::TooLarge(n)) => {
            diags.push(fail(
                format!("`{target}` is {n} bytes, larger than the 1 MiB limit"),
                "MCPBox accepts at most 100000 characters of code",
            ));
            None
        }
        Some(Entry::LinkOutside | Entry::LinkLoop) => {
            diags.push(fail(
                format!("`{target}` is a symbolic link that points outside the repository"),
                "replace the link with the file itself",
            ));
            None
        }
        Some(Entry::NameNotUtf8) => {
            diags.push(fail(
                format!("`{target}` has a file name that is not valid UTF-8"),
                "rename the file with a UTF-8 name",
            ));
            None
        }
        None => {
            // The .py files of the same folder are the likely meant ones.
            let dir = target.rsplit_once('/').map_or("", |(d, _)| d);
            let siblings = files.files.keys().filter_map(|k| {
                let (d, name) = k.rsplit_once('/').unwrap_or(("", k.as_str()));
                (d == dir && name.ends_with(".py")).then_some(name)
            });
            let wanted = target.rsplit_once('/').map_or(target.as_str(), |(_, n)| n);
            let help = match did_you_mean(wanted, siblings) {
                Some(close) => {
                    format!("did you mean `{close}`? (the path is relative to the manifest file)")
                }
                None => "the path is relative to the manifest file; check the name".to_string(),
            };
            diags.push(fail(
                format!("`codeFile: {rel}` not found (looked for `{target}`)"),
                &help,
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(files: &[(&str, &str)]) -> FileSet {
        let mut s = FileSet::empty("test");
        for (p, t) in files {
            s.insert(*p, t.as_bytes());
        }
        s
    }

    #[test]
    fn loads_several_documents_per_file() {
        let files = set(&[(
            "a.yaml",
            "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec: {}\n---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec:\n  code: |\n    async def main():\n        pass\n",
        )]);
        let m = load(&files);
        assert!(m.diagnostics.is_empty(), "{:?}", m.diagnostics);
        assert_eq!(m.docs.len(), 2);
        let code = m.docs[1].code.as_ref().unwrap();
        assert_eq!(code.first_line, 10);
        assert_eq!(code.indent, 4);
    }

    #[test]
    fn unknown_field_points_at_the_key() {
        let text =
            "apiVersion: mcpbox/v1\nkind: Server\nmetadata:\n  name: s\nspec:\n  descripton: x\n";
        let m = load(&set(&[("s.yaml", text)]));
        assert_eq!(m.docs.len(), 0);
        let d = &m.diagnostics[0];
        assert_eq!(d.code, Code::UnknownField);
        assert_eq!((d.location.line, d.location.column), (6, 3));
        assert!(d.message.contains("descripton"), "{}", d.message);
        assert!(d.help.as_ref().unwrap().contains("description"));
    }

    #[test]
    fn type_error_in_second_document_has_its_line() {
        let text = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec: {}\n---\napiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: t}\nspec:\n  defaultTimeoutMs: soon\n";
        let m = load(&set(&[("s.yaml", text)]));
        assert_eq!(m.docs.len(), 1);
        let d = &m.diagnostics[0];
        assert_eq!(d.code, Code::InvalidValue);
        assert_eq!(d.location.line, 10);
    }

    #[test]
    fn a_tool_timeout_is_milliseconds_or_inherit() {
        let tool = |t: &str| {
            format!("apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: t, server: s}}\nspec:\n  code: \"async def main():\\n    pass\\n\"\n  timeoutMs: {t}\n")
        };
        for ok in ["inherit", "5000"] {
            let m = load(&set(&[("t.yaml", tool(ok).as_str())]));
            assert!(m.diagnostics.is_empty(), "{ok}: {:?}", m.diagnostics);
        }
        let m = load(&set(&[("t.yaml", tool("soon").as_str())]));
        let d = &m.diagnostics[0];
        assert_eq!(d.code, Code::InvalidValue);
        assert_eq!(d.location.line, 6);
        assert!(d.message.contains("`inherit`"), "{}", d.message);
    }

    #[test]
    fn yaml_syntax_error_has_location() {
        let m = load(&set(&[("bad.yaml", "a: [1, 2\nb: c\n")]));
        let d = &m.diagnostics[0];
        assert_eq!(d.code, Code::YamlSyntax);
        assert!(d.location.line >= 1);
    }

    #[test]
    fn code_file_cannot_escape() {
        assert_eq!(resolve_relative("a/b/t.yaml", "t.py").unwrap(), "a/b/t.py");
        assert_eq!(
            resolve_relative("a/b/t.yaml", "../c/t.py").unwrap(),
            "a/c/t.py"
        );
        assert!(resolve_relative("a/t.yaml", "../../t.py").is_err());
        assert!(resolve_relative("t.yaml", "/etc/passwd").is_err());
    }

    #[test]
    fn a_byte_order_mark_is_not_indentation() {
        let m = load(&set(&[(
            "a.yaml",
            "\u{feff}apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec: {}\n",
        )]));
        assert!(m.diagnostics.is_empty(), "{:?}", m.diagnostics);
        assert_eq!(m.docs.len(), 1);
    }

    #[test]
    fn unknown_kind_suggests() {
        let m = load(&set(&[(
            "a.yaml",
            "apiVersion: mcpbox/v1\nkind: server\nmetadata: {name: s}\nspec: {}\n",
        )]));
        assert_eq!(m.diagnostics[0].code, Code::UnknownKind);
        assert!(m.diagnostics[0].help.as_ref().unwrap().contains("`Server`"));
    }
}
