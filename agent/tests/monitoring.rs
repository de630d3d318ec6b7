//! The monitoring artefacts (deploy/monitoring, docs/metrics.md) against the
//! agent's metrics, without root: promtool validates and unit-tests the alert
//! rules, the PrometheusRule holds exactly the plain rules, the dashboard and
//! the rules only use exported metrics, the docs describe every metric, and
//! the web server's health endpoints follow startup.
//!
//! tests/metrics.rs (root) checks the same names against a real scrape of a
//! running agent, with a real Prometheus.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure should fail the test, with its context"
)]

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use saker::config::WebserverSettings;
use saker::metrics::{Metrics, exported_names};
use serde_yaml::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn monitoring_dir() -> PathBuf {
    repo().join("deploy/monitoring")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `promtool`, from the Debian `prometheus` package (`cargo xtask test`
/// installs it).
/// Missing, the test is not run, unless SAKER_REQUIRE_BPF=1 (CI), where that
/// is a failure: CI must run the alert unit tests.
fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why = "promtool is not installed (cargo xtask test installs the prometheus package)";
        if std::env::var("SAKER_REQUIRE_BPF").is_ok_and(|v| v == "1") {
            panic!("{why}; SAKER_REQUIRE_BPF=1 makes this a failure");
        }
        eprintln!("not run: {why}");
    }
    found
}

fn run_promtool(promtool: &Path, args: &[String]) -> String {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(monitoring_dir())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn rules_file() -> Value {
    serde_yaml::from_str(&read(&monitoring_dir().join("saker.rules.yml"))).expect("rules YAML")
}

fn alert_names(rules: &Value) -> Vec<String> {
    rules["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").iter())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect()
}

fn unit_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(monitoring_dir().join("tests"))
        .expect("deploy/monitoring/tests")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn promtool_validates_and_unit_tests_every_alert() {
    let Some(promtool) = promtool() else { return };
    let out = run_promtool(
        &promtool,
        &["check".into(), "rules".into(), "saker.rules.yml".into()],
    );
    let rules = rules_file();
    let alerts = alert_names(&rules);
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", alerts.len())),
        "{out}"
    );

    let files = unit_test_files();
    let mut args: Vec<String> = vec!["test".into(), "rules".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    run_promtool(&promtool, &args);

    // Every alert has a unit test in which it fires (a test that only
    // expects silence would pass for a rule that never fires).
    let mut fired: HashSet<String> = HashSet::new();
    for f in &files {
        let doc: Value = serde_yaml::from_str(&read(f)).expect("test YAML");
        for t in doc["tests"].as_sequence().expect("tests") {
            for case in t["alert_rule_test"].as_sequence().into_iter().flatten() {
                let expects_alert = case["exp_alerts"]
                    .as_sequence()
                    .is_some_and(|a| !a.is_empty());
                if expects_alert && let Some(name) = case["alertname"].as_str() {
                    fired.insert(name.to_string());
                }
            }
        }
    }
    let untested: Vec<&String> = alerts.iter().filter(|a| !fired.contains(*a)).collect();
    assert!(
        untested.is_empty(),
        "alerts without a unit test that makes them fire: {untested:?}"
    );
}

#[test]
fn prometheus_rule_manifest_holds_exactly_the_plain_rules() {
    let crd: Value = serde_yaml::from_str(&read(&monitoring_dir().join("prometheusrule.yaml")))
        .expect("PrometheusRule YAML");
    assert_eq!(crd["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(crd["kind"], "PrometheusRule");
    assert!(crd["metadata"]["name"].is_string());
    let plain = rules_file();
    assert!(
        crd["spec"]["groups"] == plain["groups"],
        "deploy/monitoring/prometheusrule.yaml differs from saker.rules.yml: run `cargo xtask monitoring`"
    );
}

/// Tokens that look like metric names: `saker_...`. BPF program names
/// (label values, not metrics) are left out.
fn metric_tokens(text: &str) -> BTreeSet<String> {
    let programs: HashSet<&str> = saker_ebpf::PROGRAMS.iter().map(|(n, _)| *n).collect();
    let re = regex::Regex::new(r"\bsaker_[a-z0-9_]*[a-z0-9]").expect("regex");
    re.find_iter(text)
        .map(|m| m.as_str().to_string())
        .filter(|n| !programs.contains(n.as_str()))
        .collect()
}

#[test]
fn dashboard_and_alert_rules_use_only_exported_metrics() {
    let exported: HashSet<String> = exported_names().into_iter().collect();
    for file in ["grafana-dashboard.json", "saker.rules.yml"] {
        let used = metric_tokens(&read(&monitoring_dir().join(file)));
        assert!(!used.is_empty(), "{file} uses no saker metric");
        let unknown: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics the agent does not export: {unknown:?}"
        );
    }
}

#[test]
fn dashboard_is_a_well_formed_grafana_dashboard() {
    let text = read(&monitoring_dir().join("grafana-dashboard.json"));
    let d: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    assert!(d["uid"].is_string() && d["title"].is_string());
    let vars: HashSet<&str> = d["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for v in ["datasource", "job", "instance"] {
        assert!(vars.contains(v), "variable ${v} is not defined");
    }
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = HashSet::new();
    let mut cells: HashSet<(u64, u64)> = HashSet::new();
    for p in panels {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(ids.insert(p["id"].as_u64().expect("id")), "duplicate id");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().expect("x"),
            g["y"].as_u64().expect("y"),
            g["w"].as_u64().expect("w"),
            g["h"].as_u64().expect("h"),
        );
        assert!(x + w <= 24, "{title}: wider than the grid");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{title} overlaps another panel");
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            assert!(
                expr.contains("saker_"),
                "{title}: {expr} uses no saker metric"
            );
            // Every selector is scoped to the chosen agents.
            assert!(
                expr.matches('{').count() == expr.matches(r#"instance=~"$instance""#).count(),
                "{title}: a selector of {expr} is not filtered by $instance"
            );
        }
    }
}

#[test]
fn docs_describe_every_exported_metric() {
    let doc = read(&repo().join("docs/metrics.md"));
    let exported: Vec<String> = exported_names();
    let missing: Vec<&String> = exported
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(missing.is_empty(), "docs/metrics.md lacks {missing:?}");
    let known: HashSet<&str> = exported.iter().map(String::as_str).collect();
    let histograms: Vec<String> = saker::metrics::HISTOGRAMS
        .iter()
        .map(|h| format!("saker_{h}"))
        .collect();
    let unknown: Vec<String> = metric_tokens(&doc)
        .into_iter()
        .filter(|n| !known.contains(n.as_str()) && !histograms.contains(n))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/metrics.md names metrics the agent does not export: {unknown:?}"
    );
}

/// GET over plain HTTP/1.0: (status, headers, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn readyz_reports_each_startup_step_until_the_ring_is_read() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = Metrics::new();
    let settings = WebserverSettings {
        enabled: true,
        addr: "127.0.0.1:0".parse().expect("addr"),
        healthz_path: "/healthz".into(),
        prometheus_metrics: true,
        tls_pem: None,
    };
    let addr = rt
        .block_on(saker::webserver::start(settings, metrics.clone()))
        .expect("webserver");

    let not_ready = |why: &str| {
        let (status, _, body) = get(addr, "/readyz");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains(why), "{body}");
        // Alive all along: a liveness probe must not restart a starting agent.
        assert_eq!(get(addr, "/healthz").0, 200);
    };
    not_ready("rules not loaded");
    metrics.health.rules_loaded.store(true, Ordering::Relaxed);
    not_ready("probes not attached");
    metrics.health.attached.store(true, Ordering::Relaxed);
    not_ready("ring buffer not read");
    metrics.health.mark_read();
    let (status, _, body) = get(addr, "/readyz");
    assert_eq!(status, 200, "{body}");

    let (status, head, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert_eq!(get(addr, "/nothing-here").0, 404);
}
