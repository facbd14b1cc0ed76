//! TEMPORARY STUB (the lead's placeholder so the crate compiles; helper-2 replaces
//! this whole file with the real parser-based implementation).

/// One parameter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Parameter {
    /// Name.
    pub name: String,
    /// Annotation.
    #[serde(rename = "type")]
    pub annotation: Option<String>,
}

/// Syntax error position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxErrorAt {
    /// Line.
    pub line: usize,
    /// Column.
    pub column: usize,
    /// Message.
    pub message: String,
}

/// Result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Valid.
    pub valid: bool,
    /// Has main.
    pub has_main: bool,
    /// Error.
    pub error: Option<String>,
    /// Syntax error.
    pub syntax_error: Option<SyntaxErrorAt>,
    /// Main line.
    pub main_line: Option<usize>,
    /// Parameters.
    pub parameters: Vec<Parameter>,
}

/// Validate.
pub fn validate(code: &str) -> Validation {
    Validation {
        valid: !code.trim().is_empty(),
        has_main: code.contains("async def main"),
        error: None,
        syntax_error: None,
        main_line: None,
        parameters: vec![],
    }
}

/// Schema.
pub fn input_schema(_v: &Validation) -> serde_json::Value {
    serde_json::json!({"type": "object", "properties": {}, "required": null})
}
