//! Manifests: YAML documents with spans → checked documents → diagnostics.
//!
//! # Layout
//! - `locate`: path → position index of a YAML document.
//! - `kinds`: the serde types of each kind.
//! - `load`: `FileSet` → parsed documents (with tool code fetched).
//! - `schema`: JSON Schemas of every manifest kind, generated from `kinds`.
//! - `secrets`: literal-secret detection (E060).
//! - `validate`: semantic checks (names, references, limits, Python).
//!
//! Diagnostics themselves live in `crate::diagnostic` (policy and approvals
//! files report through them too).
//!
//! Nothing here touches the database or the filesystem; `source` reads files.

pub mod kinds;
pub mod load;
pub mod locate;
pub mod schema;
pub mod secrets;
pub mod validate;

pub use crate::diagnostic::{Code, Diagnostic};
pub use load::{load, Loaded, Manifests};
