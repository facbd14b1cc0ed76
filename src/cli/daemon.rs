//! `mcpbox-gitops daemon`: flags (merged over `--config FILE`) → the daemon's
//! options, then `crate::daemon::run`; `daemon suspend|resume` flip the shared
//! flag; `--once` runs one pass and prints its outcome as one JSON line. The
//! loop, passes, leader election and HTTP live in `crate::daemon`.

use std::path::PathBuf;

use super::connect::DbArgs;
use super::{print, Error, EXIT_ERROR, EXIT_OK};
use crate::daemon::config::{parse_duration, FileConfig};
use crate::daemon::source::Source;
use crate::daemon::Config;

/// Default webhook secret variable.
pub const DEFAULT_WEBHOOK_SECRET_ENV: &str = "MCPBOX_GITOPS_WEBHOOK_SECRET";

/// Arguments of `daemon`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `suspend` or `resume` instead of running.
    #[command(subcommand)]
    pub action: Option<Action>,
    /// The run flags.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `daemon suspend|resume`.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Stop every replica from applying (plans and reports go on).
    Suspend(ControlArgs),
    /// Let the leader apply again.
    Resume(ControlArgs),
}

/// Arguments of `daemon suspend|resume`.
#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// Flags of a running daemon. Every one but `--config`/`--once` may also be a
/// key of the config file (camelCase); a flag given wins.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// YAML file with the same keys as the flags (camelCase, e.g. `autoSync`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The manifest repository: a local path (a git repository with `--branch`,
    /// else a plain directory) or a git URL.
    #[arg(long, value_name = "URL|PATH")]
    pub repo: Option<String>,
    /// The branch to follow (omit for a plain directory; `HEAD` for a URL's default).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Folder inside the repository holding the manifests.
    #[arg(long, value_name = "DIR")]
    pub subdir: Option<String>,
    /// Time between passes (plus up to 10% jitter), e.g. 60s, 5m [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Apply non-empty plans (`--auto-sync=false`: plan and report only) [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub auto_sync: Option<bool>,
    /// Revert drift of owned objects on an unchanged commit [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub self_heal: Option<bool>,
    /// Allow deletes the deletion guard refuses [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_destroy: Option<bool>,
    /// HTTP address for health, status, webhooks and metrics [default: 127.0.0.1:9090].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Environment variable holding the webhook secret (unset: webhooks are off)
    /// [default: MCPBOX_GITOPS_WEBHOOK_SECRET].
    #[arg(long, value_name = "NAME")]
    pub webhook_secret_env: Option<String>,
    /// Run one pass, print its outcome as one JSON line, exit 0 (or 1 on failure).
    #[arg(long)]
    pub once: bool,
    /// Offer "sync now" and "suspend/resume" on the status page (`GET /`),
    /// guarded by the token in --ui-token-env and a CSRF token. Off: read-only.
    #[arg(long)]
    pub ui_actions: bool,
    /// Environment variable holding the status page's action token.
    #[arg(long, value_name = "NAME", default_value = "MCPBOX_GITOPS_UI_TOKEN")]
    pub ui_token_env: String,
    /// Make applied changes live in MCPBox's sandbox (also on when --sandbox-url is given).
    #[arg(long)]
    pub activate: bool,
    /// Mirror directory for remote repositories (default: the user's cache directory).
    #[arg(long, value_name = "DIR")]
    pub git_cache: Option<PathBuf>,
    /// Environment variable holding an https token for remote repositories [default: GIT_TOKEN].
    #[arg(long, value_name = "NAME")]
    pub git_token_env: Option<String>,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Secret values.
    #[command(flatten)]
    pub values: super::ValueArgs,
    /// The sandbox, for activation.
    #[command(flatten)]
    pub sandbox: super::activate::SandboxArgs,
}

/// Runs `daemon`.
pub async fn run(args: Args) -> Result<u8, Error> {
    match args.action {
        Some(Action::Suspend(c)) => return control(c, true).await,
        Some(Action::Resume(c)) => return control(c, false).await,
        None => {}
    }
    let run = args.run;
    let url = run
        .db
        .database_url
        .clone()
        .ok_or_else(|| Error::NoDatabase("daemon"))?;
    let cfg = config(&run, &url)?;
    let pool = super::connect::write_pool(&url).await?;
    if run.once {
        let outcome = crate::daemon::once(&cfg, pool).await;
        let line = serde_json::to_string(&outcome).map_err(|source| Error::Encode {
            what: "the outcome",
            source,
        })?;
        print(&format!("{line}\n"))?;
        return Ok(if outcome.is_error() {
            EXIT_ERROR
        } else {
            EXIT_OK
        });
    }
    crate::daemon::run(cfg, pool).await?;
    Ok(EXIT_OK)
}

async fn control(c: ControlArgs, suspend: bool) -> Result<u8, Error> {
    let url =
        c.db.database_url
            .as_deref()
            .ok_or_else(|| Error::NoDatabase("daemon suspend/resume"))?;
    let pool = super::connect::ready_pool(url).await?;
    let by = crate::state::application_name(None);
    crate::daemon::control::set_suspended(&pool, suspend, &by).await?;
    print(if suspend {
        "Suspended: daemons plan and report but apply nothing until `mcpbox-gitops daemon resume`.\n"
    } else {
        "Resumed: the leader applies again at its next pass.\n"
    })?;
    Ok(EXIT_OK)
}

/// Flags over the config file over defaults.
fn config(run: &RunArgs, url: &str) -> Result<Config, Error> {
    let file = match &run.config {
        Some(p) => FileConfig::read(p)?,
        None => FileConfig::default(),
    };
    let repo = run.repo.clone().or(file.repo).ok_or_else(|| {
        Error::Usage("daemon needs a source: pass --repo URL|PATH (or `repo:` in --config)".into())
    })?;
    let branch = run.branch.clone().or(file.branch);
    let subdir = run.subdir.clone().or(file.subdir);
    let interval = run
        .interval
        .clone()
        .or(file.interval)
        .unwrap_or_else(|| "60s".into());
    let interval = parse_duration(&interval)?;
    let git_token_env = run
        .git_token_env
        .clone()
        .or(file.git_token_env)
        .unwrap_or_else(|| crate::source::git::DEFAULT_TOKEN_ENV.into());
    let source = if crate::source::git::is_git_url(&repo) {
        Source::Remote {
            url: repo,
            branch: branch.unwrap_or_else(|| "HEAD".into()),
            subdir,
            cache: run
                .git_cache
                .clone()
                .or(file.git_cache)
                .unwrap_or_else(super::default_cache_dir),
            auth: crate::source::git::Auth {
                token_env: git_token_env.clone(),
                ssh_key: None,
                ssh_passphrase_env: None,
            },
        }
    } else if let Some(branch) = branch {
        Source::Local {
            path: PathBuf::from(repo),
            branch,
            subdir,
        }
    } else {
        let root = PathBuf::from(&repo);
        let path = match subdir {
            Some(s) => super::subdir_of(&root, &s)?,
            None => root,
        };
        Source::Dir { path }
    };
    let webhook_env = run
        .webhook_secret_env
        .clone()
        .or(file.webhook_secret_env)
        .unwrap_or_else(|| DEFAULT_WEBHOOK_SECRET_ENV.into());
    let webhook_secret = std::env::var(&webhook_env)
        .ok()
        .filter(|s| !s.is_empty())
        .map(String::into_bytes);
    let mut sandbox = run.sandbox.clone();
    if let Some(u) = file.sandbox_url.clone() {
        if sandbox.sandbox_url == crate::activate::DEFAULT_SANDBOX_URL {
            sandbox.sandbox_url = u;
        }
    }
    let activate = run.activate
        || file.activate.unwrap_or(false)
        || file.sandbox_url.is_some()
        || sandbox.sandbox_url != crate::activate::DEFAULT_SANDBOX_URL;
    let activation = if activate {
        Some(sandbox.config()?)
    } else {
        None
    };
    let ui_token = if run.ui_actions {
        let token = std::env::var(&run.ui_token_env)
            .ok()
            .filter(|t| t.len() >= 16);
        Some(token.map(String::into_bytes).ok_or_else(|| {
            Error::Usage(format!(
                "--ui-actions needs a token of at least 16 characters in ${}; set it, or leave the page read-only",
                run.ui_token_env
            ))
        })?)
    } else {
        None
    };
    let mut reserved = vec![git_token_env, webhook_env, run.ui_token_env.clone()];
    reserved.extend(sandbox.env_names().iter().map(|s| s.to_string()));
    Ok(Config {
        source,
        interval,
        auto_sync: run.auto_sync.or(file.auto_sync).unwrap_or(true),
        self_heal: run.self_heal.or(file.self_heal).unwrap_or(false),
        allow_destroy: run.allow_destroy.or(file.allow_destroy).unwrap_or(false),
        listen: run
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:9090".into()),
        webhook_secret,
        activation,
        key: super::encryption_key()?,
        values: {
            let args = run.values.clone();
            let reserved = reserved.clone();
            std::sync::Arc::new(move |desired: &mut crate::desired::DesiredState| {
                let names: Vec<&str> = reserved.iter().map(String::as_str).collect();
                super::read_values(desired, &args, true, &names)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        },
        reserved,
        leader_options: super::connect::options(url)?,
        ui_token,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let mut all = vec!["mcpbox-gitops", "daemon"];
        all.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(all).unwrap().command {
            crate::cli::Command::Daemon(a) => a.run,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.yaml");
        std::fs::write(
            &file,
            "repo: /srv/manifests\ninterval: 5m\nautoSync: false\nselfHeal: true\nlisten: 0.0.0.0:9999\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let url = "postgres://u@localhost/db";
        let cfg = config(&run_args(&["--config", f]), url).unwrap();
        assert!(!cfg.auto_sync && cfg.self_heal);
        assert_eq!(cfg.interval, std::time::Duration::from_secs(300));
        assert_eq!(cfg.listen, "0.0.0.0:9999");
        assert!(matches!(cfg.source, Source::Dir { .. }));
        assert!(cfg.activation.is_none());
        let cfg = config(
            &run_args(&[
                "--config",
                f,
                "--auto-sync",
                "--self-heal=false",
                "--interval",
                "10s",
                "--branch",
                "main",
            ]),
            url,
        )
        .unwrap();
        assert!(cfg.auto_sync && !cfg.self_heal);
        assert_eq!(cfg.interval, std::time::Duration::from_secs(10));
        assert!(matches!(cfg.source, Source::Local { .. }));
        assert!(cfg.reserved.iter().any(|n| n == DEFAULT_WEBHOOK_SECRET_ENV));
        assert!(cfg.reserved.iter().any(|n| n == "GIT_TOKEN"));
    }

    #[test]
    fn suspend_and_resume_are_subcommands() {
        let cli = crate::cli::Cli::try_parse_from([
            "mcpbox-gitops",
            "daemon",
            "suspend",
            "--database-url",
            "postgres://u@h/db",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            crate::cli::Command::Daemon(Args {
                action: Some(Action::Suspend(_)),
                ..
            })
        ));
    }
}
