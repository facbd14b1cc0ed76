//! MCPBox-compatible encryption of stored secrets (MCPBOX.md §5).
//!
//! What lives here: the [`Key`] parsed from `MCPBOX_ENCRYPTION_KEY`, the [`Aad`]
//! context strings of §5.3, AES-256-GCM [`encrypt`]/[`decrypt`] in MCPBox's
//! `IV (12) ‖ ciphertext ‖ tag (16)` layout, the two storage forms (raw bytes for the
//! `server_secrets.encrypted_value` bytea column, standard padded base64 text for every
//! other encrypted column: [`encrypt_b64`]/[`decrypt_b64`]), and the [`Secret`] wrapper
//! that keeps decrypted values out of `{:?}` and `{}` output.
//!
//! What does not: reading the environment, choosing which column a value goes to, and
//! any database access (`state`, `apply`). This module is pure apart from drawing random
//! IVs from the operating system.
//!
//! Nothing in this module puts a key, a plaintext or a ciphertext into an error message;
//! errors name only the AAD context (server id and key name, setting key, …), which is
//! not secret.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore as _;

/// The environment variable MCPBox reads its key from.
pub const ENV_VAR: &str = "MCPBOX_ENCRYPTION_KEY";

/// Length of the random IV (nonce) that starts every stored value.
pub const IV_LEN: usize = 12;

/// Length of the GCM authentication tag that ends every stored value.
pub const TAG_LEN: usize = 16;

/// Length of the hexadecimal key text MCPBox accepts.
const KEY_HEX_LEN: usize = 64;

/// Why a `MCPBOX_ENCRYPTION_KEY` value was refused. Never contains the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The variable is unset or empty.
    #[error("{ENV_VAR} is not set (MCPBox's key: 64 hexadecimal characters)")]
    Missing,
    /// The value has leading or trailing whitespace (e.g. a newline from a file).
    #[error(
        "{ENV_VAR} has leading or trailing whitespace; MCPBox accepts exactly 64 \
         hexadecimal characters and nothing else"
    )]
    Whitespace,
    /// The value is not 64 characters long.
    #[error("{ENV_VAR} must be exactly 64 hexadecimal characters, found {found} characters")]
    WrongLength {
        /// Number of characters found.
        found: usize,
    },
    /// A character is not a hexadecimal digit.
    #[error(
        "{ENV_VAR} must be hexadecimal (0-9, a-f, A-F); character {position} (1-based) is not"
    )]
    NotHex {
        /// 1-based position of the first offending character.
        position: usize,
    },
}

/// MCPBox's AES-256 key: the 32 bytes decoded from `MCPBOX_ENCRYPTION_KEY`.
///
/// Its `Debug` output is `Key(<redacted>)`. Deliberately no `Display`, `FromStr` or
/// serde impls: argument parsers echo rejected values in their messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    /// Parses the key text as MCPBox does (§5.1): exactly 64 hexadecimal characters,
    /// either case. Surrounding whitespace is refused, as MCPBox refuses it.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        if text.is_empty() {
            return Err(KeyError::Missing);
        }
        if text.trim() != text {
            return Err(KeyError::Whitespace);
        }
        let found = text.chars().count();
        if found != KEY_HEX_LEN {
            return Err(KeyError::WrongLength { found });
        }
        if let Some(index) = text.chars().position(|c| !c.is_ascii_hexdigit()) {
            return Err(KeyError::NotHex {
                position: index + 1,
            });
        }
        let mut bytes = [0u8; 32];
        // All 64 characters are ASCII hex digits here, so this cannot fail; the
        // error is still mapped rather than unwrapped.
        hex::decode_to_slice(text, &mut bytes).map_err(|_| KeyError::NotHex { position: 1 })?;
        Ok(Key(bytes))
    }

    /// Parses an optional environment value: `None` (unset) is [`KeyError::Missing`].
    ///
    /// Typical use: `Key::parse_env(std::env::var(crypto::ENV_VAR).ok().as_deref())`.
    pub fn parse_env(value: Option<&str>) -> Result<Key, KeyError> {
        Key::parse(value.ok_or(KeyError::Missing)?)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The associated data (context string) a value is bound to (§5.3).
///
/// A value encrypted under one AAD does not decrypt under another, so renaming a
/// secret or moving it to another server needs re-encryption.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aad(String);

impl Aad {
    /// `server_secret:<server_id>:<key_name>` for `server_secrets.encrypted_value`;
    /// the id is written lowercase and hyphenated, the key name exactly as stored.
    pub fn server_secret(server_id: uuid::Uuid, key_name: &str) -> Aad {
        Aad(format!(
            "server_secret:{}:{key_name}",
            server_id.as_hyphenated()
        ))
    }

    /// `setting:<key>` for `settings.value` when `settings.encrypted = true`.
    pub fn setting(key: &str) -> Aad {
        Aad(format!("setting:{key}"))
    }

    /// `tunnel_token` for `tunnel_configurations.tunnel_token` and
    /// `cloudflare_configs.encrypted_tunnel_token`.
    pub fn tunnel_token() -> Aad {
        Aad("tunnel_token".to_owned())
    }

    /// `cloudflare_api_token` for `cloudflare_configs.encrypted_api_token`.
    pub fn cloudflare_api_token() -> Aad {
        Aad("cloudflare_api_token".to_owned())
    }

    /// `service_token` for `cloudflare_configs.encrypted_service_token`.
    pub fn service_token() -> Aad {
        Aad("service_token".to_owned())
    }

    /// `access_client_id` for `cloudflare_configs.encrypted_access_client_id`.
    pub fn access_client_id() -> Aad {
        Aad("access_client_id".to_owned())
    }

    /// `access_client_secret` for `cloudflare_configs.encrypted_access_client_secret`.
    pub fn access_client_secret() -> Aad {
        Aad("access_client_secret".to_owned())
    }

    /// `cookie_encryption_key` for `cloudflare_configs.encrypted_cookie_encryption_key`.
    pub fn cookie_encryption_key() -> Aad {
        Aad("cookie_encryption_key".to_owned())
    }

    /// `oauth_tokens` for `external_mcp_sources.oauth_tokens_encrypted`.
    pub fn oauth_tokens() -> Aad {
        Aad("oauth_tokens".to_owned())
    }

    /// The context string itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Aad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why encrypting or decrypting failed. Names only the AAD context, never key,
/// plaintext or ciphertext bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Plaintext or AAD beyond AES-GCM's 64 GiB limit.
    #[error("cannot encrypt the value for `{aad}`: too large for AES-GCM")]
    TooLarge {
        /// The context of the value.
        aad: Aad,
    },
    /// The operating system's random number generator failed to produce an IV.
    #[error(
        "cannot encrypt the value for `{aad}`: no random IV from the operating system: {reason}"
    )]
    Random {
        /// The context of the value.
        aad: Aad,
        /// The generator's error message.
        reason: String,
    },
    /// The stored value is shorter than IV plus tag.
    #[error(
        "cannot decrypt the value for `{aad}`: it is {len} bytes, shorter than the 28-byte \
         minimum (12-byte IV + 16-byte tag)"
    )]
    Truncated {
        /// The context of the value.
        aad: Aad,
        /// Length of the stored value in bytes.
        len: usize,
    },
    /// Authentication failed: another key, another AAD, or damaged bytes.
    #[error(
        "cannot decrypt the value for `{aad}`: authentication failed (wrong {ENV_VAR}, e.g. \
         after a key rotation; a value encrypted for another context; or corrupted bytes)"
    )]
    Authentication {
        /// The context of the value.
        aad: Aad,
    },
    /// The value decrypted but is not UTF-8 text.
    #[error("cannot decrypt the value for `{aad}`: the decrypted bytes are not UTF-8 text")]
    NotUtf8 {
        /// The context of the value.
        aad: Aad,
    },
    /// The stored text is not base64 that MCPBox's decoder would accept.
    #[error("cannot decrypt the value for `{aad}`: the stored text is not base64 ({reason})")]
    Base64 {
        /// The context of the value.
        aad: Aad,
        /// What is wrong with it (no stored characters are quoted).
        reason: &'static str,
    },
}

/// A secret string (a decrypted value, or one about to be encrypted).
///
/// `Debug` prints `(secret)` and `Display` prints `***`; the value is reachable only
/// through [`Secret::expose`] and [`Secret::into_inner`]. No serde impls on purpose.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself; each call site is a place the value can leak, keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(secret)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Encrypts `plaintext` for `aad` with a fresh random IV; returns
/// `IV ‖ ciphertext ‖ tag`, the raw form stored in `server_secrets.encrypted_value`.
pub fn encrypt(key: &Key, plaintext: &str, aad: &Aad) -> Result<Vec<u8>, CryptoError> {
    let mut iv = [0u8; IV_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut iv)
        .map_err(|e| CryptoError::Random {
            aad: aad.clone(),
            reason: e.to_string(),
        })?;
    encrypt_with_iv(key, plaintext, aad, iv)
}

/// [`encrypt`] with a caller-chosen IV, for test vectors only: reusing an IV under
/// the same key breaks AES-GCM.
#[doc(hidden)]
pub fn encrypt_with_iv(
    key: &Key,
    plaintext: &str,
    aad: &Aad,
    iv: [u8; IV_LEN],
) -> Result<Vec<u8>, CryptoError> {
    seal(key, plaintext.as_bytes(), aad, iv)
}

fn seal(key: &Key, plaintext: &[u8], aad: &Aad, iv: [u8; IV_LEN]) -> Result<Vec<u8>, CryptoError> {
    let sealed = key
        .cipher()
        .encrypt(
            &Nonce::from(iv),
            Payload {
                msg: plaintext,
                aad: aad.as_str().as_bytes(),
            },
        )
        // aes-gcm's only encryption failure is input beyond its length limits.
        .map_err(|_| CryptoError::TooLarge { aad: aad.clone() })?;
    let mut out = Vec::with_capacity(IV_LEN + sealed.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a raw `IV ‖ ciphertext ‖ tag` value (the bytea form) bound to `aad`.
pub fn decrypt(key: &Key, blob: &[u8], aad: &Aad) -> Result<Secret, CryptoError> {
    if blob.len() < IV_LEN + TAG_LEN {
        return Err(CryptoError::Truncated {
            aad: aad.clone(),
            len: blob.len(),
        });
    }
    let (iv, sealed) = blob.split_at(IV_LEN);
    let plain = key
        .cipher()
        .decrypt(
            Nonce::from_slice(iv), // exactly IV_LEN bytes: split_at above
            Payload {
                msg: sealed,
                aad: aad.as_str().as_bytes(),
            },
        )
        .map_err(|_| CryptoError::Authentication { aad: aad.clone() })?;
    // The `FromUtf8Error` carries the plaintext bytes; drop it, keep only the fact.
    String::from_utf8(plain)
        .map(Secret)
        .map_err(|_| CryptoError::NotUtf8 { aad: aad.clone() })
}

/// Encrypts with a fresh random IV and returns the text form every encrypted text
/// column holds: standard base64 (`+/`) with `=` padding.
pub fn encrypt_b64(key: &Key, plaintext: &str, aad: &Aad) -> Result<String, CryptoError> {
    encrypt(key, plaintext, aad).map(|blob| to_b64(&blob))
}

/// Decrypts the base64 text form. Decoding is as lenient as MCPBox's (Python's
/// `base64.b64decode`): characters outside the alphabet are skipped and input after
/// the padding ends is ignored, but missing padding is an error.
pub fn decrypt_b64(key: &Key, text: &str, aad: &Aad) -> Result<Secret, CryptoError> {
    let blob = from_b64_lenient(text).map_err(|reason| CryptoError::Base64 {
        aad: aad.clone(),
        reason,
    })?;
    decrypt(key, &blob, aad)
}

/// The canonical encoding: RFC 4648 standard alphabet, padded.
fn to_b64(blob: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(blob)
}

/// The value of one base64 alphabet character.
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// CPython's non-strict `binascii.a2b_base64`, which `base64.b64decode` uses.
fn from_b64_lenient(text: &str) -> Result<Vec<u8>, &'static str> {
    if !text.is_ascii() {
        // `b64decode` refuses a str with non-ASCII characters before decoding.
        return Err("non-ASCII characters");
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut quad_pos = 0u8;
    let mut left = 0u8;
    let mut pads = 0u8;
    for c in text.bytes() {
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    // A complete padding sequence ends the input.
                    return Ok(out);
                }
            }
            continue;
        }
        let Some(v) = sextet(c) else {
            continue;
        };
        pads = 0;
        // `left` holds 6, 4 and 2 pending bits in states 1, 2 and 3, so no shift overflows.
        match quad_pos {
            0 => {
                left = v;
                quad_pos = 1;
            }
            1 => {
                out.push(left << 2 | v >> 4);
                left = v & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push(left << 4 | v >> 2);
                left = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push(left << 6 | v);
                left = 0;
                quad_pos = 0;
            }
        }
    }
    match quad_pos {
        0 => Ok(out),
        1 => Err("the number of data characters is one more than a multiple of 4"),
        _ => Err("incorrect padding"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn section() -> Value {
        crate::test_vectors("aes_256_gcm")
    }

    fn vector_key(section: &Value) -> Key {
        Key::parse(section["key_hex"].as_str().expect("key_hex")).expect("vector key parses")
    }

    fn vectors(section: &Value) -> Vec<Value> {
        section["vectors"].as_array().expect("vectors").clone()
    }

    fn s<'a>(v: &'a Value, field: &str) -> &'a str {
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {v}"))
    }

    fn iv(v: &Value) -> [u8; IV_LEN] {
        let mut iv = [0u8; IV_LEN];
        hex::decode_to_slice(s(v, "iv_hex"), &mut iv).expect("iv_hex");
        iv
    }

    /// Builds the vector's AAD through the public constructors, from the column name.
    fn aad_for(v: &Value) -> Aad {
        let column = s(v, "column");
        if column == "server_secrets.encrypted_value" {
            let rest = s(v, "aad")
                .strip_prefix("server_secret:")
                .expect("server_secret prefix");
            let (id, name) = rest.split_once(':').expect("id:name");
            Aad::server_secret(id.parse().expect("uuid"), name)
        } else if let Some(key) = column
            .strip_prefix("settings.value (encrypted=true, key=")
            .and_then(|k| k.strip_suffix(')'))
        {
            Aad::setting(key)
        } else if column.starts_with("tunnel_configurations.tunnel_token") {
            Aad::tunnel_token()
        } else if column == "cloudflare_configs.encrypted_api_token" {
            Aad::cloudflare_api_token()
        } else if column == "cloudflare_configs.encrypted_service_token" {
            Aad::service_token()
        } else if column == "external_mcp_sources.oauth_tokens_encrypted" {
            Aad::oauth_tokens()
        } else {
            panic!("no constructor for column {column}")
        }
    }

    #[test]
    fn vector_aads_match_constructors() {
        let sec = section();
        for v in vectors(&sec) {
            assert_eq!(aad_for(&v).as_str(), s(&v, "aad"), "vector {v}");
        }
        let id: uuid::Uuid = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"
            .parse()
            .expect("uuid");
        assert_eq!(
            Aad::server_secret(id, "GITHUB_TOKEN").as_str(),
            "server_secret:7c9e6679-7425-40de-944b-e07fc1f90ae7:GITHUB_TOKEN"
        );
        assert_eq!(Aad::setting("some_key").as_str(), "setting:some_key");
        assert_eq!(Aad::tunnel_token().as_str(), "tunnel_token");
        assert_eq!(Aad::access_client_id().as_str(), "access_client_id");
        assert_eq!(Aad::access_client_secret().as_str(), "access_client_secret");
        assert_eq!(
            Aad::cookie_encryption_key().as_str(),
            "cookie_encryption_key"
        );
    }

    #[test]
    fn vectors_decrypt_to_their_plaintext() {
        let sec = section();
        let key = vector_key(&sec);
        let all = vectors(&sec);
        assert_eq!(all.len(), 7);
        let (mut bytea, mut b64) = (0, 0);
        for v in &all {
            let aad = aad_for(v);
            let got = match s(v, "storage") {
                "bytea" => {
                    bytea += 1;
                    assert!(v["stored_text"].is_null());
                    let blob = hex::decode(s(v, "stored_hex")).expect("stored_hex");
                    decrypt(&key, &blob, &aad)
                }
                "base64" => {
                    b64 += 1;
                    assert!(v["stored_hex"].is_null());
                    decrypt_b64(&key, s(v, "stored_text"), &aad)
                }
                other => panic!("unknown storage {other}"),
            };
            let got = got.unwrap_or_else(|e| panic!("{e} for {v}"));
            assert_eq!(got.expose(), s(v, "plaintext"), "vector {v}");
        }
        assert_eq!((bytea, b64), (2, 5));
    }

    #[test]
    fn vectors_reencrypt_byte_for_byte() {
        let sec = section();
        let key = vector_key(&sec);
        for v in vectors(&sec) {
            let blob =
                encrypt_with_iv(&key, s(&v, "plaintext"), &aad_for(&v), iv(&v)).expect("encrypt");
            assert_eq!(&blob[..IV_LEN], &iv(&v)[..]);
            assert_eq!(
                hex::encode(&blob[IV_LEN..]),
                s(&v, "ciphertext_and_tag_hex"),
                "vector {v}"
            );
            match s(&v, "storage") {
                "bytea" => assert_eq!(hex::encode(&blob), s(&v, "stored_hex"), "vector {v}"),
                _ => assert_eq!(to_b64(&blob), s(&v, "stored_text"), "vector {v}"),
            }
        }
    }

    #[test]
    fn wrong_aad_fails() {
        let sec = section();
        let key = vector_key(&sec);
        let v = &vectors(&sec)[0];
        let blob = hex::decode(s(v, "stored_hex")).expect("stored_hex");
        let id: uuid::Uuid = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
            .parse()
            .expect("uuid");
        // Same server, renamed key: the AAD binds the name.
        let renamed = Aad::server_secret(id, "GITHUB_TOKEN2");
        assert_eq!(
            decrypt(&key, &blob, &renamed),
            Err(CryptoError::Authentication { aad: renamed })
        );
        let setting = &vectors(&sec)[2];
        let other = Aad::setting("other_key");
        assert_eq!(
            decrypt_b64(&key, s(setting, "stored_text"), &other),
            Err(CryptoError::Authentication { aad: other })
        );
    }

    #[test]
    fn wrong_key_fails_and_error_leaks_nothing() {
        let sec = section();
        let rotated = Key::parse(&"ab".repeat(32)).expect("key");
        assert_ne!(rotated, vector_key(&sec));
        let v = &vectors(&sec)[0];
        let blob = hex::decode(s(v, "stored_hex")).expect("stored_hex");
        let err = decrypt(&rotated, &blob, &aad_for(v)).expect_err("must fail");
        assert!(matches!(err, CryptoError::Authentication { .. }));
        let msg = err.to_string();
        assert!(msg.contains("GITHUB_TOKEN"), "{msg}");
        assert!(msg.contains("MCPBOX_ENCRYPTION_KEY"), "{msg}");
        assert!(!msg.contains("ghp_"), "{msg}");
        assert!(!msg.contains(&s(v, "stored_hex")[..24]), "{msg}");
        assert!(!format!("{err:?}").contains("ghp_"));
    }

    #[test]
    fn tampered_and_truncated_values_fail() {
        let key = Key::parse(&"01".repeat(32)).expect("key");
        let aad = Aad::tunnel_token();
        let mut blob = encrypt(&key, "token-value", &aad).expect("encrypt");
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert_eq!(
            decrypt(&key, &blob, &aad),
            Err(CryptoError::Authentication { aad: aad.clone() })
        );
        assert_eq!(
            decrypt(&key, &blob[..27], &aad),
            Err(CryptoError::Truncated {
                aad: aad.clone(),
                len: 27
            })
        );
        assert_eq!(
            decrypt(&key, &[], &aad),
            Err(CryptoError::Truncated { aad, len: 0 })
        );
    }

    #[test]
    fn non_utf8_plaintext_is_an_error() {
        let key = Key::parse(&"02".repeat(32)).expect("key");
        let aad = Aad::setting("k");
        let blob = seal(&key, &[0xff, 0xfe, b'x'], &aad, [7; IV_LEN]).expect("seal");
        let err = decrypt(&key, &blob, &aad).expect_err("must fail");
        assert_eq!(err, CryptoError::NotUtf8 { aad });
        assert!(!err.to_string().contains("255"));
    }

    #[test]
    fn random_iv_round_trips_and_differs() {
        let key = Key::parse(&"0F".repeat(32)).expect("key");
        let aad = Aad::server_secret(uuid::Uuid::nil(), "API_KEY");
        let a = encrypt(&key, "hunter2 ☃", &aad).expect("encrypt");
        let b = encrypt(&key, "hunter2 ☃", &aad).expect("encrypt");
        assert_ne!(a, b);
        assert_ne!(a[..IV_LEN], b[..IV_LEN]);
        assert_eq!(a.len(), IV_LEN + "hunter2 ☃".len() + TAG_LEN);
        assert_eq!(decrypt(&key, &a, &aad).expect("a").expose(), "hunter2 ☃");
        assert_eq!(decrypt(&key, &b, &aad).expect("b").expose(), "hunter2 ☃");

        let empty = encrypt(&key, "", &aad).expect("encrypt");
        assert_eq!(empty.len(), 28);
        assert_eq!(decrypt(&key, &empty, &aad).expect("empty").expose(), "");

        let text = encrypt_b64(&key, "s3crét", &Aad::setting("x")).expect("encrypt");
        assert_eq!(text.len() % 4, 0);
        assert!(text.bytes().all(|c| sextet(c).is_some() || c == b'='));
        assert_eq!(
            decrypt_b64(&key, &text, &Aad::setting("x"))
                .expect("decrypt")
                .expose(),
            "s3crét"
        );
    }

    #[test]
    fn key_parse_accepts_either_case() {
        let lower = Key::parse(&"ab".repeat(32)).expect("lower");
        let upper = Key::parse(&"AB".repeat(32)).expect("upper");
        let mixed = Key::parse(&"aB".repeat(32)).expect("mixed");
        assert_eq!(lower, upper);
        assert_eq!(lower, mixed);
        assert_eq!(lower.0, [0xab; 32]);
        assert_eq!(Key::parse_env(Some(&"ab".repeat(32))), Ok(lower));
    }

    #[test]
    fn key_parse_errors_are_clear_and_leak_nothing() {
        let good = "0123456789abcdef".repeat(4);
        assert_eq!(Key::parse_env(None), Err(KeyError::Missing));
        assert_eq!(Key::parse(""), Err(KeyError::Missing));
        assert_eq!(Key::parse(&format!("{good}\n")), Err(KeyError::Whitespace));
        assert_eq!(Key::parse(&format!(" {good}")), Err(KeyError::Whitespace));
        assert_eq!(
            Key::parse(&good[..63]),
            Err(KeyError::WrongLength { found: 63 })
        );
        assert_eq!(
            Key::parse(&format!("{good}0")),
            Err(KeyError::WrongLength { found: 65 })
        );
        // 32 characters: someone pasted the raw bytes' length, not the hex.
        assert_eq!(
            Key::parse(&good[..32]),
            Err(KeyError::WrongLength { found: 32 })
        );
        let mut bad = good.clone();
        bad.replace_range(4..5, "g");
        assert_eq!(Key::parse(&bad), Err(KeyError::NotHex { position: 5 }));
        // 64 characters but one is non-ASCII: a character count, not bytes.
        let accented = format!("é{}", &good[1..]);
        assert_eq!(Key::parse(&accented), Err(KeyError::NotHex { position: 1 }));

        let msg = KeyError::WrongLength { found: 63 }.to_string();
        assert!(msg.contains("63") && msg.contains("64"), "{msg}");
        for text in [&good[..63], &bad, &format!("{good}\n")] {
            let err = Key::parse(text).expect_err("must fail");
            assert!(!err.to_string().contains(&good[..16]), "{err}");
            assert!(!format!("{err:?}").contains(&good[..16]), "{err:?}");
        }
    }

    #[test]
    fn debug_output_hides_key_and_secret() {
        let key = Key::parse(&"ab".repeat(32)).expect("key");
        let shown = format!("{key:?}");
        assert_eq!(shown, "Key(<redacted>)");
        assert!(!shown.contains("abab"));
        assert!(!format!("{key:#?}").contains("171"));

        let secret = Secret::from("ghp_topsecret");
        assert_eq!(format!("{secret:?}"), "(secret)");
        assert_eq!(format!("{secret}"), "***");
        assert!(!format!("{:?}", Some(&secret)).contains("topsecret"));
        assert!(!format!("{secret:#?}").contains("topsecret"));
        assert_eq!(secret.expose(), "ghp_topsecret");
        assert_eq!(secret.into_inner(), "ghp_topsecret");
    }

    #[test]
    fn base64_decoding_is_as_lenient_as_python() {
        // Outputs of CPython's `base64.b64decode` for these inputs.
        let accepted: [(&str, &[u8]); 9] = [
            ("YQ==", b"a"),
            ("YR==", b"a"),
            ("Y Q=\n=", b"a"),
            ("YQ==YQ==", b"a"),
            ("YQ==\n", b"a"),
            ("Y!Q==", b"a"),
            ("=YQ==", b"a"),
            ("YQ===", b"a"),
            ("YWI=", b"ab"),
        ];
        for (text, want) in accepted {
            assert_eq!(from_b64_lenient(text).as_deref(), Ok(want), "{text:?}");
        }
        for text in ["YQ", "YQ=", "YWI", "Y", "YQ==é"] {
            assert!(from_b64_lenient(text).is_err(), "{text:?}");
        }
        assert_eq!(from_b64_lenient(""), Ok(vec![]));

        // A vector with a line break in the middle still decrypts, as in MCPBox.
        let sec = section();
        let key = vector_key(&sec);
        let v = &vectors(&sec)[3];
        let stored = s(v, "stored_text");
        let wrapped = format!("{}\n{}", &stored[..20], &stored[20..]);
        assert_eq!(
            decrypt_b64(&key, &wrapped, &Aad::tunnel_token())
                .expect("decrypt")
                .expose(),
            s(v, "plaintext")
        );
        let err = decrypt_b64(&key, "YQ", &Aad::tunnel_token()).expect_err("padding");
        assert!(matches!(err, CryptoError::Base64 { .. }), "{err}");
    }
}
