//! Developer tasks: `cargo xtask <task>`.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.task {}
}
