//! `saker fields`: the field catalog.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use saker::fields::catalog;
use saker::fields::extract;

/// Why live capture does not supply a field (None when it does).
fn not_live_reason(f: &saker::fields::FieldInfo) -> Option<&'static str> {
    if f.live {
        return None;
    }
    Some(extract::not_live_reason(f.id).unwrap_or("not captured by the probe yet"))
}

#[derive(Debug, Args)]
pub struct FieldsArgs {
    /// Print the catalog as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &FieldsArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if a.json {
        let rows: Vec<serde_json::Value> = catalog()
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "type": f.ty.as_str(),
                    "arg": f.arg.as_str(),
                    "description": f.description,
                    "live": f.live,
                    "not_live_reason": not_live_reason(f),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        for f in catalog() {
            match not_live_reason(f) {
                None => writeln!(
                    out,
                    "{:<42} {:<8} {:<5} {}",
                    f.name,
                    f.ty.as_str(),
                    "live",
                    f.description
                )?,
                Some(why) => writeln!(
                    out,
                    "{:<42} {:<8} {:<5} {} (not live: {why})",
                    f.name,
                    f.ty.as_str(),
                    "-",
                    f.description
                )?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
