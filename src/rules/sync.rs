//! MCPBox's sync helpers (MCPBOX.md §3.4, §3.5): the derived allow-list caches.
//!
//! `servers.allowed_hosts` and `global_config.allowed_modules` are never written
//! except through these two functions. Reading the request rows they take as
//! input lives in `state`.

use std::collections::{BTreeMap, BTreeSet};

/// MCPBox's `DEFAULT_ALLOWED_MODULES`, as declared (34 names).
pub const DEFAULT_ALLOWED_MODULES: [&str; 34] = [
    "json",
    "base64",
    "binascii",
    "html",
    "csv",
    "xml.etree.ElementTree",
    "re",
    "string",
    "textwrap",
    "difflib",
    "datetime",
    "time",
    "calendar",
    "zoneinfo",
    "math",
    "decimal",
    "fractions",
    "random",
    "statistics",
    "collections",
    "itertools",
    "functools",
    "operator",
    "hashlib",
    "hmac",
    "secrets",
    "urllib.parse",
    "dataclasses",
    "typing",
    "enum",
    "copy",
    "asyncio",
    "uuid",
    "contextlib",
];

/// `sync_allowed_hosts`: approved `(host, port)` pairs of one server → the cache.
///
/// Hosts are grouped byte-exactly and visited in code-point order; a port-less
/// approval supersedes every port of its host; ports ascend numerically. The
/// result is ordered by host, then port — not a sort of the final strings.
pub fn allowed_hosts<'a>(
    approved: impl IntoIterator<Item = (&'a str, Option<i32>)>,
) -> Vec<String> {
    let mut by_host: BTreeMap<&str, (bool, BTreeSet<i32>)> = BTreeMap::new();
    for (host, port) in approved {
        let entry = by_host.entry(host).or_default();
        match port {
            None => entry.0 = true,
            Some(p) => {
                entry.1.insert(p);
            }
        }
    }
    let mut out = Vec::new();
    for (host, (any_port, ports)) in by_host {
        if any_port {
            out.push(host.to_string());
        } else {
            out.extend(ports.into_iter().map(|p| format!("{host}:{p}")));
        }
    }
    out
}

/// The extra import names MCPBox allows for an approved module name.
///
/// `-` → the name with `_` and the part before the first `-`; `.` → the part
/// before the first `.`. Both apply independently.
pub fn derived_import_names(name: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    if name.contains('-') {
        out.insert(name.replace('-', "_"));
        out.insert(name.split('-').next().unwrap_or("").to_string());
    }
    if name.contains('.') {
        out.insert(name.split('.').next().unwrap_or("").to_string());
    }
    out.into_iter().collect()
}

/// `sync_allowed_modules`: every approved module name (all servers, both origins)
/// → the full sorted cache (defaults ∪ approved ∪ derived).
pub fn allowed_modules<'a>(approved: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut set: BTreeSet<String> = DEFAULT_ALLOWED_MODULES
        .iter()
        .map(|s| s.to_string())
        .collect();
    for name in approved {
        set.insert(name.to_string());
        set.extend(derived_import_names(name));
    }
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_match_mcpbox_vectors() {
        let vectors = crate::test_vectors("sync_allowed_hosts");
        let cases = vectors.as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let approved: Vec<(String, Option<i32>)> = case["approved"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["host"].as_str().unwrap().to_string(),
                        r["port"].as_i64().map(|p| p as i32),
                    )
                })
                .collect();
            let got = allowed_hosts(approved.iter().map(|(h, p)| (h.as_str(), *p)));
            let want: Vec<String> = serde_json::from_value(case["allowed_hosts"].clone()).unwrap();
            assert_eq!(got, want, "case {case}");
        }
    }

    #[test]
    fn allowed_modules_match_mcpbox_vectors() {
        for case in crate::test_vectors("sync_allowed_modules")
            .as_array()
            .unwrap()
        {
            let approved: Vec<String> = serde_json::from_value(case["approved"].clone()).unwrap();
            let want: Vec<String> =
                serde_json::from_value(case["allowed_modules"].clone()).unwrap();
            assert_eq!(
                allowed_modules(approved.iter().map(String::as_str)),
                want,
                "case {case}"
            );
        }
    }

    #[test]
    fn derived_names_match_mcpbox_vectors() {
        for case in crate::test_vectors("derived_import_names")
            .as_array()
            .unwrap()
        {
            let want: Vec<String> = serde_json::from_value(case["derived"].clone()).unwrap();
            assert_eq!(
                derived_import_names(case["name"].as_str().unwrap()),
                want,
                "case {case}"
            );
        }
    }

    #[test]
    fn thirty_four_defaults() {
        let set: BTreeSet<_> = DEFAULT_ALLOWED_MODULES.iter().collect();
        assert_eq!(set.len(), 34);
    }
}
