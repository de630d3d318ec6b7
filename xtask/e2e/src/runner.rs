//! The orchestrator behind `cargo xtask e2e` (and tests/e2e.rs): loads spec
//! files, starts `saker run` with the rules under test and, when a test needs
//! one, a private containerd with a local test image; runs every test through
//! `saker-e2e-exec`; then matches alerts to tests and reports per test case:
//! fired, priority, source, output fields.
//!
//! Matching follows event-generator's tester (`pkg/test/tester/tester/tester.go`):
//! alerts carry `proc.env` (added with `append_output`), the test id in it
//! names the test, only alerts of the test's rule count, and a test passes if
//! at least one of them has the expected source, hostname, priority and
//! output fields. Priorities compare without regard to case.

use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::expand::{self, ExpandedTest};
use crate::spec::ExpectedOutcome;
use crate::{TEST_ENV, TEST_ID_ENV, TEST_ID_IGNORE_PREFIX};

mod containerd;

pub use containerd::Containerd;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Spec files, or directories whose `*.yaml`/`*.yml` files are read.
    pub specs: Vec<PathBuf>,
    /// Rules files given to `saker run -r`.
    pub rules: Vec<PathBuf>,
    /// The `saker` binary.
    pub saker: PathBuf,
    /// The statically linked `saker-e2e-exec` (see [`build_executor`]).
    pub executor: PathBuf,
    /// Where the run keeps its files (alerts, logs, the report, the image).
    pub work_dir: PathBuf,
    /// Spec files run at the same time (tests of one file run in order).
    pub jobs: usize,
    /// Only tests whose name contains this.
    pub filter: Option<String>,
    /// How long to wait for alerts after the last test.
    pub alert_wait: Duration,
}

/// The outcome of one test case.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseReport {
    pub name: String,
    pub rule: Option<String>,
    /// `pass`, `fail`, `error` (the test could not run) or `skip`.
    pub verdict: &'static str,
    /// Why it failed, errored or was skipped.
    pub reason: Option<String>,
    pub id: String,
    pub successful_matches: usize,
    /// Alerts of the rule that differed from the expected outcome: field,
    /// expected, got (`<absent>` when the field was not in the alert).
    pub mismatches: Vec<Vec<(String, String, String)>>,
    /// Other rules that fired for this test.
    pub other_rules: Vec<String>,
    #[serde(skip)]
    expected: Option<ExpectedOutcome>,
}

/// One spec file's results.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    pub file: PathBuf,
    /// The file could not be read or expanded.
    pub error: Option<String>,
    pub cases: Vec<CaseReport>,
}

impl FileReport {
    fn count(&self, verdict: &str) -> usize {
        self.cases.iter().filter(|c| c.verdict == verdict).count()
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub files: Vec<FileReport>,
}

impl Report {
    /// Failed and errored cases plus unreadable files.
    pub fn failures(&self) -> usize {
        self.files
            .iter()
            .map(|f| f.count("fail") + f.count("error") + usize::from(f.error.is_some()))
            .sum()
    }

    pub fn count(&self, verdict: &str) -> usize {
        self.files.iter().map(|f| f.count(verdict)).sum()
    }

    /// The human-readable report: failing cases with their differences, then
    /// one line per file and a total.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            let name = f.file.file_name().map_or_else(
                || f.file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            if let Some(e) = &f.error {
                let _ = writeln!(out, "ERROR {name}: {e}");
                continue;
            }
            for c in f.cases.iter().filter(|c| c.verdict != "pass") {
                let _ = writeln!(
                    out,
                    "{} {name} {}: {}",
                    c.verdict.to_uppercase(),
                    c.name,
                    c.reason.as_deref().unwrap_or("")
                );
                for (i, m) in c.mismatches.iter().take(3).enumerate() {
                    for (field, want, got) in m {
                        let _ = writeln!(
                            out,
                            "    alert {i}: {field}: expected {want:?}, got {got:?}"
                        );
                    }
                }
                if !c.other_rules.is_empty() {
                    let _ = writeln!(out, "    other rules fired: {}", c.other_rules.join(", "));
                }
            }
        }
        let _ = writeln!(out, "\nper file (pass/fail/error/skip of cases):");
        for f in &self.files {
            let _ = writeln!(
                out,
                "  {:<62} {:>4} {:>4} {:>4} {:>4}{}",
                f.file.file_name().map_or_else(
                    || f.file.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                ),
                f.count("pass"),
                f.count("fail"),
                f.count("error"),
                f.count("skip"),
                if f.error.is_some() {
                    "  (file error)"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(
            out,
            "total: {} passed, {} failed, {} errors, {} skipped, {} unreadable files",
            self.count("pass"),
            self.count("fail"),
            self.count("error"),
            self.count("skip"),
            self.files.iter().filter(|f| f.error.is_some()).count()
        );
        out
    }
}

/// Builds `saker-e2e-exec` statically (glibc's static libc; the executor
/// does no NSS lookups) into `<workspace>/target/e2e-exec`, a target dir of
/// its own so that a `cargo test` holding the main one can call this.
/// Returns the binary's path.
pub fn build_executor(workspace: &Path, cargo: &Path) -> Result<PathBuf, String> {
    let host = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or("rustc -vV printed no host triple")?;
    let target_dir = workspace.join("target/e2e-exec");
    let st = Command::new(cargo)
        .current_dir(workspace)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "saker-e2e",
            "--bin",
            "saker-e2e-exec",
            "--target",
            &host,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|e| format!("cargo build saker-e2e-exec: {e}"))?;
    if !st.success() {
        return Err(format!("cargo build saker-e2e-exec: {st}"));
    }
    Ok(target_dir.join(host).join("release/saker-e2e-exec"))
}

/// Spec files named by `paths` (directories: their `*.yaml`/`*.yml`, sorted).
pub fn spec_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(format!("{}: no *.yaml spec files", p.display()));
            }
            out.extend(files);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

/// Quotes plain scalars that are a whole template parameter
/// (`runIf: %{ item.runIf }`): event-generator's YAML library reads them
/// as strings, while YAML itself does not allow `%` to start a plain scalar.
pub fn quote_templates(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let value_at = body.find(": %{").map(|i| i + 2).or_else(|| {
            body.trim_start()
                .starts_with("- %{")
                .then(|| body.find('-').map_or(0, |i| i + 2))
        });
        match value_at {
            Some(at) if expand::template_key(&body[at..]).is_some() => {
                out.push_str(&body[..at]);
                out.push('"');
                out.push_str(body[at..].trim_end());
                out.push('"');
                out.push_str(ending);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Reads and expands one spec file.
pub fn load(file: &Path) -> Result<Vec<ExpandedTest>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let doc: Value =
        serde_yaml::from_str(&quote_templates(&text)).map_err(|e| match e.location() {
            Some(l) => format!("line {}, column {}: {e}", l.line(), l.column()),
            None => e.to_string(),
        })?;
    expand::expand(&doc).map_err(|e| e.to_string())
}

fn new_uuid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| {
            let n = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            format!(
                "{:08x}-0000-4000-8000-{:012x}",
                n as u32,
                (n >> 32) as u64 & 0xffff_ffff_ffff
            )
        })
}

/// A running `saker run`.
struct Agent {
    child: Child,
    alerts: PathBuf,
    log: PathBuf,
}

impl Agent {
    fn start(opts: &Options, containerd: Option<&Containerd>) -> Result<Agent, String> {
        let config = opts.work_dir.join("saker.yaml");
        let mut engines = String::from(
            "container_engines:\n  cri: {enabled: false}\n  docker: {enabled: false}\n  podman: {enabled: false}\n",
        );
        match containerd {
            Some(c) => {
                let _ = writeln!(
                    engines,
                    "  containerd: {{enabled: true, sockets: [{}]}}",
                    c.socket().display()
                );
            }
            None => engines.push_str("  containerd: {enabled: false}\n"),
        }
        // Falco's e2e configuration (falco .github/actions/event-generator-tests):
        // JSON alerts with proc.env appended to Falco's default append_output.
        let yaml = format!(
            "json_output: true\nappend_output:\n  - suggested_output: true\n  - extra_fields: [proc.env]\n{engines}"
        );
        std::fs::write(&config, yaml).map_err(|e| format!("{}: {e}", config.display()))?;
        let alerts = opts.work_dir.join("alerts.jsonl");
        let log = opts.work_dir.join("saker.log");
        let out =
            std::fs::File::create(&alerts).map_err(|e| format!("{}: {e}", alerts.display()))?;
        let err = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(&opts.saker);
        cmd.arg("run").arg("-c").arg(&config);
        for r in &opts.rules {
            cmd.arg("-r").arg(r);
        }
        let child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", opts.saker.display()))?;
        let mut agent = Agent { child, alerts, log };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(&agent.log).unwrap_or_default();
            if text.contains("watching") {
                return Ok(agent);
            }
            if let Ok(Some(st)) = agent.child.try_wait() {
                return Err(format!("saker run exited with {st}:\n{text}"));
            }
            if Instant::now() > deadline {
                agent.stop();
                return Err(format!("saker run did not start within 120 s:\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        stop_child(&mut self.child, libc::SIGINT, Duration::from_secs(20));
    }
}

/// Sends `signal` to `child`, waits up to `grace` for it to exit, then
/// kills it; always reaps it.
pub(crate) fn stop_child(child: &mut Child, signal: i32, grace: Duration) {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// A test that was started (or skipped), waiting for its alerts.
struct Pending {
    file: usize,
    case: CaseReport,
}

/// Runs the suite; the report says what passed. Errors are for what stops
/// the whole run (no spec files, the agent or containerd not starting).
pub fn run(opts: &Options) -> Result<Report, String> {
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| format!("{}: {e}", opts.work_dir.display()))?;
    let files = spec_files(&opts.specs)?;
    let mut reports: Vec<FileReport> = Vec::new();
    let mut loaded: Vec<Vec<ExpandedTest>> = Vec::new();
    for f in &files {
        match load(f) {
            Ok(mut tests) => {
                if let Some(filter) = &opts.filter {
                    tests.retain(|t| t.test.name.contains(filter.as_str()));
                }
                reports.push(FileReport {
                    file: f.clone(),
                    error: None,
                    cases: Vec::new(),
                });
                loaded.push(tests);
            }
            Err(e) => {
                reports.push(FileReport {
                    file: f.clone(),
                    error: Some(e),
                    cases: Vec::new(),
                });
                loaded.push(Vec::new());
            }
        }
    }
    let needs_container = loaded.iter().flatten().any(|t| {
        t.test
            .context
            .as_ref()
            .is_some_and(|c| c.container.is_some())
    });
    let containerd = if needs_container {
        Some(Containerd::start(&opts.work_dir, &opts.executor)?)
    } else {
        None
    };
    let mut agent = Agent::start(opts, containerd.as_ref())?;

    let pending: Mutex<Vec<Pending>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(tests) = loaded.get(i) else { break };
                    for t in tests {
                        let case = run_one(opts, containerd.as_ref(), t);
                        if let Ok(mut p) = pending.lock() {
                            p.push(Pending { file: i, case });
                        }
                    }
                }
            });
        }
    });
    let mut pending = pending.into_inner().map_err(|e| e.to_string())?;

    // Wait for the alerts (the agent evaluates and prints asynchronously).
    let deadline = Instant::now() + opts.alert_wait;
    loop {
        let alerts = read_alerts(&agent.alerts);
        for p in &mut pending {
            score(&mut p.case, &alerts);
        }
        let waiting = pending
            .iter()
            .any(|p| p.case.verdict == "fail" && p.case.successful_matches == 0);
        if !waiting || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    agent.stop();
    let log = std::fs::read_to_string(&agent.log).unwrap_or_default();
    drop(containerd);
    pending.sort_by(|a, b| (a.file, &a.case.name).cmp(&(b.file, &b.case.name)));
    for p in pending {
        reports[p.file].cases.push(p.case);
    }
    let report = Report { files: reports };
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    let _ = std::fs::write(opts.work_dir.join("report.json"), json);
    if log.contains(" ERROR ") || log.contains("panicked") {
        eprintln!("saker run logged errors (see {}):", agent.log.display());
        for l in log
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("panicked"))
            .take(20)
        {
            eprintln!("  {l}");
        }
    }
    Ok(report)
}

/// Starts one test and waits for its process chain to finish.
fn run_one(opts: &Options, containerd: Option<&Containerd>, t: &ExpandedTest) -> CaseReport {
    let test = &t.test;
    let mut case = CaseReport {
        name: test.name.clone(),
        rule: test.rule.clone(),
        verdict: "fail",
        reason: None,
        id: new_uuid(),
        successful_matches: 0,
        mismatches: Vec::new(),
        other_rules: Vec::new(),
        expected: test.expected_outcome.clone(),
    };
    match expand::run_if(test) {
        Ok(None) => {}
        Ok(Some(why)) => {
            case.verdict = "skip";
            case.reason = Some(why);
            return case;
        }
        Err(e) => {
            case.verdict = "error";
            case.reason = Some(e);
            return case;
        }
    }
    if test.rule.is_none() {
        case.verdict = "error";
        case.reason = Some("the test names no rule".into());
        return case;
    }
    let mut test = test.clone();
    let ctx = test.context.get_or_insert_with(Default::default);
    let container = ctx.container.take();
    let leaf = ctx.processes.is_empty();
    let id = if leaf {
        case.id.clone()
    } else {
        format!("{TEST_ID_IGNORE_PREFIX}{}", case.id)
    };
    let desc = match serde_json::to_string(&test) {
        Ok(d) => d,
        Err(e) => {
            case.verdict = "error";
            case.reason = Some(e.to_string());
            return case;
        }
    };
    let result = match (container, containerd) {
        (Some(c), Some(ctd)) => ctd.run_test(&c, &case.id, &id, &desc),
        (Some(_), None) => Err("no container runtime".to_string()),
        (None, _) => {
            let out = Command::new(&opts.executor)
                .env_clear()
                .env(TEST_ID_ENV, &id)
                .env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                )
                .env("HOME", "/root")
                .env(TEST_ENV, &desc)
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => Err(format!(
                    "executor exited with {}: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => Err(format!("{}: {e}", opts.executor.display())),
            }
        }
    };
    if let Err(e) = result {
        case.verdict = "error";
        case.reason = Some(e);
    }
    case
}

/// Alerts printed so far: (test id, alert).
fn read_alerts(path: &Path) -> Vec<(String, Value)> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let key = format!("{TEST_ID_ENV}=");
    std::io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .filter_map(|a| {
            let env = a.get("output_fields")?.get("proc.env")?.as_str()?;
            let at = env.find(&key)? + key.len();
            let rest = &env[at..];
            if rest.starts_with(TEST_ID_IGNORE_PREFIX) {
                return None;
            }
            let id = rest.get(..36)?.to_string();
            Some((id, a))
        })
        .collect()
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        None => "<absent>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => "<NA>".into(),
        Some(other) => other.to_string(),
    }
}

/// Scores one case against the alerts (event-generator's `accountAlert`).
fn score(case: &mut CaseReport, alerts: &[(String, Value)]) {
    if case.verdict != "fail" && case.verdict != "pass" {
        return;
    }
    let mut matches = 0;
    let mut mismatches = Vec::new();
    let mut others = std::collections::BTreeSet::new();
    for (id, a) in alerts.iter().filter(|(id, _)| *id == case.id) {
        let _ = id;
        let rule = a.get("rule").and_then(Value::as_str).unwrap_or_default();
        if Some(rule) != case.rule.as_deref() {
            others.insert(rule.to_string());
            continue;
        }
        let Some(exp) = &case.expected else {
            matches += 1;
            continue;
        };
        let mut diff = Vec::new();
        let mut cmp = |field: &str, want: &str, got: Option<&Value>, fold: bool| {
            let got = text_of(got);
            let same = if fold {
                got.eq_ignore_ascii_case(want)
            } else {
                got == want
            };
            if !same {
                diff.push((field.to_string(), want.to_string(), got));
            }
        };
        if let Some(s) = &exp.source {
            cmp("source", s, a.get("source"), false);
        }
        if let Some(h) = &exp.hostname {
            cmp("hostname", h, a.get("hostname"), false);
        }
        if let Some(p) = &exp.priority {
            cmp("priority", p, a.get("priority"), true);
        }
        let fields = a.get("output_fields");
        for (k, v) in &exp.output_fields {
            cmp(k, v, fields.and_then(|f| f.get(k)), false);
        }
        if diff.is_empty() {
            matches += 1;
        } else {
            mismatches.push(diff);
        }
    }
    case.successful_matches = matches;
    case.other_rules = others.into_iter().collect();
    case.verdict = if matches > 0 { "pass" } else { "fail" };
    case.reason = (matches == 0).then(|| {
        if mismatches.is_empty() {
            format!(
                "no alert of rule {:?}",
                case.rule.as_deref().unwrap_or_default()
            )
        } else {
            format!(
                "{} alert(s) of the rule, none with the expected outcome",
                mismatches.len()
            )
        }
    });
    case.mismatches = mismatches;
}

/// Flushes stdout (the report is printed by the caller).
pub fn flush() {
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_template_scalars_are_quoted() {
        let y = "    runIf: %{ item.runIf }\n    x: \"%{ item.a }\"\n      - %{ item.b }\n    y: a %{ item.c }\n";
        assert_eq!(
            quote_templates(y),
            "    runIf: \"%{ item.runIf }\"\n    x: \"%{ item.a }\"\n      - \"%{ item.b }\"\n    y: a %{ item.c }\n"
        );
    }

    #[test]
    fn scoring_follows_the_tester() {
        let mut case = CaseReport {
            name: "t".into(),
            rule: Some("R".into()),
            verdict: "fail",
            reason: None,
            id: "11111111-2222-4333-8444-555555555555".into(),
            successful_matches: 0,
            mismatches: vec![],
            other_rules: vec![],
            expected: Some(ExpectedOutcome {
                priority: Some("warning".into()),
                output_fields: [("fd.name".to_string(), "/etc/shadow".to_string())].into(),
                ..Default::default()
            }),
        };
        let alert = |rule: &str, prio: &str, name: &str| {
            (
                case_id(),
                serde_json::json!({"rule": rule, "priority": prio, "output_fields": {"fd.name": name}}),
            )
        };
        fn case_id() -> String {
            "11111111-2222-4333-8444-555555555555".into()
        }
        score(
            &mut case,
            &[
                alert("R", "Warning", "/etc/passwd"),
                alert("Other", "Warning", "/etc/shadow"),
            ],
        );
        assert_eq!(case.verdict, "fail");
        assert_eq!(
            case.mismatches[0][0],
            ("fd.name".into(), "/etc/shadow".into(), "/etc/passwd".into())
        );
        assert_eq!(case.other_rules, ["Other"]);
        score(&mut case, &[alert("R", "Warning", "/etc/shadow")]);
        assert_eq!(case.verdict, "pass", "priority compares without case");
    }
}
