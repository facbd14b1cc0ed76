//! MCPBox's rules for `tunnel_configurations` rows (MCPBOX.md §6.4): how a public URL
//! is normalised, and the shortest token MCPBox accepts.
//!
//! Only the rules live here; which row is active and how activation is written
//! live in `plan::diff` and `apply`.

/// Shortest `tunnel_token` MCPBox's create accepts, in characters.
pub const MIN_TOKEN_CHARS: usize = 10;

/// Longest `public_url` (varchar(1024)).
pub const MAX_PUBLIC_URL: usize = 1024;

/// `public_url` as MCPBox stores it: trimmed, empty → NULL, `https://` prepended
/// when there is no `http://` or `https://` scheme, trailing `/` removed.
///
/// `example.com/` → `https://example.com`; `  ` → None; `http://a.io` stays.
pub fn normalise_public_url(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return None;
    }
    let with_scheme = if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    Some(with_scheme.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_normalised_like_mcpbox() {
        assert_eq!(
            normalise_public_url("  mcp.example.com/ ").as_deref(),
            Some("https://mcp.example.com")
        );
        assert_eq!(
            normalise_public_url("http://a.io//").as_deref(),
            Some("http://a.io")
        );
        assert_eq!(
            normalise_public_url("https://a.io/mcp").as_deref(),
            Some("https://a.io/mcp")
        );
        assert_eq!(normalise_public_url(" \t"), None);
        assert_eq!(normalise_public_url(""), None);
        // Normalising twice changes nothing, so stored values compare equal.
        let once = normalise_public_url("a.io/").unwrap();
        assert_eq!(normalise_public_url(&once).as_deref(), Some(once.as_str()));
    }
}
