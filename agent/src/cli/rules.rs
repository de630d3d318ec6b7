//! `saker rules validate|list`: the rules `saker run` would load, through
//! the same code (`saker::preflight`), so a configuration's `rules_files`,
//! priority and `rules:` selection count as they would at start.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::ConfigArgs;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and compile rules; print every diagnostic; exit with status 2 on any error.
    Validate(ValidateArgs),
    /// List the compiled rules: name, priority, enabled, event types, tags.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Without -r, the rules of the configuration (`rules_files`; by default
    /// the embedded default ruleset).
    #[command(flatten)]
    pub files: ConfigArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub files: ConfigArgs,
    /// Print the rules as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::Validate(a) => validate(&a),
        RulesCommand::List(a) => list(&a),
    }
}

fn validate(a: &ValidateArgs) -> Result<ExitCode> {
    let report = saker::preflight::check(&a.files.inputs(&a.files.options));
    let mut out = std::io::stdout().lock();
    let errors = report.error_count();
    let (compiled, enabled, warnings) = report.rules.as_ref().map_or((0, 0, 0), |r| {
        (
            r.loaded(),
            r.enabled(),
            r.warnings() + report.warnings.len(),
        )
    });
    if a.json {
        let diagnostics = report
            .rules
            .as_ref()
            .map(|r| serde_json::to_value(&r.diagnostics))
            .transpose()?
            .unwrap_or_default();
        let issues = |list: &[saker::config::ConfigIssue]| -> Vec<serde_json::Value> {
            list.iter()
                .map(|i| {
                    serde_json::json!({
                        "key": i.key,
                        "location": i.origin.to_string(),
                        "message": i.message,
                        "hint": i.hint,
                    })
                })
                .collect()
        };
        let v = serde_json::json!({
            "ok": report.is_ok(),
            "rules_compiled": compiled,
            "rules_enabled": enabled,
            "errors": errors,
            "warnings": warnings,
            "config_errors": issues(&report.errors),
            "config_warnings": issues(&report.warnings),
            "diagnostics": diagnostics,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        for e in &report.errors {
            writeln!(out, "{}", e.render("error"))?;
        }
        if let Some(r) = &report.rules {
            for d in &r.diagnostics {
                writeln!(out, "{d}")?;
            }
        }
        for w in &report.warnings {
            writeln!(out, "{}", w.render("warning"))?;
        }
        writeln!(
            out,
            "{}: {compiled} rules compiled ({enabled} enabled), {errors} errors, {warnings} warnings",
            if report.is_ok() { "OK" } else { "FAILED" }
        )?;
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        super::exit_invalid()
    })
}

/// `{"opens": "none"|"paths"|"all", "paths": [...]}`: what a rule needs of
/// the open family, which decides the kernel filter.
fn kernel_filter_json(r: &saker::rules::CompiledRule) -> serde_json::Value {
    use saker::rules::pushdown::{PathPattern, RuleOpens, rule_opens};
    let opens = rule_opens(r);
    let paths: Vec<String> = match &opens {
        RuleOpens::Paths(p) => p
            .iter()
            .map(|p| match p {
                PathPattern::Prefix(s) => format!("{s}*"),
                PathPattern::Exact(s) => s.clone(),
                PathPattern::Suffix(s) => format!("*{s}"),
            })
            .collect(),
        _ => Vec::new(),
    };
    serde_json::json!({"opens": opens.as_str(), "paths": paths})
}

fn list(a: &ListArgs) -> Result<ExitCode> {
    let report = saker::preflight::check(&a.files.inputs(&a.files.options));
    let mut err = std::io::stderr().lock();
    super::print_issues(&mut err, &report, true)?;
    let mut out = std::io::stdout().lock();
    let Some(loaded) = &report.rules else {
        return Ok(super::exit_invalid());
    };
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
                "mode": r.mode.as_str(),
                "event_types": types,
                "tags": r.tags.iter().map(|t| t.as_ref()).collect::<Vec<&str>>(),
                "source": &*r.source,
                "location": r.location.to_string(),
                // What the rule needs of opens (docs/rules.md "Kernel filter").
                "kernel_filter": kernel_filter_json(r),
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
                "{}\t{}\t{}\t[{}]\t[{}]\topens:{}",
                r.name,
                r.priority,
                if r.enabled { "enabled" } else { "disabled" },
                types,
                r.tags
                    .iter()
                    .map(|t| t.as_ref())
                    .collect::<Vec<_>>()
                    .join(","),
                row["kernel_filter"]["opens"].as_str().unwrap_or("all")
            )?;
        }
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        super::exit_invalid()
    })
}
