//! Decrypting a server's secrets for its registration, and the auth headers of its
//! external sources (MCPBOX.md §5.3, §6.1): values exist in plain text only in
//! memory, inside [`Secret`]s.
//!
//! Building the rest of the body lives in `activate::payload`; the AES-GCM itself
//! in `crate::crypto`. Pure: nothing here reads the database or sends anything.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use super::rows::{ServerRows, SourceRow};
use crate::crypto::{self, Aad, Key, Secret};

/// Why a server's registration could not be built. Names the server and the
/// AAD context, never a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server has secrets or OAuth tokens and no key was given.
    #[error(
        "server {server}: cannot decrypt its secrets: {} is not set",
        crypto::ENV_VAR
    )]
    KeyMissing {
        /// Server name.
        server: String,
    },
    /// A stored value did not decrypt; MCPBox fails the whole registration then
    /// ("Failed to decrypt secret …", MCPBOX.md §5.3).
    #[error("server {server}: failed to decrypt a secret")]
    Decrypt {
        /// Server name.
        server: String,
        /// Names the AAD (server id and key name), never the value.
        #[source]
        source: crypto::CryptoError,
    },
    /// The decrypted OAuth token blob of a source is not the JSON MCPBox stores.
    #[error(
        "server {server}: the oauth tokens of external source {source_id} are not MCPBox's JSON"
    )]
    OauthTokens {
        /// Server name.
        server: String,
        /// `external_mcp_sources.id`.
        source_id: Uuid,
    },
}

/// Every stored secret of the server, decrypted with AAD
/// `server_secret:<server id>:<key name>`. One bad value fails them all, as in
/// MCPBox.
pub fn decrypt_secrets(
    server: &ServerRows,
    key: Option<&Key>,
) -> Result<BTreeMap<String, Secret>, Error> {
    if server.secrets.is_empty() {
        return Ok(BTreeMap::new());
    }
    let key = key.ok_or_else(|| Error::KeyMissing {
        server: server.name.clone(),
    })?;
    server
        .secrets
        .iter()
        .map(|s| {
            let aad = Aad::server_secret(server.id, &s.key_name);
            crypto::decrypt(key, &s.encrypted, &aad)
                .map(|v| (s.key_name.clone(), v))
                .map_err(|source| Error::Decrypt {
                    server: server.name.clone(),
                    source,
                })
        })
        .collect()
}

/// The auth headers MCPBox builds for a source (MCPBOX.md §6.1): `none` → none;
/// `bearer` → `Authorization: Bearer <secret>`; `header` → `<auth_header_name or
/// "Authorization">: <secret>`; `oauth` → `Authorization: Bearer <access_token>`.
/// A missing secret name, or a secret without a value, gives no header (MCPBox
/// only warns), as do OAuth sources without tokens yet.
pub fn auth_headers(
    server: &ServerRows,
    source: &SourceRow,
    secrets: &BTreeMap<String, Secret>,
    key: Option<&Key>,
) -> Result<BTreeMap<String, Secret>, Error> {
    let mut headers = BTreeMap::new();
    // Python's `x or default`: an empty string counts as missing.
    let secret = || {
        source
            .auth_secret_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .and_then(|n| secrets.get(n))
    };
    match source.auth_type.as_str() {
        "bearer" => {
            if let Some(v) = secret() {
                headers.insert(
                    "Authorization".to_string(),
                    Secret::new(format!("Bearer {}", v.expose())),
                );
            }
        }
        "header" => {
            if let Some(v) = secret() {
                let name = source
                    .auth_header_name
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .unwrap_or("Authorization");
                headers.insert(name.to_string(), v.clone());
            }
        }
        "oauth" => {
            if let Some(token) = oauth_access_token(server, source, key)? {
                headers.insert(
                    "Authorization".to_string(),
                    Secret::new(format!("Bearer {}", token.expose())),
                );
            }
        }
        _ => {}
    }
    Ok(headers)
}

/// The `access_token` of a source's encrypted OAuth blob, if it has tokens.
///
/// MCPBox refreshes an expired token before use; this sends the stored one (a
/// refresh would have to write the database, which activation never does).
fn oauth_access_token(
    server: &ServerRows,
    source: &SourceRow,
    key: Option<&Key>,
) -> Result<Option<Secret>, Error> {
    let Some(blob) = source.oauth_tokens.as_deref().filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let key = key.ok_or_else(|| Error::KeyMissing {
        server: server.name.clone(),
    })?;
    let plain =
        crypto::decrypt_b64(key, blob, &Aad::oauth_tokens()).map_err(|source| Error::Decrypt {
            server: server.name.clone(),
            source,
        })?;
    let bad = || Error::OauthTokens {
        server: server.name.clone(),
        source_id: source.id,
    };
    let tokens: Value = serde_json::from_str(plain.expose()).map_err(|_| bad())?;
    match tokens.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => Ok(Some(Secret::new(t.clone()))),
        Some(Value::Null) | None => Ok(None),
        Some(Value::String(_)) => Ok(None),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::payload::tests::{exposed, key, server, source};
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_decrypt_with_the_server_aad() {
        let s = server(&[("GITHUB_TOKEN", "ghp_x"), ("OTHER", "o")]);
        let got = decrypt_secrets(&s, Some(&key())).unwrap();
        assert_eq!(
            exposed(&got),
            vec![
                ("GITHUB_TOKEN".into(), "ghp_x".into()),
                ("OTHER".into(), "o".into())
            ]
        );
        // No secrets: no key needed.
        assert!(decrypt_secrets(&server(&[]), None).unwrap().is_empty());
        let err = decrypt_secrets(&s, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "server github: cannot decrypt its secrets: MCPBOX_ENCRYPTION_KEY is not set"
        );
    }

    #[test]
    fn one_undecryptable_secret_fails_the_server_without_showing_values() {
        let mut s = server(&[("A", "value-a"), ("B", "value-b")]);
        // Bytes of another key name: the AAD no longer matches.
        s.secrets[1].encrypted = s.secrets[0].encrypted.clone();
        let err = decrypt_secrets(&s, Some(&key())).unwrap_err();
        let text = format!("{err} {err:?} {}", std::error::Error::source(&err).unwrap());
        assert!(text.contains("server github"), "{text}");
        assert!(text.contains(":B"), "names the key: {text}");
        assert!(!text.contains("value-"), "{text}");
    }

    #[test]
    fn auth_headers_per_type() {
        let s = server(&[("TOKEN", "t0k")]);
        let secrets = decrypt_secrets(&s, Some(&key())).unwrap();
        let h = |src: SourceRow| exposed(&auth_headers(&s, &src, &secrets, Some(&key())).unwrap());
        assert_eq!(h(source("none", Some("TOKEN"), None)), vec![]);
        assert_eq!(
            h(source("bearer", Some("TOKEN"), None)),
            vec![("Authorization".into(), "Bearer t0k".into())]
        );
        assert_eq!(
            h(source("header", Some("TOKEN"), Some("X-Api-Key"))),
            vec![("X-Api-Key".into(), "t0k".into())]
        );
        assert_eq!(
            h(source("header", Some("TOKEN"), None)),
            vec![("Authorization".into(), "t0k".into())]
        );
        assert_eq!(
            h(source("header", Some("TOKEN"), Some(""))),
            vec![("Authorization".into(), "t0k".into())]
        );
        // Missing secret name, or a secret without a value: no header.
        assert_eq!(h(source("bearer", None, None)), vec![]);
        assert_eq!(h(source("bearer", Some("ABSENT"), None)), vec![]);
        // OAuth without tokens yet: no header.
        assert_eq!(h(source("oauth", None, None)), vec![]);
    }

    #[test]
    fn oauth_sends_the_stored_access_token() {
        let s = server(&[]);
        let blob = json!({"access_token": "at-123", "refresh_token": "rt", "token_endpoint": "https://x/token", "expires_at": null, "scope": "read"});
        let mut src = source("oauth", None, None);
        src.oauth_tokens =
            Some(crypto::encrypt_b64(&key(), &blob.to_string(), &Aad::oauth_tokens()).unwrap());
        let got = auth_headers(&s, &src, &BTreeMap::new(), Some(&key())).unwrap();
        assert_eq!(
            exposed(&got),
            vec![("Authorization".into(), "Bearer at-123".into())]
        );
        let err = auth_headers(&s, &src, &BTreeMap::new(), None).unwrap_err();
        assert!(matches!(err, Error::KeyMissing { .. }));
        src.oauth_tokens =
            Some(crypto::encrypt_b64(&key(), "not json", &Aad::oauth_tokens()).unwrap());
        let err = auth_headers(&s, &src, &BTreeMap::new(), Some(&key())).unwrap_err();
        assert!(err.to_string().contains("not MCPBox's JSON"), "{err}");
    }
}
