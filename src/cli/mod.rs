//! The command line: one file per subcommand, behind the `Command` enum.
//!
//! # Layout
//! - `validate`, `plan`, `apply`, `approve`, `db`, `export`, `activate`, `daemon`: the subcommands
//!   (`activate` also holds the sandbox flags `apply --activate` shares).
//! - `diagnostics`: renders manifest diagnostics with source snippets.
//! - `connect`: opens the database pool from `--database-url` / `DATABASE_URL`.
//!
//! Only this module (and `main`) prints; the library returns values.

pub mod activate;
pub mod apply;
pub mod approve;
pub mod connect;
pub mod daemon;
pub mod db;
pub mod diagnostics;
pub mod export;
pub mod fmt;
pub mod init;
pub mod plan;
pub mod progress;
pub mod tools;
pub mod validate;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit code: success (and, with `--detailed-exitcode`, no changes).
pub const EXIT_OK: u8 = 0;
/// Exit code: any error.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: the plan has changes (only with `--detailed-exitcode`).
pub const EXIT_CHANGES: u8 = 2;

/// The environment variables the commands read, shown under every `--help`.
const ENVIRONMENT: &str = "Environment:
  DATABASE_URL                 MCPBox's database (--database-url)
  MCPBOX_ENCRYPTION_KEY        MCPBox's key, to encrypt and compare secret values
  MCPBOX_SECRET_*              values for valueFrom: {env: …} (--env-prefix)
  MCPBOX_GITOPS_VALUES_DIRS    directories valueFrom: {file: …} may read (--values-dir)
  MCPBOX_GITOPS_CONNECT_TIMEOUT  first connection attempt's timeout (default 5s)
  GIT_TOKEN                    https token for remote repositories (--git-token-env)
  SANDBOX_API_KEY              MCPBox's sandbox key, for --activate (--sandbox-api-key-env)
  MCPBOX_GITOPS_PROGRESS       `never` hides the progress spinner (shown on a terminal after 1s)
  RUST_LOG                     log filter (default warn); NO_COLOR turns colour off";

/// Declarative GitOps for MCPBox: manifests in git, planned and applied into MCPBox's database.
#[derive(Debug, Parser)]
#[command(name = "mcpbox-gitops", version, about, long_about = None, after_help = ENVIRONMENT)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests offline and report every problem at once.
    #[command(after_help = ENVIRONMENT)]
    Validate(validate::Args),
    /// Show what apply would change (never writes).
    #[command(after_help = ENVIRONMENT)]
    Plan(plan::Args),
    /// Apply the manifests to MCPBox's database in one transaction.
    #[command(after_help = ENVIRONMENT)]
    Apply(apply::Args),
    /// Pin a tool's current content as approved (writes approvals.yaml).
    #[command(after_help = ENVIRONMENT)]
    Approve(approve::Args),
    /// Create or check MCPBox's schema and our bookkeeping.
    #[command(subcommand, after_help = ENVIRONMENT)]
    Db(db::Command),
    /// Write MCPBox's database as a manifest repository (a plan of it then shows adoptions only).
    #[command(after_help = ENVIRONMENT)]
    Export(export::Args),
    /// Re-register every running server in MCPBox's sandbox, sync packages and
    /// notify MCP clients (the retry path of `apply --activate`).
    #[command(after_help = ENVIRONMENT)]
    Activate(activate::Args),
    /// Start a manifest repository: a commented server and tool, approvals,
    /// policy and schemas (or, with --from-database, an export of MCPBox).
    Init(init::Args),
    /// Rewrite manifests in canonical layout (key order, quoting, indentation),
    /// keeping comments; `--check` for CI.
    Fmt(fmt::Args),
    /// Render a saved plan (from `plan --out`) as text, JSON or markdown.
    #[command(after_help = ENVIRONMENT)]
    Show(tools::ShowArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(tools::CompletionsArgs),
    /// Print the man page, or write one per command with --out DIR.
    Man(tools::ManArgs),
    /// Keep MCPBox equal to a branch or directory: apply each change, report and
    /// heal drift, serve health, status, webhooks and metrics.
    Daemon(daemon::Args),
}

/// Errors the CLI reports (as a miette report on stderr, exit 1).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The manifests are invalid (diagnostics were already printed).
    #[error("{0} problem(s) found in the manifests; nothing was planned or applied")]
    #[diagnostic(help(
        "fix the problems listed above; `mcpbox-gitops validate` shows them again"
    ))]
    Invalid(usize),
    /// Reading the source failed.
    #[error(transparent)]
    Source(#[from] crate::source::Error),
    /// Reading the database failed.
    #[error(transparent)]
    State(#[from] crate::state::Error),
    /// No plan could be made.
    #[error(transparent)]
    Plan(#[from] crate::plan::diff::Error),
    /// Apply failed or was refused.
    #[error(transparent)]
    Apply(#[from] crate::apply::Error),
    /// A secret or setting value could not be read.
    #[error(transparent)]
    Values(#[from] crate::values::Error),
    /// `--values-dir` / `values.dirs` cannot be used.
    #[error(transparent)]
    ValueAccess(crate::values::access::ConfigError),
    /// `MCPBOX_ENCRYPTION_KEY` is set but malformed.
    #[error("{0}; nothing was read or written (fix the variable, or unset it)")]
    Key(#[source] crate::crypto::KeyError),
    /// A command that needs MCPBox's database was given none.
    #[error("{0} needs a database: set DATABASE_URL or pass --database-url")]
    NoDatabase(&'static str),
    /// Flags or arguments that cannot be used as given; the message says
    /// which and how to fix it.
    #[error("{0}")]
    Usage(String),
    /// The database cannot be used: the message names host:port/database
    /// (never the password), the cause and the fix. Kept as text on purpose:
    /// the driver's own error can quote the URL, credentials included.
    #[error("{0}")]
    Database(String),
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file, escaped for printing.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file, escaped for printing.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a saved plan.
    #[error("{path} is not a saved plan from `plan --out`")]
    NotASavedPlan {
        /// The file, escaped for printing.
        path: String,
        /// What the JSON reader said.
        #[source]
        source: serde_json::Error,
    },
    /// Something could not be encoded as JSON.
    #[error("cannot encode {what} as JSON")]
    Encode {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A saved plan another version made.
    #[error(transparent)]
    SavedPlan(#[from] crate::plan::saved::Error),
    /// A git source could not be read.
    #[error(transparent)]
    Git(#[from] crate::source::git::Error),
    /// `approve --sign-with` could not sign.
    #[error(transparent)]
    Sign(#[from] crate::signing::SignError),
    /// A repository file (policy, approvals) is invalid.
    #[error("{0}")]
    RepoFile(Box<crate::diagnostic::Diagnostic>),
    /// The daemon's configuration file or flags are unusable.
    #[error(transparent)]
    DaemonConfig(#[from] crate::daemon::config::ConfigError),
    /// The daemon stopped with an error.
    #[error(transparent)]
    Daemon(#[from] crate::daemon::Error),
    /// The daemon's shared state could not be changed.
    #[error(transparent)]
    DaemonControl(#[from] crate::daemon::control::Error),
    /// Activation calls failed after the commit; the message says what stays
    /// committed and how to retry.
    #[error("{0}")]
    ActivationFailed(String),
    /// Writing an export's files failed; the message says what was and was
    /// not written.
    #[error("{message}")]
    ExportWrite {
        /// What failed and what state the directory is in.
        message: String,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// `export` could not export.
    #[error(transparent)]
    Export(#[from] crate::export::Error),
    /// Writing output failed.
    #[error("cannot write output")]
    Io(#[from] std::io::Error),
}

/// Sets up `tracing` on stderr, filtered by `RUST_LOG` (default `warn`).
pub fn init_tracing(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Text => builder.with_ansi(color_enabled()).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Whether to use colour: not when `NO_COLOR` is set or stderr is not a terminal.
pub fn color_enabled() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Runs a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> Result<u8, Error> {
    // A malformed key is refused by every command that touches MCPBox, even
    // one with no value to encrypt: found now, not when a secret is added.
    if !matches!(
        cli.command,
        Command::Validate(_)
            | Command::Approve(_)
            | Command::Show(_)
            | Command::Fmt(_)
            | Command::Init(_)
            | Command::Completions(_)
            | Command::Man(_)
    ) {
        encryption_key()?;
    }
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args).await,
        Command::Apply(args) => apply::run(args).await,
        Command::Approve(args) => approve::run(args),
        Command::Db(cmd) => db::run(cmd).await,
        Command::Export(args) => export::run(args).await,
        Command::Activate(args) => activate::run(args).await,
        Command::Show(args) => tools::show(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Init(args) => init::run(args).await,
        Command::Completions(args) => tools::completions(args),
        Command::Man(args) => tools::man(args),
        Command::Daemon(args) => daemon::run(args).await,
    }
}

/// A duration as flags take it: a number with an optional unit, `ms`, `s`
/// (the default), `m` or `h` (`500ms`, `30`, `30s`, `5m`, `1h`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 30s, 5m or 500ms"))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use ms, s, m or h"
            ))
        }
    };
    ms.map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

/// Prints what `write` writes as it writes it (a plan's text can be tens of
/// megabytes; nothing holds it whole). A closed pipe (`| head`) ends it
/// quietly, as [`print`] does.
pub fn print_with(write: impl FnOnce(&mut dyn std::fmt::Write)) -> Result<(), Error> {
    /// `fmt::Write` over buffered stdout, keeping the first I/O error.
    struct Out {
        out: std::io::BufWriter<std::io::StdoutLock<'static>>,
        error: Option<std::io::Error>,
    }
    impl std::fmt::Write for Out {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if self.error.is_some() {
                return Err(std::fmt::Error);
            }
            self.out.write_all(s.as_bytes()).map_err(|e| {
                self.error = Some(e);
                std::fmt::Error
            })
        }
    }
    let mut out = Out {
        out: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
        error: None,
    };
    write(&mut out);
    let result = match out.error.take() {
        Some(e) => Err(e),
        None => out.out.flush(),
    };
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes to stdout; a closed pipe (e.g. `| head`) is not an error.
pub fn print(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Where the manifests come from, shared by several commands: a directory, a
/// commit of a local repository (`--git REF`), or a remote repository URL.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Root of the manifest repository, or a git URL (https://, ssh://, file://,
    /// git@host:org/repo.git).
    #[arg(default_value = ".")]
    pub path: String,
    /// Read the manifests from this commit (branch, tag, SHA, HEAD~1) of the
    /// repository at PATH instead of its working tree: uncommitted edits are ignored.
    /// For a URL the default is the remote's default branch.
    #[arg(long, value_name = "REF")]
    pub git: Option<String>,
    /// Only read manifests under this folder of the repository (also `--path`),
    /// relative to its root and inside it.
    #[arg(long = "subdir", visible_alias = "path", value_name = "SUBDIR")]
    pub subdir: Option<String>,
    /// Where remote repositories are mirrored between runs (default: the user's
    /// cache directory).
    #[arg(long, value_name = "DIR")]
    pub git_cache: Option<PathBuf>,
    /// Environment variable holding an https token for remote repositories.
    #[arg(long, value_name = "NAME", default_value = crate::source::git::DEFAULT_TOKEN_ENV)]
    pub git_token_env: String,
    /// SSH private key for ssh remotes (default: the SSH agent).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
}

/// Manifests read from a source, with the commit when they came from git.
pub struct Loaded {
    /// The files.
    pub files: crate::source::FileSet,
    /// The full commit SHA, for git sources.
    pub revision: Option<String>,
}

impl SourceArgs {
    /// A plain directory.
    pub fn dir(path: &std::path::Path) -> SourceArgs {
        SourceArgs {
            path: path.to_string_lossy().into_owned(),
            git: None,
            subdir: None,
            git_cache: None,
            git_token_env: crate::source::git::DEFAULT_TOKEN_ENV.to_string(),
            ssh_key: None,
        }
    }

    /// The source's identity in our ownership: where the repository is (a URL
    /// without credentials, or a canonical local path) and the subdir, never the
    /// revision, so a branch and its commits are one source; the daemon names a
    /// source the same way (`daemon::source::Source::owner`).
    pub fn owner(&self) -> String {
        crate::source::owner_identity(&self.path, self.subdir.as_deref())
    }

    /// Whether the source is git (a URL or `--git`).
    pub fn is_git(&self) -> bool {
        self.git.is_some() || crate::source::git::is_git_url(&self.path)
    }

    /// Reads the files; `rev` overrides `--git` (PR mode reads the base too).
    pub fn read(&self, rev: Option<&str>) -> Result<Loaded, Error> {
        use crate::source::git;
        let subdir = self.subdir.as_deref();
        let git_err = Error::Git;
        if git::is_git_url(&self.path) {
            let cache = match &self.git_cache {
                Some(dir) => dir.clone(),
                None => default_cache_dir(),
            };
            let auth = git::Auth {
                token_env: self.git_token_env.clone(),
                ssh_key: self.ssh_key.clone(),
                ssh_passphrase_env: None,
            };
            let rev = rev.or(self.git.as_deref()).unwrap_or("HEAD");
            let g = git::from_remote(&self.path, rev, &cache, subdir, &auth).map_err(git_err)?;
            return Ok(Loaded {
                files: g.file_set,
                revision: Some(g.commit),
            });
        }
        if let Some(rev) = rev.or(self.git.as_deref()) {
            let g =
                git::from_commit(std::path::Path::new(&self.path), rev, subdir).map_err(git_err)?;
            return Ok(Loaded {
                files: g.file_set,
                revision: Some(g.commit),
            });
        }
        let root = PathBuf::from(&self.path);
        let dir = match subdir {
            Some(sub) => subdir_of(&root, sub)?,
            None => root,
        };
        Ok(Loaded {
            files: crate::source::FileSet::from_dir(&dir)?,
            revision: None,
        })
    }
}

/// `root/<subdir>` for `--subdir` in directory mode, by the rule of git mode
/// ([`crate::source::subdir_components`]): refused when absolute or when `..`
/// climbs above `root`, and also when a symbolic link leads it out of `root`.
pub(crate) fn subdir_of(root: &std::path::Path, subdir: &str) -> Result<PathBuf, Error> {
    let refuse = |why: String| {
        Error::Usage(format!(
            "--subdir must be a folder inside the repository: `{subdir}` {why} (give a path relative to {}, such as deploy/manifests)",
            root.display()
        ))
    };
    let Some(parts) = crate::source::subdir_components(subdir) else {
        let why = if subdir.starts_with(['/', '\\']) {
            "is an absolute path"
        } else if subdir.split(['/', '\\']).any(|part| part == "..") {
            "climbs above the repository with `..`"
        } else {
            "is not a relative path"
        };
        return Err(refuse(why.into()));
    };
    let dir = parts
        .iter()
        .fold(root.to_path_buf(), |dir, part| dir.join(part));
    // A missing folder is reported by the reader; an existing one must resolve
    // inside the repository.
    if let (Ok(real_root), Ok(real_dir)) = (root.canonicalize(), dir.canonicalize()) {
        if !real_dir.starts_with(&real_root) {
            return Err(refuse(format!(
                "leads to {} through a symbolic link",
                real_dir.display()
            )));
        }
    }
    Ok(dir)
}

/// `$XDG_CACHE_HOME/mcpbox-gitops`, else `~/.cache/mcpbox-gitops`, else a folder
/// in the temporary directory.
pub(crate) fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("mcpbox-gitops");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("mcpbox-gitops");
    }
    std::env::temp_dir().join("mcpbox-gitops-cache")
}

/// How secret and setting values (`valueFrom`) are handled, and what they may read.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ValueArgs {
    /// Stored values that no longer decrypt (MCPBox's key was rotated) count as
    /// changed, to be replaced by git's value, instead of being an error: plan
    /// shows them as changes, apply rewrites them.
    #[arg(long)]
    pub overwrite_undecryptable: bool,
    /// A directory `valueFrom.file` may read from (repeatable; e.g. the mount point
    /// of a secrets volume). A file must resolve inside one, after symbolic links;
    /// /proc, /sys and /dev never. Replaces `values.dirs` of mcpbox-gitops.yaml.
    #[arg(
        long = "values-dir",
        value_name = "DIR",
        env = "MCPBOX_GITOPS_VALUES_DIRS",
        value_delimiter = ':'
    )]
    pub values_dirs: Vec<PathBuf>,
    /// A prefix `valueFrom.env` names must start with (repeatable; default
    /// MCPBOX_SECRET_; `''` allows any name). The reconciler's own variables are
    /// refused whatever the prefix. Replaces `values.envPrefixes` of the policy.
    #[arg(
        long = "env-prefix",
        value_name = "PREFIX",
        env = "MCPBOX_GITOPS_ENV_PREFIXES",
        value_delimiter = ','
    )]
    pub env_prefixes: Vec<String>,
}

impl ValueArgs {
    /// The allow-list for this run: the flags where given, else the policy's
    /// `values:` section; `reserved` names the variables this run itself reads
    /// (e.g. `--git-token-env`).
    pub fn access(
        &self,
        policy: &crate::policy::ValuesPolicy,
        reserved: &[&str],
    ) -> Result<crate::values::Access, Error> {
        let dirs: Vec<PathBuf> = if self.values_dirs.is_empty() {
            policy.dirs.iter().map(PathBuf::from).collect()
        } else {
            self.values_dirs.clone()
        };
        let prefixes = if self.env_prefixes.is_empty() {
            &policy.env_prefixes
        } else {
            &self.env_prefixes
        };
        crate::values::Access::new(&dirs, prefixes, reserved).map_err(Error::ValueAccess)
    }
}

/// The `MCPBOX_ENCRYPTION_KEY` of the environment, parsed: `None` when unset.
/// A malformed key is refused whenever it is set, whether or not this run has
/// values to encrypt, so a typo is found before it matters.
pub fn encryption_key() -> Result<Option<crate::crypto::Key>, Error> {
    let Some(raw) = std::env::var_os(crate::crypto::ENV_VAR).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let parsed = match raw.into_string() {
        Ok(text) => crate::crypto::Key::parse(&text),
        Err(_) => Err(crate::crypto::KeyError::NotHex { position: 0 }),
    };
    parsed.map(Some).map_err(Error::Key)
}

/// Reads the values of `valueFrom` sources into `desired`. With `required`
/// (apply), a missing `MCPBOX_ENCRYPTION_KEY` is an error; otherwise (plan) the
/// values are then left unread and the returned note says so. The allow-list
/// is checked in both cases, before anything is read.
pub fn read_values(
    desired: &mut crate::desired::DesiredState,
    args: &ValueArgs,
    required: bool,
    reserved: &[&str],
) -> Result<Option<String>, Error> {
    let access = args.access(&desired.policy.values, reserved)?;
    match read_value_sources(&desired.value_sources, args, &access, required)? {
        Some(resolved) => {
            desired.values = resolved;
            Ok(None)
        }
        None if desired.value_sources.is_empty() => Ok(None),
        None => Ok(Some(format!(
            "{} value(s) from valueFrom were not read or compared: MCPBOX_ENCRYPTION_KEY is not set (stored values are assumed current; apply reads and compares them)",
            desired.value_sources.len()
        ))),
    }
}

/// Reads values from their sources and checks them; `None` when there is
/// nothing to read, or no key and not `required` (the sources are still
/// checked against `access`).
pub fn read_value_sources(
    sources: &std::collections::BTreeMap<String, crate::values::ValueSource>,
    args: &ValueArgs,
    access: &crate::values::Access,
    required: bool,
) -> Result<Option<crate::values::Resolved>, Error> {
    let key = encryption_key()?;
    if sources.is_empty() {
        return Ok(None);
    }
    access.check_sources(sources)?;
    if key.is_none() && !required {
        return Ok(None);
    }
    let resolved = crate::values::Resolved::read(
        sources,
        access,
        key.map(Ok),
        args.overwrite_undecryptable,
        &|var| std::env::var_os(var),
    )?;
    resolved.check(sources, &|k, v| crate::settings::check(k, v), &|k| {
        !k.contains('/')
    })?;
    Ok(Some(resolved))
}

/// Loads and validates a repository, printing diagnostics on failure.
pub fn load_desired(
    src: &SourceArgs,
) -> Result<(crate::source::FileSet, crate::desired::DesiredState), Error> {
    load_desired_at(src, None)
}

/// Like [`load_desired`], at another commit of the same git source.
pub fn load_desired_at(
    src: &SourceArgs,
    rev: Option<&str>,
) -> Result<(crate::source::FileSet, crate::desired::DesiredState), Error> {
    let started = std::time::Instant::now();
    let Loaded { files, revision } = src.read(rev)?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        files = files.files.len(),
        "source read"
    );
    match crate::desired::build(&files) {
        Ok(mut d) => {
            d.revision = revision;
            d.owner = Some(src.owner());
            Ok((files, d))
        }
        Err(diags) => {
            eprint!("{}", diagnostics::render(&files, &diags, color_enabled()));
            Err(Error::Invalid(diags.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SourceArgs;

    /// Issue 15.2: every command a message suggests parses as printed: the
    /// golden outputs' backticked or `<code>` commands, and the backticked
    /// commands in the source's string literals (help texts, errors, notes).
    #[test]
    fn every_suggested_command_parses_as_printed() {
        use clap::Parser;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts: Vec<(String, String)> = Vec::new();
        let mut stack = vec![root.join("src"), root.join("tests")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "snap" || x == "rs") {
                    texts.push((
                        p.display().to_string(),
                        std::fs::read_to_string(&p).unwrap(),
                    ));
                }
            }
        }
        let unescape = |s: &str| {
            s.replace("&#64;", "@")
                .replace("&#95;", "_")
                .replace("&#45;", "-")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#42;", "*")
        };
        let mut checked = 0;
        let mut bad = Vec::new();
        for (file, text) in &texts {
            // Comments describe; messages and outputs suggest.
            let text: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (open, close) in [
                ("`mcpbox-gitops ", "`"),
                ("<code>mcpbox-gitops ", "</code>"),
            ] {
                let mut rest = text.as_str();
                while let Some(i) = rest.find(open) {
                    let after = &rest[i + open.len() - "mcpbox-gitops ".len()..];
                    let Some(end) = after.find(close) else { break };
                    let cmd = unescape(&after[..end]);
                    rest = &after[end..];
                    // Not a command line: a placeholder mention or a partial phrase.
                    if cmd.contains('\n')
                        || cmd.contains('{')
                        || cmd.contains('"')
                        || cmd.ends_with(' ')
                    {
                        continue;
                    }
                    let words: Vec<&str> = cmd.split_whitespace().collect();
                    checked += 1;
                    if let Err(e) = super::Cli::try_parse_from(&words) {
                        if !matches!(
                            e.kind(),
                            clap::error::ErrorKind::DisplayHelp
                                | clap::error::ErrorKind::DisplayVersion
                        ) {
                            bad.push(format!("{file}: `{cmd}`: {}", e.kind()));
                        }
                    }
                }
            }
        }
        assert!(checked > 10, "only {checked} commands found");
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        use std::time::Duration;
        let d = super::parse_duration;
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("30"), Ok(Duration::from_secs(30)));
        assert_eq!(d("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(d("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(d("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "5x", "-1s", "1.5s", "99999999999999999999h"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subdir_stays_inside_the_directory() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("repo");
        std::fs::create_dir_all(root.join("deploy/manifests")).unwrap();
        std::fs::write(root.join("deploy/manifests/in.yaml"), "k: v").unwrap();
        // A sibling the repository must not reach.
        std::fs::create_dir_all(parent.path().join("x")).unwrap();
        std::fs::write(parent.path().join("x/out.yaml"), "k: v").unwrap();
        let read = |subdir: &str| {
            let mut args = SourceArgs::dir(&root);
            args.subdir = Some(subdir.into());
            args.read(None)
        };
        for subdir in ["../x", "/etc", "deploy/../../x", "deploy/../.."] {
            let err = read(subdir)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("--subdir must be a folder inside the repository")
                    && err.contains(subdir),
                "{subdir}: {err:?}"
            );
        }
        for subdir in [
            "deploy/manifests",
            "./deploy/manifests/",
            "deploy/../deploy/manifests",
        ] {
            let files = read(subdir).map(|l| l.files).unwrap();
            let paths: Vec<&str> = files.files.keys().map(String::as_str).collect();
            assert_eq!(paths, ["in.yaml"], "{subdir}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn subdir_may_not_leave_the_directory_through_a_link() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(parent.path().join("x")).unwrap();
        std::fs::write(parent.path().join("x/out.yaml"), "k: v").unwrap();
        std::os::unix::fs::symlink(parent.path().join("x"), root.join("link")).unwrap();
        let mut args = SourceArgs::dir(&root);
        args.subdir = Some("link".into());
        let err = args
            .read(None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("--subdir must be a folder inside the repository"),
            "{err:?}"
        );
    }
}
