//! `saker baseline` and `saker report`: suggested exceptions from observed
//! matches, and the weekly noise review of an alert file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Observe log (`saker.observe_log`) or Falco JSON alert file to learn from.
    #[arg(long, value_name = "OBSERVED.jsonl")]
    from: PathBuf,
    /// The exceptions file to write (see `saker exceptions check`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Owner written into every suggested exception (review before merging).
    #[arg(long)]
    owner: Option<String>,
    /// Ticket written into every suggested exception.
    #[arg(long)]
    ticket: Option<String>,
    /// Expiry of suggested temporary exceptions (`30d`, `72h`).
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    temporary_for: String,
}

/// Parses `30d`, `72h`, `15m`, `90s`.
fn parse_span(s: &str) -> Option<time::Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    Some(match unit {
        "d" => time::Duration::days(n),
        "h" => time::Duration::hours(n),
        "m" => time::Duration::minutes(n),
        "s" => time::Duration::seconds(n),
        _ => return None,
    })
}

pub fn baseline(a: &BaselineArgs) -> Result<ExitCode> {
    let Some(span) = parse_span(&a.temporary_for) else {
        eprintln!(
            "error: --temporary-for {:?}: expected a number and d, h, m or s (30d)",
            a.temporary_for
        );
        return Ok(super::exit_invalid());
    };
    let (alerts, skipped) = saker::observe::read_alerts(&a.from)?;
    let file = saker::observe::baseline(
        &alerts,
        &saker::observe::BaselineOptions {
            owner: a.owner.clone(),
            ticket: a.ticket.clone(),
            now: time::OffsetDateTime::now_utc(),
            temporary_for: span,
        },
    );
    let mut text = format!(
        "# Suggested by `saker baseline --from {}`: {} matches, {} behaviours.\n\
         # Review each one (owner, reason, ticket, category), then `saker exceptions check`.\n",
        a.from.display(),
        alerts.len(),
        file.exceptions.len()
    );
    text.push_str(&serde_yaml::to_string(&file)?);
    std::fs::write(&a.out, text).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "{}: {} suggested exceptions from {} matches{}",
        a.out.display(),
        file.exceptions.len(),
        alerts.len(),
        if skipped > 0 {
            format!(" ({skipped} lines that are not JSON alerts skipped)")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Md,
    Json,
    Html,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Falco JSON alerts, one per line (file output with json_output, or the observe log).
    #[arg(long, value_name = "FILE")]
    alerts: PathBuf,
    #[arg(long, value_enum, default_value = "md")]
    format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn report(a: &ReportArgs) -> Result<ExitCode> {
    let (alerts, skipped) = saker::observe::read_alerts(&a.alerts)?;
    if skipped > 0 {
        eprintln!(
            "{}: {skipped} lines that are not JSON alerts skipped (json_output: true writes JSON)",
            a.alerts.display()
        );
    }
    let r = saker::report::build(&alerts);
    let text = match a.format {
        ReportFormat::Md => saker::report::markdown(&r),
        ReportFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
        ReportFormat::Html => saker::report::html(&r),
    };
    match &a.out {
        Some(p) => std::fs::write(p, text)?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
