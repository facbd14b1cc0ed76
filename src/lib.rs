//! mcpbox-gitops: a declarative GitOps reconciler for MCPBox.
//!
//! MCPBox keeps servers, LLM-written Python tools, secrets and allow-lists in
//! PostgreSQL. This crate keeps them in a git repository of YAML manifests instead,
//! and reconciles: it diffs the manifests against the database, shows the plan,
//! and applies it through MCPBox's own rules (approval state machine, tool
//! versions, sync helpers).
//!
//! # Layout
//!
//! Data flows one way:
//!
//! ```text
//! source ──→ manifest (load, validate) ──→ desired ─┐
//!                                                   ├─→ plan::diff ──→ Plan ──→ plan::render (text | json | markdown)
//! PostgreSQL ──→ state (read) ──→ ActualState ──────┘                   ├────→ plan::saved (plan --out)
//!                                                                       └────→ apply (one transaction) ──→ activate (sandbox)
//! ```
//!
//! - [`source`] (edge): a directory or a git commit (local or a cached remote) →
//!   in-memory `FileSet`.
//! - [`manifest`] (core): YAML documents with positions, kinds, diagnostics, validation.
//! - [`python`] (core): MCPBox's Python rules (syntax, `async def main`, `input_schema`).
//! - [`infer`] (core): what tool code needs (modules, hosts), from its AST.
//! - [`least_privilege`] (core): those needs against what git grants.
//! - [`diagnostic`] (core): problems with `file:line:col`, codes and fixes.
//! - [`desired`] (core): the normalised desired state.
//! - [`export`] (core): the actual state as a manifest repository (`desired`'s inverse).
//! - [`model`] (core): the managed objects shared by desired, actual and plan.
//! - [`rules`] (core): MCPBox's approval, version and sync rules as pure functions.
//! - [`approvals`], [`policy`], [`settings`] (core): repository files and setting tables.
//! - [`crypto`] (core): MCPBox's AES-256-GCM secret encryption, key and AAD.
//! - [`values`] (core, reading at the edge): `valueFrom` sources, what they may
//!   read (the allow-list), the values read for one run, and the labels plans
//!   show instead of them.
//! - [`escape`] (core): paths and names made safe to print.
//! - [`parallel`] (core): an order-keeping parallel map for parsing.
//! - [`state`] (edge): the actual state read from PostgreSQL; migrations.
//! - [`plan`] (core): the diff engine, the `Plan` type, saved plans and the
//!   renderers.
//! - [`apply`] (edge): executes a plan in one transaction.
//! - [`activate`] (edge): after a commit, makes the change live in MCPBox's sandbox
//!   (re-registers running servers, unregisters deleted ones, notifies clients).
//! - [`daemon`] (edge): the reconciliation daemon, the CLI's plan and apply in a
//!   loop (passes, drift, leader election, HTTP status, webhooks, metrics).
//! - [`cli`] (edge): one file per subcommand.
//! - [`fmt`] (core): the canonical manifest layout `fmt` writes.
//! - [`signing`] (core): SSH-signed approval pins and `allowed_signers`.
//!
//! `ARCHITECTURE.md` has the folder map and the rules of the house.

#![warn(missing_docs)]

/// One section of MCPBox's reference vectors (`reference/mcpbox-vectors.json`),
/// for the tests that check our rules against MCPBox's own output.
#[cfg(test)]
pub(crate) fn test_vectors(section: &str) -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reference/mcpbox-vectors.json");
    let text = std::fs::read_to_string(path).expect("read reference/mcpbox-vectors.json");
    let all: serde_json::Value = serde_json::from_str(&text).expect("parse mcpbox-vectors.json");
    all[section].clone()
}

#[cfg(test)]
mod reference_tests {
    /// The copies in `reference/` equal the shared originals, when those are
    /// next to the repository (they are not in every clone).
    #[test]
    fn reference_copies_match_the_shared_ones() {
        let root = env!("CARGO_MANIFEST_DIR");
        for (copy, original) in [
            (
                "reference/mcpbox-vectors.json",
                "../shared/reference/mcpbox-vectors.json",
            ),
            (
                "reference/mcpbox-schema-0002.txt",
                "../shared/reference/mcpbox-schema-0002.txt",
            ),
            (
                "reference/schema-fingerprint",
                "../shared/tools/schema-fingerprint",
            ),
            ("reference/MCPBOX.md", "../shared/reference/MCPBOX.md"),
        ] {
            let ours = std::fs::read(format!("{root}/{copy}")).expect("the copy is checked in");
            assert!(!ours.is_empty(), "{copy} is empty");
            if let Ok(theirs) = std::fs::read(format!("{root}/{original}")) {
                assert!(
                    ours == theirs,
                    "{copy} differs from {original}: copy it again"
                );
            }
        }
    }
}

pub mod activate;
pub mod apply;
pub mod approvals;
pub mod cli;
pub mod crypto;
pub mod daemon;
pub mod desired;
pub mod diagnostic;
pub mod escape;
pub mod export;
pub mod fmt;
pub mod infer;
pub mod least_privilege;
pub mod manifest;
pub mod model;
pub mod parallel;
pub mod plan;
pub mod policy;
pub mod python;
pub mod rules;
pub mod settings;
pub mod signing;
pub mod source;
pub mod state;
pub mod timing;
pub mod values;
