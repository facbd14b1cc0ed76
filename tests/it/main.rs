//! Integration tests: one binary, topic modules, a real PostgreSQL (each test gets
//! its own database from `#[sqlx::test]`), real files and the real CLI.

mod activate;
mod apply;
mod cli;
mod common;
mod convergence;
mod corpus;
mod crash;
mod daemon;
mod everyday;
mod export;
mod fake_sandbox;
mod fidelity;
mod fuzz;
mod git;
mod kinds;
mod manifest_schema;
mod page;
mod quarantine;
mod reliability;
mod schema;
mod security;
mod signing;
mod sources;
mod values;
