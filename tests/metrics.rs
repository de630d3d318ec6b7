//! Metrics end to end: a real `saker run` with the Falco stable rules,
//! scraped by a real Prometheus (Debian `prometheus` package) loaded with
//! deploy/monitoring's alert rules. A workload raises alerts and events; the
//! test then asks Prometheus' HTTP API what it stored.
//!
//! Prometheus missing is treated like BPF missing: not run, unless
//! SAKER_REQUIRE_BPF=1 (CI), where it is a failure.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Upper bound on every wait for the agent or Prometheus to catch up.
const PATIENCE: Duration = Duration::from_secs(120);

fn monitoring_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring")
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why =
            format!("{name} is not installed (cargo xtask test installs the prometheus package)");
        if std::env::var("SAKER_REQUIRE_BPF").is_ok_and(|v| v == "1") {
            panic!("{why}; SAKER_REQUIRE_BPF=1 makes this a failure");
        }
        eprintln!("not run: {why}");
    }
    found
}

/// Polls `f` until it gives a value; panics with `what` after PATIENCE.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A `saker run` on a loopback port chosen by the kernel, its stdout (the
/// alerts) and stderr collected as they come.
struct Agent {
    child: Option<Child>,
    port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Agent {
    /// Starts the agent and returns once /readyz answers 200.
    fn start(extra: &[&str]) -> Agent {
        let mut args = vec![
            "run",
            "--json",
            "-o",
            "webserver.listen_address=127.0.0.1",
            "-o",
            "webserver.listen_port=0",
        ];
        args.extend_from_slice(extra);
        // A lock of its own (saker.lock_file): the tests of this file run
        // agents at the same time.
        let lock = format!("saker.lock_file={}", unique_lock_file().display());
        args.extend_from_slice(&["-o", &lock]);
        let mut child = Command::new(saker_bin())
            .args(&args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn saker");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel::<u16>();
        let out = child.stdout.take().expect("stdout");
        let lines = stdout.clone();
        let t_out = std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let err = child.stderr.take().expect("stderr");
        let log = stderr.clone();
        let t_err = std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                // "webserver listening on 127.0.0.1:PORT (...)"
                if let Some(rest) = line.split("webserver listening on 127.0.0.1:").nth(1)
                    && let Some(port) = rest.split_whitespace().next()
                    && let Ok(port) = port.parse()
                {
                    let _ = port_tx.send(port);
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut agent = Agent {
            child: Some(child),
            port: 0,
            stdout,
            stderr,
            readers: vec![t_out, t_err],
        };
        agent.port = port_rx
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("saker did not start its web server:\n{}", agent.log()));
        wait_for("/readyz to answer 200", || {
            if let Some(c) = agent.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("saker exited with {st}:\n{}", agent.log());
            }
            matches!(http_get(agent.port, "/readyz"), Ok((200, _))).then_some(())
        });
        agent
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The alerts printed so far.
    fn alerts(&self) -> Vec<Value> {
        parse_alerts(&self.stdout.lock().unwrap().join("\n"))
    }

    fn scrape(&self) -> String {
        let (status, body) = http_get(self.port, "/metrics").expect("scrape /metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// SIGINT; waits for a clean exit.
    fn stop(mut self) {
        let mut child = self.child.take().expect("child");
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let st = child.wait().expect("wait saker");
        for t in self.readers.drain(..) {
            let _ = t.join();
        }
        assert!(st.success(), "saker failed: {st}\n{}", self.log());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Prometheus on a free loopback port with its own data directory,
/// scraping the agent every second as job `saker`, with Saker's alert rules.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(binary: &Path, agent_port: u16) -> Prometheus {
        let dir = unique_dir();
        let rules = monitoring_dir().join("saker.rules.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: saker\n    static_configs:\n      - targets: ['127.0.0.1:{agent_port}']\n",
            rules.display()
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        // A free port: bind, read it, release. Prometheus takes it right away.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let mut p = Prometheus {
            child,
            port,
            _dir: dir,
        };
        wait_for("Prometheus to be ready", || {
            if let Ok(Some(st)) = p.child.try_wait() {
                panic!("prometheus exited with {st}:\n{}", p.log());
            }
            matches!(http_get(p.port, "/-/ready"), Ok((200, _))).then_some(())
        });
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    fn api(&self, path: &str) -> Value {
        let (status, body) = http_get(self.port, path).expect("Prometheus API");
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        assert!(
            status == 200 && v["status"] == "success",
            "{path}: {status} {body}"
        );
        v["data"].clone()
    }

    /// An instant query: (labels, value) per series.
    fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let data = self.api(&format!("/api/v1/query?query={}", url_encode(expr)));
        assert_eq!(data["resultType"], "vector", "{expr}: {data}");
        data["result"]
            .as_array()
            .expect("result")
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .expect("metric")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect();
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .expect("sample value");
                (labels, value)
            })
            .collect()
    }

    /// The one value of `expr`, or None while it has no data.
    fn value(&self, expr: &str) -> Option<f64> {
        let r = self.query(expr);
        assert!(r.len() <= 1, "{expr} has several series: {r:?}");
        r.first().map(|(_, v)| *v)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run_quiet(cmd: &mut Command) {
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?} failed");
}

/// Rule alerts (not the agent's internal ones, such as drop notices) by rule.
fn alerts_by_rule(alerts: &[Value]) -> BTreeMap<String, f64> {
    let mut by_rule = BTreeMap::new();
    for a in alerts.iter().filter(|a| a["source"] != "internal") {
        *by_rule
            .entry(a["rule"].as_str().unwrap_or("").to_string())
            .or_insert(0.0) += 1.0;
    }
    by_rule
}

const SHADOW_READS: usize = 5;
const OPENS: u64 = 20_000;

#[test]
fn prometheus_scrapes_the_agent_and_sees_the_workload() {
    if !bpf_available() {
        return;
    }
    let Some(prometheus) = find_tool("prometheus") else {
        return;
    };
    let Some(rules) = falco_stable_rules() else {
        return;
    };
    let agent = Agent::start(&["-r", rules.to_str().unwrap()]);
    let prom = Prometheus::start(&prometheus, agent.port);
    let job = r#"{job="saker"}"#;

    wait_for("the first scrape", || {
        (prom.value(&format!("up{job}")) == Some(1.0)
            && prom
                .value(&format!("sum(saker_events_total{job})"))
                .is_some())
        .then_some(())
    });
    let events_of = |t: &str| {
        prom.value(&format!(
            r#"sum(saker_events_total{{job="saker", type="{t}"}})"#
        ))
        .unwrap_or(0.0)
    };
    // Opens no rule matches are left out in the kernel (saker.kernel_filter)
    // and counted there: every open of the loop is one or the other.
    let opens_seen = || {
        events_of("openat")
            + prom
                .value(
                    r#"sum(saker_kernel_filtered_by_event_total{job="saker", evt_type="openat"})"#,
                )
                .unwrap_or(0.0)
    };
    let filtered_opens = || {
        prom.value(r#"sum(saker_kernel_filtered_by_event_total{job="saker", evt_type="openat"})"#)
            .unwrap_or(0.0)
    };
    // The close of an fd whose open was filtered is left out too (the
    // probe's per-process set of such fds).
    let filtered_closes = || {
        prom.value(r#"sum(saker_kernel_filtered_by_event_total{job="saker", evt_type="close"})"#)
            .unwrap_or(0.0)
    };
    let sys_exit_runs = || {
        prom.value(r#"sum(saker_bpf_program_runs_total{job="saker", program="saker_sys_exit"})"#)
            .unwrap_or(0.0)
    };
    // What the filter does, per rule and in all.
    assert!(
        prom.value(r#"saker_kernel_filter_patterns{job="saker"}"#)
            .is_some_and(|n| n > 0.0),
        "the default rules' path patterns are loaded into the kernel filter"
    );
    assert_eq!(
        prom.value(r#"saker_rule_kernel_filter{job="saker", rule="Read sensitive file untrusted", opens="paths"}"#),
        Some(1.0),
        "the rule on sensitive files is pushed down to the kernel filter"
    );
    let openat_before = opens_seen();
    let filtered_before = filtered_opens();
    let closes_filtered_before = filtered_closes();
    let runs_before = sys_exit_runs();

    // The workload: reads of /etc/shadow (rule "Read sensitive file
    // untrusted"), and an open/close loop on a harmless file.
    for _ in 0..SHADOW_READS {
        run_quiet(Command::new("cat").arg("/etc/shadow"));
    }
    run_load(&["open-loop", "/etc/hostname", &OPENS.to_string()]);

    // Events and BPF runs grow with the workload: every open is an openat
    // event or filtered in the kernel (/etc/hostname: no default rule reads
    // it, so most are filtered), and every open and close a run of the
    // sys_exit program.
    let openat_after = wait_for("openat events of the loop in Prometheus", || {
        let v = opens_seen();
        (v >= openat_before + OPENS as f64).then_some(v)
    });
    let filtered_after = filtered_opens();
    assert!(
        filtered_after >= filtered_before + OPENS as f64 / 2.0,
        "the loop's opens are filtered in the kernel: {filtered_before} -> {filtered_after}"
    );
    let closes_filtered_after = wait_for("the loop's filtered closes in Prometheus", || {
        let v = filtered_closes();
        (v >= closes_filtered_before + OPENS as f64 / 2.0).then_some(v)
    });
    // The same when one thread opens and another closes.
    run_load(&["open-close-threads", "/etc/hostname", &OPENS.to_string()]);
    wait_for("filtered closes of fds opened by another thread", || {
        (filtered_closes() >= closes_filtered_after + OPENS as f64 / 2.0).then_some(())
    });
    let runs_after = wait_for("sys_exit runs of the loop in Prometheus", || {
        let v = sys_exit_runs();
        (v >= runs_before + 2.0 * OPENS as f64).then_some(v)
    });
    eprintln!(
        "openat events {openat_before} -> {openat_after}; sys_exit runs {runs_before} -> {runs_after}"
    );

    // Rule matches in Prometheus equal the alerts the agent printed, rule by
    // rule (alerts printed by other activity on the machine included; they
    // settle once the last one is both printed and scraped).
    let me = std::process::id();
    let my_comm = std::fs::read_to_string(format!("/proc/{me}/comm"))
        .unwrap()
        .trim()
        .to_string();
    let (printed, scraped) = wait_for(
        "rule matches in Prometheus to equal the printed alerts",
        || {
            let alerts = agent.alerts();
            let mine = alerts
                .iter()
                .filter(|a| {
                    a["rule"] == "Read sensitive file untrusted"
                        && a["output_fields"]["proc.cmdline"] == "cat /etc/shadow"
                        && a["output_fields"]["proc.pname"] == my_comm.as_str()
                })
                .count();
            if mine < SHADOW_READS {
                return None;
            }
            let printed = alerts_by_rule(&alerts);
            let scraped: BTreeMap<String, f64> = prom
                .query(r#"sum by (rule) (saker_rule_matches_total{job="saker"})"#)
                .into_iter()
                .map(|(l, v)| (l.get("rule").cloned().unwrap_or_default(), v))
                .collect();
            (printed == scraped).then_some((printed, scraped))
        },
    );
    let total: f64 = printed.values().sum();
    assert_eq!(
        prom.value(r#"sum(saker_rule_matches_total{job="saker"})"#),
        Some(total)
    );
    assert!(printed["Read sensitive file untrusted"] >= SHADOW_READS as f64);
    eprintln!("rule matches: {scraped:?}");

    // The overhead gauge is a share of the node's CPU: above zero (the BPF
    // programs ran for every system call), below one, and the sum of its parts.
    let overhead = wait_for("a non-zero node overhead", || {
        prom.value(r#"saker_node_overhead_ratio{job="saker"}"#)
            .filter(|v| *v > 0.0)
    });
    assert!(overhead < 1.0, "overhead {overhead}");
    let parts = prom
        .value(
            r#"saker_node_overhead_ratio{job="saker"} - (saker_node_overhead_bpf_ratio{job="saker"} + saker_node_overhead_agent_ratio{job="saker"})"#,
        )
        .expect("overhead parts");
    assert!(parts.abs() < 1e-9, "overhead is not BPF + agent: {parts}");
    let bpf_max = prom
        .value(r#"max_over_time(saker_node_overhead_bpf_ratio{job="saker"}[1m])"#)
        .expect("bpf overhead");
    assert!(bpf_max > 0.0, "BPF run time was never counted");

    // The alert rules evaluate against the real series without errors, and
    // the ones that would mean a broken agent are silent.
    let rule_health = wait_for("every alert rule to be evaluated", || {
        let groups = prom.api("/api/v1/rules");
        let rules: Vec<Value> = groups["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let evaluated = !rules.is_empty()
            && rules.iter().all(|r| {
                r["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001"))
            });
        evaluated.then_some(rules)
    });
    for r in &rule_health {
        assert!(
            r["health"] == "ok",
            "rule {} does not evaluate: {}",
            r["name"],
            r["lastError"]
        );
    }
    let active: Vec<String> = prom.api("/api/v1/alerts")["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect();
    for silent in [
        "SakerAgentDown",
        "SakerAgentAbsent",
        "SakerNoRulesEnabled",
        "SakerDecodeErrors",
    ] {
        assert!(
            !active.iter().any(|a| a == silent),
            "{silent} is active: {active:?}"
        );
    }

    // Every dashboard query runs and returns data, with Grafana's variables
    // set as a user would: all agents of job saker.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring_dir().join("grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let queries: Vec<(String, String)> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let title = p["title"].to_string();
            p["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| {
                    let expr = t["expr"]
                        .as_str()
                        .unwrap()
                        .replace("$job", "saker")
                        .replace("$instance", ".*")
                        .replace("$__rate_interval", "30s")
                        .replace("$__range", "5m");
                    (title.clone(), expr)
                })
        })
        .collect();
    // rate() and increase() need two samples of a series: a series born late
    // in the run (the first rule match) has data a scrape or two later.
    let mut empty: Vec<String> = Vec::new();
    let all_have_data = (0..40).any(|_| {
        empty = queries
            .iter()
            .filter(|(_, expr)| prom.query(expr).is_empty())
            .map(|(title, expr)| format!("{title}: {expr}"))
            .collect();
        if empty.is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
        false
    });
    assert!(
        all_have_data,
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );

    drop(prom);
    agent.stop();
}

/// Metric names (`saker_...`) a text uses; BPF program names are label values.
fn metric_tokens(text: &str) -> BTreeSet<String> {
    let programs: HashSet<&str> = saker_ebpf::PROGRAMS.iter().map(|(n, _)| *n).collect();
    let re = regex::Regex::new(r"\bsaker_[a-z0-9_]*[a-z0-9]").unwrap();
    re.find_iter(text)
        .map(|m| m.as_str().to_string())
        .filter(|n| !programs.contains(n.as_str()))
        .collect()
}

/// Sample names of an OpenMetrics scrape, with the label names each carries.
fn scraped_series(scrape: &str) -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for line in scrape.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..name_end].to_string()).or_default();
        if let Some(rest) = line[name_end..].strip_prefix('{') {
            for pair in rest.split("\",") {
                if let Some((k, _)) = pair.split_once("=\"") {
                    labels.insert(k.trim().to_string());
                }
            }
        }
    }
    out
}

/// PromQL expressions of the alert rules and the dashboard.
fn monitoring_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(monitoring_dir().join("saker.rules.yml")).unwrap(),
    )
    .unwrap();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            out.push((
                format!("alert {}", rule["alert"].as_str().unwrap_or("?")),
                rule["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring_dir().join("grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("dashboard: {}", p["title"]),
                t["expr"].as_str().unwrap().into(),
            ));
        }
    }
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            out.push((format!("dashboard variable {}", v["name"]), q.to_string()));
        }
    }
    out
}

#[test]
fn dashboard_and_alert_rules_use_only_metrics_of_a_real_scrape() {
    if !bpf_available() {
        return;
    }
    let Some(rules) = falco_stable_rules() else {
        return;
    };
    let agent = Agent::start(&["-r", rules.to_str().unwrap()]);
    assert_eq!(http_get(agent.port, "/healthz").expect("healthz").0, 200);
    assert_eq!(http_get(agent.port, "/readyz").expect("readyz").0, 200);

    // A rule match, so that saker_rule_matches_total has a sample.
    run_quiet(Command::new("cat").arg("/etc/shadow"));
    let scrape = wait_for("a rule match in /metrics", || {
        let s = agent.scrape();
        s.contains("\nsaker_rule_matches_total{").then_some(s)
    });
    let series = scraped_series(&scrape);

    let mut problems = Vec::new();
    let files = [
        "saker.rules.yml",
        "prometheusrule.yaml",
        "grafana-dashboard.json",
    ];
    for file in files {
        let text = std::fs::read_to_string(monitoring_dir().join(file)).unwrap();
        for name in metric_tokens(&text) {
            if !series.contains_key(&name) {
                problems.push(format!("{file}: {name} is not in the agent's /metrics"));
            }
        }
    }
    // Label names in selectors and in by/without clauses exist on the metrics
    // of the same expression (job and instance come from Prometheus).
    for (origin, expr) in monitoring_queries() {
        let names = metric_tokens(&expr);
        let labels_of_expr: HashSet<&String> = names
            .iter()
            .filter_map(|n| series.get(n))
            .flatten()
            .collect();
        let mut used: Vec<String> = Vec::new();
        for sel in expr.split('{').skip(1) {
            let sel = sel.split('}').next().unwrap_or("");
            for m in sel.split(',') {
                if let Some(k) = m.split(['=', '!']).next() {
                    used.push(k.trim().to_string());
                }
            }
        }
        for kw in ["by", "without"] {
            for clause in expr.split(&format!("{kw} (")).skip(1) {
                let list = clause.split(')').next().unwrap_or("");
                used.extend(list.split(',').map(|l| l.trim().to_string()));
            }
        }
        for l in used {
            if !l.is_empty() && l != "job" && l != "instance" && !labels_of_expr.contains(&l) {
                problems.push(format!(
                    "{origin}: label {l} is not on the metrics of {expr}"
                ));
            }
        }
    }
    agent.stop();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
