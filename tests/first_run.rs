//! What a new user meets first, with the real probe (root): the start line,
//! the least-privilege capability set a DaemonSet or the systemd unit uses
//! (the agent runs, warns once per optional feature it lacks, and says so in
//! `saker_feature_enabled`), a port in use named with a hint, and an agent
//! without an enabled rule that is not ready. agent/tests/cli_first_run.rs
//! covers what needs no probe.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// The port of the "webserver listening on ADDR" line.
fn port_of(run: &SakerRun) -> u16 {
    let log = run.stderr();
    log.lines()
        .find_map(|l| l.split("webserver listening on ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no webserver line in:\n{log}"))
}

/// `/readyz` until it answers `status` (the agent needs a moment after
/// attaching to read the ring buffer for the first time).
fn readyz_until(port: u16, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, body) = http_get(port, "/readyz").expect("GET /readyz");
        if s == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz answers {s} {body:?}, not {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `saker run ARGS` as user nobody with only `caps` (setpriv: inheritable
/// and ambient, so they survive the change of user and the exec).
fn run_with_caps(caps: &[&str], args: &[&str]) -> SakerRun {
    let list: String = caps.iter().map(|c| format!(",+{c}")).collect();
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--inh-caps=-all{list}"))
        .arg(format!("--ambient-caps=-all{list}"))
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(saker_bin())
        .args(args);
    SakerRun::start_command(cmd)
}

fn metric_line(port: u16, prefix: &str) -> String {
    let (status, body) = http_get(port, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    body.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in:\n{body}"))
        .to_string()
}

#[test]
fn the_least_privilege_set_runs_and_names_what_it_lacks() {
    if !bpf_available() {
        return;
    }
    let run = run_with_caps(
        &["bpf", "perfmon", "sys_ptrace", "dac_read_search"],
        &["run", "-o", "webserver.listen_port=0", "--json"],
    );
    let port = port_of(&run);
    assert!(readyz_until(port, 200).contains("ready"));
    assert_eq!(
        metric_line(port, "saker_feature_enabled{feature=\"bpf_stats\"}"),
        "saker_feature_enabled{feature=\"bpf_stats\"} 0"
    );
    assert_eq!(
        metric_line(port, "saker_feature_enabled{feature=\"proc_other_users\"}"),
        "saker_feature_enabled{feature=\"proc_other_users\"} 1"
    );
    let status = Command::new("cat")
        .arg("/etc/shadow")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cat");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(500));
    let (stdout, stderr) = run.stop();
    assert!(
        stderr.contains(
            "privileges: uid 65534; capabilities: CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH;"
        ),
        "{stderr}"
    );
    // One warning for the one optional feature it lacks.
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(" WARN ")).collect();
    let stats: Vec<&&str> = warnings
        .iter()
        .filter(|l| {
            l.contains("BPF run-time statistics are off: BPF_ENABLE_STATS needs CAP_SYS_ADMIN")
        })
        .collect();
    assert_eq!(stats.len(), 1, "{stderr}");
    assert!(!stderr.contains("other users' processes"), "{stderr}");
    assert!(!stderr.contains("bpf_enable_stats failed"), "{stderr}");
    let alerts = parse_alerts(&stdout);
    assert!(
        alerts.iter().any(
            |a| a["rule"] == "Sensitive credential file opened for reading"
                && a["output_fields"]["fd.name"] == "/etc/shadow"
        ),
        "{stdout}"
    );
}

#[test]
fn without_ptrace_and_dac_read_search_the_proc_warning_names_them() {
    if !bpf_available() {
        return;
    }
    let run = run_with_caps(
        &["bpf", "perfmon"],
        &[
            "run",
            "-o",
            "webserver.listen_port=0",
            "-o",
            "metrics.libbpf_stats_enabled=false",
        ],
    );
    let port = port_of(&run);
    assert_eq!(
        metric_line(port, "saker_feature_enabled{feature=\"proc_other_users\"}"),
        "saker_feature_enabled{feature=\"proc_other_users\"} 0"
    );
    let (_, stderr) = run.stop();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(" WARN ")).collect();
    assert!(
        warnings.iter().any(|l| l.contains(
            "other users' processes in /proc cannot be read fully without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
        )),
        "{stderr}"
    );
    // Statistics were turned off: nothing to warn about.
    assert!(!stderr.contains("BPF run-time statistics"), "{stderr}");
}

#[test]
fn the_start_line_says_version_rules_outputs_and_how_to_stop() {
    if !bpf_available() {
        return;
    }
    let run = SakerRun::start(&["run", "-o", "webserver.enabled=false"]);
    let (_, stderr) = run.stop();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("saker "))
        .unwrap_or_else(|| panic!("no start line:\n{stderr}"));
    let version = env!("CARGO_PKG_VERSION");
    assert!(line.starts_with(&format!("saker {version}: ")), "{line}");
    assert!(
        line.contains(" rules enabled from <builtin>/saker_rules.yaml; alerts (text) to stdout; Ctrl-C to stop"),
        "{line}"
    );
}

#[test]
fn a_port_in_use_is_named_with_a_hint() {
    if !bpf_available() {
        return;
    }
    let busy = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let out = Command::new(saker_bin())
        .args(["run", "-o", &format!("webserver.listen_port={port}")])
        .args([
            "-o",
            &format!("saker.lock_file={}", unique_lock_file().display()),
        ])
        .output()
        .expect("run saker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "-o webserver.listen_port={port}: error: cannot listen on 0.0.0.0:{port}: Address already in use (os error 98)\n    hint: another process listens on port {port}: is another Saker or Falco agent running on this host?"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "the cause once: {stderr}"
    );
    drop(busy);
}

#[test]
fn an_agent_without_an_enabled_rule_is_not_ready() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "# nothing\n").expect("write");
    let empty = empty.display().to_string();
    let run = SakerRun::start(&["run", "-r", &empty, "-o", "webserver.listen_port=0"]);
    let port = port_of(&run);
    // Attached and reading, yet not ready: it detects nothing.
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = http_get(port, "/readyz").expect("GET /readyz");
    assert_eq!(
        (status, body.as_str()),
        (
            503,
            "not ready: no rules enabled (saker.allow_no_rules: true to run without)\n"
        )
    );
    assert_eq!(
        metric_line(port, "saker_rules{state=\"enabled\"}"),
        "saker_rules{state=\"enabled\"} 0"
    );
    let (_, stderr) = run.stop();
    let warning = stderr
        .lines()
        .find(|l| l.contains("no rules enabled"))
        .unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    assert!(warning.contains(" WARN "), "{warning}");

    // Allowed: ready.
    let run = SakerRun::start(&[
        "run",
        "-r",
        &empty,
        "-o",
        "webserver.listen_port=0",
        "-o",
        "saker.allow_no_rules=true",
    ]);
    let port = port_of(&run);
    assert_eq!(readyz_until(port, 200), "ready\n");
    run.stop();
}
