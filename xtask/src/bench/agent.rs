//! An agent process under measurement, and what /proc says about it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// How long the agent's set of attached BPF links must stay unchanged
/// before it counts as attached (it attaches its programs in a quick loop).
const READY_STABLE: Duration = Duration::from_millis(300);

/// A running agent. Killed (SIGKILL) if dropped before [`Agent::stop`].
#[derive(Debug)]
pub struct Agent {
    child: Option<Child>,
    log: PathBuf,
    ready_at: Option<Instant>,
}

/// What the agent left behind after a clean stop.
#[derive(Debug)]
pub struct Stopped {
    /// Seconds from attached to the stop request.
    pub attached_secs: f64,
    pub totals: Totals,
}

impl Agent {
    /// Starts `command` with stdout discarded (alerts are not measured here)
    /// and stderr, where agents log and print their totals, in `log`.
    pub fn spawn(command: &[String], log: &Path) -> Result<Agent> {
        let (prog, args) = command.split_first().context("empty agent command")?;
        let err = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {prog}"))?;
        Ok(Agent {
            child: Some(child),
            log: log.to_path_buf(),
            ready_at: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Waits until the agent has attached and can be stopped cleanly: it
    /// holds at least one BPF link, their number has not changed for
    /// [`READY_STABLE`], and it catches SIGINT (an agent that installs its
    /// handler late, e.g. after seeding its state from /proc, would otherwise
    /// die on the stop signal without printing its totals). This works for
    /// any agent that attaches through BPF links (aya, libbpf), without
    /// relying on its log format.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let pid = self.pid();
        let mut last = (0usize, Instant::now());
        loop {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "agent exited before attaching ({status}); its log:\n{}",
                    self.log_tail()
                );
            }
            let links = count_fds(pid, "anon_inode:bpf_link");
            if links != last.0 {
                last = (links, Instant::now());
            } else if links > 0 && last.1.elapsed() >= READY_STABLE && catches_sigint(pid) {
                self.ready_at = Some(Instant::now());
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "agent did not attach within {timeout:?}; its log:\n{}",
                    self.log_tail()
                );
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// SIGINT, as Ctrl-C: agents detach, drain and print their totals.
    pub fn stop(mut self, timeout: Duration) -> Result<Stopped> {
        let attached_secs = self.ready_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let Some(mut child) = self.child.take() else {
            bail!("agent already stopped");
        };
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "agent did not stop within {timeout:?} of SIGINT; its log:\n{}",
                    self.log_tail()
                );
            }
            sleep(Duration::from_millis(10));
        };
        if !status.success() {
            bail!("agent exited with {status}; its log:\n{}", self.log_tail());
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        Ok(Stopped {
            attached_secs,
            totals: parse_totals(&log),
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Events and drops from an agent's exit summary: the last stderr line
/// with "<n> events" and "<n> dropped", as `saker capture`, `saker run` and
/// `saker bench-floor` print it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub events: Option<u64>,
    pub drops: Option<u64>,
}

pub fn parse_totals(log: &str) -> Totals {
    fn number_before(words: &[&str], key: &str) -> Option<u64> {
        let i = words
            .iter()
            .position(|w| w.trim_end_matches([',', ':', ';']) == key)?;
        words.get(i.checked_sub(1)?)?.parse().ok()
    }
    for line in log.lines().rev() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let events = number_before(&words, "events");
        let drops = number_before(&words, "dropped");
        if events.is_some() && drops.is_some() {
            return Totals { events, drops };
        }
    }
    Totals::default()
}

/// Descriptors of `pid` whose link target is `target` (e.g. `anon_inode:bpf_link`).
fn fds_to(pid: u32, target: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|l| l.as_os_str() == std::ffi::OsStr::new(target))
        })
        .map(|e| e.path())
        .collect()
}

fn count_fds(pid: u32, target: &str) -> usize {
    fds_to(pid, target).len()
}

/// The process has a handler for SIGINT (`SigCgt` in /proc/PID/status).
fn catches_sigint(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| parse_sigcgt(&s))
        .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
}

fn parse_sigcgt(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// User + system CPU time of a whole process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).context("unexpected /proc/PID/stat format")
}

/// utime + stime (fields 14 and 15 of proc_pid_stat(5)); the command name
/// before them is in parentheses and may itself contain spaces and ')'.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Peak (VmHWM) and current (VmRSS) resident set size, KiB.
pub fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {key} in /proc/PID/status"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// Run-time statistics of one BPF program the agent holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgramStats {
    pub id: u32,
    pub name: String,
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

/// Every BPF program `pid` holds a descriptor to, with the kernel's run
/// statistics from /proc/PID/fdinfo (counted while kernel.bpf_stats_enabled
/// is 1). Names come from `loaded` ([`loaded_programs`]).
pub fn bpf_programs(pid: u32, loaded: &[LoadedProgram]) -> Vec<ProgramStats> {
    let mut by_id: BTreeMap<u32, ProgramStats> = BTreeMap::new();
    for fd in fds_to(pid, "anon_inode:bpf-prog") {
        let Some(num) = fd.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{num}")) else {
            continue;
        };
        if let Some(p) = parse_fdinfo(&info) {
            by_id.insert(p.id, p);
        }
    }
    for p in by_id.values_mut() {
        if let Some(l) = loaded.iter().find(|l| l.id == p.id) {
            p.name.clone_from(&l.name);
        }
    }
    by_id.into_values().collect()
}

/// A BPF program loaded on the machine, as `bpftool prog show` lists it.
#[derive(Debug, Clone)]
pub struct LoadedProgram {
    pub id: u32,
    pub kind: String,
    pub name: String,
}

impl LoadedProgram {
    /// Program types that run on syscalls or scheduler events, as a tracer's do.
    pub fn is_tracing(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "tracing" | "raw_tracepoint" | "tracepoint" | "kprobe" | "perf_event"
        )
    }
}

fn parse_fdinfo(info: &str) -> Option<ProgramStats> {
    let field = |key: &str| -> Option<u64> {
        info.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(ProgramStats {
        id: u32::try_from(field("prog_id")?).ok()?,
        name: String::new(),
        run_time_ns: field("run_time_ns").unwrap_or(0),
        run_cnt: field("run_cnt").unwrap_or(0),
    })
}

/// Every BPF program loaded on the machine (empty without bpftool).
pub fn loaded_programs() -> Vec<LoadedProgram> {
    let mut out = Vec::new();
    let Ok(o) = Command::new("bpftool")
        .args(["prog", "show", "--json"])
        .stderr(Stdio::null())
        .output()
    else {
        return out;
    };
    let Ok(serde_json::Value::Array(progs)) = serde_json::from_slice(&o.stdout) else {
        return out;
    };
    for p in progs {
        if let Some(id) = p["id"].as_u64().and_then(|id| u32::try_from(id).ok()) {
            out.push(LoadedProgram {
                id,
                kind: p["type"].as_str().unwrap_or_default().to_string(),
                name: p["name"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    out
}

/// Sets kernel.bpf_stats_enabled to 1 for the life of the guard, then
/// restores what it was. Run-time statistics cost every BPF program on the
/// machine two clock reads per run (see `--no-bpf-stats`).
#[derive(Debug)]
pub struct BpfStats {
    previous: String,
}

const BPF_STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    pub fn enable() -> Result<BpfStats> {
        let previous = std::fs::read_to_string(BPF_STATS_SYSCTL)
            .with_context(|| format!("reading {BPF_STATS_SYSCTL}"))?;
        std::fs::write(BPF_STATS_SYSCTL, "1")
            .with_context(|| format!("writing {BPF_STATS_SYSCTL}"))?;
        Ok(BpfStats {
            previous: previous.trim().to_string(),
        })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(BPF_STATS_SYSCTL, &self.previous) {
            eprintln!(
                "xtask bench: could not restore {BPF_STATS_SYSCTL} to {}: {e}",
                self.previous
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_come_from_the_capture_and_floor_summary_lines() {
        let capture = "[2026-11-23T17:42:35.285Z INFO  saker::cli::capture] capturing 57 event types; Ctrl-C to stop\n\
            saker capture: 400677 events, 12 dropped (ring full 12, no scratch 0), 0 read failures, 0 truncated, 0 malformed\n";
        assert_eq!(
            parse_totals(capture),
            Totals {
                events: Some(400677),
                drops: Some(12)
            }
        );
        let floor = "saker bench-floor: 9019 events, 0 dropped (4510 sys_enter, 4509 sys_exit)";
        assert_eq!(
            parse_totals(floor),
            Totals {
                events: Some(9019),
                drops: Some(0)
            }
        );
        assert_eq!(parse_totals("no summary here\n"), Totals::default());
    }

    #[test]
    fn cpu_ticks_survive_a_command_name_with_spaces_and_parens() {
        let stat = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    17 5 0 0 20 0 2 0 300 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(22));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn sigcgt_is_a_hex_mask_of_caught_signals() {
        let status = "Name:\tsaker\nSigIgn:\t0000000000001000\nSigCgt:\t0000000180004002\n";
        let mask = parse_sigcgt(status).unwrap();
        assert_ne!(mask & (1 << (libc::SIGINT - 1)), 0);
        assert_eq!(mask & (1 << (libc::SIGHUP - 1)), 0);
        assert_eq!(parse_sigcgt("Name:\tx\n"), None);
    }

    #[test]
    fn fdinfo_gives_id_and_run_statistics() {
        let info = "pos:\t0\nflags:\t02000002\nprog_type:\t26\nprog_id:\t349\n\
                    run_time_ns:\t123456\nrun_cnt:\t789\nrecursion_misses:\t0\n";
        assert_eq!(
            parse_fdinfo(info),
            Some(ProgramStats {
                id: 349,
                name: String::new(),
                run_time_ns: 123456,
                run_cnt: 789
            })
        );
    }
}
