//! `saker-workload`: the workloads `cargo xtask bench` times with and without
//! an agent attached. Each one is reproducible, needs no network and no
//! downloads, and prints one JSON line on stdout with its own wall time
//! (setup and cleanup excluded), e.g.
//! `{"workload":"open-close","ops":200000,"unit":"open+read+close","wall_ns":...}`.

mod compile;
mod exec;
mod net;
mod open_close;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(
    name = "saker-workload",
    about = "Benchmark workloads for cargo xtask bench"
)]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// Syscall-heavy: openat + read + close of one small file, in a loop.
    OpenClose {
        #[arg(long, default_value_t = 1_000_000)]
        iterations: u64,
        /// Directory for the file read in the loop (default: $TMPDIR or /tmp).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Iterations per second to hold (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// Process churn: fork + execve of a short program, then wait, in a loop.
    Exec {
        #[arg(long, default_value_t = 2_000)]
        iterations: u64,
        #[arg(long, default_value = "/bin/true")]
        program: PathBuf,
    },
    /// Loopback network: connect/accept, then request/response exchanges over
    /// 127.0.0.1; both ends run in this process (server on a thread).
    Net {
        #[arg(long, default_value_t = 10_000)]
        connections: u64,
        /// Request/response exchanges per connection.
        #[arg(long, default_value_t = 8)]
        messages: u32,
        /// Bytes per request and per response.
        #[arg(long, default_value_t = 512)]
        size: usize,
    },
    /// Realistic mixed job: build a small multi-file C program (shipped in
    /// bench/workloads/data/cproject) with gcc, file by file, link, run it.
    Compile {
        #[arg(long, default_value_t = 4)]
        builds: u64,
        /// C compiler.
        #[arg(long, default_value = "gcc")]
        cc: String,
    },
}

/// What each workload prints: its own count of operations and wall time.
#[derive(Debug, Serialize)]
struct Report {
    workload: &'static str,
    ops: u64,
    unit: &'static str,
    wall_ns: u64,
}

impl Report {
    fn new(workload: &'static str, ops: u64, unit: &'static str, wall: Duration) -> Report {
        Report {
            workload,
            ops,
            unit,
            wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let report = match cli.workload {
        Workload::OpenClose {
            iterations,
            dir,
            rate,
        } => open_close::run(iterations, dir, rate),
        Workload::Exec {
            iterations,
            program,
        } => exec::run(iterations, &program),
        Workload::Net {
            connections,
            messages,
            size,
        } => net::run(connections, messages, size),
        Workload::Compile { builds, cc } => compile::run(builds, &cc),
    };
    match report.and_then(|r| Ok(serde_json::to_string(&r)?)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("saker-workload: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A directory removed when dropped (also on error paths).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create(base: Option<PathBuf>, what: &str) -> anyhow::Result<ScratchDir> {
        let base = base.unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("saker-workload-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
