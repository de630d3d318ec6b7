//! `saker config validate`: check a configuration as `saker run` would, with
//! the same code (`saker::preflight`): every key, the files it names, and the
//! rules it loads.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::ConfigArgs;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate a configuration (with -o overrides), the files it
    /// names and its rules; print the settings that matter, or every error
    /// with its key and location (exit status 2).
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    files: ConfigArgs,
}

pub fn run(cmd: ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Validate(a) => validate(&a),
    }
}

fn validate(a: &ValidateArgs) -> Result<ExitCode> {
    let report = saker::preflight::check(&a.files.inputs(&a.files.options));
    let mut out = std::io::stdout().lock();
    super::print_issues(&mut out, &report, true)?;
    if !report.is_ok() {
        writeln!(
            out,
            "FAILED: {} error(s); `saker run` would not start",
            report.error_count()
        )?;
        return Ok(super::exit_invalid());
    }
    let (Some(cfg), Some(rules)) = (&report.config, &report.rules) else {
        return Ok(super::exit_invalid());
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
    writeln!(
        out,
        "OK: {} rules enabled of {} from {}{}",
        rules.enabled(),
        rules.loaded(),
        if rules.files.is_empty() {
            "no rules files".to_string()
        } else {
            rules.files.join(", ")
        },
        match rules.warnings() {
            0 => String::new(),
            n => format!(" ({n} rule warnings: `saker rules validate` lists them)"),
        }
    )?;
    writeln!(
        out,
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
    )?;
    writeln!(
        out,
        "    ring buffer {} MiB, webserver {}",
        cfg.ring_bytes >> 20,
        if cfg.webserver.enabled {
            cfg.webserver.addr.to_string()
        } else {
            "disabled".to_string()
        }
    )?;
    Ok(ExitCode::SUCCESS)
}
