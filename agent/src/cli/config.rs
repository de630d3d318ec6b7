//! `saker config validate`: check a configuration file as `saker run` would.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate a configuration (with -o overrides); print the
    /// settings that matter or every error with its key and location.
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Configuration file. Without it, the defaults are validated.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override a key, as for `saker run`. Repeatable.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
}

pub fn run(cmd: ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Validate(a) => validate(&a),
    }
}

fn validate(a: &ValidateArgs) -> Result<ExitCode> {
    let cfg = match saker::config::load(a.config.as_deref(), &a.options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for key in &cfg.ignored_keys {
        println!("warning: {key}: a Falco feature Saker does not implement; ignored");
    }
    let rules = if cfg.rules_files.is_empty() {
        "embedded default rules".to_string()
    } else {
        cfg.rules_files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let outputs: Vec<&str> = [
        cfg.outputs.stdout.as_ref().map(|_| "stdout"),
        cfg.outputs.file.as_ref().map(|_| "file"),
        cfg.outputs.http.as_ref().map(|_| "http"),
        cfg.outputs.program.as_ref().map(|_| "program"),
    ]
    .into_iter()
    .flatten()
    .collect();
    println!("OK: rules: {rules}");
    println!(
        "    outputs: {} ({}), minimum priority {}",
        if outputs.is_empty() {
            "none".to_string()
        } else {
            outputs.join(", ")
        },
        if cfg.outputs.format.json {
            "json"
        } else {
            "text"
        },
        cfg.min_priority
    );
    println!(
        "    ring buffer {} MiB, webserver {}",
        cfg.ring_bytes >> 20,
        if cfg.webserver.enabled {
            cfg.webserver.addr.to_string()
        } else {
            "disabled".to_string()
        }
    );
    Ok(ExitCode::SUCCESS)
}
