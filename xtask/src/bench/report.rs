//! The bench report: the machine and its load, the plan, every sample, the
//! summary and where it stands against the targets; as JSON and Markdown.

use std::fmt::Write as _;
use std::process::Command;

use serde::Serialize;

use super::plan::{Config, SAKER_LAUNCH, SakerLaunch, Workload};
use super::summary::{Sample, Spread, Summary};

/// The machine a run was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    pub memory_gib: f64,
}

impl Machine {
    /// "CPU model, N cores, M GiB, Linux version".
    pub fn describe(&self) -> String {
        format!(
            "{}, {} cores, {:.1} GiB, Linux {}",
            self.cpu_model, self.cores, self.memory_gib, self.kernel
        )
    }

    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or_else(|| "unknown".into(), |(_, v)| v.trim().to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            memory_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        }
    }
}

/// 1, 5 and 15 minute load averages.
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

fn command_line(prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .current_dir(crate::workspace_root())
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn utc_now() -> String {
    command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
}

/// `git describe`-like identification of what was measured.
pub fn git_revision() -> String {
    let rev = command_line("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty { format!("{rev}-dirty") } else { rev }
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadRun {
    pub name: &'static str,
    pub description: &'static str,
    pub args: Vec<&'static str>,
}

impl WorkloadRun {
    pub fn new(w: &Workload, quick: bool) -> WorkloadRun {
        WorkloadRun {
            name: w.name,
            description: w.description,
            args: w.args(quick).to_vec(),
        }
    }
}

/// One target (issues 7 and 17) and where this run stands.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub config: &'static str,
    pub measured: String,
    /// None: not measurable in this run.
    pub met: Option<bool>,
    /// The threshold lies between the quartiles over rounds: the verdict is
    /// within this run's noise.
    pub within_noise: bool,
}

/// A run that failed (its agent did not start, attach or stop cleanly).
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub config: &'static str,
    pub workload: &'static str,
    pub round: u32,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: String,
    pub revision: String,
    pub mode: &'static str,
    pub rounds: u32,
    pub duration_secs: f64,
    pub machine: Machine,
    pub load_before: [f64; 3],
    pub load_after: [f64; 3],
    pub bpf_stats: bool,
    pub configs: Vec<Config>,
    pub workloads: Vec<WorkloadRun>,
    pub summary: Vec<Summary>,
    pub targets: Vec<TargetCheck>,
    pub failures: Vec<Failure>,
    pub samples: Vec<Sample>,
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", (x - 1.0) * 100.0)
}

/// Overhead relative to the floor's that issue 17 sets, per workload: the
/// open family under Falco's stable and the default rules, net and exec
/// under the stable rules.
const FLOOR_RATIO_TARGETS: &[(&str, &str, f64)] = &[
    ("open-close", "saker-stable", 1.3),
    ("open-close", "saker-default", 1.3),
    ("net", "saker-stable", 1.5),
    ("exec", "saker-stable", 1.5),
];

/// Peak RSS target of issue 17, every workload.
const PEAK_RSS_TARGET_MIB: f64 = 40.0;

/// The targets of issues 7 and 17, checked against a summary (reported,
/// never asserted).
pub fn check_targets(summary: &[Summary], configs: &[Config]) -> Vec<TargetCheck> {
    let row = |w: &str, c: &str| summary.iter().find(|r| r.workload == w && r.config == c);
    let mut out = Vec::new();
    for c in configs.iter().filter(|c| c.is_saker()) {
        for &(workload, _, limit) in FLOOR_RATIO_TARGETS.iter().filter(|t| t.1 == c.name) {
            let Some(r) = row(workload, c.name) else {
                continue;
            };
            let range = r.overhead_vs_floor_range;
            out.push(TargetCheck {
                target: format!("{workload}: overhead <= {limit}x the floor's"),
                config: c.name,
                measured: r.overhead_vs_floor.map_or("n/a".into(), |x| match range {
                    Some((lo, hi)) => format!("{x:.2}x (within IQRs {lo:.2}x … {hi:.2}x)"),
                    None => format!("{x:.2}x"),
                }),
                met: r.overhead_vs_floor.map(|x| x <= limit),
                within_noise: range.is_some_and(|(lo, hi)| lo <= limit && limit <= hi),
            });
        }
        let r = row("compile", c.name).and_then(|r| r.slowdown);
        out.push(TargetCheck {
            target: "compile (mixed job): slowdown < 3%".into(),
            config: c.name,
            measured: r.map_or("n/a".into(), |s| {
                format!("{} (IQR {} … {})", pct(s.median), pct(s.p25), pct(s.p75))
            }),
            met: r.map(|s| s.median < 1.03),
            within_noise: r.is_some_and(|s| s.straddles(1.03)),
        });
        let rows: Vec<&Summary> = summary.iter().filter(|r| r.config == c.name).collect();
        let drops: Option<u64> = rows.iter().map(|r| r.drops).sum();
        out.push(TargetCheck {
            target: "0 drops in every workload (default ring size)".into(),
            config: c.name,
            measured: drops.map_or("n/a".into(), |d| d.to_string()),
            met: drops.map(|d| d == 0),
            within_noise: false,
        });
        let rss = rows.iter().filter_map(|r| r.peak_rss_mib).reduce(f64::max);
        out.push(TargetCheck {
            target: format!("agent peak RSS <= {PEAK_RSS_TARGET_MIB} MiB in every workload"),
            config: c.name,
            measured: rss.map_or("n/a".into(), |m| format!("{m:.1} MiB")),
            met: rss.map(|m| m <= PEAK_RSS_TARGET_MIB),
            within_noise: false,
        });
    }
    out
}

/// "yes", "**no**", "n/a", qualified when the verdict is within the noise.
pub fn verdict(t: &TargetCheck) -> String {
    let v = match t.met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => return "n/a".into(),
    };
    if t.within_noise {
        format!("{v} (within noise)")
    } else {
        v.into()
    }
}

fn spread_pct(s: Option<Spread>) -> String {
    s.map_or("–".into(), |s| {
        format!("{} ({} … {})", pct(s.median), pct(s.p25), pct(s.p75))
    })
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.decimals$}"))
}

fn rate(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| {
        if v >= 1e6 {
            format!("{:.2}M", v / 1e6)
        } else if v >= 1e3 {
            format!("{:.1}k", v / 1e3)
        } else {
            format!("{v:.0}")
        }
    })
}

fn load(l: [f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
}

/// The results table alone (also printed at the end of a run).
pub fn markdown_table(summary: &[Summary]) -> String {
    let mut s = String::new();
    s.push_str(
        "| workload | config | wall ms (median) | slowdown vs none: median (IQR) | overhead / floor's | agent CPU % | RSS MiB: peak (end) | BPF ns/run | BPF ns/event | events/s | drops |\n\
         |---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in summary {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.config,
            num(r.wall_ms.map(|w| w.median), 1),
            if r.config == "none" {
                "(baseline)".into()
            } else {
                spread_pct(r.slowdown)
            },
            r.overhead_vs_floor
                .map_or("–".into(), |x| format!("{x:.2}x")),
            num(r.agent_cpu_percent.map(|c| c.median), 1),
            match (r.peak_rss_mib, r.end_rss_mib) {
                (Some(p), Some(e)) => format!("{p:.1} ({e:.1})"),
                _ => "–".into(),
            },
            num(r.bpf_ns_per_run.map(|c| c.median), 0),
            num(r.bpf_ns_per_event.map(|c| c.median), 0),
            rate(r.events_per_sec.map(|c| c.median)),
            r.drops.map_or("–".into(), |d| d.to_string()),
        );
    }
    s
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Saker overhead benchmark ({} run)\n", r.mode);
    let _ = writeln!(
        s,
        "- When: {} (revision {}), {} rounds, {:.0} s",
        r.started_at, r.revision, r.rounds, r.duration_secs
    );
    let _ = writeln!(s, "- Machine: {}", r.machine.describe());
    let _ = writeln!(
        s,
        "- Load average (1/5/15 min): {} before, {} after",
        load(r.load_before),
        load(r.load_after)
    );
    let _ = writeln!(
        s,
        "- BPF run-time statistics (kernel.bpf_stats_enabled): {}",
        if r.bpf_stats {
            "on for the whole run (costs every program two clock reads per run)"
        } else {
            "left alone (--no-bpf-stats): BPF ns/run only from the seconds an agent \
             turned statistics on itself (saker: one in `saker.bpf_stats_every`), no ns/event"
        }
    );
    let others = r.samples.iter().map(|x| x.other_tracing_programs);
    if let (Some(lo), Some(hi)) = (others.clone().min(), others.max()) {
        let _ = writeln!(
            s,
            "- Other tracing BPF programs loaded on the machine during the runs (other users' tracers and tests; they slow every configuration, the baseline included): {lo} to {hi}"
        );
    }
    if matches!(SAKER_LAUNCH, SakerLaunch::CaptureStandIn) {
        s.push_str(
            "- **saker-\\* ran `saker capture -q`, a stand-in for `saker run`**: kernel capture and decoding with the default event set, no state, no rules; saker-default and saker-stable are the same program.\n",
        );
    }
    s.push_str("\nConfigurations:\n\n");
    for c in &r.configs {
        let _ = writeln!(
            s,
            "- `{}`: {}{}",
            c.name,
            c.description,
            if c.command.is_empty() {
                String::new()
            } else {
                format!(" — `{}`", c.display_command())
            }
        );
    }
    s.push_str("\nWorkloads (`saker-workload ...`):\n\n");
    for w in &r.workloads {
        let _ = writeln!(
            s,
            "- `{}`: {} — `{}`",
            w.name,
            w.description,
            w.args.join(" ")
        );
    }
    s.push_str("\n## Results\n\n");
    s.push_str(&markdown_table(&r.summary));
    s.push_str(
        "\n## Targets (issues 7 and 17)\n\nVerdicts use medians; \"within noise\" means the threshold lies inside the interquartile range over rounds (for the floor target: inside the range the ratio takes within the two slowdowns' IQRs).\n\n| target | config | measured | met |\n|---|---|---:|---|\n",
    );
    for t in &r.targets {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            t.target,
            t.config,
            t.measured,
            verdict(t)
        );
    }
    if !r.failures.is_empty() {
        s.push_str("\n## Failed runs\n\nA configuration is dropped from the run after its second failure.\n\n");
        for f in &r.failures {
            let _ = writeln!(
                s,
                "- `{}` (round {}, {}): {}",
                f.config,
                f.round + 1,
                f.workload,
                f.error.lines().next().unwrap_or("")
            );
        }
    }
    s
}
