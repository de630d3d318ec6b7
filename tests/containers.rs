//! End to end with real container runtimes: `saker run` with Falco's rules
//! while a real containerd (driven over the CRI API as the kubelet drives it),
//! `ctr` and podman run containers of a locally built image. Container rules
//! must fire for actions in containers, with the pod and image named, and
//! never for the same actions on the host; metadata must be there for
//! containers that live under a second; a runtime outage must not stop
//! detection.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::runtimes::{
    BlockingCri, CTR_NAMESPACE, ContainerSpec, Containerd, ContainerdOptions, PodSpec, Podman,
    TOOLBOX_IMAGE, TestImage, ctr_log, ctr_remove, ctr_run, runtimes_available,
};
use common::*;
use serde_json::Value;

const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// The tests here run one at a time: each agent sees every container on the
/// node, so containers of a concurrent test would be in its table and alerts.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
/// Falco's stable and incubating rules, or `None` (the test is skipped,
/// or fails under CI) when they are not on this machine.
fn falco_rules() -> Option<Vec<String>> {
    let (stable, incubating) = (saker_upstream::STABLE, saker_upstream::INCUBATING);
    let dir = falco_rules_dir(&[stable, incubating])?;
    Some(
        [stable, incubating]
            .iter()
            .map(|f| dir.join(f).to_string_lossy().into_owned())
            .collect(),
    )
}

/// `saker run` arguments: `rules`, JSON alerts, metadata from
/// `cri`/`containerd` on `socket` (and podman's Docker API when given), a
/// webserver on an ephemeral loopback port.
fn agent_args(rules: &[String], socket: &str, podman: Option<&str>, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into()];
    for r in rules {
        a.push("-r".into());
        a.push(r.clone());
    }
    a.extend([
        "--json".into(),
        "-o".into(),
        "webserver.listen_address=127.0.0.1".into(),
        "-o".into(),
        "webserver.listen_port=0".into(),
        "-o".into(),
        format!("container_engines.cri.sockets=[{socket}]"),
        "-o".into(),
        format!("container_engines.containerd.sockets=[{socket}]"),
        "-o".into(),
        "container_engines.docker.enabled=false".into(),
    ]);
    match podman {
        Some(p) => a.extend([
            "-o".into(),
            format!("container_engines.podman.sockets=[{p}]"),
        ]),
        None => a.extend(["-o".into(), "container_engines.podman.enabled=false".into()]),
    }
    for e in extra {
        a.push((*e).to_string());
    }
    a
}

fn start_agent(args: &[String]) -> SakerRun {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    SakerRun::start(&refs)
}

fn of(a: &Value, field: &str) -> Value {
    a["output_fields"][field].clone()
}

fn rule_alerts<'a>(alerts: &'a [Value], rule: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["rule"] == rule).collect()
}

/// Asserts that `rule` fired for container `id` (full CRI id) with the
/// container and pod fields the test set.
fn assert_container_alert(alerts: &[Value], rule: &str, id: &str, name: &str, pod: &PodSpec) {
    let hits: Vec<&Value> = rule_alerts(alerts, rule)
        .into_iter()
        .filter(|a| of(a, "container.id") == id[..12])
        .collect();
    assert!(
        !hits.is_empty(),
        "{rule:?} did not fire for container {name} ({}); alerts of that rule: {:#?}",
        &id[..12],
        rule_alerts(alerts, rule)
    );
    for a in hits {
        assert_eq!(of(a, "container.name"), Value::from(name), "{rule}: {a}");
        assert_eq!(
            of(a, "container.image.repository"),
            Value::from("saker.test/toolbox"),
            "{rule}: {a}"
        );
        assert_eq!(
            of(a, "container.image.tag"),
            Value::from("1.0"),
            "{rule}: {a}"
        );
        assert_eq!(
            of(a, "k8s.pod.name"),
            Value::from(pod.name.as_str()),
            "{rule}: {a}"
        );
        assert_eq!(
            of(a, "k8s.ns.name"),
            Value::from(pod.namespace.as_str()),
            "{rule}: {a}"
        );
        let text = a["output"].as_str().unwrap_or_default();
        assert!(
            text.contains(&format!("k8s_pod_name={}", pod.name)),
            "the suggested fields are in the text too: {text}"
        );
    }
}

/// The webserver address the agent logged.
fn metrics_addr(run: &SakerRun) -> String {
    let log = run.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("webserver listening on"))
        .unwrap_or_else(|| panic!("no webserver line in:\n{log}"));
    line.split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

/// One sample of a metric (`name{labels}` as printed, or a bare name).
fn metric(addr: &str, series: &str) -> Option<f64> {
    let port: u16 = addr.rsplit(':').next()?.parse().ok()?;
    let (_, text) = http_get(port, "/metrics").ok()?;
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn wait_metric(addr: &str, series: &str, timeout: Duration, ok: impl Fn(f64) -> bool) -> f64 {
    let start = Instant::now();
    loop {
        if let Some(v) = metric(addr, series)
            && (ok(v) || start.elapsed() > timeout)
        {
            return v;
        }
        if start.elapsed() > timeout {
            return f64::NAN;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cri_pod_attacks_fire_container_rules_with_pod_and_image_and_host_controls_do_not() {
    if !bpf_available() || !runtimes_available() {
        return;
    }
    let Some(falco_rules) = falco_rules() else {
        return;
    };
    let _serial = serial();
    // Pods on a CNI bridge network (a private range, nothing leaves the node).
    let ctd = Containerd::start_with(&ContainerdOptions { pod_network: true });
    let sock = ctd.socket().to_string_lossy().into_owned();
    // The suggested fields (Falco's default), plus pod fields the rules'
    // outputs do not print, as `output_fields` only.
    let run = start_agent(&agent_args(
        &falco_rules,
        &sock,
        None,
        &[
            "-o",
            "append_output=[{suggested_output: true}, {extra_fields: [k8s.pod.ip, k8s.pod.uid, \"k8s.pod.label[app]\", container.privileged, container.type, k8s.pod.sandbox_id]}]",
        ],
    ));
    let mut cri = BlockingCri::connect(&ctd);

    let mut pod = PodSpec::new("checkout-7d9f");
    pod.namespace = "payments".into();
    pod.host_network = false;
    pod.labels.insert("app".into(), "checkout".into());
    let p = cri.run_pod(&pod);
    let pod_ip = cri.pod_ip(&p);
    assert!(!pod_ip.is_empty(), "the CNI gave the pod an address");

    // 1. A shell with a terminal (`kubectl run -it ... sh`): the container's
    //    entrypoint is a shell on a pty.
    let mut shell = ContainerSpec::new("debug-shell", &["/bin/sh", "-c", "sleep 2"]);
    shell.tty = true;
    let shell_id = cri.run_container(&p, &shell);

    // A long-running container to exec the other actions in.
    let app = ContainerSpec::new("app", &["/bin/sleep", "3600"]);
    let app_id = cri.run_container(&p, &app);
    // 2. A netcat reverse shell.
    cri.exec_sync(
        &app_id,
        &["/bin/nc", "-w", "1", "-e", "/bin/sh", "127.0.0.1", "9"],
        EXEC_TIMEOUT,
    );
    // 3. A binary copied into the container (overlayfs upper layer) and run.
    let cp = cri.exec_sync(
        &app_id,
        &["/bin/cp", "/bin/busybox", "/tmp/dropped"],
        EXEC_TIMEOUT,
    );
    assert_eq!(cp.exit_code, 0, "{}", cp.stderr);
    cri.exec_sync(&app_id, &["/tmp/dropped", "true"], EXEC_TIMEOUT);
    // 4. An AF_PACKET socket.
    let pkt = cri.exec_sync(
        &app_id,
        &["/bin/saker-testload", "packet-socket"],
        EXEC_TIMEOUT,
    );
    assert_eq!(pkt.exit_code, 0, "{}", pkt.stderr);
    // 5. Another process's environment read through /proc.
    let env = cri.exec_sync(&app_id, &["/bin/cat", "/proc/1/environ"], EXEC_TIMEOUT);
    assert_eq!(env.exit_code, 0, "{}", env.stderr);

    // The same actions on the host.
    let host_dir = unique_dir();
    let dropped = host_dir.path().join("dropped");
    std::fs::copy("/bin/busybox", &dropped).unwrap();
    let _ = Command::new(&dropped).arg("true").status();
    let _ = Command::new("/bin/busybox")
        .args(["nc", "-w", "1", "-e", "/bin/sh", "127.0.0.1", "9"])
        .output();
    run_load(&["packet-socket"]);
    let _ = Command::new("cat").arg("/proc/1/environ").output();
    let _ = Command::new("script")
        .args(["-qec", "/bin/sh -c true", "/dev/null"])
        .output();

    std::thread::sleep(Duration::from_secs(3));
    let (stdout, stderr) = run.stop();
    let alerts = parse_alerts(&stdout);
    let container_rules = [
        "Terminal shell in container",
        "Netcat Remote Code Execution in Container",
        "Drop and execute new binary in container",
        "Packet socket created in container",
        "Read environment variable from /proc files",
    ];
    assert_container_alert(&alerts, container_rules[0], &shell_id, "debug-shell", &pod);
    for rule in &container_rules[1..] {
        assert_container_alert(&alerts, rule, &app_id, "app", &pod);
    }
    for a in &alerts {
        if container_rules.contains(&a["rule"].as_str().unwrap_or_default()) {
            assert_ne!(
                of(a, "container.id"),
                Value::from("host"),
                "a container rule fired on the host: {a}"
            );
        }
    }
    assert!(stderr.contains("cri engine on"), "{stderr}");
    // Pod fields beyond the suggested ones, from PodSandboxStatus.
    let env_alert = rule_alerts(&alerts, container_rules[4])
        .into_iter()
        .find(|a| of(a, "container.name") == "app")
        .expect("environ alert");
    assert_eq!(of(env_alert, "k8s.pod.ip"), Value::from(pod_ip.as_str()));
    assert_eq!(of(env_alert, "k8s.pod.uid"), Value::from(pod.uid.as_str()));
    assert_eq!(of(env_alert, "k8s.pod.label[app]"), Value::from("checkout"));
    assert_eq!(
        of(env_alert, "k8s.pod.sandbox_id"),
        Value::from(&p.id[..12])
    );
    assert_eq!(of(env_alert, "container.privileged"), Value::from(false));
    assert_eq!(of(env_alert, "container.type"), Value::from("containerd"));

    cri.stop_and_remove_container(&shell_id);
    cri.stop_and_remove_container(&app_id);
    cri.stop_and_remove_pod(&p);
}

#[test]
fn ctr_and_podman_containers_are_named_with_their_runtime_type() {
    if !bpf_available() || !runtimes_available() {
        return;
    }
    let _serial = serial();
    let ctd = Containerd::start();
    let podman = Podman::start();
    let sock = ctd.socket().to_string_lossy().into_owned();
    let psock = podman.socket().to_string_lossy().into_owned();
    let dir = unique_dir();
    let rules = dir.path().join("types.yaml");
    std::fs::write(
        &rules,
        "- rule: Environ read in container\n  desc: test\n  condition: evt.type in (open, openat) and evt.dir=< and container.id != host and fd.name glob /proc/*/environ\n  output: \"environ read type=%container.type name=%container.name image=%container.image full=%container.full_id\"\n  priority: WARNING\n",
    )
    .unwrap();
    // Only this rule: the type and name fields in its output are what is checked.
    let only = [rules.to_string_lossy().into_owned()];
    let run = start_agent(&agent_args(&only, &sock, Some(&psock), &[]));
    let addr = metrics_addr(&run);

    ctr_run(
        &ctd,
        CTR_NAMESPACE,
        "web-ctr",
        TOOLBOX_IMAGE,
        &["/bin/cat", "/proc/1/environ"],
    );
    let pid_id = podman.run(
        "web-podman",
        TOOLBOX_IMAGE,
        &["/bin/cat", "/proc/1/environ"],
    );
    std::thread::sleep(Duration::from_secs(3));
    report_latency(&addr);
    let (stdout, stderr) = run.stop();
    let alerts = parse_alerts(&stdout);
    let find = |name: &str| {
        alerts
            .iter()
            .find(|a| of(a, "container.name") == name)
            .unwrap_or_else(|| panic!("no alert for {name}: {alerts:#?}\n{stderr}"))
            .clone()
    };
    let c = find("web-ctr");
    assert_eq!(of(&c, "container.id"), Value::from("web-ctr"));
    assert_eq!(of(&c, "container.type"), Value::from("containerd"));
    assert_eq!(of(&c, "container.image"), Value::from(TOOLBOX_IMAGE));
    let p = find("web-podman");
    assert_eq!(of(&p, "container.id"), Value::from(&pid_id[..12]));
    assert_eq!(of(&p, "container.full_id"), Value::from(pid_id.as_str()));
    assert_eq!(of(&p, "container.type"), Value::from("podman"));
    assert!(
        of(&p, "container.image")
            .as_str()
            .is_some_and(|i| i.ends_with(TOOLBOX_IMAGE)),
        "{p}"
    );
    ctr_remove(&ctd, CTR_NAMESPACE, "web-ctr");
    podman.rm(&pid_id);
}

#[test]
fn ctr_run_rm_in_a_namespace_created_after_start_keeps_metadata() {
    if !bpf_available() || !runtimes_available() {
        return;
    }
    let Some(falco_rules) = falco_rules() else {
        return;
    };
    let _serial = serial();
    const N: usize = 20;
    let ctd = Containerd::start();
    let sock = ctd.socket().to_string_lossy().into_owned();
    let run = start_agent(&agent_args(&falco_rules, &sock, None, &[]));
    // A namespace the agent has never seen: its `/<namespace>/<id>` cgroups
    // are containers from the moment containerd announces it.
    let ns = "team-b";
    let archive = TestImage::get().toolbox.display().to_string();
    ctd.ctr(ns, &["images", "import", &archive]);
    let runc_root = ctd.runc_root().display().to_string();
    for i in 0..N {
        let id = format!("rm-{i}");
        let log = format!("file://{}", ctr_log(&ctd, ns, &id).display());
        // `--rm`: the container is deleted as soon as it exits, milliseconds
        // after its one process ran.
        ctd.ctr(
            ns,
            &[
                "run",
                "--rm",
                "--runc-root",
                &runc_root,
                "--log-uri",
                &log,
                TOOLBOX_IMAGE,
                &id,
                "/bin/cat",
                "/proc/1/environ",
            ],
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let (stdout, stderr) = run.stop();
    let alerts: Vec<Value> = parse_alerts(&stdout)
        .into_iter()
        .filter(|a| {
            a["rule"] == "Read environment variable from /proc files"
                && of(a, "container.id")
                    .as_str()
                    .is_some_and(|id| id.starts_with("rm-"))
        })
        .collect();
    assert_eq!(alerts.len(), N, "one alert per container:\n{stderr}");
    for a in &alerts {
        assert_eq!(of(a, "container.name"), of(a, "container.id"), "{a}");
        assert_eq!(
            of(a, "container.image.repository"),
            Value::from("saker.test/toolbox"),
            "{a}"
        );
    }
}

#[test]
fn three_hundred_short_lived_containers_all_alert_with_metadata_and_the_table_empties() {
    if !bpf_available() || !runtimes_available() {
        return;
    }
    let Some(falco_rules) = falco_rules() else {
        return;
    };
    let _serial = serial();
    const N: usize = 300;
    let ctd = Containerd::start();
    let sock = ctd.socket().to_string_lossy().into_owned();
    let run = start_agent(&agent_args(
        &falco_rules,
        &sock,
        None,
        &["-o", "saker.containers.grace_ms=1000"],
    ));
    let addr = metrics_addr(&run);
    // The first snapshot is published a second after start.
    let base_rss = wait_metric(
        &addr,
        "saker_memory_rss_bytes",
        Duration::from_secs(10),
        |v| v > 0.0,
    );
    let base_containers = wait_metric(&addr, "saker_containers", Duration::from_secs(10), |_| true);

    let mut cri = BlockingCri::connect(&ctd);
    let mut pods = Vec::new();
    for i in 0..3 {
        let mut spec = PodSpec::new(&format!("batch-{i}"));
        spec.namespace = "jobs".into();
        let p = cri.run_pod(&spec);
        pods.push((spec, p));
    }
    let started = Instant::now();
    let mut ids = Vec::new();
    // Short ids of this test's containers: the agent sees every container on
    // the node, and only these are judged.
    let mut ours = std::collections::HashSet::new();
    for i in 0..N {
        let (_, p) = &pods[i % pods.len()];
        let spec = ContainerSpec::new(&format!("job-{i}"), &["/bin/cat", "/proc/1/environ"]);
        let id = cri.run_container(p, &spec);
        ours.insert(id[..12].to_string());
        ids.push(id);
        // Remove containers as soon as they are done, as a Job controller's GC would.
        if ids.len() >= 20 {
            for id in ids.drain(..10) {
                cri.stop_and_remove_container(&id);
            }
        }
    }
    let rss_busy = metric(&addr, "saker_memory_rss_bytes").unwrap_or(0.0);
    let table_busy = metric(&addr, "saker_containers").unwrap_or(0.0);
    for id in ids.drain(..) {
        cri.stop_and_remove_container(&id);
    }
    eprintln!(
        "{N} containers run and removed in {:?}; at the end of the run: RSS {:.1} MiB, {table_busy} containers in the table",
        started.elapsed(),
        rss_busy / 1048576.0
    );
    for (_, p) in &pods {
        cri.stop_and_remove_pod(p);
    }
    let after = wait_metric(&addr, "saker_containers", Duration::from_secs(20), |v| {
        v <= base_containers
    });
    let rss = wait_metric(
        &addr,
        "saker_memory_rss_bytes",
        Duration::from_secs(5),
        |_| true,
    );
    report_latency(&addr);
    let held = metric(&addr, "saker_alerts_held_total").unwrap_or(0.0);
    let timeouts = metric(
        &addr,
        "saker_alerts_held_released_total{reason=\"timeout\"}",
    )
    .unwrap_or(0.0);
    let (stdout, _) = run.stop();
    let alerts: Vec<Value> = parse_alerts(&stdout)
        .into_iter()
        .filter(|a| {
            a["rule"] == "Read environment variable from /proc files"
                && of(a, "container.id")
                    .as_str()
                    .is_some_and(|id| ours.contains(id))
        })
        .collect();
    let names: std::collections::BTreeSet<String> = alerts
        .iter()
        .filter_map(|a| of(a, "container.name").as_str().map(str::to_string))
        .collect();
    let missing_meta: Vec<&Value> = alerts
        .iter()
        .filter(|a| {
            of(a, "container.image.repository").is_null()
                || of(a, "k8s.pod.name").is_null()
                || of(a, "container.name").is_null()
        })
        .collect();
    eprintln!(
        "alerts {} (containers named {}), held {held}, released on timeout {timeouts}; containers {base_containers} -> {after}; RSS {:.1} -> {:.1} MiB",
        alerts.len(),
        names.len(),
        base_rss / 1048576.0,
        rss / 1048576.0
    );
    assert!(
        missing_meta.is_empty(),
        "alerts without metadata: {missing_meta:#?}"
    );
    assert_eq!(names.len(), N, "one alert per container");
    assert_eq!(alerts.len(), N, "no container alerts twice");
    assert!(
        after <= base_containers,
        "container table: {base_containers} -> {after}"
    );
    assert!(
        rss <= base_rss * 1.10,
        "RSS {base_rss} -> {rss}: more than 10% above the baseline"
    );
}

#[test]
fn containerd_outage_keeps_detection_running_and_metadata_comes_back() {
    if !bpf_available() || !runtimes_available() {
        return;
    }
    let Some(falco_rules) = falco_rules() else {
        return;
    };
    let _serial = serial();
    let mut ctd = Containerd::start();
    let sock = ctd.socket().to_string_lossy().into_owned();
    let mut cri = BlockingCri::connect(&ctd);
    let pod = PodSpec::new("poller");
    let p = cri.run_pod(&pod);
    // Reads another process's environment every second.
    let spec = ContainerSpec::new(
        "poller",
        &[
            "/bin/sh",
            "-c",
            "while :; do /bin/cat /proc/1/environ >/dev/null; sleep 1; done",
        ],
    );
    let id = cri.run_container(&p, &spec);
    // The runtime goes away before the agent starts: the containers it finds
    // cannot be looked up.
    ctd.stop();
    let run = start_agent(&agent_args(
        &falco_rules,
        &sock,
        None,
        &[
            "-o",
            "saker.containers.retry_ms=1000",
            "-o",
            "saker.containers.hold_max_wait_ms=500",
        ],
    ));
    let addr = metrics_addr(&run);
    std::thread::sleep(Duration::from_secs(3));
    // Detection goes on, on the host too.
    run_ok_cmd(Command::new("cat").arg("/etc/shadow"));
    let errors = wait_metric(
        &addr,
        "saker_container_runtime_errors_total{engine=\"cri\"}",
        Duration::from_secs(10),
        |v| v > 0.0,
    );
    let up = metric(&addr, "saker_container_runtime_up{engine=\"cri\"}");
    ctd.restart();
    // The health probe (every 5 s) or the next lookup notices.
    let up_after = Some(wait_metric(
        &addr,
        "saker_container_runtime_up{engine=\"cri\"}",
        Duration::from_secs(15),
        |v| v == 1.0,
    ));
    std::thread::sleep(Duration::from_secs(2));
    let (stdout, stderr) = run.stop();
    let alerts = parse_alerts(&stdout);
    assert!(errors > 0.0, "runtime errors counted: {errors}");
    assert_eq!(up, Some(0.0), "the engine is reported down");
    assert_eq!(up_after, Some(1.0), "and up again after the restart");
    assert!(
        stderr.contains("no container runtime reachable") && stderr.contains(&sock),
        "a warning names the runtime's socket: {stderr}"
    );
    assert!(
        alerts
            .iter()
            .any(|a| a["rule"] == "Read sensitive file untrusted"),
        "host detection continued during the outage"
    );
    let env: Vec<&Value> = rule_alerts(&alerts, "Read environment variable from /proc files")
        .into_iter()
        .filter(|a| of(a, "container.id") == id[..12])
        .collect();
    assert!(
        env.iter().any(|a| of(a, "k8s.pod.name").is_null()),
        "during the outage alerts go out with the container id only: {env:#?}"
    );
    assert!(
        env.iter().any(|a| of(a, "k8s.pod.name") == "poller"),
        "after the restart metadata comes back: {env:#?}"
    );
    // A new connection to the restarted runtime for the cleanup.
    let mut cri = BlockingCri::connect(&ctd);
    cri.stop_and_remove_container(&id);
    cri.stop_and_remove_pod(&p);
}

/// p50 and p99 (upper bucket bounds, seconds) and the count of a scraped
/// histogram's series whose labels include `label` (e.g. `engine="cri"`; ""
/// for an unlabelled histogram).
fn quantiles(addr: &str, family: &str, label: &str) -> Option<(f64, f64, f64)> {
    let port: u16 = addr.rsplit(':').next()?.parse().ok()?;
    let (_, text) = http_get(port, "/metrics").ok()?;
    let prefix = format!("{family}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|rest| rest.contains(label))
        .filter_map(|rest| {
            let (labels, v) = rest.split_once("} ")?;
            let le = labels.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, v.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let q = |p: f64| {
        buckets
            .iter()
            .find(|(_, n)| *n >= p * total)
            .map_or(f64::NAN, |b| b.0)
    };
    Some((q(0.5), q(0.99), total))
}

/// Prints lookup latency per engine and alert hold time (the closing note's figures).
fn report_latency(addr: &str) {
    for engine in ["cri", "containerd", "docker", "podman"] {
        if let Some((p50, p99, n)) = quantiles(
            addr,
            "saker_container_lookup_seconds",
            &format!("engine=\"{engine}\""),
        ) {
            eprintln!(
                "lookup latency {engine}: p50 <= {:.1} ms, p99 <= {:.1} ms ({n} calls)",
                p50 * 1e3,
                p99 * 1e3
            );
        }
    }
    if let Some((p50, p99, n)) = quantiles(addr, "saker_alert_hold_seconds", "") {
        eprintln!(
            "alert hold: p50 <= {:.1} ms, p99 <= {:.1} ms ({n} alerts held)",
            p50 * 1e3,
            p99 * 1e3
        );
    }
}

fn run_ok_cmd(cmd: &mut Command) {
    let st = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{cmd:?}");
}
