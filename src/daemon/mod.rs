//! The reconciliation daemon.
//!
//! # Layout
//! - [`page`]: the status page (`GET /`), rendered from the status document.

pub mod page;
