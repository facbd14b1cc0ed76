//! Where credentials come from ([`Auth`]: variable names and key paths, never
//! values) and the callback libgit2 calls for them, which offers each method once
//! and gives up with a reason instead of retrying forever.

use std::path::PathBuf;

use git2::{Cred, CredentialType};

use crate::crypto::Secret;

/// Environment variable holding the HTTPS access token unless [`Auth::token_env`] says otherwise.
pub const DEFAULT_TOKEN_ENV: &str = "GIT_TOKEN";

/// Username sent with a token over HTTPS; GitHub and GitLab both accept it for tokens.
pub(super) const TOKEN_USER: &str = "x-access-token";

/// Calls of the credentials callback before we give up. libgit2 calls it again every
/// time the server rejects what it was given, forever; each method is also offered once.
pub(super) const MAX_CREDENTIAL_ATTEMPTS: usize = 4;

/// How to authenticate to a remote. Holds only *where* credentials come from (an
/// environment variable's name, a key file's path), never a credential itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    /// Environment variable holding an HTTPS access token, sent as password with the
    /// user `x-access-token` (or the URL's own user). Default [`DEFAULT_TOKEN_ENV`].
    pub token_env: String,
    /// SSH private key file; without it the SSH agent (`SSH_AUTH_SOCK`) is asked.
    pub ssh_key: Option<PathBuf>,
    /// Environment variable holding the passphrase of [`Auth::ssh_key`], if it has one.
    pub ssh_passphrase_env: Option<String>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            token_env: DEFAULT_TOKEN_ENV.to_string(),
            ssh_key: None,
            ssh_passphrase_env: None,
        }
    }
}

// Hand-written, as for every type near credentials: only names and paths are shown,
// and this stays true if a field holding a value is ever added.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token_env", &self.token_env)
            .field("ssh_key", &self.ssh_key)
            .field("ssh_passphrase_env", &self.ssh_passphrase_env)
            .finish()
    }
}

/// The credentials callback's state: what we can offer, what was already offered, and
/// why we gave up. No `Debug`: it holds the token.
pub(super) struct Credentials {
    /// URL for messages, password removed.
    url: String,
    /// Name of the token's variable, for messages.
    pub(super) token_env: String,
    /// The HTTPS token, if the variable is set.
    token: Option<Secret>,
    /// SSH key file, if configured (else the agent).
    ssh_key: Option<PathBuf>,
    /// Name of the passphrase's variable, for messages.
    passphrase_env: Option<String>,
    /// The key's passphrase, if configured and set.
    passphrase: Option<Secret>,
    /// Calls so far; libgit2 retries without end, so this is capped.
    attempts: usize,
    /// Whether the token was offered (a second request means it was rejected).
    token_offered: bool,
    /// Whether an SSH key was offered.
    ssh_offered: bool,
    /// Why we stopped offering credentials; becomes [`Error::Auth`].
    pub(super) failure: Option<String>,
}

impl Credentials {
    /// Reads the token and passphrase from the environment variables `auth` names.
    pub(super) fn from_env(auth: &Auth, url: &str) -> Credentials {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
                .map(Secret::new)
        };
        Credentials::new(
            auth,
            url,
            read(&auth.token_env),
            auth.ssh_passphrase_env.as_deref().and_then(read),
        )
    }

    /// Credentials with values already read (tests pass them directly).
    pub(super) fn new(
        auth: &Auth,
        url: &str,
        token: Option<Secret>,
        passphrase: Option<Secret>,
    ) -> Credentials {
        Credentials {
            url: url.to_string(),
            token_env: auth.token_env.clone(),
            token,
            ssh_key: auth.ssh_key.clone(),
            passphrase_env: auth.ssh_passphrase_env.clone(),
            passphrase,
            attempts: 0,
            token_offered: false,
            ssh_offered: false,
            failure: None,
        }
    }

    /// Answers one call of libgit2's credentials callback.
    pub(super) fn next(
        &mut self,
        url: &str,
        username: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        self.attempts += 1;
        if self.attempts > MAX_CREDENTIAL_ATTEMPTS {
            return self.give_up(format!(
                "credentials were rejected {MAX_CREDENTIAL_ATTEMPTS} times; check that they grant read access to the repository"
            ));
        }
        if allowed.contains(CredentialType::USERNAME) {
            // SSH asks for the user name first when the URL has none.
            return Cred::username(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            return self.ssh_key(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            return self.token(url, username);
        }
        self.give_up(format!(
            "the server asks for an authentication method we do not support ({allowed:?}); use an https token or an ssh key"
        ))
    }

    /// Offers the SSH key file or the agent, once.
    fn ssh_key(&mut self, user: &str) -> Result<Cred, git2::Error> {
        if self.ssh_offered {
            let reason = match &self.ssh_key {
                Some(key) => format!(
                    "the server rejected the ssh key {} for user `{user}`; check that it is a deploy key of the repository",
                    key.display()
                ),
                None => format!(
                    "no key from the ssh agent was accepted for user `{user}`; check SSH_AUTH_SOCK and `ssh-add -l`, or give a key file"
                ),
            };
            return self.give_up(reason);
        }
        self.ssh_offered = true;
        match &self.ssh_key {
            Some(key) => {
                if let (Some(env), None) = (&self.passphrase_env, &self.passphrase) {
                    let reason = format!("the ssh key passphrase variable {env} is not set");
                    return self.give_up(reason);
                }
                let passphrase = self.passphrase.as_ref().map(Secret::expose);
                Cred::ssh_key(user, None, key, passphrase)
            }
            None => Cred::ssh_key_from_agent(user),
        }
    }

    /// Offers the token as password, once, and only over https.
    fn token(&mut self, url: &str, username: Option<&str>) -> Result<Cred, git2::Error> {
        if self.token_offered {
            let reason = format!(
                "the server rejected the token from {}; check that it is valid and can read the repository",
                self.token_env
            );
            return self.give_up(reason);
        }
        if !url.to_ascii_lowercase().starts_with("https://") {
            let reason = format!(
                "refusing to send the token from {} over an unencrypted connection; use an https:// URL",
                self.token_env
            );
            return self.give_up(reason);
        }
        let Some(token) = &self.token else {
            let reason = format!(
                "the server asks for credentials: set {} to an access token that can read the repository",
                self.token_env
            );
            return self.give_up(reason);
        };
        self.token_offered = true;
        Cred::userpass_plaintext(username.unwrap_or(TOKEN_USER), token.expose())
    }

    /// Records why we stop, and returns the error that makes libgit2 stop too.
    fn give_up(&mut self, reason: String) -> Result<Cred, git2::Error> {
        let err =
            git2::Error::from_str(&format!("authentication to {} failed: {reason}", self.url));
        self.failure = Some(reason);
        Err(err)
    }

    /// `message` with the token and passphrase replaced, should libgit2 ever quote them.
    pub(super) fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        for secret in [&self.token, &self.passphrase].into_iter().flatten() {
            if !secret.expose().is_empty() {
                out = out.replace(secret.expose(), "(redacted)");
            }
        }
        out
    }
}
