//! End-to-end benchmark at fleet size: generates a deterministic manifest
//! repository (in a git repository, so the incremental path is measured), then runs
//! the release binary step by step against a fresh database and prints one table
//! and one JSON line: wall time and peak RSS of each step.
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench -- --tools 10000 --servers 500
//! ```
//!
//! Options: `--tools N` (default 10000), `--servers N` (default 500),
//! `--runs N` (default 1; the table shows the median), `--keep DIR` (keep the
//! generated repository there). `DATABASE_URL` names a server where the benchmark
//! may create and drop the database `mcpbox_gitops_bench_e2e`.
//!
//! Each step is its own process, as a user runs it; its peak RSS comes from
//! `wait4`'s resource usage for that child. No test asserts these figures.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured step.
struct Step {
    name: &'static str,
    wall: Vec<Duration>,
    rss_kib: Vec<i64>,
}

struct Opts {
    tools: usize,
    servers: usize,
    runs: usize,
    keep: Option<PathBuf>,
}

fn parse_args() -> Opts {
    let mut opts = Opts {
        tools: 10_000,
        servers: 500,
        runs: 1,
        keep: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--tools" => opts.tools = value().parse().unwrap_or_else(|_| die("--tools N")),
            "--servers" => opts.servers = value().parse().unwrap_or_else(|_| die("--servers N")),
            "--runs" => opts.runs = value().parse().unwrap_or_else(|_| die("--runs N")),
            "--keep" => opts.keep = Some(PathBuf::from(value())),
            other => die(&format!("unknown option {other}")),
        }
    }
    if opts.servers == 0 || opts.tools < opts.servers || opts.runs == 0 {
        die("need --servers ≥ 1, --tools ≥ --servers, --runs ≥ 1");
    }
    opts
}

fn die(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2)
}

/// About 2 KB of Python that MCPBox accepts: imports, constants, helpers, and an
/// `async def main` with typed parameters.
fn tool_code(s: usize, t: usize, rev: usize) -> String {
    let mut code = format!(
        "\"\"\"Tool {t} of server {s} (revision {rev}).\"\"\"\n\
         import json\nimport re\nfrom datetime import datetime, timezone\n\n\
         API = \"https://api{s}.example.com/v1\"\nLIMIT = {limit}\n\n\
         def _clean(text: str) -> str:\n    return re.sub(r\"\\s+\", \" \", text).strip()\n\n",
        limit = 10 + t % 40
    );
    for h in 0..6 {
        code.push_str(&format!(
            "def _helper_{h}(items: list[dict], key: str = \"id\") -> list:\n    \
             out = []\n    for item in items[:LIMIT]:\n        \
             if key in item and item[key] is not None:\n            \
             out.append({{\"k\": item[key], \"n\": {h}, \"at\": datetime.now(timezone.utc).isoformat()}})\n    \
             return sorted(out, key=lambda x: str(x[\"k\"]))\n\n"
        ));
    }
    code.push_str(&format!(
        "async def main(query: str, limit: int = {limit}, verbose: bool = False, tags: list[str] | None = None) -> dict:\n    \
         \"\"\"Search things for {s}/{t}.\"\"\"\n    \
         resp = await http.get(f\"{{API}}/search\", params={{\"q\": _clean(query), \"limit\": limit}})\n    \
         data = resp.json()\n    rows = _helper_0(data.get(\"items\", []))\n    \
         return {{\"count\": len(rows), \"rows\": rows, \"tags\": tags or [], \"verbose\": verbose, \"rev\": {rev}}}\n",
        limit = 5 + t % 20
    ));
    code
}

/// Writes the repository: per server a folder with `server.yaml` (secrets,
/// hosts), and per tool a manifest and its `.py`; global modules and settings.
fn generate(root: &Path, tools: usize, servers: usize) {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap_or_else(|e| die(&format!("create repo: {e}")));
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| die(&format!("{rel}: {e}")));
        }
        std::fs::write(&p, text).unwrap_or_else(|e| die(&format!("{rel}: {e}")));
    };
    write(
        "mcpbox-gitops.yaml",
        "approval: {mode: pinned}\nreviewer: bench@example.com\ndeletionGuard: {maxDeletePercent: 50}\n",
    );
    let mut modules = String::from(
        "apiVersion: mcpbox/v1\nkind: Modules\nmetadata: {name: platform}\nspec:\n  modules:\n",
    );
    for m in [
        "xml.etree.ElementTree",
        "csv",
        "statistics",
        "decimal",
        "fractions",
        "zoneinfo",
    ] {
        modules.push_str(&format!("    - {{name: {m}, justification: bench}}\n"));
    }
    write("platform/modules.yaml", &modules);
    write(
        "platform/settings.yaml",
        "apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {name: mcpbox}\nspec:\n  tool_approval_mode: require_approval\n",
    );
    for s in 0..servers {
        let mut server = format!(
            "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {{name: s{s}}}\nspec:\n  description: bench server {s}\n  defaultTimeoutMs: 30000\n  secrets:\n    - {{name: API_TOKEN, description: token}}\n    - {{name: API_USER}}\n  network:\n"
        );
        for h in 0..3 {
            server.push_str(&format!(
                "    - {{host: api{s}-{h}.example.com, port: 443, justification: api}}\n"
            ));
        }
        write(&format!("servers/s{s}/server.yaml"), &server);
    }
    for i in 0..tools {
        let (s, t) = (i % servers, i / servers);
        let manifest = format!(
            "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: t{t}, server: s{s}}}\nspec:\n  description: bench tool {t} of server {s}\n  timeoutMs: {}\n  enabled: true\n  dependencies: [httpx]\n  codeFile: t{t}.py\n",
            10_000 + (i % 5) * 1000
        );
        write(&format!("servers/s{s}/t{t}.yaml"), &manifest);
        write(&format!("servers/s{s}/t{t}.py"), &tool_code(s, t, 0));
    }
}

/// Rewrites the code of every 100th tool (1%).
fn touch_one_percent(root: &Path, tools: usize, servers: usize, rev: usize) -> usize {
    let mut n = 0;
    for i in (0..tools).step_by(100) {
        let (s, t) = (i % servers, i / servers);
        std::fs::write(
            root.join(format!("servers/s{s}/t{t}.py")),
            tool_code(s, t, rev),
        )
        .unwrap_or_else(|e| die(&format!("touch: {e}")));
        n += 1;
    }
    n
}

fn git(root: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        die(&format!("git {args:?} failed"));
    }
}

/// Runs the binary with `args`, returns its wall time and peak RSS (KiB), or
/// dies with its output when it exits with a code not in `ok`.
fn measure(bin: &Path, args: &[&str], url: &str, ok: &[i32]) -> (Duration, i64) {
    let start = Instant::now();
    // Reaped below with `wait4`, which also gives this child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin)
        .args(args)
        .env("DATABASE_URL", url)
        .env("NO_COLOR", "1")
        // 100,000 tools are ~250 MB of manifests, beyond the default limit.
        .env("MCPBOX_GITOPS_MAX_SOURCE_BYTES", "4000000000")
        .stdout(if std::env::var_os("BENCH_DEBUG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| die(&format!("spawn {}: {e}", bin.display())));
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(err) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(err, &mut text);
        }
        text
    });
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped; both pointers are valid.
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    let err = reader.join().unwrap_or_default();
    if std::env::var_os("BENCH_DEBUG").is_some() {
        eprintln!("{args:?}: {}", err.lines().last().unwrap_or(""));
    }
    if got != pid || !libc::WIFEXITED(status) || !ok.contains(&libc::WEXITSTATUS(status)) {
        die(&format!("{args:?} failed ({status}):\n{err}"));
    }
    (wall, usage.ru_maxrss)
}

fn median<T: Copy + Ord>(v: &[T]) -> T {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn main() {
    let opts = parse_args();
    let exe = std::env::current_exe().unwrap_or_else(|e| die(&format!("current_exe: {e}")));
    // target/release/examples/bench → target/release/mcpbox-gitops
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("mcpbox-gitops"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| die("build the binary first: cargo build --release"));
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = match base.rsplit_once('/') {
        Some((head, _)) => format!("{head}/mcpbox_gitops_bench_e2e"),
        None => die("DATABASE_URL has no database name"),
    };
    let tmp = std::env::temp_dir().join(format!("mcpbox-gitops-bench-{}", std::process::id()));
    let root = opts.keep.clone().unwrap_or_else(|| tmp.join("repo"));
    let root_s = root.to_string_lossy().into_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("runtime: {e}")));
    let admin = rt
        .block_on(sqlx::PgPool::connect(&base))
        .unwrap_or_else(|e| die(&format!("connect: {e}")));

    let names: [&'static str; 9] = [
        "validate",
        "cold plan",
        "cold apply",
        "no-op plan (dir)",
        "no-op plan (git)",
        "1% plan (git)",
        "1% apply (git)",
        "daemon pass, unchanged",
        "generate repo",
    ];
    let mut steps: Vec<Step> = names
        .iter()
        .map(|n| Step {
            name: n,
            wall: Vec::new(),
            rss_kib: Vec::new(),
        })
        .collect();
    for run in 0..opts.runs {
        let t = Instant::now();
        generate(&root, opts.tools, opts.servers);
        git(&root, &["init", "-q", "-b", "main"]);
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-q", "-m", "generated"]);
        steps[8].wall.push(t.elapsed());
        steps[8].rss_kib.push(0);
        rt.block_on(async {
            let _ = sqlx::query("DROP DATABASE IF EXISTS mcpbox_gitops_bench_e2e WITH (FORCE)")
                .execute(&admin)
                .await;
            sqlx::query("CREATE DATABASE mcpbox_gitops_bench_e2e")
                .execute(&admin)
                .await
                .unwrap_or_else(|e| die(&format!("create database: {e}")));
        });
        let m = |args: &[&str], ok: &[i32]| measure(&bin, args, &url, ok);
        m(&["db", "migrate"], &[0]);
        let record = |steps: &mut Vec<Step>, i: usize, (wall, rss): (Duration, i64)| {
            steps[i].wall.push(wall);
            steps[i].rss_kib.push(rss);
        };
        record(&mut steps, 0, m(&["validate", &root_s], &[0]));
        record(&mut steps, 1, m(&["plan", &root_s], &[0]));
        record(
            &mut steps,
            2,
            m(&["apply", &root_s, "--git", "HEAD", "--auto-approve"], &[0]),
        );
        record(
            &mut steps,
            3,
            m(&["plan", &root_s, "--detailed-exitcode"], &[0]),
        );
        record(
            &mut steps,
            4,
            m(
                &["plan", &root_s, "--git", "HEAD", "--detailed-exitcode"],
                &[0],
            ),
        );
        touch_one_percent(&root, opts.tools, opts.servers, run + 1);
        git(&root, &["commit", "-q", "-am", "touch 1%"]);
        record(
            &mut steps,
            5,
            m(
                &["plan", &root_s, "--git", "HEAD", "--detailed-exitcode"],
                &[2],
            ),
        );
        record(
            &mut steps,
            6,
            m(&["apply", &root_s, "--git", "HEAD", "--auto-approve"], &[0]),
        );
        // A daemon pass on the unchanged commit and database: the first pass
        // records the state (a full plan), the second is the one measured.
        m(
            &["daemon", "--repo", &root_s, "--branch", "main", "--once"],
            &[0],
        );
        record(
            &mut steps,
            7,
            m(
                &["daemon", "--repo", &root_s, "--branch", "main", "--once"],
                &[0],
            ),
        );
    }
    rt.block_on(async {
        let _ = sqlx::query("DROP DATABASE IF EXISTS mcpbox_gitops_bench_e2e WITH (FORCE)")
            .execute(&admin)
            .await;
    });
    if opts.keep.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }

    println!(
        "mcpbox-gitops bench: {} tools on {} servers, {} run(s), median; {} cores",
        opts.tools,
        opts.servers,
        opts.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<24} {:>10} {:>12}", "step", "wall", "peak RSS");
    let mut json = serde_json::Map::new();
    for s in &steps {
        let wall = median(&s.wall);
        let rss = median(&s.rss_kib);
        println!(
            "{:<24} {:>8.3} s {:>8} MiB",
            s.name,
            wall.as_secs_f64(),
            rss / 1024
        );
        json.insert(
            s.name.to_string(),
            serde_json::json!({"wall_s": wall.as_secs_f64(), "peak_rss_mib": rss / 1024}),
        );
    }
    let line = serde_json::json!({
        "tools": opts.tools,
        "servers": opts.servers,
        "runs": opts.runs,
        "steps": json,
    });
    println!("{line}");
}
