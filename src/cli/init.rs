//! `mcpbox-gitops init [DIR] [--from-database] [--force]`: starts a manifest
//! repository — a commented server with one tool, an empty `approvals.yaml`,
//! the policy, the JSON Schemas editors use, and a README — or, with
//! `--from-database`, the repository `export` writes of an existing MCPBox.
//! What the files say lives in `init/` beside this file; every file written
//! is valid and canonical (`validate` and `fmt --check` pass on it).

use std::path::{Path, PathBuf};

use clap::Parser;

use super::{print, Error, EXIT_OK};

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create the repository (created when missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Start from an existing MCPBox instead: write its database as manifests
    /// (as `export` does; needs DATABASE_URL or --database-url).
    #[arg(long)]
    pub from_database: bool,
    /// The database, with --from-database.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Replace files of the same name that already exist.
    #[arg(long)]
    pub force: bool,
}

/// The files of a new repository: path → content.
pub fn scaffold() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = vec![
        ("README.md".into(), include_str!("init/README.md").into()),
        (
            crate::manifest::load::POLICY_FILE.into(),
            include_str!("init/policy.yaml").into(),
        ),
        (
            crate::manifest::load::APPROVALS_FILE.into(),
            include_str!("init/approvals.yaml").into(),
        ),
        (
            "servers/example/server.yaml".into(),
            include_str!("init/server.yaml").into(),
        ),
        (
            "servers/example/tools/hello.yaml".into(),
            include_str!("init/tool.yaml").into(),
        ),
        (
            "servers/example/tools/hello.py".into(),
            include_str!("init/hello.py").into(),
        ),
    ];
    files.extend(schemas());
    files
}

/// The JSON Schemas the `yaml-language-server` lines point at.
fn schemas() -> Vec<(String, String)> {
    crate::manifest::schema::manifest_schemas()
        .into_iter()
        .map(|(name, schema)| {
            (
                format!("schemas/{name}"),
                crate::manifest::schema::render(&schema),
            )
        })
        .collect()
}

/// Runs `init`.
pub async fn run(args: Args) -> Result<u8, Error> {
    if args.from_database {
        return from_database(args).await;
    }
    let files = scaffold();
    let existing: Vec<&str> = files
        .iter()
        .filter(|(path, _)| args.dir.join(path).exists())
        .map(|(path, _)| path.as_str())
        .collect();
    if !existing.is_empty() && !args.force {
        return Err(Error::Usage(format!(
            "{} already has {}; nothing was written (pass --force to replace them)",
            crate::escape::path(&args.dir),
            existing.join(", ")
        )));
    }
    for (path, text) in &files {
        write(&args.dir.join(path), text)?;
    }
    let dir = crate::escape::path(&args.dir);
    print(&format!(
        "Created a manifest repository in {dir}: one server (example) with one tool (hello).\n\
         Next:\n  \
         mcpbox-gitops validate {dir}\n  \
         mcpbox-gitops plan {dir}\n  \
         mcpbox-gitops approve example/hello --by you@example.com --repo {dir}\n"
    ))?;
    Ok(EXIT_OK)
}

/// `init --from-database`: `export` into DIR, then the schemas and README.
async fn from_database(args: Args) -> Result<u8, Error> {
    #[derive(Parser)]
    struct Export {
        #[command(flatten)]
        args: super::export::Args,
    }
    let mut argv: Vec<std::ffi::OsString> = vec!["export".into(), "--out".into()];
    argv.push(args.dir.clone().into_os_string());
    if let Some(url) = &args.database_url {
        argv.push("--database-url".into());
        argv.push(url.into());
    }
    if args.force {
        argv.push("--force".into());
    }
    let export = Export::try_parse_from(argv)
        .map_err(|e| Error::Usage(format!("cannot start the export: {e}")))?;
    let code = super::export::run(export.args).await?;
    if code != EXIT_OK {
        return Ok(code);
    }
    for (path, text) in schemas() {
        write(&args.dir.join(path), &text)?;
    }
    let readme = args.dir.join("README.md");
    if !readme.exists() {
        write(&readme, include_str!("init/README.md"))?;
    }
    Ok(EXIT_OK)
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    let fail = |source: std::io::Error| Error::Write {
        path: crate::escape::path(path),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileSet;

    #[test]
    fn the_scaffold_is_valid_and_canonical() {
        let mut set = FileSet::empty("init");
        for (path, text) in scaffold() {
            if path.ends_with(".yaml") {
                let kind = crate::fmt::FileKind::of(&path);
                assert_eq!(
                    crate::fmt::format(&text, kind).as_deref(),
                    Ok(text.as_str()),
                    "{path} is not canonical"
                );
            }
            set.insert(path, text.into_bytes());
        }
        let desired = match crate::desired::build(&set) {
            Ok(d) => d,
            Err(diags) => panic!("{diags:?}"),
        };
        // The server, its tool, its secret placeholder and its network host.
        assert_eq!(desired.len(), 4);
        assert!(desired.pins.is_empty());
    }
}
