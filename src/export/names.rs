//! Names the export makes up: file paths under `servers/`, the numbering that
//! keeps file and variable names unique, and the upper snake case of variable
//! names. Their prefixes are public constants of `export`; whether a name may be
//! a manifest name is checked in `problems`.

use std::collections::HashSet;

/// `s` in upper snake case for a variable name: ASCII letters and digits kept
/// (upper-cased), every run of anything else one `_`, none at either end;
/// `UNNAMED` when nothing is left. `Wizard: home` → `WIZARD_HOME`.
pub(super) fn upper_snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_end_matches('_');
    if trimmed.is_empty() {
        "UNNAMED".into()
    } else {
        trimmed.to_string()
    }
}

/// `want`, or `want_2`, `want_3`… when taken; records the one returned.
pub(super) fn unique(used: &mut HashSet<String>, want: String) -> String {
    let mut name = want.clone();
    let mut n = 2;
    while used.contains(&name) {
        name = format!("{want}_{n}");
        n += 1;
    }
    used.insert(name.clone());
    name
}

pub(super) fn server_dir(server: &str) -> String {
    format!("servers/{server}")
}

pub(super) fn tool_path(server: &str, tool: &str, ext: &str) -> String {
    format!("servers/{server}/tools/{tool}.{ext}")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{unique, upper_snake};

    #[test]
    fn variable_names_are_upper_snake_and_unique() {
        assert_eq!(upper_snake("Wizard: home"), "WIZARD_HOME");
        assert_eq!(upper_snake("  a--b.c "), "A_B_C");
        assert_eq!(upper_snake("module_approval_mode"), "MODULE_APPROVAL_MODE");
        assert_eq!(upper_snake("☃"), "UNNAMED");
        let mut used = HashSet::new();
        assert_eq!(unique(&mut used, "X".into()), "X");
        assert_eq!(unique(&mut used, "X".into()), "X_2");
        assert_eq!(unique(&mut used, "X".into()), "X_3");
    }
}
