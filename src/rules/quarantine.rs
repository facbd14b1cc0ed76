//! Quarantine on code drift (`onCodeDrift: quarantine`): a managed tool whose
//! code or dependencies were changed in MCPBox outside git — an LLM's "rug
//! pull" — is disabled through MCPBox's own transition (a version row
//! `Updated enabled status`), its changed code left in place for inspection,
//! until git decides: change the tool (for instance re-pin the new code) or
//! `apply --restore-quarantined` to write git's version back.
//!
//! Pure: which tools are quarantined, given git's tools, MCPBox's rows, what
//! was last applied and the quarantines already recorded; and the tool git
//! is planned as while it is held. Recording quarantines is `apply`'s job,
//! reading them `state`'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Tool;

pub use crate::policy::OnCodeDrift;

/// A quarantine recorded by an earlier apply
/// (`mcpbox_gitops.quarantine`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Git's content hash of the tool when the quarantine began: while git
    /// still asks for this content, the quarantine holds.
    pub git_hash: String,
    /// MCPBox's content hash of the tool then (the drifted code).
    pub drifted_hash: String,
    /// When it began.
    pub since: chrono::DateTime<chrono::Utc>,
}

/// One tool's state in this plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Quarantine {
    /// Drift found now: the tool is disabled and the quarantine recorded.
    Start {
        /// `server/tool`.
        tool: String,
        /// Git's content hash (what git still asks for).
        git_hash: String,
        /// MCPBox's content hash (the changed code, kept).
        drifted_hash: String,
        /// Git's code, recorded for `export --drift` (MCPBox keeps its own).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        git_code: Option<String>,
    },
    /// Still quarantined: git has not decided yet.
    Hold {
        /// `server/tool`.
        tool: String,
        /// Git's content hash when it began.
        git_hash: String,
        /// MCPBox's content hash when it began.
        drifted_hash: String,
        /// When it began (RFC 3339).
        since: String,
    },
    /// Git decided: the quarantine ends and the tool is planned from git as
    /// usual (the record is removed).
    Lift {
        /// `server/tool`.
        tool: String,
        /// Why it ends.
        why: LiftReason,
    },
}

impl Quarantine {
    /// The tool's key.
    pub fn tool(&self) -> &str {
        match self {
            Quarantine::Start { tool, .. }
            | Quarantine::Hold { tool, .. }
            | Quarantine::Lift { tool, .. } => tool,
        }
    }

    /// Whether the tool is planned as quarantined (disabled, MCPBox's code).
    pub fn holds(&self) -> bool {
        !matches!(self, Quarantine::Lift { .. })
    }
}

/// How a decision reads in a plan, e.g. `quarantine starts: disabled, the
/// code changed in MCPBox is kept (git sha256 1a2b3c4d5e6f, MCPBox sha256 …)`.
impl std::fmt::Display for Quarantine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
        match self {
            Quarantine::Start {
                git_hash,
                drifted_hash,
                ..
            } => write!(
                f,
                "quarantine starts: its code changed in MCPBox outside git, so it is disabled and the changed code kept (git sha256 {}, MCPBox sha256 {})",
                short(git_hash),
                short(drifted_hash)
            ),
            Quarantine::Hold {
                git_hash,
                drifted_hash,
                since,
                ..
            } => write!(
                f,
                "quarantined since {since}: disabled until git decides (git sha256 {}, MCPBox sha256 {})",
                short(git_hash),
                short(drifted_hash)
            ),
            Quarantine::Lift { why, .. } => write!(f, "quarantine lifted: {why}"),
        }
    }
}

/// What a reviewer can do about held quarantines: the two ways git decides.
pub const HOW_TO_DECIDE: &str = "to decide, either re-pin MCPBox's code in git (`mcpbox-gitops export --drift DIR` writes both versions) or write git's back with `mcpbox-gitops apply --restore-quarantined`";

/// Why a quarantine ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LiftReason {
    /// Git now asks for other content (a new version, or the drifted code re-pinned).
    GitChanged,
    /// `apply --restore-quarantined`: git's version is written back.
    Restored,
    /// The tool left git or MCPBox.
    Gone,
    /// MCPBox's code equals git's again.
    Resolved,
}

impl std::fmt::Display for LiftReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LiftReason::GitChanged => "git changed the tool",
            LiftReason::Restored => "restored from git (--restore-quarantined)",
            LiftReason::Gone => "the tool is gone",
            LiftReason::Resolved => "MCPBox's code equals git's again",
        })
    }
}

/// One managed tool as both sides see it.
pub struct Sides<'a> {
    /// Git's tool.
    pub git: &'a Tool,
    /// MCPBox's row.
    pub mcpbox: &'a Tool,
    /// The hash of the object last applied (ownership), if owned.
    pub applied_hash: Option<&'a str>,
    /// Git's object hash now (comparable with `applied_hash`).
    pub git_object_hash: &'a str,
}

/// Whether MCPBox's code or dependencies differ from git's: what runs
/// changed (a description or timeout edit is ordinary drift).
pub fn code_drifted(git: &Tool, mcpbox: &Tool) -> bool {
    git.python_code != mcpbox.python_code || git.dependencies != mcpbox.dependencies
}

/// Decides every tool's quarantine. `tools` holds the managed tools present on
/// both sides; `held` the recorded quarantines; with `restore` every
/// quarantine is lifted. A new quarantine starts only under
/// [`OnCodeDrift::Quarantine`], for an owned tool git has not changed since it
/// was applied (otherwise the difference is git's change, not drift).
pub fn decide(
    policy: OnCodeDrift,
    tools: &BTreeMap<String, Sides<'_>>,
    held: &BTreeMap<String, Held>,
    restore: bool,
) -> Vec<Quarantine> {
    let mut out = Vec::new();
    for (key, h) in held {
        let Some(sides) = tools.get(key) else {
            out.push(Quarantine::Lift {
                tool: key.clone(),
                why: LiftReason::Gone,
            });
            continue;
        };
        let why = if restore {
            Some(LiftReason::Restored)
        } else if sides.git.content_hash() != h.git_hash {
            Some(LiftReason::GitChanged)
        } else if !code_drifted(sides.git, sides.mcpbox) {
            Some(LiftReason::Resolved)
        } else {
            None
        };
        out.push(match why {
            Some(why) => Quarantine::Lift {
                tool: key.clone(),
                why,
            },
            None => Quarantine::Hold {
                tool: key.clone(),
                git_hash: h.git_hash.clone(),
                drifted_hash: h.drifted_hash.clone(),
                since: h.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
        });
    }
    if policy == OnCodeDrift::Quarantine && !restore {
        for (key, s) in tools {
            let unchanged_in_git = s.applied_hash == Some(s.git_object_hash);
            if !held.contains_key(key) && unchanged_in_git && code_drifted(s.git, s.mcpbox) {
                out.push(Quarantine::Start {
                    tool: key.clone(),
                    git_hash: s.git.content_hash(),
                    drifted_hash: s.mcpbox.content_hash(),
                    git_code: s.git.python_code.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.tool().cmp(b.tool()));
    out
}

/// The tool git is planned as while quarantined: git's, with MCPBox's code,
/// dependencies and input schema kept and `enabled: false` — so the plan
/// disables it and changes nothing else that runs.
pub fn held_tool(git: &Tool, mcpbox: &Tool) -> Tool {
    Tool {
        python_code: mcpbox.python_code.clone(),
        dependencies: mcpbox.dependencies.clone(),
        input_schema: mcpbox.input_schema.clone(),
        enabled: false,
        ..git.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ToolType;

    fn tool(code: &str) -> Tool {
        Tool {
            server: "s".into(),
            name: "t".into(),
            description: Some("d".into()),
            enabled: true,
            timeout_ms: None,
            tool_type: ToolType::PythonCode,
            python_code: Some(code.into()),
            dependencies: vec![],
            input_schema: serde_json::json!({"type": "object"}),
            external_source: None,
            external_tool_name: None,
        }
    }

    fn one<'a>(
        git: &'a Tool,
        mcpbox: &'a Tool,
        applied: Option<&'a str>,
    ) -> BTreeMap<String, Sides<'a>> {
        BTreeMap::from([(
            "s/t".to_string(),
            Sides {
                git,
                mcpbox,
                applied_hash: applied,
                git_object_hash: "H",
            },
        )])
    }

    #[test]
    fn drift_of_what_runs_starts_a_quarantine_only_when_git_did_not_change() {
        let git = tool("async def main(): return 1");
        let llm = tool("async def main(): return steal()");
        let none = BTreeMap::new();
        let start = decide(
            OnCodeDrift::Quarantine,
            &one(&git, &llm, Some("H")),
            &none,
            false,
        );
        assert_eq!(
            start,
            [Quarantine::Start {
                tool: "s/t".into(),
                git_hash: git.content_hash(),
                drifted_hash: llm.content_hash(),
                git_code: git.python_code.clone(),
            }]
        );
        // Git changed the tool since it was applied: that is git's change.
        assert!(decide(
            OnCodeDrift::Quarantine,
            &one(&git, &llm, Some("old")),
            &none,
            false
        )
        .is_empty());
        // Not owned yet: adoption, not drift.
        assert!(decide(
            OnCodeDrift::Quarantine,
            &one(&git, &llm, None),
            &none,
            false
        )
        .is_empty());
        // Revert policy: no quarantine.
        assert!(decide(
            OnCodeDrift::Revert,
            &one(&git, &llm, Some("H")),
            &none,
            false
        )
        .is_empty());
        // A description edit is not code drift.
        let described = Tool {
            description: Some("other".into()),
            ..git.clone()
        };
        assert!(decide(
            OnCodeDrift::Quarantine,
            &one(&git, &described, Some("H")),
            &none,
            false
        )
        .is_empty());
        let deps = Tool {
            dependencies: vec!["requests".into()],
            ..git.clone()
        };
        assert_eq!(
            decide(
                OnCodeDrift::Quarantine,
                &one(&git, &deps, Some("H")),
                &none,
                false
            )
            .len(),
            1
        );
    }

    #[test]
    fn a_held_quarantine_lasts_until_git_decides() {
        let git = tool("async def main(): return 1");
        let llm = tool("async def main(): return steal()");
        let since = chrono::DateTime::UNIX_EPOCH;
        let held = BTreeMap::from([(
            "s/t".to_string(),
            Held {
                git_hash: git.content_hash(),
                drifted_hash: llm.content_hash(),
                since,
            },
        )]);
        // Whatever the policy says now, and whatever was applied: it holds.
        let d = decide(
            OnCodeDrift::Revert,
            &one(&git, &llm, Some("x")),
            &held,
            false,
        );
        assert!(matches!(&d[..], [Quarantine::Hold { .. }]), "{d:?}");
        // The LLM changes the code again: still held.
        let again = tool("async def main(): return steal_more()");
        assert!(decide(
            OnCodeDrift::Quarantine,
            &one(&git, &again, Some("x")),
            &held,
            false
        )[0]
        .holds());
        // Git re-pins the drifted code (its content changes): lifted.
        let lifted = decide(
            OnCodeDrift::Quarantine,
            &one(&llm, &llm, Some("x")),
            &held,
            false,
        );
        assert_eq!(
            lifted,
            [Quarantine::Lift {
                tool: "s/t".into(),
                why: LiftReason::GitChanged
            }]
        );
        // Restored on request.
        let restored = decide(
            OnCodeDrift::Quarantine,
            &one(&git, &llm, Some("x")),
            &held,
            true,
        );
        assert_eq!(
            restored,
            [Quarantine::Lift {
                tool: "s/t".into(),
                why: LiftReason::Restored
            }]
        );
        // Someone put git's code back in MCPBox.
        let back = decide(
            OnCodeDrift::Quarantine,
            &one(&git, &git, Some("x")),
            &held,
            false,
        );
        assert_eq!(
            back,
            [Quarantine::Lift {
                tool: "s/t".into(),
                why: LiftReason::Resolved
            }]
        );
        // The tool left git.
        let gone = decide(OnCodeDrift::Quarantine, &BTreeMap::new(), &held, false);
        assert_eq!(
            gone,
            [Quarantine::Lift {
                tool: "s/t".into(),
                why: LiftReason::Gone
            }]
        );
    }

    #[test]
    fn the_held_tool_keeps_mcpbox_code_and_is_disabled() {
        let git = tool("async def main(): return 1");
        let llm = Tool {
            dependencies: vec!["requests".into()],
            input_schema: serde_json::json!({"type": "object", "properties": {"x": {}}}),
            ..tool("async def main(x): return steal()")
        };
        let held = held_tool(&git, &llm);
        assert!(!held.enabled);
        assert_eq!(held.python_code, llm.python_code);
        assert_eq!(held.dependencies, llm.dependencies);
        assert_eq!(held.input_schema, llm.input_schema);
        assert_eq!(held.description, git.description);
        assert_eq!(held.content_hash(), llm.content_hash());
    }
}
