//! Command-line interface: one module per subcommand.

use clap::{Parser, Subcommand};

pub mod capture;

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
}
