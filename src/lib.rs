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
//!                                                                       └────→ apply (one transaction)
//! ```
//!
//! - [`source`] (edge): a directory or a git commit (local or a cached remote) →
//!   in-memory `FileSet`.
//! - [`manifest`] (core): YAML documents with positions, kinds, diagnostics, validation.
//! - [`python`] (core): MCPBox's Python rules (syntax, `async def main`, `input_schema`).
//! - [`desired`] (core): the normalised desired state.
//! - [`export`] (core): the actual state as a manifest repository (`desired`'s inverse).
//! - [`model`] (core): the managed objects shared by desired, actual and plan.
//! - [`rules`] (core): MCPBox's approval, version and sync rules as pure functions.
//! - [`approvals`], [`policy`], [`settings`] (core): repository files and setting tables.
//! - [`crypto`] (core): MCPBox's AES-256-GCM secret encryption, key and AAD.
//! - [`values`] (core, reading at the edge): `valueFrom` sources, the values read
//!   for one run, and the labels plans show instead of them.
//! - [`state`] (edge): the actual state read from PostgreSQL; migrations.
//! - [`plan`] (core): the diff engine, the `Plan` type, saved plans and the
//!   renderers.
//! - [`apply`] (edge): executes a plan in one transaction.
//! - [`cli`] (edge): one file per subcommand.

#![warn(missing_docs)]

pub mod apply;
pub mod approvals;
pub mod cli;
pub mod crypto;
pub mod desired;
pub mod export;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod policy;
pub mod python;
pub mod rules;
pub mod settings;
pub mod source;
pub mod state;
pub mod values;
