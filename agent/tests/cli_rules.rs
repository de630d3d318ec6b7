//! The `saker rules` and `saker fields` commands as a user runs them.

use std::process::Command;

#[expect(
    clippy::expect_used,
    reason = "a test helper: failing to spawn is a test failure"
)]
fn saker(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_saker"))
        .args(args)
        .output()
        .expect("run saker");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Falco's stable rules file, or `None` (the test is skipped, or fails
/// under CI) when it is not on this machine (`saker_upstream`'s lookup).
fn upstream_stable() -> Option<String> {
    let dir = saker_upstream::for_test(&[saker_upstream::STABLE])?;
    Some(dir.join(saker_upstream::STABLE).display().to_string())
}

#[test]
fn validate_accepts_the_upstream_stable_ruleset() {
    let Some(stable) = upstream_stable() else {
        return;
    };
    let (code, out) = saker(&["rules", "validate", "-r", &stable]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("OK: 25 rules compiled (25 enabled), 0 errors"),
        "{out}"
    );
}

#[test]
fn validate_fails_with_located_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a.yaml");
    let bad = dir.path().join("b.yml");
    std::fs::write(
        &good,
        "- rule: Good\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n",
    )
    .unwrap();
    std::fs::write(
        &bad,
        "- rule: Bad\n  desc: d\n  condition: evt.type = open and fd.nam = x\n  output: o\n  priority: INFO\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "not yaml: [").unwrap();
    let d = dir.path().display().to_string();
    let (code, out) = saker(&["rules", "validate", "-r", &d]);
    assert_eq!(code, 2, "{out}");
    let loc = format!(
        "{}:3:34: error[COMPILE]: unknown field 'fd.nam'",
        bad.display()
    );
    assert!(out.contains(&loc), "{out}");
    assert!(out.contains("in rule 'Bad'"), "{out}");
    assert!(out.contains("1 rules compiled"), "{out}");

    let (code, out) = saker(&["rules", "validate", "--json", "-r", &d]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["diagnostics"][0]["location"]["line"], 3);
    assert_eq!(v["diagnostics"][0]["item"]["name"], "Bad");
}

#[test]
fn list_shows_priority_state_types_and_tags() {
    let Some(stable) = upstream_stable() else {
        return;
    };
    let (code, out) = saker(&["rules", "list", "-r", &stable]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().any(|l| l
            == "PTRACE attached to process\tWarning\tenabled\t[ptrace]\t[T1055.008,container,host,maturity_stable,mitre_privilege_escalation,process]\topens:none"),
        "{out}"
    );
    // What each rule needs of opens: the kernel filter's inputs.
    assert!(
        out.lines()
            .any(|l| l.starts_with("Read sensitive file untrusted\t")
                && l.ends_with("\topens:paths")),
        "{out}"
    );
    let (code, out) = saker(&["rules", "list", "--json", "-r", &stable]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let clear_log = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Clear Log Activities")
        .unwrap();
    assert_eq!(clear_log["kernel_filter"]["opens"], "paths");
    assert!(
        clear_log["kernel_filter"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/var/log/*"),
        "{clear_log}"
    );
}

#[test]
fn default_rules_are_used_without_r() {
    let (code, out) = saker(&["rules", "validate"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 errors, 0 warnings"), "{out}");
}

#[test]
fn fields_lists_the_catalog_as_json() {
    let (code, out) = saker(&["fields", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    let name = rows.iter().find(|r| r["name"] == "proc.name").unwrap();
    assert_eq!(name["type"], "string");
    assert_eq!(name["live"], true, "live capture supplies proc.name");
    let ns = rows.iter().find(|r| r["name"] == "k8s.ns.name").unwrap();
    assert_eq!(
        ns["live"], true,
        "the CRI runtime names the pod's namespace"
    );
    let deploy = rows
        .iter()
        .find(|r| r["name"] == "k8s.deployment.name")
        .unwrap();
    assert_eq!(deploy["live"], false, "deployments need the API server");
    assert!(
        deploy["not_live_reason"]
            .as_str()
            .is_some_and(|r| r.contains("API server")),
        "{deploy}"
    );
    assert!(
        rows.iter()
            .any(|r| r["name"] == "evt.arg" && r["arg"] == "key or index")
    );
}
