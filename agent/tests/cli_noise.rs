//! Noise control through the `saker` binary, without root, on replayed
//! recordings: observe mode sends nothing to the outputs and logs the
//! matches; `saker baseline` turns them into exceptions that silence the
//! benign behaviour but not a variation; `saker exceptions check` rejects
//! what the approval process forbids; `saker exceptions export` is Falco
//! syntax that validates and gives the same alerts as `--exceptions`;
//! an exception stops applying at its expiry. The live versions are in
//! tests/noise.rs.

#![expect(
    clippy::expect_used,
    reason = "test helpers: a failure should fail the test, with its context"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use saker::event::decode::build::record;
use saker::recording::{RecordingMeta, RecordingWriter};
use saker_ebpf::abi::{self, EventHeader};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

fn saker(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_saker"))
        .args(args)
        .output()
        .expect("run saker");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

/// A noisy rule: any read under /etc/noise.
const RULES: &str = "- rule: Noisy read
  desc: reads under /etc/noise
  condition: evt.type = openat and fd.name startswith /etc/noise
  output: noisy read (proc=%proc.name file=%fd.name)
  priority: WARNING
  tags: [maturity_sandbox, mitre_discovery, PCI_DSS_10.2.5]
";

fn openat(path: &str, comm: &str, tgid: u32, n: u64) -> Vec<u8> {
    let mut c = [0u8; 16];
    c[..comm.len()].copy_from_slice(comm.as_bytes());
    let h = EventHeader {
        kind: abi::EV_SYSCALL,
        syscall_nr: libc::SYS_openat as i32,
        tgid,
        tid: tgid,
        ppid: 1,
        ts_boot_ns: 1_000 + n,
        ts_wall_ns: 1_700_000_000_000_000_000 + n * 1_000_000,
        comm: c,
        args: [(-100i64) as u64, 0, 0, 0, 0, 0],
        ret: 3,
        ..Default::default()
    };
    record(h, &[path.as_bytes()])
}

fn recording(dir: &Path, name: &str, records: &[Vec<u8>]) -> String {
    let path = dir.join(name);
    let meta = RecordingMeta {
        hostname: "test-host".into(),
        kernel: "6.1.0".into(),
        saker_version: env!("CARGO_PKG_VERSION").into(),
        started_at_ns: 1_700_000_000_000_000_000,
        boot_to_wall_offset_ns: 0,
        event_types: vec!["openat".into()],
    };
    let mut w = RecordingWriter::create(&path, &meta).expect("recording");
    for r in records {
        w.write_event(r).expect("event");
    }
    w.finish(&serde_json::json!({})).expect("finish");
    path.display().to_string()
}

/// The JSON alerts of a `--json` run's stdout: (rule, proc.name, fd.name).
fn alerts(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON alert");
            let f = |k: &str| v["output_fields"][k].as_str().unwrap_or("").to_string();
            (
                v["rule"].as_str().unwrap_or("").to_string(),
                f("proc.name"),
                f("fd.name"),
            )
        })
        .collect()
}

/// The benign workload: `backup` reads /etc/noise/a.conf, again and again.
fn benign(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| openat("/etc/noise/a.conf", "backup", 500 + i as u32, i + 1))
        .collect()
}

#[test]
fn observe_then_baseline_then_alert_silences_the_benign_and_not_a_variation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rules = write(d, "rules.yaml", RULES);
    let rec = recording(d, "benign.sakerrec", &benign(5));
    let observed = d.join("observed.jsonl").display().to_string();

    // Phase 1: observe. Nothing on the outputs; every match in the log.
    let out = saker(&[
        "run",
        "--replay",
        &rec,
        "-r",
        &rules,
        "--json",
        "-o",
        "saker.default_rule_mode=observe",
        "-o",
        &format!("saker.observe_log={observed}"),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(alerts(&out.stdout).is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("0 alerts"), "{}", out.stderr);
    let log = std::fs::read_to_string(&observed).expect("observe log");
    assert_eq!(log.lines().count(), 5, "{log}");
    let first: serde_json::Value =
        serde_json::from_str(log.lines().next().expect("line")).expect("JSON");
    assert_eq!(first["rule"], "Noisy read");
    assert_eq!(first["output_fields"]["proc.name"], "backup");
    assert_eq!(first["output_fields"]["fd.name"], "/etc/noise/a.conf");
    assert!(
        first["output_fields"]
            .get("container.image.repository")
            .is_some()
    );

    // Phase 2: baseline.
    let ex = d.join("exceptions.yaml").display().to_string();
    let out = saker(&[
        "baseline",
        "--from",
        &observed,
        "--out",
        &ex,
        "--owner",
        "team-storage",
        "--ticket",
        "OPS-7",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let text = std::fs::read_to_string(&ex).expect("exceptions");
    assert!(text.contains("count: 5"), "{text}");
    assert!(text.contains("category: temporary"), "{text}");
    let out = saker(&["exceptions", "check", &ex, "-r", &rules]);
    assert_eq!(
        out.code,
        0,
        "a baseline with an owner and a ticket passes: {}",
        out.all()
    );

    // Phase 3: alert mode with the exceptions: the benign reads are silent,
    // another program or another file still alerts.
    let mixed = recording(
        d,
        "mixed.sakerrec",
        &[
            openat("/etc/noise/a.conf", "backup", 600, 1),
            openat("/etc/noise/a.conf", "evil", 601, 2),
            openat("/etc/noise/b.conf", "backup", 602, 3),
        ],
    );
    let out = saker(&[
        "run",
        "--replay",
        &mixed,
        "-r",
        &rules,
        "--json",
        "--exceptions",
        &ex,
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        alerts(&out.stdout),
        [
            (
                "Noisy read".into(),
                "evil".into(),
                "/etc/noise/a.conf".into()
            ),
            (
                "Noisy read".into(),
                "backup".into(),
                "/etc/noise/b.conf".into()
            ),
        ],
        "{}",
        out.all()
    );
    // Without them, all three.
    let out = saker(&["run", "--replay", &mixed, "-r", &rules, "--json"]);
    assert_eq!(alerts(&out.stdout).len(), 3, "{}", out.all());

    // The weekly review of what was observed.
    let out = saker(&["report", "--alerts", &observed]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("| Noisy read | Warning | 5 | 100.0% |"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("| PCI DSS | PCI_DSS_10.2.5 | 5 | Noisy read |"),
        "{}",
        out.stdout
    );
    let out = saker(&["report", "--alerts", &observed, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(v["rules"][0]["count"], 5);
}

/// A valid exception for `Noisy read`; `{}` takes extra keys.
fn exception(extra: &str) -> String {
    format!(
        "exceptions:
  - rule: Noisy read
    name: backup
    fields: [proc.name, fd.name]
    values:
      - [backup, /etc/noise/a.conf]
    category: permanent
    owner: team-storage
    reason: the nightly backup
    ticket: OPS-1
    created: 2025-01-01T00:00:00Z
{extra}"
    )
}

#[test]
fn the_approval_gate_rejects_what_the_process_forbids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rules = write(d, "rules.yaml", RULES);
    let good = write(d, "good.yaml", &exception(""));
    let out = saker(&["exceptions", "check", &good, "-r", &rules]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("OK: 1 exceptions, 0 errors"),
        "{}",
        out.stdout
    );

    let cases = [
        (
            "no-owner.yaml",
            exception("").replace("    owner: team-storage\n", ""),
            "'owner' is missing",
        ),
        (
            "long-emergency.yaml",
            exception("    expires: 2025-01-05T00:00:00Z\n")
                .replace("category: permanent", "category: emergency"),
            "an emergency exception lasts at most 72 h; this one lasts 96 h",
        ),
        (
            "unknown-rule.yaml",
            exception("").replace("rule: Noisy read", "rule: Noisy reads"),
            "rule \"Noisy reads\" is not in the loaded rules",
        ),
        (
            "everything.yaml",
            exception("")
                .replace("[backup, /etc/noise/a.conf]", "[\"*\", \"\"]")
                .replace("    values:", "    comps: [glob, startswith]\n    values:"),
            "matches every event: the exception would silence the whole rule",
        ),
    ];
    for (name, text, why) in cases {
        let f = write(d, name, &text);
        let out = saker(&["exceptions", "check", &f, "-r", &rules]);
        assert_eq!(out.code, 2, "{name}: {}", out.all());
        assert!(out.stdout.contains(why), "{name}: {}", out.stdout);
        assert!(
            out.stdout.contains("FAILED: 1 exceptions, 1 errors"),
            "{name}: {}",
            out.stdout
        );
    }
}

#[test]
fn exported_falco_syntax_validates_and_gives_the_same_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rules = write(d, "rules.yaml", RULES);
    let ex = write(
        d,
        "ex.yaml",
        &format!(
            "{}  - rule: Noisy read
    name: any_b
    fields: [fd.name]
    comps: [endswith]
    values: [[b.conf]]
    category: temporary
    owner: team-x
    reason: migration
    ticket: OPS-2
    created: 2025-01-01T00:00:00Z
    expires: 2999-01-01T00:00:00Z
",
            exception("")
        ),
    );
    let exported = d.join("exported.yaml").display().to_string();
    let out = saker(&["exceptions", "export", &ex, "--out", &exported]);
    assert_eq!(out.code, 0, "{}", out.all());
    let text = std::fs::read_to_string(&exported).expect("export");
    assert!(text.contains("override:\n    exceptions: append"), "{text}");
    let out = saker(&["rules", "validate", "-r", &rules, "-r", &exported]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains("OK: 1 rules compiled (1 enabled), 0 errors, 0 warnings"),
        "{}",
        out.stdout
    );

    let rec = recording(
        d,
        "stream.sakerrec",
        &[
            openat("/etc/noise/a.conf", "backup", 700, 1),
            openat("/etc/noise/a.conf", "evil", 701, 2),
            openat("/etc/noise/b.conf", "evil", 702, 3),
            openat("/etc/noise/c.conf", "backup", 703, 4),
        ],
    );
    let native = saker(&[
        "run",
        "--replay",
        &rec,
        "-r",
        &rules,
        "--json",
        "--exceptions",
        &ex,
    ]);
    let falco = saker(&[
        "run", "--replay", &rec, "-r", &rules, "-r", &exported, "--json",
    ]);
    assert_eq!(native.code, 0, "{}", native.all());
    assert_eq!(falco.code, 0, "{}", falco.all());
    let a = alerts(&native.stdout);
    assert_eq!(
        a,
        [
            (
                "Noisy read".into(),
                "evil".into(),
                "/etc/noise/a.conf".into()
            ),
            (
                "Noisy read".into(),
                "backup".into(),
                "/etc/noise/c.conf".into()
            ),
        ]
    );
    assert_eq!(a, alerts(&falco.stdout));
}

/// The expiry clock is injected: the same engine, kept running, applies
/// a temporary exception before its expiry and not after, once the
/// rules are loaded again at the expiry (what `saker run` does on its tick).
#[test]
fn a_temporary_exception_applies_until_its_expiry_while_running() {
    use saker::exceptions::{Clock, ManualClock, parse_time};
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rules = PathBuf::from(write(d, "rules.yaml", RULES));
    let ex = PathBuf::from(write(
        d,
        "ex.yaml",
        &exception("    expires: 2025-01-10T00:00:00Z\n")
            .replace("category: permanent", "category: temporary"),
    ));
    let clock = ManualClock::new(parse_time("2025-01-09T23:59:59Z").expect("time"));
    let load = |now| {
        let report = saker::preflight::check(&saker::preflight::Inputs {
            rules: std::slice::from_ref(&rules),
            exceptions: std::slice::from_ref(&ex),
            now: Some(now),
            ..saker::preflight::Inputs::default()
        });
        let (_, loaded) = report.into_valid().expect("valid");
        loaded
    };
    let loaded = load(clock.now());
    let state = saker::state::State::detached(saker::state::users::UserDb::from_text("", ""));
    let mut engine = saker::engine::Engine::new(state, loaded.ruleset, Arc::from("node"));
    let mut fired = 0;
    let mut feed = |engine: &mut saker::engine::Engine, n: u64| {
        let raw = openat("/etc/noise/a.conf", "backup", 900 + n as u32, n);
        engine
            .process_record(&raw, &mut |_| fired += 1)
            .expect("decode");
    };
    feed(&mut engine, 1);
    let expired = saker::exceptions::expired_between(
        &loaded.exceptions,
        clock.now(),
        parse_time("2025-01-10T00:00:01Z").expect("time"),
    );
    assert_eq!(expired.len(), 1, "the tick sees it expire");
    clock.set(parse_time("2025-01-10T00:00:01Z").expect("time"));
    engine.rules = load(clock.now()).ruleset;
    feed(&mut engine, 2);
    assert_eq!(fired, 1, "silent before the expiry, alerts after it");
    assert_eq!(engine.stats.events, 2, "the same engine kept its state");
}
