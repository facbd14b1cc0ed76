//! The MCPBox settings a manifest may set (MCPBOX.md §6.2): allowed values and the
//! descriptions MCPBox stores when it creates a row.
//!
//! Pure lookup tables and checks; writing rows lives in `apply`.

/// One setting MCPBox reads.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// `settings.key`.
    pub key: &'static str,
    /// What values MCPBox accepts.
    pub values: Values,
    /// The description MCPBox writes when it creates the row.
    pub description: &'static str,
}

/// Allowed values of a setting.
#[derive(Debug, Clone, Copy)]
pub enum Values {
    /// One of these strings exactly.
    OneOf(&'static [&'static str]),
    /// A decimal integer in this inclusive range (MCPBox calls `int()` at start-up:
    /// anything else stops it from starting).
    Integer(i64, i64),
}

/// Every setting MCPBox reads or writes.
pub const KNOWN: [Known; 8] = [
    Known { key: "tool_approval_mode", values: Values::OneOf(&["require_approval", "auto_approve"]), description: "Whether new tools require admin approval or are auto-approved" },
    Known { key: "remote_tool_editing", values: Values::OneOf(&["disabled", "enabled"]), description: "Whether remote (Worker/tunnel) sessions can create, update, or delete tools and servers" },
    Known { key: "mcp_rate_limit_rpm", values: Values::Integer(10, 10000), description: "MCP gateway requests per minute (all remote users share one IP via cloudflared)" },
    Known { key: "log_retention_days", values: Values::Integer(1, 3650), description: "How long execution logs are kept before cleanup (days)" },
    Known { key: "onboarding_completed", values: Values::OneOf(&["true", "false"]), description: "Whether the onboarding wizard has been completed" },
    Known { key: "network_access_policy", values: Values::OneOf(&["require_approval", "allow_all_public"]), description: "Whether tools can access any public host, or only explicitly approved hosts" },
    Known { key: "module_approval_mode", values: Values::OneOf(&["require_approval", "auto_approve"]), description: "Whether module requests require admin approval or are auto-added to the allowlist" },
    Known { key: "redact_secrets_in_output", values: Values::OneOf(&["enabled", "disabled"]), description: "Whether known secret values are scrubbed from tool output before returning to the LLM" },
];

/// Looks a setting up by key.
pub fn known(key: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.key == key)
}

/// Checks a value; the error says what is allowed.
pub fn check(key: &str, value: &str) -> Result<(), String> {
    let Some(k) = known(key) else {
        let keys: Vec<&str> = KNOWN.iter().map(|k| k.key).collect();
        return Err(format!(
            "unknown setting `{key}`; MCPBox reads {}",
            keys.join(", ")
        ));
    };
    match k.values {
        Values::OneOf(allowed) if allowed.contains(&value) => Ok(()),
        Values::OneOf(allowed) => Err(format!("`{key}` must be one of {}, not `{value}`", allowed.join(", "))),
        Values::Integer(lo, hi) => match value.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) && value.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            _ => Err(format!("`{key}` must be a whole number from {lo} to {hi}, not `{value}` (MCPBox would fail to start)")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_values() {
        assert!(check("tool_approval_mode", "auto_approve").is_ok());
        assert!(check("tool_approval_mode", "yes")
            .unwrap_err()
            .contains("require_approval"));
        assert!(check("log_retention_days", "30").is_ok());
        assert!(check("log_retention_days", "thirty").is_err());
        assert!(check("log_retention_days", "0").is_err());
        assert!(check("mcp_rate_limit_rpm", "+300").is_err());
        assert!(check("nope", "x").unwrap_err().contains("unknown setting"));
    }
}
