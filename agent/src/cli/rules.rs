//! `saker rules validate|list`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use saker::rules::{self, LoadOutcome, Severity};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and compile rules; print every diagnostic; exit non-zero on any error.
    Validate(ValidateArgs),
    /// List the compiled rules: name, priority, enabled, event types, tags.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct RulesFiles {
    /// Rules file or directory (its .yaml/.yml files, sorted). Repeatable.
    /// Without it, the embedded default ruleset.
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub files: RulesFiles,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub files: RulesFiles,
    /// Print the rules as JSON.
    #[arg(long)]
    pub json: bool,
}

fn load(files: &RulesFiles) -> LoadOutcome {
    if files.rules.is_empty() {
        rules::load_default()
    } else {
        rules::load_paths(&files.rules)
    }
}

pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::Validate(a) => validate(&a),
        RulesCommand::List(a) => list(&a),
    }
}

fn validate(a: &ValidateArgs) -> Result<ExitCode> {
    let loaded = load(&a.files);
    let mut out = std::io::stdout().lock();
    let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let compiled = loaded.ruleset.rules().len();
    let enabled = loaded.ruleset.rules().iter().filter(|r| r.enabled).count();
    if a.json {
        let v = serde_json::json!({
            "ok": errors == 0,
            "rules_compiled": compiled,
            "rules_enabled": enabled,
            "errors": errors,
            "warnings": warnings,
            "diagnostics": loaded.diagnostics,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        for d in &loaded.diagnostics {
            writeln!(out, "{d}")?;
        }
        writeln!(
            out,
            "{}: {compiled} rules compiled ({enabled} enabled), {errors} errors, {warnings} warnings",
            if errors == 0 { "OK" } else { "FAILED" }
        )?;
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list(a: &ListArgs) -> Result<ExitCode> {
    let loaded = load(&a.files);
    let mut out = std::io::stdout().lock();
    for d in loaded.diagnostics.iter().filter(|d| d.is_error()) {
        eprintln!("{d}");
    }
    let rows: Vec<serde_json::Value> = loaded
        .ruleset
        .rules()
        .iter()
        .map(|r| {
            let types: Vec<&str> = if r.event_types.is_all() {
                vec!["*"]
            } else {
                r.event_types.iter().map(|t| t.name()).collect()
            };
            serde_json::json!({
                "name": &*r.name,
                "priority": r.priority.as_str(),
                "enabled": r.enabled,
                "event_types": types,
                "tags": r.tags.iter().map(|t| t.as_ref()).collect::<Vec<&str>>(),
                "source": &*r.source,
                "location": r.location.to_string(),
            })
        })
        .collect();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        for (r, row) in loaded.ruleset.rules().iter().zip(&rows) {
            let types = row["event_types"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            writeln!(
                out,
                "{}\t{}\t{}\t[{}]\t[{}]",
                r.name,
                r.priority,
                if r.enabled { "enabled" } else { "disabled" },
                types,
                r.tags
                    .iter()
                    .map(|t| t.as_ref())
                    .collect::<Vec<_>>()
                    .join(",")
            )?;
        }
    }
    Ok(if loaded.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
