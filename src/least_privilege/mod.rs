//! The least-privilege diff: what each tool's code needs (from `infer`)
//! against what the manifests grant its server — uses git does not grant (they
//! fail at run time in MCPBox's sandbox), grants no tool uses, and which tools
//! use each grant. Pure: shown by `plan`, `validate` and the PR comment.
//!
//! - `inventory`: every tool's needs and every grant, located in the repository.
//! - `compare`: needs against grants → needed-not-granted, granted-not-used, used-by.

pub mod compare;
pub mod inventory;

pub use compare::{check, LeastPrivilege};
pub use inventory::Inventory;
