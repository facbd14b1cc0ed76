//! Apply: execute a plan in one transaction, under an advisory lock, through
//! MCPBox's rules.
//!
//! # Layout
//! - `execute`: the transaction (lock, re-read, re-check, batched writes, syncs,
//!   audit, ownership).
//! - `rows`: pure computation of the rows each change writes (approval columns,
//!   version snapshots), tested without a database.
//!
//! Deciding *what* changes lives in `plan::diff`; this module only carries it out.

pub mod execute;
pub mod rows;

pub use execute::{execute, Error, Options, Report};
