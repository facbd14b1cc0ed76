//! What a `valueFrom` may read: the allow-list of value directories and
//! environment-variable prefixes, and the reading itself, checked on the
//! resolved path before a single byte is read.
//!
//! A manifest names where a secret comes from, and `apply` copies it into MCPBox,
//! where LLM-written tools can read it at run time. So a manifest must not be able
//! to name the reconciler's own credentials (`MCPBOX_ENCRYPTION_KEY`,
//! `DATABASE_URL`, `/proc/self/environ`, …). The rule is an allow-list, not a
//! deny-list of spellings:
//!
//! - a value **file** must resolve — after `..`, repeated slashes and every
//!   symbolic link — inside a directory the operator named (`--values-dir`, or
//!   `values.dirs` in `mcpbox-gitops.yaml`); `/proc`, `/sys` and `/dev` never, even
//!   when named; it must be a regular file of at most [`MAX_VALUE_FILE_BYTES`];
//! - a value **variable** must start with an allowed prefix (default
//!   [`DEFAULT_ENV_PREFIX`]) and is never one the reconciler itself reads.
//!
//! Which labels a plan shows, and the encryption, live in the parent module.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::{Error, ValueSource};

/// The prefix a `valueFrom.env` variable must have unless the operator allows
/// others: a CI runner's other variables stay out of reach of a pull request.
pub const DEFAULT_ENV_PREFIX: &str = "MCPBOX_SECRET_";

/// Largest value file read. MCPBox's largest value (a secret) is 10,000
/// characters, at most 40,000 bytes of UTF-8; anything bigger is not a value.
pub const MAX_VALUE_FILE_BYTES: u64 = 64 * 1024;

/// Directories no value file may come from, whatever the operator allows: they
/// expose the process's environment, memory and devices.
const SYSTEM_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Variables the reconciler (or the libraries it uses) reads for its own
/// credentials and configuration. A manifest naming one would copy it into
/// MCPBox. Compared case-insensitively.
pub const RESERVED_ENV: [&str; 16] = [
    "MCPBOX_ENCRYPTION_KEY",
    "DATABASE_URL",
    "GIT_TOKEN",
    "SANDBOX_API_KEY",
    "MCPBOX_ADMIN_PASSWORD",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICEFILE",
    "PGSSLKEY",
    "SSH_AUTH_SOCK",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_SSH_COMMAND",
    // Credentials CI runners set on their own.
    "CI_JOB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// Prefix of the variables that configure mcpbox-gitops itself
/// (`MCPBOX_GITOPS_WEBHOOK_SECRET`, …): all reserved.
pub const RESERVED_ENV_PREFIX: &str = "MCPBOX_GITOPS_";

/// The allow-list in force for one run.
#[derive(Debug, Clone)]
pub struct Access {
    /// Canonical directories a value file must resolve inside.
    dirs: Vec<PathBuf>,
    /// Prefixes a variable name must start with (`""` allows any name that is
    /// not reserved).
    env_prefixes: Vec<String>,
    /// Upper-cased names of reserved variables: [`RESERVED_ENV`] plus the names
    /// this run was configured to read (`--git-token-env`, a daemon's webhook
    /// secret, …).
    reserved: BTreeSet<String>,
}

impl Default for Access {
    /// No value directory, the default prefix, the built-in reserved names.
    fn default() -> Self {
        Access {
            dirs: Vec::new(),
            env_prefixes: vec![DEFAULT_ENV_PREFIX.to_string()],
            reserved: RESERVED_ENV.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A problem with the allow-list itself (not with a manifest).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value directory is relative, or not a directory.
    #[error("values directory `{dir}` cannot be used: {reason} (give an existing directory, e.g. the mount point of a secrets volume)")]
    Dir {
        /// The directory as given.
        dir: String,
        /// Why.
        reason: String,
    },
    /// A value directory is, or is inside, /proc, /sys or /dev.
    #[error("values directory `{0}` is a system directory; values are never read from /proc, /sys or /dev")]
    SystemDir(String),
}

impl Access {
    /// The allow-list from the operator's directories and prefixes (an empty
    /// `env_prefixes` means the default one) and the extra variable names this
    /// run reads for itself.
    pub fn new(
        dirs: &[PathBuf],
        env_prefixes: &[String],
        extra_reserved: &[&str],
    ) -> Result<Access, ConfigError> {
        let mut access = Access::default();
        for dir in dirs {
            let shown = crate::escape::path(dir);
            let Some(written) = normalize(dir) else {
                return Err(ConfigError::Dir {
                    dir: shown,
                    reason: "not an absolute path".into(),
                });
            };
            // A directory that is not there (a secrets volume not mounted on a
            // CI runner that only plans) is kept as written: files in it fail
            // to resolve when read, with their own error.
            let real = match dir.canonicalize() {
                Ok(real) if !real.is_dir() => {
                    return Err(ConfigError::Dir {
                        dir: shown,
                        reason: "not a directory".into(),
                    })
                }
                Ok(real) => real,
                Err(_) => written.clone(),
            };
            if is_system(&real) || is_system(&written) {
                return Err(ConfigError::SystemDir(shown));
            }
            access.dirs.push(real);
        }
        if !env_prefixes.is_empty() {
            access.env_prefixes = env_prefixes.to_vec();
        }
        access.reserved.extend(
            extra_reserved
                .iter()
                .filter(|n| !n.is_empty())
                .map(|n| n.to_ascii_uppercase()),
        );
        Ok(access)
    }

    /// The directories value files may come from (canonical).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The allowed variable prefixes.
    pub fn env_prefixes(&self) -> &[String] {
        &self.env_prefixes
    }

    /// Checks a variable name against the reserved names and the prefixes.
    pub fn check_env(&self, object: &str, var: &str) -> Result<(), Error> {
        let upper = var.to_ascii_uppercase();
        if self.reserved.contains(&upper) || upper.starts_with(RESERVED_ENV_PREFIX) {
            return Err(Error::EnvReserved {
                object: object.to_string(),
                var: var.to_string(),
            });
        }
        if !self
            .env_prefixes
            .iter()
            .any(|p| var.starts_with(p.as_str()))
        {
            return Err(Error::EnvPrefix {
                object: object.to_string(),
                var: var.to_string(),
                prefixes: self.env_prefixes.clone(),
            });
        }
        Ok(())
    }

    /// Checks a value file without touching the filesystem: what can be known
    /// from the text alone (a system directory, spelled any way; outside every
    /// value directory as written). Pull-request plans use this: the CI runner
    /// has no secrets volume to resolve links in.
    pub fn check_file_lexically(&self, object: &str, path: &str) -> Result<PathBuf, Error> {
        let refuse = |why: FileRefusal| Error::FileRefused {
            object: object.to_string(),
            path: crate::escape::text(path).into_owned(),
            why,
        };
        let Some(normal) = normalize(Path::new(path)) else {
            return Err(refuse(FileRefusal::NotAbsolute));
        };
        if is_system(&normal) {
            return Err(refuse(FileRefusal::System));
        }
        if self.dirs.is_empty() {
            return Err(refuse(FileRefusal::NoDirs));
        }
        // The operator's directories are canonical; `normal` is only as written,
        // so a link on the way is caught by `resolve_file`, not here.
        if !self.dirs.iter().any(|d| normal.starts_with(d)) {
            return Err(refuse(FileRefusal::Outside(self.dirs_shown())));
        }
        Ok(normal)
    }

    /// Resolves a value file to its real path and checks it: inside a value
    /// directory after every link, not a system file, a regular file. Reads
    /// nothing.
    pub fn resolve_file(&self, object: &str, path: &str) -> Result<PathBuf, Error> {
        self.check_file_lexically(object, path)?;
        let refuse = |why: FileRefusal| Error::FileRefused {
            object: object.to_string(),
            path: crate::escape::text(path).into_owned(),
            why,
        };
        let real = Path::new(path).canonicalize().map_err(|e| Error::File {
            object: object.to_string(),
            path: crate::escape::text(path).into_owned(),
            reason: e.kind().to_string(),
        })?;
        if is_system(&real) {
            return Err(refuse(FileRefusal::System));
        }
        if !self.dirs.iter().any(|d| real.starts_with(d)) {
            return Err(refuse(FileRefusal::LinkOutside(
                crate::escape::path(&real),
                self.dirs_shown(),
            )));
        }
        Ok(real)
    }

    /// Reads a value file after [`Access::resolve_file`]: opened by its real
    /// path without following a link swapped in since, non-blocking (a FIFO
    /// cannot hang us), and only when it is a regular file; at most
    /// [`MAX_VALUE_FILE_BYTES`] are read.
    pub fn read_file(&self, object: &str, path: &str) -> Result<Vec<u8>, Error> {
        let real = self.resolve_file(object, path)?;
        let shown = || crate::escape::text(path).into_owned();
        let io = |e: std::io::Error| Error::File {
            object: object.to_string(),
            path: shown(),
            reason: e.kind().to_string(),
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let file = options.open(&real).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(Error::FileRefused {
                object: object.to_string(),
                path: shown(),
                why: FileRefusal::NotRegular,
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_VALUE_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_VALUE_FILE_BYTES {
            return Err(Error::FileRefused {
                object: object.to_string(),
                path: shown(),
                why: FileRefusal::TooLarge,
            });
        }
        Ok(bytes)
    }

    /// Checks every source without reading any (pull-request plans).
    pub fn check_sources<'a>(
        &self,
        sources: impl IntoIterator<Item = (&'a String, &'a ValueSource)>,
    ) -> Result<(), Error> {
        for (object, source) in sources {
            match source {
                ValueSource::Env(var) => self.check_env(object, var)?,
                ValueSource::File(path) => {
                    self.check_file_lexically(object, path)?;
                }
            }
        }
        Ok(())
    }

    fn dirs_shown(&self) -> String {
        self.dirs
            .iter()
            .map(|d| crate::escape::path(d))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a value file is refused. Its `Display` is the sentence after the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefusal {
    /// A relative path: it would depend on the working directory.
    NotAbsolute,
    /// Under /proc, /sys or /dev.
    System,
    /// No value directory was configured.
    NoDirs,
    /// Outside every value directory, as written.
    Outside(String),
    /// A link leads outside every value directory (to the first path).
    LinkOutside(String, String),
    /// Not a regular file (a FIFO, a device, a directory).
    NotRegular,
    /// Larger than [`MAX_VALUE_FILE_BYTES`].
    TooLarge,
}

impl std::fmt::Display for FileRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileRefusal::NotAbsolute => write!(f, "is not an absolute path; give the full path of a file in a values directory, e.g. /run/secrets/github_token"),
            FileRefusal::System => write!(f, "is under /proc, /sys or /dev, which can expose the reconciler's own environment; values are never read there"),
            FileRefusal::NoDirs => write!(f, "cannot be read: no values directory is allowed; pass --values-dir DIR (e.g. the mount point of a secrets volume) or set `values.dirs` in mcpbox-gitops.yaml"),
            FileRefusal::Outside(dirs) => write!(f, "is outside the values directories ({dirs}); move the file there or allow its directory with --values-dir"),
            FileRefusal::LinkOutside(real, dirs) => write!(f, "resolves to {real}, outside the values directories ({dirs}); a symbolic link may not lead out of them"),
            FileRefusal::NotRegular => write!(f, "is not a regular file"),
            FileRefusal::TooLarge => write!(f, "is larger than {MAX_VALUE_FILE_BYTES} bytes, too large for a value"),
        }
    }
}

/// `path` with `.`, `..` and repeated slashes resolved as text (no links
/// followed), or `None` for a relative path.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out)
}

/// Whether `path` is under /proc, /sys or /dev (as given: normalise first).
pub fn is_system(path: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|d| path.starts_with(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(dirs: &[&Path]) -> Access {
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
        Access::new(&dirs, &[], &["MY_GIT_TOKEN"]).unwrap()
    }

    fn refusal(e: Error) -> FileRefusal {
        match e {
            Error::FileRefused { why, .. } => why,
            other => panic!("expected a refusal, got {other}"),
        }
    }

    #[test]
    fn system_files_are_refused_however_spelled() {
        let dir = tempfile::tempdir().unwrap();
        // Even an operator who allows `/` never gets /proc.
        let a = Access::new(&[PathBuf::from("/")], &[], &[]).unwrap();
        let b = access(&[dir.path()]);
        for p in [
            "/proc/self/environ",
            "//proc/self/environ",
            "/etc/../proc/self/environ",
            "/./proc//self/environ",
            "/sys/kernel/notes",
            "/dev/zero",
        ] {
            assert_eq!(
                refusal(a.read_file("s/X", p).unwrap_err()),
                FileRefusal::System,
                "{p}"
            );
            assert_eq!(
                refusal(b.read_file("s/X", p).unwrap_err()),
                FileRefusal::System,
                "{p}"
            );
        }
        assert!(matches!(
            Access::new(&[PathBuf::from("/proc/self")], &[], &[]),
            Err(ConfigError::SystemDir(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_the_values_directory_is_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // A FIFO: opening it for reading would block until a writer comes, so a
        // refusal that returns proves nothing was opened.
        let fifo = outside.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        std::os::unix::fs::symlink(&fifo, dir.path().join("token")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", dir.path().join("env")).unwrap();
        let a = access(&[dir.path()]);
        let token = dir.path().join("token");
        let err = a.read_file("s/X", token.to_str().unwrap()).unwrap_err();
        assert!(matches!(refusal(err), FileRefusal::LinkOutside(..)));
        let env = dir.path().join("env");
        let err = a.read_file("s/X", env.to_str().unwrap()).unwrap_err();
        assert_eq!(refusal(err), FileRefusal::System);
        // `..` out of the directory, as text.
        let up = format!("{}/../{}", dir.path().display(), "x");
        assert!(matches!(
            refusal(a.read_file("s/X", &up).unwrap_err()),
            FileRefusal::Outside(_)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_inside_the_directory_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let a = access(&[dir.path()]);
        let err = a.read_file("s/X", fifo.to_str().unwrap()).unwrap_err();
        assert_eq!(refusal(err), FileRefusal::NotRegular);
    }

    #[test]
    fn files_inside_are_read_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok"), "value\n").unwrap();
        std::fs::write(
            dir.path().join("big"),
            vec![b'a'; MAX_VALUE_FILE_BYTES as usize + 1],
        )
        .unwrap();
        let a = access(&[dir.path()]);
        let ok = dir.path().join("ok");
        assert_eq!(
            a.read_file("s/X", ok.to_str().unwrap()).unwrap(),
            b"value\n"
        );
        let big = dir.path().join("big");
        assert_eq!(
            refusal(a.read_file("s/X", big.to_str().unwrap()).unwrap_err()),
            FileRefusal::TooLarge
        );
        // Relative paths and no directory at all.
        assert_eq!(
            refusal(a.read_file("s/X", "ok").unwrap_err()),
            FileRefusal::NotAbsolute
        );
        let none = Access::default();
        assert_eq!(
            refusal(none.read_file("s/X", ok.to_str().unwrap()).unwrap_err()),
            FileRefusal::NoDirs
        );
    }

    #[test]
    fn env_names_need_the_prefix_and_are_never_our_own() {
        let a = access(&[]);
        assert!(a.check_env("s/X", "MCPBOX_SECRET_GITHUB").is_ok());
        for var in [
            "MCPBOX_ENCRYPTION_KEY",
            "mcpbox_encryption_key",
            "DATABASE_URL",
            "GIT_TOKEN",
            "SANDBOX_API_KEY",
            "MY_GIT_TOKEN",
            "MCPBOX_GITOPS_WEBHOOK_SECRET",
        ] {
            assert!(
                matches!(a.check_env("s/X", var), Err(Error::EnvReserved { .. })),
                "{var}"
            );
        }
        assert!(matches!(
            a.check_env("s/X", "AWS_SECRET_ACCESS_KEY"),
            Err(Error::EnvPrefix { .. })
        ));
        // An operator may allow any name that is not reserved.
        let any = Access::new(&[], &["".to_string()], &[]).unwrap();
        assert!(any.check_env("s/X", "GITHUB_PAT").is_ok());
        assert!(any.check_env("s/X", "DATABASE_URL").is_err());
        // A reserved name with the prefix is still reserved.
        let own = Access::new(&[], &[], &["MCPBOX_SECRET_GIT"]).unwrap();
        assert!(matches!(
            own.check_env("s/X", "MCPBOX_SECRET_GIT"),
            Err(Error::EnvReserved { .. })
        ));
    }
}
