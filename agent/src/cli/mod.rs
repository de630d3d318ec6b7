//! Command-line interface: one module per subcommand.

use clap::{Parser, Subcommand};

pub mod bench_floor;
pub mod capture;
pub mod config;
pub mod exceptions;
pub mod fields;
pub mod noise;
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
    /// Exceptions files: check (the CI approval gate), export (Falco syntax), list.
    #[command(subcommand)]
    Exceptions(exceptions::ExceptionsCommand),
    /// Suggest exceptions from observed matches (observe log or Falco JSON alerts).
    Baseline(noise::BaselineArgs),
    /// Noise and audit report of an alert file: per rule, per tag.
    Report(noise::ReportArgs),
    /// List the field catalog.
    Fields(fields::FieldsArgs),
    /// Benchmark floor for `cargo xtask bench`: count sys_enter/sys_exit, nothing else.
    #[command(hide = true)]
    BenchFloor(bench_floor::BenchFloorArgs),
}

/// `-c`, `-o` and `-r`: what `saker run`, `saker config validate` and
/// `saker rules validate|list` read, checked by one path
/// ([`saker::preflight::check`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (Falco's falco.yaml keys; see docs/configuration.md).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Override a configuration key: `-o json_output=true`,
    /// `-o http_output.url=...`; `-o rules_files[]=extra.yaml` adds a rules
    /// file to the list (the default rules stay), `-o rules_files=[a.yaml]`
    /// replaces it. Repeatable.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Rules file or directory (its .yaml/.yml files, sorted); repeatable.
    /// Replaces `rules_files` of the configuration (the embedded default
    /// rules are not loaded).
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub rules: Vec<std::path::PathBuf>,
    /// Exceptions file (see docs/operations.md): its exceptions that have
    /// not expired are compiled into the rules as Falco exceptions.
    /// Repeatable.
    #[arg(long = "exceptions", value_name = "FILE")]
    pub exceptions: Vec<std::path::PathBuf>,
}

impl ConfigArgs {
    pub fn inputs<'a>(&'a self, overrides: &'a [String]) -> saker::preflight::Inputs<'a> {
        saker::preflight::Inputs {
            config: self.config.as_deref(),
            overrides,
            rules: &self.rules,
            exceptions: &self.exceptions,
            now: None,
        }
    }
}

/// Prints the report's configuration errors and warnings (and the rules'
/// errors, with `rule_errors`), one per line, to `out`.
pub fn print_issues(
    out: &mut impl std::io::Write,
    report: &saker::preflight::Report,
    rule_errors: bool,
) -> std::io::Result<()> {
    for e in &report.errors {
        writeln!(out, "{}", e.render("error"))?;
    }
    if rule_errors && let Some(r) = &report.rules {
        for d in r.diagnostics.iter().filter(|d| d.is_error()) {
            writeln!(out, "{d}")?;
        }
    }
    for w in &report.warnings {
        writeln!(out, "{}", w.render("warning"))?;
    }
    Ok(())
}

/// Logs the privileges this process has and checks the mandatory ones
/// before any eBPF is loaded: `Err` with the exit status (1) after naming
/// each missing one and how to get it.
pub fn require_privileges() -> Result<saker::probe::privileges::Privileges, std::process::ExitCode>
{
    let privileges = saker::probe::privileges::Privileges::detect();
    log::info!("privileges: {}", privileges.summary());
    let missing = privileges.missing_mandatory();
    if missing.is_empty() {
        return Ok(privileges);
    }
    for m in &missing {
        eprintln!("error: {}\n    hint: {}", m.message, m.hint);
    }
    Err(std::process::ExitCode::FAILURE)
}

/// The exit status for an invalid configuration or invalid rules.
pub fn exit_invalid() -> std::process::ExitCode {
    std::process::ExitCode::from(saker::preflight::EXIT_INVALID)
}

/// An error and its causes on one line, each cause once: every error's
/// own text already includes its cause (so it reads well in a log line),
/// and a cause whose text is already there is not repeated
/// (`Address already in use (os error 98): Address already in use (os
/// error 98)` was the error, then its source).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("loading the probe: {0}")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("map error: {source}")]
    struct Inner {
        source: std::io::Error,
    }

    #[test]
    fn error_chains_print_each_cause_once() {
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let e = anyhow::Error::new(Outer(Inner { source: io })).context("starting");
        let text = super::error_text(&e);
        assert_eq!(
            text,
            "starting: loading the probe: map error: address in use"
        );
        let plain = anyhow::anyhow!("a").context("b");
        assert_eq!(super::error_text(&plain), "b: a");
    }
}
