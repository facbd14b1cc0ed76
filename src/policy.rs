//! The reconciler's policy: `mcpbox-gitops.yaml` at the repository root.
//!
//! Parsed here from text; which file it is read from (and that a PR cannot loosen
//! its own policy) is decided by the caller. CLI flags override it in `cli`.

use serde::{Deserialize, Serialize};

use crate::diagnostic::{location_at, Code, Diagnostic};

/// What to do about code changed in MCPBox outside git.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnCodeDrift {
    /// Write git's code back (an apply makes MCPBox equal git).
    #[default]
    Revert,
    /// Disable the tool and keep the changed code until git decides.
    Quarantine,
}

/// What a change to a tool's dependencies alone (its code unchanged) does to
/// its approval.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnDependencyChange {
    /// Approval is reset like a code change: dependencies are code that runs
    /// (stricter than MCPBox).
    #[default]
    Revoke,
    /// Approval stands, as MCPBox's own update does (it resets approval only
    /// when `python_code` changes).
    Keep,
}

/// What a tool without `timeoutMs` gets when its server's `defaultTimeoutMs`
/// is not MCPBox's 30000.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UnsetToolTimeout {
    /// The server's default is written into the tool (`tools.timeout_ms`):
    /// MCPBox's sandbox never reads the server default, so this is what makes
    /// the tool run with it.
    #[default]
    ServerDefault,
    /// `timeout_ms` stays NULL, as MCPBox creates tools: the sandbox runs the
    /// tool with 30000 ms whatever the server says.
    Inherit,
}

/// Who approves tool content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Content with a matching pin in `approvals.yaml` is written `approved`.
    #[default]
    Pinned,
    /// The reconciler never approves; an MCPBox admin does.
    Admin,
}

/// `approval:` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalPolicy {
    /// See [`ApprovalMode`].
    #[serde(default)]
    pub mode: ApprovalMode,
    /// See [`OnDependencyChange`].
    #[serde(default, skip_serializing_if = "is_revoke")]
    pub on_dependency_change: OnDependencyChange,
}

fn is_revoke(p: &OnDependencyChange) -> bool {
    *p == OnDependencyChange::Revoke
}

fn is_server_default(p: &UnsetToolTimeout) -> bool {
    *p == UnsetToolTimeout::ServerDefault
}

/// `deletionGuard:` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeletionGuard {
    /// A plan deleting more than this share (percent) of owned objects is refused
    /// unless destruction is explicitly allowed.
    #[serde(default = "default_max_delete_percent")]
    pub max_delete_percent: u8,
}

fn default_max_delete_percent() -> u8 {
    50
}

impl Default for DeletionGuard {
    fn default() -> Self {
        DeletionGuard {
            max_delete_percent: default_max_delete_percent(),
        }
    }
}

/// `values:` section: where `valueFrom` may read (see `values::access`).
/// `--values-dir` / `--env-prefix` replace these when given. In PR mode the
/// section is read from the base commit, so a pull request cannot widen it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValuesPolicy {
    /// Absolute directories a `valueFrom.file` must resolve inside (e.g. the
    /// mount point of a secrets volume). Empty: no value file is read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
    /// Prefixes a `valueFrom.env` name must start with. Empty: the default,
    /// `MCPBOX_SECRET_`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_prefixes: Vec<String>,
}

/// The whole policy file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// Approval of tool content.
    #[serde(default)]
    pub approval: ApprovalPolicy,
    /// Identity written as `reviewed_by` / `requested_by` of request rows and
    /// `created_by` of tools the reconciler creates.
    #[serde(default = "default_reviewer")]
    pub reviewer: String,
    /// Delete owned objects that left git (default true). When false, they are
    /// listed but kept.
    #[serde(default = "default_true")]
    pub prune: bool,
    /// See [`DeletionGuard`].
    #[serde(default)]
    pub deletion_guard: DeletionGuard,
    /// Who may approve: when not empty, a pin in `approvals.yaml` by anyone else
    /// (its `approvedBy`, compared case-insensitively) is ignored with a warning.
    /// In PR mode the list is read from the base commit, so a PR cannot add its
    /// own author.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// What an apply does about a managed tool whose code or dependencies were
    /// changed in MCPBox outside git: `revert` (write git's back) or
    /// `quarantine` (disable it, keep the changed code, until git decides).
    #[serde(default, skip_serializing_if = "is_revert")]
    pub on_code_drift: OnCodeDrift,
    /// See [`UnsetToolTimeout`].
    #[serde(default, skip_serializing_if = "is_server_default")]
    pub unset_tool_timeout: UnsetToolTimeout,
    /// A pin counts only with a valid SSH signature from a key the
    /// `allowedSigners` file lists for its approver (see `signing`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_signed_approvals: bool,
    /// The `allowed_signers` file (git's format), relative to the repository
    /// root; read from the same commit as this policy (BASE in PR mode).
    #[serde(
        default = "default_allowed_signers",
        skip_serializing_if = "is_default_allowed_signers"
    )]
    pub allowed_signers: String,
    /// See [`ValuesPolicy`].
    #[serde(default)]
    pub values: ValuesPolicy,
}

fn default_reviewer() -> String {
    "mcpbox-gitops".to_string()
}

fn is_revert(p: &OnCodeDrift) -> bool {
    *p == OnCodeDrift::Revert
}

/// Where `allowed_signers` is by default: the repository root.
pub const DEFAULT_ALLOWED_SIGNERS: &str = "allowed_signers";

fn default_allowed_signers() -> String {
    DEFAULT_ALLOWED_SIGNERS.to_string()
}

fn is_default_allowed_signers(s: &str) -> bool {
    s == DEFAULT_ALLOWED_SIGNERS
}

fn default_true() -> bool {
    true
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            approval: ApprovalPolicy::default(),
            reviewer: default_reviewer(),
            prune: true,
            deletion_guard: DeletionGuard::default(),
            approvers: Vec::new(),
            on_code_drift: Default::default(),
            unset_tool_timeout: Default::default(),
            require_signed_approvals: false,
            allowed_signers: default_allowed_signers(),
            values: ValuesPolicy::default(),
        }
    }
}

/// Parses a policy file; `file` names it in diagnostics.
pub fn parse(file: &str, text: &str) -> Result<Policy, Diagnostic> {
    if text.trim().is_empty() {
        return Ok(Policy::default());
    }
    let policy: Policy = serde_yaml::from_str(text).map_err(|e| repo_file_error(file, text, &e))?;
    if policy.reviewer.trim().is_empty() || policy.reviewer.chars().count() > 255 {
        return Err(Diagnostic::new(
            Code::RepoFile,
            file,
            location_at(text, 0, 0),
            "`reviewer` must be 1 to 255 characters",
        )
        .help("set `reviewer:` to the identity MCPBox should show, e.g. gitops@example.com"));
    }
    if policy.deletion_guard.max_delete_percent > 100 {
        return Err(Diagnostic::new(
            Code::RepoFile,
            file,
            location_at(text, 0, 0),
            "`deletionGuard.maxDeletePercent` must be 0 to 100",
        ));
    }
    if crate::source::subdir_components(&policy.allowed_signers).is_none_or(|c| c.is_empty()) {
        return Err(Diagnostic::new(
            Code::RepoFile,
            file,
            location_at(text, 0, 0),
            format!(
                "`allowedSigners` `{}` is not a path inside the repository",
                crate::escape::text(&policy.allowed_signers)
            ),
        )
        .help("give a path relative to the repository root, e.g. allowed_signers or .github/allowed_signers"));
    }
    if let Some(dir) = policy
        .values
        .dirs
        .iter()
        .find(|d| !std::path::Path::new(d).is_absolute())
    {
        return Err(Diagnostic::new(
            Code::RepoFile,
            file,
            location_at(text, 0, 0),
            format!(
                "`values.dirs` entry `{}` is not an absolute path",
                crate::escape::text(dir)
            ),
        )
        .help("give the absolute path of a directory holding value files, e.g. /run/secrets"));
    }
    Ok(policy)
}

/// A diagnostic for a malformed repository file (policy or approvals).
pub fn repo_file_error(file: &str, text: &str, e: &serde_yaml::Error) -> Diagnostic {
    let (loc, msg) = crate::diagnostic::yaml_error_parts(text, e);
    Diagnostic::new(Code::RepoFile, file, loc, format!("invalid {file}: {msg}"))
        .help("see the README for this file's format")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty() {
        let p = parse("mcpbox-gitops.yaml", "").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.deletion_guard.max_delete_percent, 50);
        assert!(p.prune);
    }

    #[test]
    fn reads_fields_and_refuses_unknown() {
        let p = parse(
            "p",
            "approval: {mode: admin}\nreviewer: a@b\nprune: false\n",
        )
        .unwrap();
        assert_eq!(p.approval.mode, ApprovalMode::Admin);
        assert_eq!(p.reviewer, "a@b");
        assert!(!p.prune);
        let e = parse("p", "aproval: {}\n").unwrap_err();
        assert_eq!(e.code, Code::RepoFile);
        assert!(e.message.contains("aproval"));
        assert_eq!(e.location.line, 1);
    }
}
