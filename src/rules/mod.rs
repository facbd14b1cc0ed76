//! MCPBox's own rules, reimplemented as pure functions (no database, no I/O).
//!
//! # Layout
//! - `sync`: the sync helpers that recompute `servers.allowed_hosts` and
//!   `global_config.allowed_modules` from approved request rows.
//! - `versions`: `tool_versions.change_summary` wording.
//! - `approval`: the approval state machine with approval pinned to content.
//! - `passthrough`: names of imported `mcp_passthrough` tools.
//! - `tunnel`: tunnel configurations' public URL normalisation and token length.
//!
//! Where each rule is applied to rows lives in `plan::diff` and `apply`.

pub mod approval;
pub mod limits;
pub mod names;
pub mod passthrough;
pub mod quarantine;
pub mod sync;
pub mod tunnel;
pub mod versions;
