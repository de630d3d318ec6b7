//! Command-line interface: one module per subcommand.

use clap::{Parser, Subcommand};

pub mod bench_floor;
pub mod capture;
pub mod config;
pub mod fields;
pub mod rules;
pub mod run;

#[derive(Debug, Parser)]
#[command(
    name = "saker",
    version,
    about = "Falco-compatible runtime security sensor"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show syscall and process events live, from the eBPF probe (like sysdig).
    Capture(capture::CaptureArgs),
    /// Detect: evaluate rules against live kernel events (or a recording) and send alerts.
    Run(run::RunArgs),
    /// Validate a configuration file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Validate and inspect Falco rules files.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// List the field catalog.
    Fields(fields::FieldsArgs),
    /// Benchmark floor for `cargo xtask bench`: count sys_enter/sys_exit, nothing else.
    #[command(hide = true)]
    BenchFloor(bench_floor::BenchFloorArgs),
}
