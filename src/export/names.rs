//! Names the export makes up: file paths (capped in length and kept unique by
//! [`Paths`]), the numbering that keeps file and variable names unique, and the
//! upper snake case of variable names. Their prefixes are public constants of
//! `export`; whether a name may be a manifest name is checked in `problems`.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

/// Longest file or directory name the export derives from an MCPBox name, in
/// bytes. MCPBox allows names of 255 characters and most file systems 255 bytes
/// per file name (`.yaml` included), so such a name cannot always be a file name
/// as is; 100 also leaves room for editors' backup names and short paths.
pub(super) const MAX_COMPONENT: usize = 100;
/// Hex digits of the SHA-256 a shortened name ends with.
const HASH_HEX: usize = 8;

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

/// `name` as a path component of at most `max` bytes: itself when it fits;
/// otherwise its longest prefix (cut on a character boundary) that leaves room
/// for `-` and the first 8 hex digits of the SHA-256 of the whole `name`. The
/// result is stable, and distinct names give distinct results (up to a clash of
/// the 32-bit hash, which [`Paths`] numbers away); a shortened name never equals
/// one that was not shortened when names do not contain `-` (file names derive
/// from snake-case or sanitised names, which never do).
pub(super) fn capped(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    // `hex::encode` gives 64 ASCII digits, so the range exists.
    let hash = hash.get(..HASH_HEX).unwrap_or(&hash);
    let mut end = max.saturating_sub(HASH_HEX + 1);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &name[..end])
}

/// The file paths of one export: every component derived from a name is at most
/// [`MAX_COMPONENT`] bytes (see [`capped`]), and no two objects share a path.
/// Names short enough keep the paths they always had.
#[derive(Debug, Default)]
pub(super) struct Paths {
    /// Server name → its directory.
    servers: HashMap<String, String>,
    /// Every path (and server directory) handed out.
    used: HashSet<String>,
}

impl Paths {
    /// `servers/<server>`, the server's name capped; the same for the same server.
    pub(super) fn server_dir(&mut self, server: &str) -> String {
        if let Some(dir) = self.servers.get(server) {
            return dir.clone();
        }
        let dir = self.free(
            |want| format!("servers/{}", capped(want, MAX_COMPONENT)),
            server,
        );
        self.servers.insert(server.to_string(), dir.clone());
        dir
    }

    /// A file stem in `dir` for `name`, such that `<dir>/<stem>.<ext>` is free for
    /// every one of `exts` (all are taken) and at most [`MAX_COMPONENT`] bytes. When
    /// taken, the name is numbered `_2`, `_3`… before it is capped.
    pub(super) fn stem(&mut self, dir: &str, name: &str, exts: &[&str]) -> String {
        let longest = exts.iter().map(|e| e.len() + 1).max().unwrap_or(0);
        let room = MAX_COMPONENT.saturating_sub(longest);
        let mut n = 1;
        loop {
            let want = match n {
                1 => name.to_string(),
                _ => format!("{name}_{n}"),
            };
            let stem = capped(&want, room);
            let paths: Vec<String> = exts.iter().map(|e| format!("{dir}/{stem}.{e}")).collect();
            if paths.iter().all(|p| !self.used.contains(p)) {
                self.used.extend(paths);
                return stem;
            }
            n += 1;
        }
    }

    /// `<dir>/<stem>.<ext>` for `name`, as [`Paths::stem`] makes the stem.
    pub(super) fn file(&mut self, dir: &str, name: &str, ext: &str) -> String {
        let stem = self.stem(dir, name, &[ext]);
        format!("{dir}/{stem}.{ext}")
    }

    /// The first of `path(name)`, `path(name_2)`… not handed out yet, recorded.
    fn free(&mut self, path: impl Fn(&str) -> String, name: &str) -> String {
        let mut n = 1;
        loop {
            let candidate = match n {
                1 => path(name),
                _ => path(&format!("{name}_{n}")),
            };
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{capped, unique, upper_snake, Paths, MAX_COMPONENT};

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

    #[test]
    fn long_names_are_capped_stable_and_unique() {
        // Short enough: unchanged, so ordinary exports keep their paths.
        assert_eq!(capped("ok", MAX_COMPONENT), "ok");
        let exact = "a".repeat(MAX_COMPONENT);
        assert_eq!(capped(&exact, MAX_COMPONENT), exact);
        let long = "a".repeat(252);
        let other = format!("{}b", "a".repeat(251));
        let c = capped(&long, MAX_COMPONENT);
        assert_eq!(c.len(), MAX_COMPONENT, "{c}");
        assert!(c.starts_with(&"a".repeat(90)), "{c}");
        assert_eq!(c, capped(&long, MAX_COMPONENT), "stable");
        assert_ne!(c, capped(&other, MAX_COMPONENT), "unique");
        // A fixed value: file names must not change from one release to the next
        // (sha256 of 252 `a`s starts 03aaf577).
        assert_eq!(c, format!("{}-03aaf577", "a".repeat(91)));
        // Multi-byte characters are never cut in half.
        let snow = "☃".repeat(100);
        let s = capped(&snow, MAX_COMPONENT);
        assert!(s.len() <= MAX_COMPONENT && s.starts_with('☃'), "{s}");

        let mut paths = Paths::default();
        let dir = paths.server_dir(&"s".repeat(200));
        assert_eq!(
            dir,
            paths.server_dir(&"s".repeat(200)),
            "same server, same dir"
        );
        assert!(dir.strip_prefix("servers/").unwrap().len() <= MAX_COMPONENT);
        assert_eq!(paths.server_dir("svc"), "servers/svc");
        let tools = format!("{dir}/tools");
        let a = paths.stem(&tools, &long, &["yaml", "py"]);
        let b = paths.stem(&tools, &other, &["yaml", "py"]);
        assert_ne!(a, b);
        assert!(a.len() + ".yaml".len() <= MAX_COMPONENT, "{a}");
        // Taken names are numbered, short or long.
        assert_eq!(paths.file("d", "x", "yaml"), "d/x.yaml");
        assert_eq!(paths.file("d", "x", "yaml"), "d/x_2.yaml");
        let first = paths.file("d", &long, "yaml");
        let second = paths.file("d", &long, "yaml");
        assert_ne!(first, second);
        for p in [&first, &second] {
            assert!(p.len() - "d/".len() <= MAX_COMPONENT, "{p}");
        }
    }
}
