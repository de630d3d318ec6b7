//! Command-line interface: one module per subcommand.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "saker", version, about = "Falco-compatible runtime security sensor")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {}
