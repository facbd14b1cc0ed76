//! The host and port of a URL, found the way MCPBox's sandbox finds them: its
//! `http` client parses the URL with Python's `urllib.parse.urlparse`, refuses
//! schemes other than `http`/`https`, lowercases the host name and defaults the
//! port to 443 for https and 80 otherwise (MCPBOX.md §3.3).
//!
//! Only the *text* of a URL is handled here; following names and f-strings to
//! that text lives in `hosts`.

/// What the code says of a URL: all of it, or only how it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// The whole URL is known.
    Full(String),
    /// Only a leading part is known; the rest is computed (the reason why).
    Prefix(String, String),
    /// Nothing is known (the reason why).
    Unknown(String),
}

/// Where a URL leads, as far as the sandbox is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An http(s) URL with this host and port.
    Host(String, u16),
    /// The host or port cannot be told from the code (the reason why).
    Dynamic(String),
    /// Not an http(s) URL with a host: the sandbox refuses it before any
    /// network access, so it needs no grant.
    Nowhere,
}

/// The target of a URL text.
pub fn target(text: &Text) -> Target {
    let (s, rest_unknown) = match text {
        Text::Full(s) => (s.as_str(), None),
        Text::Prefix(s, why) => (s.as_str(), Some(why.as_str())),
        Text::Unknown(why) => return Target::Dynamic(why.clone()),
    };
    // `urlsplit` strips leading C0 controls and spaces.
    let s = s.trim_start_matches(|c: char| c <= ' ');
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let (scheme, after) = if lower.starts_with("https://") {
        ("https", &s[8..])
    } else if lower.starts_with("http://") {
        ("http", &s[7..])
    } else {
        return match rest_unknown {
            // `"htt" + x` could still become an http URL.
            Some(why) if "https://".starts_with(&lower) || "http://".starts_with(&lower) => {
                Target::Dynamic(why.to_string())
            }
            _ => Target::Nowhere,
        };
    };
    // The authority ends at the first `/`, `?` or `#`; while it has not ended,
    // the computed rest may still change the host or the port.
    let end = after.find(['/', '?', '#']);
    let authority = match (end, rest_unknown) {
        (Some(e), _) => &after[..e],
        (None, None) => after,
        (None, Some(why)) => return Target::Dynamic(why.to_string()),
    };
    // `user:password@` is not part of the host.
    let hostinfo = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(rest) = hostinfo.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':').unwrap_or("")),
            None => return Target::Dynamic("the URL is malformed".to_string()),
        }
    } else {
        hostinfo.split_once(':').unwrap_or((hostinfo, ""))
    };
    if host.is_empty() {
        return Target::Nowhere;
    }
    let port = if port.is_empty() {
        if scheme == "https" {
            443
        } else {
            80
        }
    } else {
        match port.parse::<u16>() {
            Ok(p) if port.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Target::Dynamic(format!("the URL's port `{port}` is not a port")),
        }
    };
    Target::Host(host.to_lowercase(), port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> Target {
        target(&Text::Full(s.to_string()))
    }

    fn prefix(s: &str) -> Target {
        target(&Text::Prefix(s.to_string(), "why".to_string()))
    }

    fn host(h: &str, p: u16) -> Target {
        Target::Host(h.to_string(), p)
    }

    #[test]
    fn scheme_implies_the_port() {
        assert_eq!(
            full("https://api.github.com/repos"),
            host("api.github.com", 443)
        );
        assert_eq!(full("http://pihole.lan/api"), host("pihole.lan", 80));
        assert_eq!(
            full("HTTPS://API.Example.COM"),
            host("api.example.com", 443)
        );
    }

    #[test]
    fn explicit_ports_userinfo_and_ipv6() {
        assert_eq!(
            full("http://homeassistant.local:8123/api"),
            host("homeassistant.local", 8123)
        );
        assert_eq!(full("https://u:p@h.io:8443?q"), host("h.io", 8443));
        assert_eq!(full("http://[::1]:8080/x"), host("::1", 8080));
        assert!(matches!(full("http://h:99999/"), Target::Dynamic(_)));
    }

    #[test]
    fn a_prefix_must_close_the_authority() {
        assert_eq!(
            prefix("https://api.github.com/"),
            host("api.github.com", 443)
        );
        assert!(matches!(prefix("https://api."), Target::Dynamic(_)));
        assert!(matches!(
            prefix("https://api.github.com"),
            Target::Dynamic(_)
        ));
        assert!(matches!(prefix("htt"), Target::Dynamic(_)));
        assert!(matches!(prefix(""), Target::Dynamic(_)));
    }

    #[test]
    fn other_schemes_and_relative_urls_go_nowhere() {
        assert_eq!(full("ftp://x.org/"), Target::Nowhere);
        assert_eq!(full("/api/states"), Target::Nowhere);
        assert_eq!(prefix("/api/"), Target::Nowhere);
        assert_eq!(full("https:///path"), Target::Nowhere);
    }
}
