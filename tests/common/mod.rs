//! Shared harness for tests that load the real eBPF programs.
#![allow(dead_code)]

pub mod kubelet;
pub mod runtimes;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use saker::event::{self, Event};
use saker::probe::{InterestSet, KernelCounters, Probe, ProbeOptions, RingReader};

/// True when this machine can run eBPF tests. Without root or kernel BTF the
/// tests are not run, unless SAKER_REQUIRE_BPF=1 (set by CI), where that is a
/// failure: a probe test that does not run in CI hides a broken probe.
pub fn bpf_available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    if root && btf {
        return true;
    }
    let why = format!("eBPF tests need root and /sys/kernel/btf/vmlinux (root={root}, btf={btf})");
    if std::env::var("SAKER_REQUIRE_BPF").is_ok_and(|v| v == "1") {
        panic!("{why}; SAKER_REQUIRE_BPF=1 makes this a failure");
    }
    eprintln!("not run: {why}");
    false
}

pub fn testload() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_saker-testload"))
}

/// Runs saker-testload and returns (pid, output). Panics if it fails.
pub fn run_load(args: &[&str]) -> (u32, String) {
    let child = Command::new(testload())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn saker-testload");
    let pid = child.id();
    let out: Output = child.wait_with_output().expect("wait saker-testload");
    assert!(
        out.status.success(),
        "saker-testload {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (pid, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A probe running in a background thread, collecting decoded events.
pub struct LiveCapture {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<(Vec<Event>, KernelCounters, u64)>>,
}

pub struct Captured {
    pub events: Vec<Event>,
    pub counters: KernelCounters,
    pub decode_errors: u64,
}

impl Captured {
    pub fn of_pid(&self, pid: u32) -> Vec<&Event> {
        self.events.iter().filter(|e| e.tgid == pid).collect()
    }
}

impl LiveCapture {
    /// Loads and attaches the probe with `interest`; returns once capturing.
    /// With `read = false` the ring is not read until `stop` (to fill it).
    pub fn start(interest: InterestSet, ring_bytes: u32, read: bool) -> LiveCapture {
        let opts = ProbeOptions {
            ring_bytes,
            ..ProbeOptions::default()
        };
        LiveCapture::start_with(opts, interest, read)
    }

    /// [`LiveCapture::start`] with every probe option chosen by the caller.
    pub fn start_with(opts: ProbeOptions, interest: InterestSet, read: bool) -> LiveCapture {
        LiveCapture::start_filtered(opts, interest, read, None)
    }

    /// [`LiveCapture::start_with`] with the kernel's open filter set to
    /// `open_filter` (`None`: opens are not filtered).
    pub fn start_filtered(
        opts: ProbeOptions,
        interest: InterestSet,
        read: bool,
        open_filter: Option<Vec<saker::rules::pushdown::PathPattern>>,
    ) -> LiveCapture {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut probe = match Probe::load(&opts) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return (Vec::new(), KernelCounters::default(), 0);
                    }
                };
                probe.set_interest(&interest).expect("interest");
                probe
                    .set_open_filter(open_filter.as_deref())
                    .expect("open filter");
                let mut reader =
                    RingReader::new(probe.take_ring().expect("ring"), Duration::from_millis(10))
                        .expect("reader");
                probe.attach().expect("attach");
                let _ = ready_tx.send(Ok(()));
                let mut events = Vec::new();
                let mut errors = 0u64;
                let mut on = |raw: &[u8]| match event::decode(raw) {
                    Ok(e) => events.push(e),
                    Err(_) => errors += 1,
                };
                while !stop2.load(Ordering::Relaxed) {
                    if read {
                        reader.read_batch(&mut on).await.expect("read");
                    } else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                probe.detach();
                reader.drain(&mut on);
                let counters = probe.counters().expect("counters");
                (events, counters, errors)
            })
        });
        match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("probe failed to load: {e}"),
            Err(e) => panic!("probe did not start: {e}"),
        }
        LiveCapture {
            stop,
            handle: Some(handle),
        }
    }

    pub fn stop(mut self) -> Captured {
        // Let the timer drain pick up the last records before stopping.
        std::thread::sleep(Duration::from_millis(50));
        self.stop.store(true, Ordering::Relaxed);
        let (events, counters, decode_errors) = self
            .handle
            .take()
            .expect("handle")
            .join()
            .expect("capture thread panicked");
        Captured {
            events,
            counters,
            decode_errors,
        }
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn interest(list: &str) -> InterestSet {
    InterestSet::parse_list(list).expect("interest list")
}

/// A unique path in a fresh temp dir, kept alive by the returned guard.
pub fn unique_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("saker-it-")
        .tempdir()
        .expect("tempdir")
}

/// The `saker` binary built by the same `cargo test` run (target/<profile>/saker).
pub fn saker_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("saker");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p saker` first (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// The directory of Falco's upstream rules holding every file of `needs`,
/// found by the one lookup of `saker_upstream` ($SAKER_FALCO_RULES, then
/// /etc/falco, then ../shared/falco beside the checkout). `None` when they
/// are missing, after one "skipped" line saying how to get them; under CI
/// (SAKER_REQUIRE_BPF=1) that is a failure instead.
pub fn falco_rules_dir(needs: &[&str]) -> Option<PathBuf> {
    saker_upstream::for_test(needs)
}

/// Falco's stable rules file (see [`falco_rules_dir`]).
pub fn falco_stable_rules() -> Option<PathBuf> {
    falco_rules_dir(&[saker_upstream::STABLE]).map(|d| d.join(saker_upstream::STABLE))
}

/// A lock file path of its own for one agent of a test (see `saker.lock_file`).
pub fn unique_lock_file() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "saker-it-{}-{}.lock",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// A `saker run` process started by a test, stopped with SIGINT.
pub struct SakerRun {
    /// `None` once [`SakerRun::stop`] took it; [`Drop`] kills what is left
    /// (a failed assertion must not leave an agent capturing on the machine).
    child: Option<std::process::Child>,
    stderr_log: Arc<std::sync::Mutex<String>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl SakerRun {
    /// Starts `saker ARGS` and waits until it reports that capture is running
    /// (the "watching ... event types" log line).
    pub fn start(args: &[&str]) -> SakerRun {
        let mut cmd = Command::new(saker_bin());
        cmd.args(args);
        SakerRun::start_command(cmd)
    }

    /// [`SakerRun::start`] of a command the caller built (another binary,
    /// or saker behind a wrapper that execs it, such as setpriv).
    pub fn start_command(mut cmd: Command) -> SakerRun {
        use std::io::BufRead;
        // Tests run agents side by side: each its own one-agent-per-node
        // lock (saker.lock_file), unless the test chose one.
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if args.iter().any(|a| a == "run") && !args.iter().any(|a| a.contains("saker.lock_file")) {
            cmd.arg("-o")
                .arg(format!("saker.lock_file={}", unique_lock_file().display()));
        }
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn saker");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<()>();
        let log2 = log.clone();
        let t = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("watching")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
                let mut l = log2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let run = SakerRun {
            child: Some(child),
            stderr_log: log,
            stderr_thread: Some(t),
        };
        if rx.recv_timeout(Duration::from_secs(90)).is_err() {
            panic!("saker did not start:\n{}", run.stderr());
        }
        run
    }

    pub fn stderr(&self) -> String {
        self.stderr_log.lock().unwrap().clone()
    }

    /// The agent's pid (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGINT, wait for exit; returns (stdout, stderr).
    pub fn stop(mut self) -> (String, String) {
        // Give the drain timer a moment to take the last events.
        std::thread::sleep(Duration::from_millis(300));
        let child = self.child.take().expect("running");
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().expect("wait saker");
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        let err = self.stderr_log.lock().unwrap().clone();
        assert!(
            out.status.success(),
            "saker failed: {:?}\n{err}",
            out.status
        );
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    }
}

impl Drop for SakerRun {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// GET over plain HTTP/1.0 on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    http_get_at("127.0.0.1", port, path)
}

/// GET over plain HTTP/1.0 from `host` (an IP address): (status, body).
pub fn http_get_at(host: &str, port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(std::io::Error::other)?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {raw}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status: {head}")))?;
    Ok((status, body.to_string()))
}

/// Falco JSON alerts, one per line.
pub fn parse_alerts(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad alert line {l:?}: {e}")))
        .collect()
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A directory under deploy/kustomize (`base`, `overlays/production`, ...).
pub fn kustomize_dir(which: &str) -> PathBuf {
    workspace().join("deploy/kustomize").join(which)
}

/// `kubectl kustomize` of one directory, every document as JSON. The
/// monitoring overlay reads deploy/monitoring, outside its own directory, so
/// it needs the load restrictor off (as its kustomization.yaml says).
pub fn render(which: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    let mut cmd = Command::new("kubectl");
    cmd.arg("kustomize");
    if which == "overlays/monitoring" {
        cmd.args(["--load-restrictor", "LoadRestrictionsNone"]);
    }
    let out = cmd
        .arg(kustomize_dir(which))
        .output()
        .expect("run kubectl (is it installed?)");
    assert!(
        out.status.success(),
        "kubectl kustomize {which} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 manifests");
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let yaml = serde_yaml::Value::deserialize(doc).expect("rendered YAML parses");
        if yaml.is_null() {
            continue;
        }
        docs.push(serde_json::to_value(yaml).expect("YAML to JSON"));
    }
    assert!(!docs.is_empty(), "{which} rendered nothing");
    docs
}

/// The port of a running agent's "webserver listening on ADDR" line.
pub fn webserver_port(run: &SakerRun) -> u16 {
    let log = run.stderr();
    log.lines()
        .find_map(|l| l.split("webserver listening on ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no webserver line in:\n{log}"))
}

/// The sum of a metric's samples on /metrics (`name` or `name{labels}` as
/// printed; a bare name sums every label set). 0 when absent.
pub fn metric_sum(port: u16, series: &str) -> f64 {
    let (_, text) = http_get(port, "/metrics").expect("GET /metrics");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            let matches =
                name == series || (!series.contains('{') && name.split('{').next() == Some(series));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// VmRSS of a process, in KiB.
pub fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}
