//! MCPBox's limits (MCPBOX.md §4.1, §3.3, §6.1, §6.4): lengths, counts and
//! ranges its API enforces. Checked by `manifest::validate`, written into the
//! JSON Schemas by the kinds, and applied to exports.

/// Longest name (varchar(255)).
pub const NAME: usize = 255;
/// Longest description.
pub const DESCRIPTION: usize = 2000;
/// Longest Python code, in characters.
pub const CODE: usize = 100_000;
/// Most code dependencies.
pub const DEPENDENCIES: usize = 20;
/// Timeout range in milliseconds.
pub const TIMEOUT: std::ops::RangeInclusive<i64> = 1000..=300_000;
/// Longest module name.
pub const MODULE_NAME: usize = 128;
/// Longest external source URL (MCPBOX.md §6.1).
pub const URL: usize = 2000;
/// Longest tunnel public URL (varchar(1024), MCPBOX.md §6.4).
pub const PUBLIC_URL: usize = crate::rules::tunnel::MAX_PUBLIC_URL;
