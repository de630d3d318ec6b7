//! `saker fields`: the field catalog.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use saker::fields::catalog;

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
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        for f in catalog() {
            writeln!(
                out,
                "{:<42} {:<8} {:<5} {}",
                f.name,
                f.ty.as_str(),
                if f.live { "live" } else { "-" },
                f.description
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
