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
    #[arg(
        long,
        value_name = "OBSERVED.jsonl",
        required_unless_present = "duration",
        conflicts_with = "duration"
    )]
    from: Option<PathBuf>,
    /// Observe live instead: run the agent (`saker run`, every rule in
    /// observe mode, with -c/-o/-r) this long (`1h`, `7d`), then suggest.
    #[arg(long, value_name = "DURATION")]
    duration: Option<String>,
    /// With --duration: the configuration and rules to observe with.
    #[command(flatten)]
    files: super::ConfigArgs,
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
    let mut observed_dir = None;
    let from = match (&a.from, &a.duration) {
        (Some(f), _) => f.clone(),
        (None, Some(d)) => {
            let Some(span) = parse_span(d).and_then(|s| u64::try_from(s.whole_seconds()).ok())
            else {
                eprintln!("error: --duration {d:?}: expected a number and d, h, m or s (1h)");
                return Ok(super::exit_invalid());
            };
            let dir = tempfile_dir()?;
            let log = dir.join("observed.jsonl");
            observed_dir = Some(dir);
            if let Some(code) = observe_live(&a.files, &log, std::time::Duration::from_secs(span))?
            {
                return Ok(code);
            }
            log
        }
        (None, None) => unreachable_args()?,
    };
    let read = saker::observe::read_alerts(&from);
    if let Some(dir) = &observed_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let (alerts, skipped) = read?;
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
        "# Suggested by `saker baseline {}`: {} matches, {} behaviours.\n\
         # Review each one (owner, reason, ticket, category), then `saker exceptions check`.\n",
        a.from.as_ref().map_or_else(
            || format!("--duration {}", a.duration.as_deref().unwrap_or("")),
            |f| format!("--from {}", f.display())
        ),
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

fn unreachable_args() -> Result<PathBuf> {
    anyhow::bail!("give --from FILE or --duration D")
}

/// A private folder for the live observe log.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("saker-baseline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Runs `saker run` (this binary) with every rule in observe mode and the
/// observe log at `log` for `span`, then stops it as Ctrl-C does. `Some`:
/// the agent failed, with its exit status.
fn observe_live(
    files: &super::ConfigArgs,
    log: &std::path::Path,
    span: std::time::Duration,
) -> Result<Option<ExitCode>> {
    let exe = std::env::current_exe().context("finding the saker binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("run");
    if let Some(c) = &files.config {
        cmd.arg("-c").arg(c);
    }
    for r in &files.rules {
        cmd.arg("-r").arg(r);
    }
    for o in &files.options {
        cmd.arg("-o").arg(o);
    }
    for e in &files.exceptions {
        cmd.arg("--exceptions").arg(e);
    }
    cmd.args([
        "-o",
        "saker.default_rule_mode=observe",
        "-o",
        "saker.rule_modes=[]",
    ]);
    cmd.arg("-o")
        .arg(format!("saker.observe_log={}", log.display()));
    cmd.stdout(std::process::Stdio::null());
    // The agent never outlives this command: if it dies (SIGKILL, a crash),
    // the kernel stops the agent as SIGTERM does.
    // SAFETY: prctl only, between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Ctrl-C or SIGTERM end the observation early; the suggestions are
    // still written from what was observed.
    STOP_REQUESTED.store(false, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_stop_signal as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_stop_signal as *const () as libc::sighandler_t,
        );
    }
    let mut child = cmd.spawn().context("starting saker run")?;
    eprintln!(
        "observing for {}s (saker run, every rule in observe mode; Ctrl-C ends it early and still writes the suggestions)",
        span.as_secs()
    );
    let stop = || STOP_REQUESTED.load(std::sync::atomic::Ordering::Relaxed);
    let deadline = std::time::Instant::now() + span;
    while std::time::Instant::now() < deadline && !stop() {
        if let Some(st) = child.try_wait()? {
            if stop() {
                break;
            }
            eprintln!(
                "error: saker run ended early ({st}); what it observed is in {}",
                log.display()
            );
            return Ok(Some(ExitCode::FAILURE));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    if stop() {
        eprintln!("stopping early: suggesting from what was observed so far");
    }
    if child.try_wait()?.is_none() {
        let pid = i32::try_from(child.id()).context("pid")?;
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGINT) };
    }
    let st = child.wait()?;
    // A Ctrl-C at the terminal reaches the agent too; it then stops by itself.
    if !st.success() && !stop() {
        eprintln!(
            "error: saker run failed ({st}); what it observed is in {}",
            log.display()
        );
        return Ok(Some(ExitCode::FAILURE));
    }
    Ok(None)
}

/// Set by SIGINT/SIGTERM while `baseline --duration` observes.
static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_REQUESTED.store(true, std::sync::atomic::Ordering::Relaxed);
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
    if alerts.is_empty() && skipped > 0 {
        // A text alert file would give an empty review that looks fine.
        eprintln!(
            "error: {}: no line is a JSON alert; the report reads alerts written with json_output: true",
            a.alerts.display()
        );
        return Ok(super::exit_invalid());
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
