//! Shared harness for tests that load the real eBPF programs.
#![allow(dead_code)]

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
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let opts = ProbeOptions {
                    ring_bytes,
                    ..ProbeOptions::default()
                };
                let mut probe = match Probe::load(&opts) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return (Vec::new(), KernelCounters::default(), 0);
                    }
                };
                probe.set_interest(&interest).expect("interest");
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
