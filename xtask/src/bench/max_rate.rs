//! `cargo xtask bench --max-rate`: the highest event rate two load
//! generators reach with no event dropped, per agent.
//!
//! Two `saker-workload open-close` processes (one per core of the 2-core
//! machines this runs on) hold a paced rate together for a few seconds while
//! a fresh agent runs; the agent's totals at its stop say how many events it
//! received and how many the kernel dropped. The rate doubles until a step
//! drops events or the generators cannot hold it, and one more step halves
//! the gap between the last clean rate and the first failed one. Saker runs
//! with `saker.kernel_filter=false`: the filter would leave these opens out
//! in the kernel, and this measures what the pipeline can take, not what it
//! can avoid. Falco (when installed) runs as configured.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::agent::Agent;
use super::plan::Config;
use super::{AGENT_ATTACH_TIMEOUT, AGENT_STOP_TIMEOUT, Bins, workload_wall_ns};

/// Load generators run at once.
pub const GENERATORS: u64 = 2;
/// The first rate tried, in open+read+close iterations per second (all
/// generators together; each iteration is two traced events, openat and
/// close).
const FIRST_RATE: u64 = 25_000;
/// The highest rate tried.
const LAST_RATE: u64 = 3_200_000;
/// A step holds its rate this long.
const STEP: Duration = Duration::from_secs(3);
/// A step whose generators reach less than this share of the rate asked
/// shows where the generators, not the agent, stop.
const HELD: f64 = 0.9;

/// One step of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Iterations per second asked of all generators together.
    pub target_ops_per_sec: u64,
    /// Iterations per second they reached (iterations / slowest wall time).
    pub achieved_ops_per_sec: f64,
    /// Events the agent received per second of the step.
    pub events_per_sec: Option<f64>,
    pub drops: Option<u64>,
}

impl Step {
    fn clean(&self) -> bool {
        self.drops == Some(0)
    }

    fn held(&self) -> bool {
        self.achieved_ops_per_sec >= HELD * self.target_ops_per_sec as f64
    }
}

/// The search for one agent configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Search {
    pub config: &'static str,
    pub steps: Vec<Step>,
    /// The clean step with the most events per second.
    pub best: Option<Step>,
    /// Why the search stopped: "drops", "generators" (they could not hold
    /// a rate the agent kept up with) or "limit" (the last rate held).
    pub stopped_by: &'static str,
}

/// The agent command of `config` for this measurement.
fn command(config: &Config) -> Vec<String> {
    let mut cmd = config.command.clone();
    if config.is_saker() {
        cmd.extend(["-o".into(), "saker.kernel_filter=false".into()]);
    }
    cmd
}

/// Runs the generators at `rate` iterations/s under a fresh agent.
fn step(bins: &Bins, config: &Config, rate: u64, logs: &Path) -> Result<Step> {
    let log = logs.join(format!("max-rate-{}-{rate}.log", config.name));
    let mut agent = Agent::spawn(&command(config), &log)?;
    agent.wait_ready(AGENT_ATTACH_TIMEOUT)?;
    sleep(Duration::from_millis(500));
    let each = rate / GENERATORS;
    let iterations = (each as f64 * STEP.as_secs_f64()) as u64;
    let start = Instant::now();
    let children = (0..GENERATORS)
        .map(|_| {
            Command::new(&bins.workload)
                .args([
                    "open-close",
                    "--iterations",
                    &iterations.to_string(),
                    "--rate",
                    &each.to_string(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("starting {}", bins.workload.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut slowest_ns = 0u64;
    for child in children {
        let out = child.wait_with_output()?;
        slowest_ns = slowest_ns.max(workload_wall_ns(&out, &["open-close"])?);
    }
    let window = start.elapsed().as_secs_f64();
    let stopped = agent.stop(AGENT_STOP_TIMEOUT)?;
    let achieved = (iterations * GENERATORS) as f64 / (slowest_ns.max(1) as f64 / 1e9);
    Ok(Step {
        target_ops_per_sec: rate,
        achieved_ops_per_sec: achieved,
        events_per_sec: stopped.totals.events.map(|e| e as f64 / window),
        drops: stopped.totals.drops,
    })
}

/// Doubles the rate until a step drops events or is not held, then tries
/// the middle of the last gap once.
pub fn search(bins: &Bins, config: &Config, logs: &Path) -> Result<Search> {
    let mut steps: Vec<Step> = Vec::new();
    let mut rate = FIRST_RATE;
    let stopped_by = loop {
        let s = step(bins, config, rate, logs)?;
        eprintln!(
            "xtask bench --max-rate: {} at {rate} it/s: reached {:.0} it/s, {} events/s, {} drops",
            config.name,
            s.achieved_ops_per_sec,
            s.events_per_sec.map_or("?".into(), |e| format!("{e:.0}")),
            s.drops.map_or("?".into(), |d| d.to_string()),
        );
        let (clean, held) = (s.clean(), s.held());
        steps.push(s);
        if !clean {
            break "drops";
        }
        if !held {
            break "generators";
        }
        if rate >= LAST_RATE {
            break "limit";
        }
        rate *= 2;
    };
    if stopped_by == "drops" && rate > FIRST_RATE {
        let mid = rate * 3 / 4;
        let s = step(bins, config, mid, logs)?;
        steps.push(s);
    }
    let best = steps
        .iter()
        .filter(|s| s.clean())
        .max_by(|a, b| {
            a.events_per_sec
                .unwrap_or(0.0)
                .total_cmp(&b.events_per_sec.unwrap_or(0.0))
        })
        .cloned();
    Ok(Search {
        config: config.name,
        steps,
        best,
        stopped_by,
    })
}

/// The Markdown table of the searches: one row per agent.
pub fn markdown(searches: &[Search]) -> String {
    let mut out = format!(
        "| agent | highest events/s with 0 drops | at iterations/s ({GENERATORS} generators) | stopped by | first step with drops |\n|---|---:|---:|---|---|\n"
    );
    for s in searches {
        let dropped = s.steps.iter().find(|x| !x.clean()).map_or("–".into(), |x| {
            format!(
                "{} it/s: {} drops",
                x.target_ops_per_sec,
                x.drops.map_or("?".into(), |d| d.to_string())
            )
        });
        let (events, at) = match &s.best {
            Some(b) => (
                b.events_per_sec.map_or("?".into(), |e| format!("{:.0}", e)),
                format!("{:.0}", b.achieved_ops_per_sec),
            ),
            None => ("none clean".into(), "–".into()),
        };
        out.push_str(&format!(
            "| {} | {events} | {at} | {} | {dropped} |\n",
            s.config, s.stopped_by
        ));
    }
    out
}
