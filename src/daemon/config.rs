//! The daemon's resolved options: what `cli::daemon` builds from flags merged
//! over the `--config` YAML file (same keys, camelCase). Parsing flags and
//! reading the environment live in `cli::daemon`; nothing here does I/O except
//! [`FileConfig::read`].

use std::time::Duration;

use serde::Deserialize;

use super::source::Source;

/// How a pass reads `valueFrom` values: given by the caller (the CLI), so the
/// daemon does not depend on the command line.
pub type ValueReader =
    std::sync::Arc<dyn Fn(&mut crate::desired::DesiredState) -> Result<(), String> + Send + Sync>;

/// Everything a pass and the loop need.
#[derive(Clone)]
pub struct Config {
    /// Where the manifests come from.
    pub source: Source,
    /// The base delay between passes.
    pub interval: Duration,
    /// Apply non-empty plans (off: plan and report only).
    pub auto_sync: bool,
    /// Revert drift of owned objects on an unchanged commit.
    pub self_heal: bool,
    /// Allow deletes the deletion guard refuses.
    pub allow_destroy: bool,
    /// The HTTP address.
    pub listen: String,
    /// The webhook secret's value (never logged or shown).
    pub webhook_secret: Option<Vec<u8>>,
    /// Activation in MCPBox's sandbox, when configured.
    pub activation: Option<crate::activate::Config>,
    /// MCPBox's encryption key, for values and activation.
    pub key: Option<crate::crypto::Key>,
    /// Reads `valueFrom` sources into a desired state (the CLI's reader,
    /// with its flags and reserved names); a message when that fails.
    pub values: ValueReader,
    /// Environment variables the daemon reads itself: never `valueFrom` sources.
    pub reserved: Vec<String>,
    /// How the leader's dedicated connection is opened.
    pub leader_options: sqlx::postgres::PgConnectOptions,
    /// The status page's action token (`--ui-actions`), never shown.
    pub ui_token: Option<Vec<u8>>,
}

/// The `--config FILE` document: the flags' keys in camelCase. A flag given on
/// the command line wins over the file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileConfig {
    /// `--repo`.
    pub repo: Option<String>,
    /// `--branch`.
    pub branch: Option<String>,
    /// `--subdir`.
    pub subdir: Option<String>,
    /// `--interval`, e.g. `60s`, `5m`.
    pub interval: Option<String>,
    /// `--auto-sync`.
    pub auto_sync: Option<bool>,
    /// `--self-heal`.
    pub self_heal: Option<bool>,
    /// `--allow-destroy`.
    pub allow_destroy: Option<bool>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--webhook-secret-env`.
    pub webhook_secret_env: Option<String>,
    /// `--activate`.
    pub activate: Option<bool>,
    /// `--sandbox-url` (turns activation on).
    pub sandbox_url: Option<String>,
    /// `--git-cache`.
    pub git_cache: Option<std::path::PathBuf>,
    /// `--git-token-env`.
    pub git_token_env: Option<String>,
}

/// Why a config file or duration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read daemon config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid config.
    #[error("daemon config {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A duration could not be parsed.
    #[error("interval `{0}` is not a duration such as 500ms, 30s, 5m or 1h")]
    Duration(String),
}

impl FileConfig {
    /// Reads a config file.
    pub fn read(path: &std::path::Path) -> Result<FileConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: shown,
            message: e.to_string(),
        })
    }
}

/// Parses `500ms`, `30s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| ConfigError::Duration(text.to_string()))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(ConfigError::Duration(text.to_string())),
    };
    if d.is_zero() {
        return Err(ConfigError::Duration(text.to_string()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn config_file_keys_are_camel_case() {
        let c: FileConfig =
            serde_yaml::from_str("repo: /r\nautoSync: false\nselfHeal: true\ninterval: 5m\n")
                .unwrap();
        assert_eq!(c.auto_sync, Some(false));
        assert_eq!(c.self_heal, Some(true));
        assert!(serde_yaml::from_str::<FileConfig>("auto_sync: true\n").is_err());
    }
}
