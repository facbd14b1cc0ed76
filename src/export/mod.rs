//! Export: MCPBox's database as a manifest repository, the inverse of `desired`.
//!
//! [`export`] turns an [`ActualState`] into a [`FileSet`] laid out as
//! `servers/<server>/server.yaml`, `servers/<server>/sources/<source>.yaml`,
//! `servers/<server>/tools/<tool>.yaml` (with the `.py` of a Python tool next to
//! it), `platform/modules.yaml`, `platform/settings.yaml`,
//! `platform/tunnels/<tunnel>.yaml`, `approvals.yaml` and `mcpbox-gitops.yaml`, and
//! says what it left out and why. A file or directory name derived from an MCPBox
//! name (up to 255 characters) is at most 100 bytes: a longer one is cut and ends
//! in `-` and 8 hex digits of the name's SHA-256; the manifest inside keeps the
//! full name. Every export is checked before it is returned: it
//! must load and validate, and planning it against the same state must propose
//! adoptions only (an object that would not is dropped with a warning). Pure:
//! reading the database and writing the files live in `cli::export`.
//!
//! # Values that stay encrypted
//!
//! A tunnel token or an encrypted setting is never read, decrypted or written
//! out: it is exported as `valueFrom: {env: MCPBOX_SECRET_TUNNEL_TOKEN_<NAME>}` or
//! `{env: MCPBOX_SECRET_SETTING_<KEY>}` (listed in [`Export::env`] and in the file's
//! header). A plan without `MCPBOX_ENCRYPTION_KEY` does not read values and takes
//! a stored one as current, so it shows adoptions only; with the key, plan and
//! apply read every variable (an unset one is an error naming it) and compare it
//! with the stored value by decrypting. Secret values are not exported at all:
//! secrets are names only, their values stay MCPBox's.
//!
//! # What cannot be expressed
//!
//! Skipped with a warning (and a header comment): servers whose name is not a
//! manifest server name (with everything under them); secrets with names MCPBox's
//! admin API refuses; Python tools MCPBox would refuse, or without a timeout in a
//! server whose default is not 30000 ms; external sources using OAuth (their tokens
//! come from MCPBox's OAuth flow), sharing a name within their server, or whose
//! auth is inconsistent (a `bearer`/`header` source without a secret or naming a
//! secret that is not exported, a secret or header where the type uses none);
//! pass-through tools whose source is one of those or was deleted
//! (`external_source_id` NULL), or whose description or input_schema is NULL where
//! a manifest would give them one; tunnel configurations without a token, with a
//! name that is not 1–255 characters or not unique, and every active one when
//! MCPBox holds more than one; settings MCPBox does not read, NULL, or with
//! values it would refuse; anything whose text looks like a credential. Left to
//! MCPBox by design: requests that are not approved, tools' module requests,
//! secret values, tools' approval state when not approved, and discovery results
//! (`discovered_tools_cache`, `tool_count`, status `error`).
//!
//! States of exported objects that a manifest cannot state are listed in
//! [`Export::lost`] (and in header comments): a tool's approved module requests
//! and a tool's rejection or draft state (it comes back `pending_review`).
//! `export --strict` fails when [`Export::skipped`] or [`Export::lost`] is not
//! empty; what is left to MCPBox by design does not count.
//!
//! # Layout
//!
//! This file holds the public API and the pipeline: [`export`] selects, then
//! renders and checks until what is left plans as adoptions only.
//! - `contents`: the `Selection` (what goes in, header notes, skips) and
//!   dropping an object with what hangs off it.
//! - `rows`: which rows of the state are selected, skipped or left to MCPBox.
//! - `problems`: why a row cannot be a manifest (the skip reasons).
//! - `render`: a selection as files: YAML documents with header comments.
//! - `check`: the self-check that loads and plans the files and names the
//!   objects to drop.
//! - `names`: file paths (length-capped, unique) and environment-variable names
//!   the export makes up.
//! - `text`: how MCPBox's text is quoted in reasons and header comments.
//! - `fixtures`, `tests` (tests only): the rows the unit tests share, and the
//!   tests of [`export`] as a whole.

mod check;
mod contents;
mod names;
mod problems;
mod render;
mod rows;
mod text;

use crate::plan::{diff, Plan};
use crate::policy::Policy;
use crate::source::FileSet;
use crate::state::ActualState;

use check::{check, Checked};
use contents::Selection;
use render::render;
use rows::select;
use text::shown;

/// Where the global modules go.
pub const MODULES_FILE: &str = "platform/modules.yaml";
/// Where the settings go.
pub const SETTINGS_FILE: &str = "platform/settings.yaml";
/// The folder of the tunnel configurations, one file each.
pub const TUNNELS_DIR: &str = "platform/tunnels";
/// Prefix of the variable a tunnel token is read from (then the name in upper
/// snake case).
pub const TUNNEL_TOKEN_ENV: &str = "MCPBOX_SECRET_TUNNEL_TOKEN_";
/// Prefix of the variable an encrypted setting is read from (then the key in
/// upper case).
pub const SETTING_ENV: &str = "MCPBOX_SECRET_SETTING_";

/// How to export.
#[derive(Debug, Clone)]
#[must_use]
pub struct Options {
    /// `reviewer` of the exported policy (`requested_by`/`reviewed_by` of the
    /// request rows a later apply creates), and `approvedBy` of pins of approved
    /// tools whose `approved_by` is NULL or unusable.
    pub reviewer: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reviewer: Policy::default().reviewer,
        }
    }
}

/// An object left out of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What, e.g. "tool `github/search`".
    pub object: String,
    /// Why (never quotes a secret value).
    pub reason: String,
}

/// A value the export names by environment variable instead of exporting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue {
    /// The variable `valueFrom: {env: …}` names.
    pub var: String,
    /// What it holds, e.g. "token of tunnel configuration `prod`".
    pub object: String,
}

/// How much was exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Server documents.
    pub servers: usize,
    /// Tool documents (Python and pass-through).
    pub tools: usize,
    /// Tools pinned in `approvals.yaml`.
    pub pinned: usize,
    /// Secret placeholders.
    pub secrets: usize,
    /// Network entries.
    pub network: usize,
    /// Global modules.
    pub modules: usize,
    /// Settings (plain and encrypted).
    pub settings: usize,
    /// ExternalSource documents.
    pub sources: usize,
    /// TunnelConfiguration documents.
    pub tunnels: usize,
}

/// An exported repository.
#[derive(Debug, Clone)]
pub struct Export {
    /// The files, by repository-relative path.
    pub files: FileSet,
    /// Objects left out, with the reason (the CLI shows them as warnings).
    pub skipped: Vec<Skipped>,
    /// States of exported objects that a database rebuilt from the export
    /// would not have, with what it gets instead (the CLI shows them as
    /// warnings; `--strict` fails on them as on `skipped`).
    pub lost: Vec<Skipped>,
    /// Rows left to MCPBox by design (requests that are not approved, …) and what
    /// the first apply will still do (caches that are stale in MCPBox).
    pub notes: Vec<String>,
    /// Variables the files read values from, sorted by variable: apply needs
    /// `MCPBOX_ENCRYPTION_KEY` and each of them set to the value MCPBox holds.
    pub env: Vec<EnvValue>,
    /// What was exported.
    pub counts: Counts,
    /// Adoptions a plan of the export against the same database proposes.
    pub adoptions: usize,
    /// Caches (`allowed_hosts`, `allowed_modules`) that are stale in MCPBox and
    /// that the first apply recomputes, the one row change it makes.
    pub stale_caches: usize,
}

/// Why no export was made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Manifests name each server once; MCPBox's names are not unique.
    #[error("server name(s) used by more than one server in MCPBox: {0}; manifests name each server once, so rename the extra servers in MCPBox and export again")]
    DuplicateServers(String),
    /// `--reviewer` cannot be written.
    #[error("reviewer `{0}` must be 1 to 255 characters without line breaks (it becomes requested_by/reviewed_by/approved_by)")]
    BadReviewer(String),
    /// The export is too large for `FileSet::from_dir` to read back.
    #[error("the export would be {size} bytes, more than the {limit}-byte limit of a manifest repository")]
    TooLarge {
        /// Total bytes.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A bug: the exported files do not load.
    #[error("internal error: the exported files do not load ({0}); nothing was written")]
    NotLoadable(String),
    /// A bug: the export would not plan as adoptions only.
    #[error(
        "internal error: the export would not plan as adoptions only ({0}); nothing was written"
    )]
    NotAdoptable(String),
    /// Planning the export failed.
    #[error(transparent)]
    Plan(#[from] diff::Error),
}

/// Exports `actual` as a manifest repository.
pub fn export(actual: &ActualState, opts: &Options) -> Result<Export, Error> {
    let r = &opts.reviewer;
    if r.trim().is_empty() || r.chars().count() > 255 || r.chars().any(char::is_control) {
        return Err(Error::BadReviewer(shown(r)));
    }
    settle(select(actual, opts)?, actual, opts)
}

/// Renders and checks a selection, dropping what fails until the rest passes.
fn settle(mut sel: Selection, actual: &ActualState, opts: &Options) -> Result<Export, Error> {
    // Each failed round drops at least one object, so this ends.
    for _ in 0..=sel.len() + 1 {
        let mut rendered = render(&sel, actual, opts)?;
        canonical(&mut rendered.files);
        match check(&rendered, actual, &sel)? {
            Checked::Adoptable(plan) => return Ok(finish(sel, rendered.files, &plan)),
            Checked::Drop(items) => {
                for (item, why) in items {
                    sel.drop_item(&item, &format!("unexpected: {why}"));
                }
            }
        }
    }
    Err(Error::NotAdoptable("objects kept failing the check".into()))
}

/// Every YAML file in `fmt`'s canonical layout, so that `fmt` of an export is
/// a no-op (a file fmt would refuse is left as rendered; none is expected).
fn canonical(files: &mut FileSet) {
    for (path, entry) in files.files.iter_mut() {
        if let crate::source::Entry::Bytes(bytes) = entry {
            let formatted = std::str::from_utf8(bytes)
                .ok()
                .filter(|_| path.ends_with(".yaml") || path.ends_with(".yml"))
                .and_then(|text| crate::fmt::format(text, crate::fmt::FileKind::of(path)).ok());
            if let Some(text) = formatted {
                *bytes = text.into_bytes();
            }
        }
    }
}

/// The export of a selection that passed the check, with what it left out,
/// what the first apply will still do, and the counts.
fn finish(sel: Selection, files: FileSet, plan: &Plan) -> Export {
    let mut notes: Vec<String> = sel
        .left
        .iter()
        .map(|(what, n)| {
            format!("left to MCPBox: {n} {what} (listed in the exported files' header comments)")
        })
        .collect();
    notes.extend(sel.notes.iter().cloned());
    for c in &plan.caches {
        let name = match &c.server {
            Some(s) => format!("servers.allowed_hosts of {s}"),
            None => "global_config.allowed_modules".to_string(),
        };
        notes.push(format!("{name} does not match MCPBox's approved requests; the first apply recomputes it (+{} -{})", c.added.len(), c.removed.len()));
    }
    notes.extend(plan.notes.iter().map(|n| format!("plan: {n}")));
    let counts = Counts {
        servers: sel.servers.len(),
        tools: sel.tools.len(),
        pinned: sel.tools.values().filter(|t| t.pin.is_some()).count(),
        secrets: sel.servers.values().map(|s| s.secrets.len()).sum(),
        network: sel.servers.values().map(|s| s.network.len()).sum(),
        modules: sel.modules.len(),
        settings: sel.settings.len(),
        sources: sel.sources.len(),
        tunnels: sel.tunnels.len(),
    };
    Export {
        env: sel.env(),
        files,
        skipped: sel.skipped,
        lost: sel.lost,
        notes,
        counts,
        adoptions: plan.summary.adopt,
        stale_caches: plan.caches.len(),
    }
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
