//! Secret values (server secrets, encrypted settings, tunnel tokens): where they
//! come from (`valueFrom`), reading them, and the labels a plan shows in their place.
//!
//! A value never enters the model, a plan or a message. The model carries a label
//! (`(set)`, `(from env X)`, `(changed, from env X)`, `(cleared)`, `(encrypted)`)
//! that compares equal to the database's label exactly when nothing has to be
//! written, so the diff engine stays a pure comparison. The plaintexts live in
//! [`Resolved`], read once by the CLI (the I/O edge) and handed to the writer;
//! its `Debug` shows names only. The encryption itself is `crate::crypto`.
//!
//! # Layout
//! - this file: value sources, labels, [`Resolved`] and its errors.
//! - [`access`]: what a `valueFrom` may read (value directories, variable
//!   prefixes, reserved names) and the checked read of a value file.

pub mod access;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{self, Aad, Key, Secret};
pub use access::{Access, FileRefusal};

/// Label of a stored secret value (compared, or left alone).
pub const STORED: &str = "(set)";
/// Label of a stored encrypted setting value.
pub const ENCRYPTED: &str = "(encrypted)";
/// Label of a value that will be removed.
pub const CLEARED: &str = "(cleared)";

/// Where a value comes from at apply time.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ValueSource {
    /// An environment variable of the process running apply.
    Env(String),
    /// A file on the machine running apply (e.g. a mounted Kubernetes secret);
    /// a relative path is relative to the working directory. One trailing newline
    /// is dropped.
    File(String),
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSource::Env(v) => write!(f, "env {v}"),
            ValueSource::File(p) => write!(f, "file {p}"),
        }
    }
}

/// What an apply does with a value: decided by the diff from what was read and
/// what is stored, carried on the plan's change, and the only thing the writer
/// looks at. Its label (`(from env X)`, `(cleared)`, …) is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ValueChange {
    /// Leave what MCPBox stores.
    Keep,
    /// Write the value read from `from` (new or replacing).
    Set {
        /// Where apply reads it.
        from: ValueSource,
    },
    /// Remove the stored value (its source is set but empty).
    Clear,
}

/// A desired value as a plan shows it and as apply acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// The label the plan shows in the value's place.
    pub label: String,
    /// What apply does.
    pub change: ValueChange,
}

impl Labelled {
    /// A stored value's label, kept as it is.
    pub fn kept(label: String) -> Labelled {
        Labelled {
            label,
            change: ValueChange::Keep,
        }
    }

    fn new(label: impl Into<String>, change: ValueChange) -> Labelled {
        Labelled {
            label: label.into(),
            change,
        }
    }
}

/// The label of a value about to be written for the first time.
pub fn label_new(source: &ValueSource) -> String {
    format!("(from {source})")
}

/// The label of a value about to be replaced.
pub fn label_changed(source: &ValueSource) -> String {
    format!("(changed, from {source})")
}

/// Prefix of a tunnel token's key among the value sources (`tunnel:<name>`):
/// neither a secret key (`server/NAME`, whose server is a snake_case name) nor a
/// setting key can start with it.
pub const TUNNEL_PREFIX: &str = "tunnel:";

/// The value key of a tunnel configuration's token.
pub fn tunnel_key(name: &str) -> String {
    format!("{TUNNEL_PREFIX}{name}")
}

/// The tunnel name of a tunnel token's value key.
pub fn tunnel_of(key: &str) -> Option<&str> {
    key.strip_prefix(TUNNEL_PREFIX)
}

/// Values read for one run, by object key (`server/NAME` for secrets, the
/// setting key for settings, `tunnel:<name>` for tunnel tokens). `Debug` never
/// shows a value.
#[derive(Clone, Default)]
pub struct Resolved {
    key: Option<Key>,
    read: bool,
    /// Stored values that do not decrypt are replaced instead of refused.
    overwrite_undecryptable: bool,
    plaintext: BTreeMap<String, Secret>,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved")
            .field("read", &self.read)
            .field("has_key", &self.key.is_some())
            .field("values", &self.plaintext.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why values could not be read or compared. Names the secret and the source,
/// never the value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key is needed and missing or malformed.
    #[error("{what} need MCPBOX_ENCRYPTION_KEY: {source}")]
    Key {
        /// What needs it.
        what: String,
        /// The key problem.
        source: crypto::KeyError,
    },
    /// An environment variable is not set.
    #[error("{object}: environment variable `{var}` is not set (valueFrom: {{env: {var}}}); export it, or remove valueFrom to leave the value to MCPBox")]
    EnvUnset {
        /// `server/NAME` or setting key.
        object: String,
        /// The variable.
        var: String,
    },
    /// An environment variable holds non-UTF-8 bytes.
    #[error("{object}: environment variable `{var}` is not valid UTF-8")]
    EnvNotUtf8 {
        /// `server/NAME` or setting key.
        object: String,
        /// The variable.
        var: String,
    },
    /// A variable the reconciler itself reads (its key, database, git or
    /// sandbox credentials): never copied into MCPBox.
    #[error("{object}: `valueFrom: {{env: {var}}}` names a variable that holds the reconciler's own credentials or configuration; a manifest cannot copy it into MCPBox, where tools could read it (give the value its own variable, e.g. MCPBOX_SECRET_{upper})", upper = .var.to_ascii_uppercase())]
    EnvReserved {
        /// `server/NAME` or setting key.
        object: String,
        /// The variable.
        var: String,
    },
    /// A variable without an allowed prefix.
    #[error("{object}: `valueFrom: {{env: {var}}}` does not start with an allowed prefix ({}); rename the variable (e.g. {}{var}) or allow its prefix with --env-prefix", .prefixes.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "), .prefixes.first().map(String::as_str).unwrap_or(access::DEFAULT_ENV_PREFIX))]
    EnvPrefix {
        /// `server/NAME` or setting key.
        object: String,
        /// The variable.
        var: String,
        /// The prefixes allowed.
        prefixes: Vec<String>,
    },
    /// A value file outside the allow-list (nothing was read).
    #[error("{object}: `valueFrom: {{file: {path}}}` {why}")]
    FileRefused {
        /// `server/NAME` or setting key.
        object: String,
        /// The path as written (escaped).
        path: String,
        /// Why.
        why: FileRefusal,
    },
    /// A file cannot be read.
    #[error("{object}: cannot read `{path}` (valueFrom: {{file: {path}}}): {reason}")]
    File {
        /// `server/NAME` or setting key.
        object: String,
        /// The path.
        path: String,
        /// The I/O error, without content.
        reason: String,
    },
    /// A value breaks MCPBox's rules.
    #[error("{object}: the value from {from} is invalid: {reason} (value not shown)")]
    Invalid {
        /// `server/NAME` or setting key.
        object: String,
        /// Where it came from.
        from: ValueSource,
        /// What is wrong.
        reason: String,
    },
    /// A stored value does not decrypt with the key (rotated key, or bytes from
    /// elsewhere).
    #[error("{object}: the value stored in MCPBox does not decrypt with MCPBOX_ENCRYPTION_KEY ({source}); if MCPBox's key was rotated, run with --overwrite-undecryptable to store git's value with the current key")]
    Undecryptable {
        /// `server/NAME` or setting key.
        object: String,
        /// The crypto error (names the AAD, not the bytes).
        source: crypto::CryptoError,
    },
    /// A value cannot be written: it breaks MCPBox's rules for its column.
    #[error("{object}: {reason} (value not shown)")]
    Refused {
        /// The value's key.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// Encryption failed.
    #[error("{object}: {source}")]
    Encrypt {
        /// `server/NAME` or setting key.
        object: String,
        /// The crypto error.
        source: crypto::CryptoError,
    },
}

/// Decrypts a stored value (raw bytes for secrets, base64 text for settings).
pub type Decrypt = dyn Fn(&Key, &[u8], &Aad) -> Result<Secret, crypto::CryptoError>;

/// MCPBox's length limit for a secret value (admin API: 1–10 000 characters).
pub const MAX_SECRET_CHARS: usize = 10_000;

impl Resolved {
    /// Values are not read: plans in PR mode, or without a key. Secrets with a
    /// stored value are not compared.
    pub fn unread() -> Resolved {
        Resolved::default()
    }

    /// Whether values were read and can be compared.
    pub fn is_read(&self) -> bool {
        self.read
    }

    /// Reads every source. `key` is needed when there is anything to read.
    pub fn read(
        sources: &BTreeMap<String, ValueSource>,
        access: &Access,
        key: Option<Result<Key, crypto::KeyError>>,
        overwrite_undecryptable: bool,
        env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Resolved, Error> {
        let mut out = Resolved {
            key: None,
            read: true,
            overwrite_undecryptable,
            plaintext: BTreeMap::new(),
        };
        if sources.is_empty() {
            return Ok(out);
        }
        // Every source is checked before any is read: a refused one reads nothing.
        access.check_sources(sources)?;
        let names: Vec<&str> = sources.keys().map(String::as_str).collect();
        let what = if names.len() > 3 {
            format!("{}, … ({} values)", names[..3].join(", "), names.len())
        } else {
            names.join(", ")
        };
        out.key = Some(
            key.unwrap_or(Err(crypto::KeyError::Missing))
                .map_err(|source| Error::Key { what, source })?,
        );
        for (object, source) in sources {
            let value = match source {
                // check_sources above refused every variable it must.
                ValueSource::Env(var) => match env(var) {
                    None => {
                        return Err(Error::EnvUnset {
                            object: object.clone(),
                            var: var.clone(),
                        })
                    }
                    Some(v) => v.into_string().map_err(|_| Error::EnvNotUtf8 {
                        object: object.clone(),
                        var: var.clone(),
                    })?,
                },
                ValueSource::File(path) => {
                    let bytes = access.read_file(object, path)?;
                    let mut text = String::from_utf8(bytes).map_err(|_| Error::Invalid {
                        object: object.clone(),
                        from: source.clone(),
                        reason: "not UTF-8".into(),
                    })?;
                    if text.ends_with('\n') {
                        text.pop();
                        if text.ends_with('\r') {
                            text.pop();
                        }
                    }
                    text
                }
            };
            out.plaintext.insert(object.clone(), Secret::new(value));
        }
        Ok(out)
    }

    /// The value read for `object`.
    pub fn get(&self, object: &str) -> Option<&Secret> {
        self.plaintext.get(object)
    }

    /// The label of a desired value given what is stored. `stored` is the
    /// ciphertext (raw bytes for secrets) when there is one; `stored_label` is
    /// the label the database side shows.
    pub fn label(
        &self,
        object: &str,
        source: &ValueSource,
        stored: Option<(&[u8], &Aad)>,
        stored_label: &str,
        decode: &Decrypt,
    ) -> Result<Option<Labelled>, Error> {
        let set = || ValueChange::Set {
            from: source.clone(),
        };
        if !self.read {
            // Not compared: an existing value stands; a missing one will be set.
            return Ok(Some(match stored {
                Some(_) => Labelled::new(stored_label, ValueChange::Keep),
                None => Labelled::new(label_new(source), set()),
            }));
        }
        let Some(value) = self.plaintext.get(object) else {
            return Ok(Some(Labelled::new(label_new(source), set())));
        };
        let (Some((bytes, aad)), Some(key)) = (stored, self.key.as_ref()) else {
            return Ok(if value.expose().is_empty() {
                None
            } else {
                Some(Labelled::new(label_new(source), set()))
            });
        };
        if value.expose().is_empty() {
            return Ok(Some(Labelled::new(CLEARED, ValueChange::Clear)));
        }
        match decode(key, bytes, aad) {
            Ok(old) if old.expose() == value.expose() => {
                Ok(Some(Labelled::new(stored_label, ValueChange::Keep)))
            }
            Ok(_) => Ok(Some(Labelled::new(label_changed(source), set()))),
            Err(_) if self.overwrite_undecryptable => {
                Ok(Some(Labelled::new(label_changed(source), set())))
            }
            Err(source) => Err(Error::Undecryptable {
                object: object.to_string(),
                source,
            }),
        }
    }

    /// Encrypts the value of `object` for a `server_secrets` row.
    pub fn encrypt_secret(
        &self,
        object: &str,
        server_id: Uuid,
        name: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.encrypt_with(object, &Aad::server_secret(server_id, name), |k, v, a| {
            crypto::encrypt(k, v, a)
        })
    }

    /// Encrypts the value of setting `key` (base64 text).
    pub fn encrypt_setting(&self, key: &str) -> Result<Option<String>, Error> {
        self.encrypt_with(key, &Aad::setting(key), |k, v, a| {
            crypto::encrypt_b64(k, v, a)
        })
    }

    /// Encrypts the token of tunnel configuration `name` for
    /// `tunnel_configurations.tunnel_token` (base64 text, AAD `tunnel_token`).
    /// A token MCPBox would refuse (under 10 characters) is never encrypted.
    pub fn encrypt_tunnel_token(&self, name: &str) -> Result<Option<String>, Error> {
        let object = tunnel_key(name);
        if let Some(reason) = self
            .plaintext
            .get(&object)
            .and_then(|v| tunnel_token_problem(v.expose()))
        {
            return Err(Error::Refused { object, reason });
        }
        self.encrypt_with(&object, &Aad::tunnel_token(), |k, v, a| {
            crypto::encrypt_b64(k, v, a)
        })
    }

    fn encrypt_with<T>(
        &self,
        object: &str,
        aad: &Aad,
        f: impl Fn(&Key, &str, &Aad) -> Result<T, crypto::CryptoError>,
    ) -> Result<Option<T>, Error> {
        let (Some(value), Some(key)) = (self.plaintext.get(object), self.key.as_ref()) else {
            return Ok(None);
        };
        if value.expose().is_empty() {
            return Ok(None);
        }
        f(key, value.expose(), aad)
            .map(Some)
            .map_err(|source| Error::Encrypt {
                object: object.to_string(),
                source,
            })
    }

    /// Checks each value against MCPBox's rules for its kind: secret values are
    /// 1–10 000 characters (empty clears); tunnel tokens (`tunnel:<name>`) at
    /// least 10; settings use `check`.
    pub fn check(
        &self,
        sources: &BTreeMap<String, ValueSource>,
        check_setting: &dyn Fn(&str, &str) -> Result<(), String>,
        is_setting: &dyn Fn(&str) -> bool,
    ) -> Result<(), Error> {
        for (object, value) in &self.plaintext {
            let Some(source) = sources.get(object) else {
                continue;
            };
            let v = value.expose();
            // Tunnel keys first: their shape (no `/`) would pass for a setting's.
            let reason = if tunnel_of(object).is_some() {
                tunnel_token_problem(v)
            } else if is_setting(object) {
                check_setting(object, v)
                    .err()
                    .map(|_| "not a value MCPBox accepts for this setting".to_string())
            } else if v.chars().count() > MAX_SECRET_CHARS {
                Some(format!(
                    "longer than MCPBox's {MAX_SECRET_CHARS} characters"
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::Invalid {
                    object: object.clone(),
                    from: source.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }
}

/// Why MCPBox would refuse `token` as a tunnel token, if it would (MCPBOX.md §6.4).
fn tunnel_token_problem(token: &str) -> Option<String> {
    (token.chars().count() < crate::rules::tunnel::MIN_TOKEN_CHARS).then(|| {
        format!(
            "shorter than the {} characters MCPBox requires of a tunnel token",
            crate::rules::tunnel::MIN_TOKEN_CHARS
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Any variable name that is not reserved.
    fn any_env() -> Access {
        Access::new(&[], &[String::new()], &[]).unwrap()
    }

    fn resolved(value: &str) -> Resolved {
        let mut sources = BTreeMap::new();
        sources.insert("s/TOKEN".to_string(), ValueSource::Env("T".into()));
        let v = value.to_string();
        Resolved::read(
            &sources,
            &any_env(),
            Some(Key::parse(KEY)),
            false,
            &move |_| Some(v.clone().into()),
        )
        .unwrap()
    }

    fn dec(k: &Key, b: &[u8], a: &Aad) -> Result<Secret, crypto::CryptoError> {
        crypto::decrypt(k, b, a)
    }

    #[test]
    fn labels_compare_by_decrypting() {
        let src = ValueSource::Env("T".into());
        let set = ValueChange::Set { from: src.clone() };
        let id = Uuid::nil();
        let aad = Aad::server_secret(id, "TOKEN");
        let r = resolved("hunter2");
        let stored = r.encrypt_secret("s/TOKEN", id, "TOKEN").unwrap().unwrap();
        let label = |r: &Resolved, stored: Option<(&[u8], &Aad)>| {
            r.label("s/TOKEN", &src, stored, STORED, &dec)
                .unwrap()
                .map(|l| (l.label, l.change))
        };
        assert_eq!(
            label(&r, Some((&stored, &aad))),
            Some((STORED.to_string(), ValueChange::Keep))
        );
        assert_eq!(
            label(&resolved("changed"), Some((&stored, &aad))),
            Some(("(changed, from env T)".to_string(), set.clone()))
        );
        assert_eq!(label(&r, None), Some(("(from env T)".to_string(), set)));
        assert_eq!(
            label(&resolved(""), Some((&stored, &aad))),
            Some((CLEARED.to_string(), ValueChange::Clear))
        );
        // Not read: a stored value stands, a missing one is set.
        assert_eq!(
            label(&Resolved::unread(), Some((&stored, &aad))),
            Some((STORED.to_string(), ValueChange::Keep))
        );
    }

    #[test]
    fn undecryptable_is_an_error_naming_the_secret_not_the_value() {
        let src = ValueSource::Env("T".into());
        let aad = Aad::server_secret(Uuid::nil(), "TOKEN");
        let garbage = vec![7u8; 40];
        let err = resolved("hunter2")
            .label("s/TOKEN", &src, Some((&garbage, &aad)), STORED, &dec)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s/TOKEN") && err.contains("--overwrite-undecryptable"),
            "{err}"
        );
        assert!(!err.contains("hunter2"));
        let debug = format!("{:?}", resolved("hunter2"));
        assert!(
            !debug.contains("hunter2") && debug.contains("s/TOKEN"),
            "{debug}"
        );
    }

    #[test]
    fn tunnel_tokens_are_checked_and_encrypted_with_their_aad() {
        let mut sources = BTreeMap::new();
        sources.insert(tunnel_key("prod"), ValueSource::Env("TUNNEL".into()));
        sources.insert(
            "log_retention_days".to_string(),
            ValueSource::Env("DAYS".into()),
        );
        let read = |token: &'static str| {
            Resolved::read(
                &sources,
                &any_env(),
                Some(Key::parse(KEY)),
                false,
                &move |var| Some(if var == "TUNNEL" { token } else { "30" }.into()),
            )
            .unwrap()
        };
        let is_setting = |k: &str| !k.contains('/');
        let ok = read("eyJhIjoiYiJ9-0123456789");
        assert!(ok.check(&sources, &|_, _| Ok(()), &is_setting).is_ok());
        let stored = ok.encrypt_tunnel_token("prod").unwrap().unwrap();
        let key = Key::parse(KEY).unwrap();
        let plain = crypto::decrypt_b64(&key, &stored, &Aad::tunnel_token()).unwrap();
        assert_eq!(plain.expose(), "eyJhIjoiYiJ9-0123456789");
        // Too short: refused at read time, naming the tunnel, never the value.
        let short = read("abc123456");
        let err = short
            .check(&sources, &|_, _| Ok(()), &is_setting)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tunnel:prod")
                && err.contains("10 characters")
                && !err.contains("abc123456"),
            "{err}"
        );
        // …and never encrypted, even if the check was skipped.
        assert!(matches!(
            short.encrypt_tunnel_token("prod"),
            Err(Error::Refused { .. })
        ));
        assert_eq!(tunnel_of("tunnel:prod"), Some("prod"));
        assert_eq!(tunnel_of("github/TOKEN"), None);
    }

    #[test]
    fn missing_env_and_key_are_named() {
        let mut sources = BTreeMap::new();
        sources.insert("s/TOKEN".to_string(), ValueSource::Env("NOPE".into()));
        let err = Resolved::read(&sources, &any_env(), Some(Key::parse(KEY)), false, &|_| {
            None
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("s/TOKEN") && err.contains("NOPE"), "{err}");
        let err = Resolved::read(&sources, &any_env(), None, false, &|_| Some("x".into()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MCPBOX_ENCRYPTION_KEY") && err.contains("s/TOKEN"),
            "{err}"
        );
    }
}
