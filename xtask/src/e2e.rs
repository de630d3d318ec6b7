//! `cargo xtask e2e`: Falco's declarative end-to-end rule tests (the format
//! of falcosecurity/event-generator) against `saker run`. The runner lives in
//! the `saker-e2e` crate (xtask/e2e), shared with tests/e2e.rs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use crate::{build_release, cargo_path, workspace_root};

#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    /// Rules file given to `saker run -r` (repeatable). Default: Falco's
    /// stable rules, falco_rules.yaml in $SAKER_FALCO_RULES, /etc/falco or
    /// ../shared/falco.
    #[arg(short = 'r', long = "rules")]
    rules: Vec<PathBuf>,
    /// Spec files or directories of them. Default: e2e/ beside Falco's rules
    /// ($SAKER_FALCO_RULES, /etc/falco or ../shared/falco).
    paths: Vec<PathBuf>,
    /// Run only the tests whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Spec files run at the same time (the tests of one file run in order).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Seconds to wait for alerts after the last test.
    #[arg(long, default_value_t = 15)]
    wait: u64,
    /// The `saker` binary to test (default: a release build of this tree).
    #[arg(long)]
    saker: Option<PathBuf>,
}

pub fn run(args: &E2eArgs) -> Result<()> {
    crate::setup()?;
    crate::install_test_packages()?;
    let root = workspace_root();
    // Falco's files are looked up only for what the arguments leave out.
    let mut needs = Vec::new();
    if args.rules.is_empty() {
        needs.push(saker_upstream::STABLE);
    }
    if args.paths.is_empty() {
        needs.push(saker_upstream::E2E);
    }
    let upstream = if needs.is_empty() {
        None
    } else {
        Some(saker_upstream::find(&needs)?)
    };
    let rules = match &upstream {
        Some(dir) if args.rules.is_empty() => vec![dir.join(saker_upstream::STABLE)],
        _ => args.rules.clone(),
    };
    let specs = match &upstream {
        Some(dir) if args.paths.is_empty() => vec![dir.join(saker_upstream::E2E)],
        _ => args.paths.clone(),
    };
    let saker = match &args.saker {
        Some(s) => s.clone(),
        None => {
            build_release()?;
            root.join("target/release/saker")
        }
    };
    let executor =
        saker_e2e::runner::build_executor(&root, &cargo_path()).map_err(|e| anyhow!(e))?;
    let opts = saker_e2e::runner::Options {
        specs,
        rules,
        saker,
        executor,
        work_dir: root.join("target/e2e"),
        jobs: args.jobs,
        filter: args.filter.clone(),
        alert_wait: Duration::from_secs(args.wait),
    };
    let report = saker_e2e::runner::run(&opts).map_err(|e| anyhow!(e))?;
    print!("{}", report.text());
    println!("report: {}", opts.work_dir.join("report.json").display());
    if report.failures() > 0 {
        bail!("{} e2e test cases failed", report.failures());
    }
    Ok(())
}
