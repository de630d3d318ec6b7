//! `cargo xtask bench`: what Saker costs a node, side by side with nothing
//! attached, with the physical floor of syscall tracing, and with Falco when
//! it is installed.
//!
//! Every round runs every workload under every configuration, in an order
//! rotated from round to round, so that slow drifts of the machine (other
//! jobs, thermal state) hit all configurations alike; slowdowns are ratios
//! paired within a round. The agent is started fresh for each run and
//! stopped with SIGINT afterwards, so its totals (events, drops) are per run.
//! Results go to `target/bench/` as JSON, Markdown and an SVG chart; see
//! docs/benchmarks.md for what each number means.

mod agent;
mod chart;
mod max_rate;
mod plan;
pub(crate) mod report;
mod summary;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use agent::{Agent, BpfStats};
use plan::{Config, Workload};
use report::{Failure, Report, WorkloadRun};
use summary::{AgentSample, Sample};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Small workloads and 4 rounds: under 3 minutes, for routine checks.
    #[arg(long)]
    quick: bool,
    /// Rounds (every configuration runs every workload once per round).
    /// Default: 4 with --quick, 10 otherwise.
    #[arg(long)]
    rounds: Option<u32>,
    /// Comma-separated workloads (default: all): open-close, exec, net, compile.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Comma-separated configurations (default: all available but
    /// saker-capture): none, floor, saker-default, saker-stable,
    /// falco-stable (falco on PATH), saker-capture. `none` is always run:
    /// it is the baseline.
    #[arg(long, value_delimiter = ',')]
    configs: Vec<String>,
    /// Leave kernel.bpf_stats_enabled alone: agents run as deployed (saker
    /// samples statistics itself), BPF ns/run only from those samples, no
    /// BPF ns/event, and no stats overhead on the floor.
    #[arg(long)]
    no_bpf_stats: bool,
    /// Seconds to wait after an agent has attached before the workload starts.
    #[arg(long, default_value_t = 0.5)]
    settle: f64,
    /// Use the binaries already in target/release (no cargo build).
    #[arg(long)]
    no_build: bool,
    /// Instead of the rounds: the highest event rate two load generators
    /// reach with no drop, per agent configuration (written to
    /// target/bench/max-rate.{json,md}).
    #[arg(long)]
    max_rate: bool,
}

/// Set by SIGINT/SIGTERM: stop after the current run and clean up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_interrupts() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

const AGENT_ATTACH_TIMEOUT: Duration = Duration::from_secs(120);
/// A configuration whose agent fails this often is dropped from the run; a
/// single failure (e.g. a stray signal from another user's test, as PIDs
/// wrap quickly under the exec workload) only costs that run.
const MAX_FAILURES: usize = 2;
const AGENT_STOP_TIMEOUT: Duration = Duration::from_secs(60);

struct Bins {
    saker: PathBuf,
    workload: PathBuf,
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn build(root: &Path) -> Result<()> {
    crate::setup()?;
    crate::status(crate::cargo().current_dir(root).args([
        "build",
        "--release",
        "-p",
        "saker",
        "-p",
        "saker-workloads",
    ]))
}

/// Runs the workload (with the agent already attached, if any) and reads
/// its report line.
fn run_workload(bin: &Path, args: &[&str]) -> Result<u64> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    workload_wall_ns(&out, args)
}

/// The wall time (ns) in the report line of a finished `saker-workload
/// ARGS`; an error with its stderr if it failed.
fn workload_wall_ns(out: &std::process::Output, args: &[&str]) -> Result<u64> {
    if !out.status.success() {
        bail!(
            "saker-workload {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("saker-workload {} printed no JSON report", args.join(" ")))?;
    v["wall_ns"]
        .as_u64()
        .context("saker-workload report without wall_ns")
}

struct RunSpec<'a> {
    round: u32,
    workload: &'a Workload,
    config: &'a Config,
    quick: bool,
    settle: Duration,
    logs: &'a Path,
}

fn run_once(bins: &Bins, spec: &RunSpec<'_>) -> Result<Sample> {
    let args = spec.workload.args(spec.quick);
    let mut agent = if spec.config.has_agent() {
        let log = spec.logs.join(format!(
            "r{}-{}-{}.log",
            spec.round + 1,
            spec.workload.name,
            spec.config.name
        ));
        let mut a = Agent::spawn(&spec.config.command, &log)?;
        a.wait_ready(AGENT_ATTACH_TIMEOUT)?;
        sleep(spec.settle);
        Some(a)
    } else {
        None
    };
    let ticks_before = match &agent {
        Some(a) => agent::cpu_ticks(a.pid())?,
        None => 0,
    };
    let start = Instant::now();
    let wall_ns = run_workload(&bins.workload, args)?;
    let window = start.elapsed().as_secs_f64();
    // CPU and memory first: they describe the workload's window. BPF
    // statistics last, just before the stop, as they pair with the totals
    // the agent prints when it stops.
    let usage = match &agent {
        Some(a) => {
            let ticks = agent::cpu_ticks(a.pid())?.saturating_sub(ticks_before);
            Some((ticks, agent::rss_kib(a.pid())?))
        }
        None => None,
    };
    let loaded = agent::loaded_programs();
    let programs = match &agent {
        Some(a) => agent::bpf_programs(a.pid(), &loaded),
        None => Vec::new(),
    };
    let other_tracing_programs = loaded
        .iter()
        .filter(|l| l.is_tracing() && !programs.iter().any(|p| p.id == l.id))
        .count();
    let agent_sample = match (agent.take(), usage) {
        (Some(a), Some((ticks, (peak_rss_kib, end_rss_kib)))) => {
            let stopped = a.stop(AGENT_STOP_TIMEOUT)?;
            Some(AgentSample {
                cpu_percent: ticks as f64 / agent::clock_ticks_per_sec() / window * 100.0,
                peak_rss_kib,
                end_rss_kib,
                attached_secs: stopped.attached_secs,
                totals: stopped.totals,
                programs,
            })
        }
        _ => None,
    };
    Ok(Sample {
        round: spec.round,
        workload: spec.workload.name,
        config: spec.config.name,
        wall_ns,
        other_tracing_programs,
        agent: agent_sample,
    })
}

fn select<'a, T>(
    all: &'a [T],
    wanted: &[String],
    name: impl Fn(&T) -> &str,
    what: &str,
) -> Result<Vec<&'a T>> {
    if wanted.is_empty() {
        return Ok(all.iter().collect());
    }
    for w in wanted {
        if !all.iter().any(|x| name(x) == w) {
            let known: Vec<&str> = all.iter().map(&name).collect();
            bail!("unknown {what} {w:?}; available: {}", known.join(", "));
        }
    }
    Ok(all
        .iter()
        .filter(|x| wanted.iter().any(|w| w == name(x)))
        .collect())
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if !crate::is_root() {
        bail!("cargo xtask bench loads eBPF programs: run it as root");
    }
    let root = crate::workspace_root();
    if !args.no_build {
        build(&root)?;
    }
    let release = target_dir(&root).join("release");
    let bins = Bins {
        saker: release.join("saker"),
        workload: release.join("saker-workload"),
    };
    for b in [&bins.saker, &bins.workload] {
        if !b.exists() {
            bail!("{} is missing (drop --no-build)", b.display());
        }
    }

    let quick = args.quick;
    let rounds = args.rounds.unwrap_or(if quick { 4 } else { 10 }).max(1);
    // saker-stable and falco-stable run Falco's stable rules, which Saker
    // does not ship: without them those two are left out, saying why.
    let stable_rules = match saker_upstream::find(&[saker_upstream::STABLE]) {
        Ok(dir) => Some(dir.join(saker_upstream::STABLE)),
        Err(e) => {
            let wanted = |c: &str| args.configs.iter().any(|w| w == c);
            if wanted("saker-stable") || wanted("falco-stable") {
                bail!("saker-stable and falco-stable run Falco's rules: {e}");
            }
            eprintln!("xtask bench: saker-stable and falco-stable left out: {e}");
            None
        }
    };
    let all_configs = plan::all_configs(
        &bins.saker,
        stable_rules.as_deref(),
        plan::find_on_path("falco"),
    );
    let mut wanted_configs = args.configs.clone();
    if !wanted_configs.is_empty() && !wanted_configs.iter().any(|c| c == "none") {
        wanted_configs.insert(0, "none".into());
    }
    let configs: Vec<Config> = select(&all_configs, &wanted_configs, |c| c.name, "configuration")?
        .into_iter()
        .filter(|c| c.default_on || !wanted_configs.is_empty())
        .cloned()
        .collect();
    let workloads: Vec<Workload> =
        select(plan::WORKLOADS, &args.workloads, |w| w.name, "workload")?
            .into_iter()
            .copied()
            .collect();

    let out_dir = target_dir(&root).join("bench");
    let logs = out_dir.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;

    catch_interrupts();
    if args.max_rate {
        return run_max_rate(&bins, &configs, &out_dir, &logs);
    }
    let started_at = report::utc_now();
    let revision = report::git_revision();
    let machine = report::Machine::probe();
    let load_before = report::load_average();
    let begin = Instant::now();
    let bpf_stats = if args.no_bpf_stats {
        None
    } else {
        Some(BpfStats::enable()?)
    };

    // Warm-up, not recorded: page cache (gcc, the workload binary), CPU
    // frequency, socket tables.
    eprintln!("xtask bench: warm-up");
    for w in &workloads {
        run_workload(&bins.workload, w.args(quick))?;
    }

    let total = u64::from(rounds) * (workloads.len() * configs.len()) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} runs, ~{eta} left  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let settle = Duration::from_secs_f64(args.settle.max(0.0));
    let mut samples = Vec::new();
    let mut failures: Vec<Failure> = Vec::new();
    'rounds: for round in 0..rounds {
        for w in &workloads {
            // Rotate the order of configurations from round to round.
            let n = configs.len();
            for k in 0..n {
                let config = &configs[(k + round as usize) % n];
                if INTERRUPTED.load(Ordering::SeqCst) {
                    break 'rounds;
                }
                bar.set_message(format!(
                    "round {}/{rounds}: {} under {}",
                    round + 1,
                    w.name,
                    config.name
                ));
                let failed = |c: &str| failures.iter().filter(|f| f.config == c).count();
                if failed(config.name) >= MAX_FAILURES {
                    bar.inc(1);
                    continue;
                }
                let spec = RunSpec {
                    round,
                    workload: w,
                    config,
                    quick,
                    settle,
                    logs: &logs,
                };
                match run_once(&bins, &spec) {
                    Ok(s) => {
                        // No terminal (CI logs, redirected output): a line per run instead.
                        if bar.is_hidden() {
                            eprintln!(
                                "[{}/{total}] round {}/{rounds}: {} under {}: {:.1} ms",
                                bar.position() + 1,
                                round + 1,
                                w.name,
                                config.name,
                                s.wall_ns as f64 / 1e6
                            );
                        }
                        samples.push(s);
                    }
                    Err(e) if INTERRUPTED.load(Ordering::SeqCst) => {
                        bar.println(format!("interrupted: {e:#}"));
                        break 'rounds;
                    }
                    Err(e) if config.has_agent() => {
                        let last = failed(config.name) + 1 >= MAX_FAILURES;
                        bar.println(format!(
                            "{} failed{}: {e:#}",
                            config.name,
                            if last {
                                ", dropped from this run"
                            } else {
                                " (run skipped)"
                            }
                        ));
                        failures.push(Failure {
                            config: config.name,
                            workload: w.name,
                            round,
                            error: format!("{e:#}"),
                        });
                    }
                    Err(e) => return Err(e),
                }
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    drop(bpf_stats);
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; no report written");
    }

    let workload_names: Vec<&'static str> = workloads.iter().map(|w| w.name).collect();
    let config_names: Vec<&'static str> = configs.iter().map(|c| c.name).collect();
    let mut summary = summary::summarize(&samples, &workload_names, &config_names);
    if args.no_bpf_stats {
        // Statistics were on only while an agent held them (saker samples
        // one second in ten): run time per run is a fair average, run time
        // per delivered event is not.
        for row in &mut summary {
            row.bpf_ns_per_event = None;
        }
    }
    let report = Report {
        started_at,
        revision,
        mode: if quick { "quick" } else { "full" },
        rounds,
        duration_secs: begin.elapsed().as_secs_f64(),
        machine,
        load_before,
        load_after: report::load_average(),
        bpf_stats: !args.no_bpf_stats,
        targets: report::check_targets(&summary, &configs),
        configs,
        workloads: workloads
            .iter()
            .map(|w| WorkloadRun::new(w, quick))
            .collect(),
        summary,
        failures,
        samples,
    };
    let json = out_dir.join("report.json");
    let md = out_dir.join("report.md");
    let svg = out_dir.join("report.svg");
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    std::fs::write(&md, report::markdown(&report))?;
    chart::write_svg(&svg, &report.summary, &workload_names, &config_names)?;
    println!("{}", report::markdown_table(&report.summary));
    for t in &report.targets {
        println!(
            "target: {} [{}]: {} (met: {})",
            t.target,
            t.config,
            t.measured,
            report::verdict(t).replace("**", "")
        );
    }
    println!(
        "load average {} -> {}; wrote {}, {}, {} ({:.0} s)",
        report.load_before[0],
        report.load_after[0],
        json.display(),
        md.display(),
        svg.display(),
        report.duration_secs
    );
    Ok(())
}

/// `--max-rate`: the search of [`max_rate`] for every agent that delivers
/// events (not the floor).
fn run_max_rate(bins: &Bins, configs: &[Config], out_dir: &Path, logs: &Path) -> Result<()> {
    let revision = report::git_revision();
    let machine = report::Machine::probe();
    let mut searches = Vec::new();
    for c in configs
        .iter()
        .filter(|c| c.has_agent() && c.name != "floor")
    {
        if INTERRUPTED.load(Ordering::SeqCst) {
            bail!("interrupted; no report written");
        }
        searches.push(max_rate::search(bins, c, logs)?);
    }
    let table = max_rate::markdown(&searches);
    let json = out_dir.join("max-rate.json");
    let md = out_dir.join("max-rate.md");
    std::fs::write(
        &json,
        serde_json::to_string_pretty(&serde_json::json!({
            "revision": revision,
            "machine": machine,
            "generators": max_rate::GENERATORS,
            "searches": searches,
        }))?,
    )?;
    std::fs::write(
        &md,
        format!(
            "# Highest event rate with 0 drops\n\nRevision {revision}; {}.\n\n{table}",
            machine.describe()
        ),
    )?;
    println!("{table}");
    println!("wrote {}, {}", json.display(), md.display());
    Ok(())
}
