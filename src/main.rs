//! The `mcpbox-gitops` binary: parse flags, set up logging, run, map to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: parsing 10,000 tools allocates
/// millions of small AST nodes and strings, and glibc's malloc/free took a fifth
/// of `validate`'s instructions (measured with callgrind). The
/// `system-allocator` feature turns it off, for heap profilers (heaptrack)
/// that only see the system's malloc.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = mcpbox_gitops::cli::Cli::parse();
    mcpbox_gitops::cli::init_tracing(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(mcpbox_gitops::cli::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(1)
        }
    }
}
