//! Noise control on the real kernel (issue 16's acceptance): a benign
//! workload fires a noisy rule in observe mode (nothing on the outputs,
//! counted in the metrics, written to the observe log); `saker baseline`
//! turns the log into exceptions; in alert mode with them the benign
//! workload is silent while a different binary, or the same binary on
//! another path, still alerts. And a temporary exception stops applying at
//! its expiry while the agent keeps running, with the INFO alert and the
//! metric.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::*;

/// One agent at a time (they share the node).
static ONE_AGENT: Mutex<()> = Mutex::new(());

fn rules(dir: &Path) -> PathBuf {
    let p = dir.join("rules.yaml");
    std::fs::write(
        &p,
        format!(
            "- rule: Noisy read\n  desc: reads of the noisy folder\n  \
             condition: evt.type in (open, openat) and fd.name startswith {}/noise/\n  \
             output: noisy read (proc=%proc.name exe=%proc.exepath file=%fd.name)\n  \
             priority: WARNING\n  tags: [maturity_sandbox, PCI_DSS_10.2.5]\n",
            dir.display()
        ),
    )
    .expect("rules");
    p
}

/// The workload: copies of cat, so that each has its own executable path.
fn workload(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::create_dir_all(dir.join("noise")).expect("noise");
    for f in ["a.conf", "b.conf"] {
        std::fs::write(dir.join("noise").join(f), "x\n").expect("file");
    }
    let benign = bin.join("backup-agent");
    let evil = bin.join("evil");
    for b in [&benign, &evil] {
        std::fs::copy("/bin/cat", b).expect("copy cat");
    }
    (benign, evil)
}

fn read_with(bin: &Path, file: &Path) {
    let st = Command::new(bin)
        .arg(file)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run workload");
    assert!(st.success());
}

fn port_of(stderr: &str) -> u16 {
    stderr
        .split("webserver listening on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no web server port in:\n{stderr}"))
}

/// The value of the first metric line starting with `prefix`.
fn metric(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Scrapes /metrics until `prefix` reads `want` (snapshots are per second).
fn wait_metric(port: u16, prefix: &str, want: f64) -> String {
    let mut body = String::new();
    // Generous: other live tests may load the machine.
    for _ in 0..300 {
        if let Ok((200, b)) = http_get(port, "/metrics") {
            body = b;
            if metric(&body, prefix) == Some(want) {
                return body;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{prefix} never read {want}:\n{body}");
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn observe_baseline_then_alert_silences_the_benign_workload_only() {
    if !bpf_available() {
        return;
    }
    let _one = ONE_AGENT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = unique_dir();
    let d = dir.path();
    let rules = rules(d);
    let (benign, evil) = workload(d);
    let a = d.join("noise/a.conf");
    let b = d.join("noise/b.conf");
    let observed = d.join("observed.jsonl");

    // Phase 1: observe.
    let run = SakerRun::start(&[
        "run",
        "--json",
        "-r",
        s(&rules),
        "-o",
        "saker.default_rule_mode=observe",
        "-o",
        &format!("saker.observe_log={}", observed.display()),
        "-o",
        "webserver.listen_address=127.0.0.1",
        "-o",
        "webserver.listen_port=0",
    ]);
    for _ in 0..3 {
        read_with(&benign, &a);
    }
    let port = port_of(&run.stderr());
    let body = wait_metric(
        port,
        "saker_rule_matches_total{rule=\"Noisy read\",priority=\"Warning\",source=\"syscall\",mode=\"observe\"}",
        3.0,
    );
    assert!(
        !body.contains("mode=\"alert\"} 1"),
        "nothing in alert mode:\n{body}"
    );
    let (stdout, stderr) = run.stop();
    assert!(
        parse_alerts(&stdout).is_empty(),
        "observe mode sends nothing to the outputs:\n{stdout}\n{stderr}"
    );
    let log = std::fs::read_to_string(&observed).expect("observe log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert_eq!(lines[0]["output_fields"]["proc.exepath"], s(&benign));
    assert_eq!(lines[0]["output_fields"]["fd.name"], s(&a));

    // Phase 2: baseline.
    let ex = d.join("exceptions.yaml");
    let out = Command::new(saker_bin())
        .args([
            "baseline",
            "--from",
            s(&observed),
            "--out",
            s(&ex),
            "--owner",
            "team-storage",
            "--ticket",
            "OPS-16",
        ])
        .output()
        .expect("baseline");
    assert!(out.status.success(), "{out:?}");
    let check = Command::new(saker_bin())
        .args(["exceptions", "check", s(&ex), "-r", s(&rules)])
        .output()
        .expect("check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // Phase 3: alert mode with the exceptions.
    let run = SakerRun::start(&["run", "--json", "-r", s(&rules), "--exceptions", s(&ex)]);
    for _ in 0..3 {
        read_with(&benign, &a);
    }
    read_with(&evil, &a);
    read_with(&benign, &b);
    std::thread::sleep(Duration::from_millis(500));
    let (stdout, stderr) = run.stop();
    let got: Vec<(String, String)> = parse_alerts(&stdout)
        .iter()
        .filter(|v| v["rule"] == "Noisy read")
        .map(|v| {
            (
                v["output_fields"]["proc.exepath"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                v["output_fields"]["fd.name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (s(&evil).to_string(), s(&a).to_string()),
            (s(&benign).to_string(), s(&b).to_string()),
        ],
        "{stdout}\n{stderr}"
    );
}

#[test]
fn a_temporary_exception_stops_applying_at_its_expiry_while_running() {
    if !bpf_available() {
        return;
    }
    let _one = ONE_AGENT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = unique_dir();
    let d = dir.path();
    let rules = rules(d);
    let (benign, _) = workload(d);
    let a = d.join("noise/a.conf");
    // The agent's clock runs a day ahead (--clock-offset, the injectable
    // clock): the exception expires 20 s after the start in its time
    // (room for a slow start on a loaded machine).
    let offset = 86_400i64;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset + 20);
    let expires = expires.replace_nanosecond(0).expect("time");
    let created = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("time");
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let ex = d.join("exceptions.yaml");
    std::fs::write(
        &ex,
        format!(
            "exceptions:\n  - rule: Noisy read\n    name: migration\n    fields: [proc.exepath, fd.name]\n    \
             values: [[{}, {}]]\n    category: temporary\n    owner: team-storage\n    reason: migration window\n    \
             ticket: OPS-17\n    created: {}\n    expires: {}\n",
            benign.display(),
            a.display(),
            rfc(created),
            rfc(expires)
        ),
    )
    .expect("exceptions");
    let run = SakerRun::start(&[
        "run",
        "--json",
        "-r",
        s(&rules),
        "--exceptions",
        s(&ex),
        "--clock-offset",
        &offset.to_string(),
        "-o",
        "webserver.listen_address=127.0.0.1",
        "-o",
        "webserver.listen_port=0",
    ]);
    let port = port_of(&run.stderr());
    read_with(&benign, &a);
    let before_ok = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset) < expires;
    // Past the expiry (agent time), and the tick and reload after it.
    while time::OffsetDateTime::now_utc() + time::Duration::seconds(offset) < expires {
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_metric(
        port,
        "saker_exceptions_expired_total{category=\"temporary\"}",
        1.0,
    );
    for _ in 0..50 {
        if run.stderr().matches("reloaded:").count() >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    read_with(&benign, &a);
    std::thread::sleep(Duration::from_millis(500));
    let (stdout, stderr) = run.stop();
    let alerts = parse_alerts(&stdout);
    let noisy: Vec<_> = alerts
        .iter()
        .filter(|v| v["rule"] == "Noisy read")
        .collect();
    assert!(before_ok, "the first read ran before the expiry");
    assert_eq!(
        noisy.len(),
        1,
        "silent before the expiry, one alert after:\n{stdout}\n{stderr}"
    );
    let info: Vec<_> = alerts
        .iter()
        .filter(|v| v["rule"] == "Saker internal: exception expired")
        .collect();
    assert_eq!(info.len(), 1, "{stdout}");
    assert_eq!(info[0]["priority"], "Informational");
    assert_eq!(info[0]["output_fields"]["exception.name"], "migration");
    assert!(
        stderr.contains(
            "exception \"migration\" of rule \"Noisy read\" (owner team-storage) expired"
        ),
        "{stderr}"
    );
}

/// `saker baseline --duration`: the agent observes live for that long, and
/// the behaviour it saw becomes a suggested exception.
#[test]
fn a_live_baseline_suggests_the_behaviour_it_observed() {
    if !bpf_available() {
        return;
    }
    let _one = ONE_AGENT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = unique_dir();
    let d = dir.path();
    let rules = rules(d);
    let (benign, _) = workload(d);
    let a = d.join("noise/a.conf");
    let ex = d.join("live.yaml");
    let mut child = Command::new(saker_bin())
        .args([
            "baseline",
            "--duration",
            "20s",
            "-r",
            s(&rules),
            "-o",
            "webserver.enabled=false",
            "-o",
            &format!("saker.lock_file={}", unique_lock_file().display()),
            "--out",
            s(&ex),
            "--owner",
            "team-storage",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("baseline");
    // Read twice once the agent watches (its log line), while it observes.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let log = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut text = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("watching") {
                let _ = tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    rx.recv_timeout(Duration::from_secs(18))
        .expect("the agent watches within 18 s");
    read_with(&benign, &a);
    read_with(&benign, &a);
    let status = child.wait().expect("wait");
    let err = log.join().expect("log");
    assert!(status.success(), "{err}");
    let text = std::fs::read_to_string(&ex).expect("suggestions");
    assert!(
        text.contains(s(&benign)) && text.contains(s(&a)),
        "{text}\n{err}"
    );
    assert!(text.contains("count: 2"), "{text}");
}
