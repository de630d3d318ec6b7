//! `saker rules validate|list`.

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
    let out = load(&a.files);
    let errors = out.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = out
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let compiled = out.ruleset.rules().len();
    let enabled = out.ruleset.rules().iter().filter(|r| r.enabled).count();
    if a.json {
        let v = serde_json::json!({
            "ok": errors == 0,
            "rules_compiled": compiled,
            "rules_enabled": enabled,
            "errors": errors,
            "warnings": warnings,
            "diagnostics": out.diagnostics,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for d in &out.diagnostics {
            println!("{d}");
        }
        println!(
            "{}: {compiled} rules compiled ({enabled} enabled), {errors} errors, {warnings} warnings",
            if errors == 0 { "OK" } else { "FAILED" }
        );
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list(a: &ListArgs) -> Result<ExitCode> {
    let out = load(&a.files);
    for d in out.diagnostics.iter().filter(|d| d.is_error()) {
        eprintln!("{d}");
    }
    let rows: Vec<serde_json::Value> = out
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
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for (r, row) in out.ruleset.rules().iter().zip(&rows) {
            let types = row["event_types"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            println!(
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
            );
        }
    }
    Ok(if out.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
