//! Apply: execute a plan in one transaction, under an advisory lock, through
//! MCPBox's rules.
//!
//! # Layout
//! - `execute`: the transaction (lock, re-read, re-check, batched writes, syncs,
//!   audit, ownership).
//! - `write`: the batched statements, one function per kind.
//! - `sources`, `tunnels`: the batched statements of external sources and tunnel
//!   configurations (activation included).
//! - `sync`: MCPBox's sync helpers on the rows inside the transaction.
//! - `audit`: audit rows and the re-registration report.
//! - `ids`: row ids by natural key for one apply.
//! - `rows`: pure computation of the rows each change writes (approval columns,
//!   version snapshots), tested without a database.
//!
//! Deciding *what* changes lives in `plan::diff`; this module only carries it out.

mod audit;
mod batch;
mod context;
mod error;
pub mod execute;
mod ids;
pub mod rows;
mod sources;
mod sync;
mod tunnels;
mod write;

pub use audit::{Report, Reregister, Unregister};
pub use error::Error;
pub use execute::{execute, execute_saved, Options};
