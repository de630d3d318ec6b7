//! Falco's own end-to-end rule tests (event-generator's format, `e2e/` beside
//! Falco's rules, found by `saker_upstream`'s lookup) against `saker run`
//! with Falco's stable rules, through the runner of `cargo xtask e2e`
//! (xtask/e2e). The report is printed as part of the test output.
//!
//! Two canary specs run with the suite and must fail, so that a runner that
//! passes everything cannot go unnoticed: one expects a rule its steps never
//! trigger, one expects an output field value the alert does not carry.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use saker_e2e::runner::{Options, build_executor, run};

const CANARY: &str = r#"
tests:
  - name: canary_rule_not_triggered
    rule: "Read sensitive file untrusted"
    runner: HostRunner
    steps:
      - type: syscall
        name: op
        syscall: openat
        args:
          pathname: /etc/hostname
          flags: O_RDONLY
    expectedOutcome:
      priority: warning
  - name: canary_wrong_field
    rule: "Read sensitive file untrusted"
    runner: HostRunner
    steps:
      - type: syscall
        name: op
        syscall: openat
        args:
          pathname: /etc/shadow
          flags: O_RDONLY
    expectedOutcome:
      priority: warning
      outputFields:
        fd.name: /etc/not-shadow
"#;

#[test]
fn falco_e2e_suite_passes() {
    if !common::bpf_available() {
        return;
    }
    let Some(upstream) = common::falco_rules_dir(&[saker_upstream::STABLE, saker_upstream::E2E])
    else {
        return;
    };
    let suite = upstream.join(saker_upstream::E2E);
    let rules = upstream.join(saker_upstream::STABLE);
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e");
    let canary_dir = work.join("canary");
    std::fs::create_dir_all(&canary_dir).expect("canary dir");
    std::fs::write(canary_dir.join("canary.yaml"), CANARY).expect("canary spec");
    let executor = build_executor(&common::workspace(), PathBuf::from(env!("CARGO")).as_path())
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = Options {
        specs: vec![suite, canary_dir],
        rules: vec![rules],
        saker: common::saker_bin(),
        executor,
        work_dir: work,
        jobs: 4,
        filter: None,
        alert_wait: Duration::from_secs(20),
    };
    let report = run(&opts).unwrap_or_else(|e| panic!("{e}"));
    let text = report.text();
    // Through the stderr handle, not println!: the harness swallows the
    // macros' output of a passing test, and the report is part of the
    // test's output whether it passes or not.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());

    let (canary, suite): (Vec<_>, Vec<_>) = report
        .files
        .iter()
        .partition(|f| f.file.ends_with("canary.yaml"));
    let verdict = |name: &str| {
        canary[0]
            .cases
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c.verdict, c.reason.clone().unwrap_or_default()))
    };
    let (v, why) = verdict("canary_rule_not_triggered").expect("canary case ran");
    assert_eq!(v, "fail", "a rule that did not fire must fail the case");
    assert!(why.contains("no alert of rule"), "{why}");
    let (v, why) = verdict("canary_wrong_field").expect("canary case ran");
    assert_eq!(v, "fail", "a wrong output field must fail the case");
    assert!(why.contains("none with the expected outcome"), "{why}");

    let failed: usize = suite
        .iter()
        .map(|f| {
            f.cases
                .iter()
                .filter(|c| c.verdict == "fail" || c.verdict == "error")
                .count()
                + usize::from(f.error.is_some())
        })
        .sum();
    let passed: usize = suite
        .iter()
        .map(|f| f.cases.iter().filter(|c| c.verdict == "pass").count())
        .sum();
    assert!(passed > 0, "no case passed:\n{text}");
    assert_eq!(failed, 0, "Falco's e2e suite has failing cases:\n{text}");
}
