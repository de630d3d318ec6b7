//! Overload on the real kernel: the agent in a cgroup v1 CPU quota of 0.2
//! CPU with a small ring buffer, three generators opening files flat out.
//! The kernel's drops are counted per event type, the drop alert names the
//! lost types and the rules they blinded (and not a rule on an untouched
//! type), the agent neither crashes nor grows without bound, and after the
//! load a process started during it is known with its command line and
//! files opened during it (their opens dropped) are known by name.

mod common;

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// A cgroup v1 cpu group limited to `quota_us` per 100 ms; removed on drop
/// (its processes are moved back to the root group first).
struct CpuLimit {
    dir: PathBuf,
}

impl CpuLimit {
    fn new(quota_us: u32) -> CpuLimit {
        let dir = PathBuf::from(format!(
            "/sys/fs/cgroup/cpu/saker-test-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the cpu cgroup (cgroup v1 cpu controller)");
        std::fs::write(dir.join("cpu.cfs_period_us"), "100000").expect("period");
        std::fs::write(dir.join("cpu.cfs_quota_us"), quota_us.to_string()).expect("quota");
        CpuLimit { dir }
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).expect("move pid");
    }
}

impl Drop for CpuLimit {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for p in procs.lines() {
                let _ = std::fs::write("/sys/fs/cgroup/cpu/cgroup.procs", p);
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn rules(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "- rule: Overload opens\n  desc: t\n  condition: evt.type in (open, openat) and fd.name startswith {d}/marker\n  \
         output: marker file=%fd.name proc=%proc.name parent=%proc.pname pcmdline=%proc.pcmdline\n  priority: WARNING\n\
         - rule: Overload held\n  desc: t\n  condition: evt.type = fchmod and fd.name startswith {d}/held-\n  output: held file=%fd.name\n  priority: WARNING\n\
         - rule: Overload connects\n  desc: t\n  condition: evt.type = connect and fd.sport = 1\n  output: c\n  priority: WARNING\n"
    )
}

fn generator(stop: Arc<AtomicBool>, dir: PathBuf) {
    let path = CString::new(dir.join("load").to_str().expect("utf-8")).expect("path");
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1000 {
            // SAFETY: valid path; closed right away.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd >= 0 {
                // SAFETY: our own fd.
                unsafe { libc::close(fd) };
            }
        }
    }
}

#[test]
fn drops_are_counted_per_type_name_the_blind_rules_and_state_recovers() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    std::fs::write(dir.path().join("load"), b"x").expect("load file");
    std::fs::write(dir.path().join("marker"), b"x").expect("marker");
    let r = dir.path().join("rules.yaml");
    std::fs::write(&r, rules(dir.path())).expect("rules");
    let run = SakerRun::start(&[
        "run",
        "-r",
        r.to_str().expect("utf-8"),
        "--json",
        "-o",
        "webserver.listen_port=0",
        "-o",
        "saker.ring_buffer_bytes=65536",
        "-o",
        "syscall_event_drops.threshold=0",
        "-o",
        "syscall_event_drops.actions=[log, alert]",
        // The load is opens no rule matches: the kernel filter would leave
        // them out and there would be no overload to test.
        "-o",
        "saker.kernel_filter=false",
    ]);
    let pid = run.pid();
    let port = webserver_port(&run);
    std::thread::sleep(Duration::from_secs(2));
    let base_rss = vm_rss_kib(pid);
    let limit = CpuLimit::new(20_000);
    limit.add(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let gens: Vec<_> = (0..3)
        .map(|_| {
            let (stop, d) = (stop.clone(), dir.path().to_path_buf());
            std::thread::spawn(move || generator(stop, d))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    // Opened during the overload (many of their opens are dropped) and kept
    // open; fchmod'ed once the load ends, when only a /proc rescan can have
    // told the agent what they are.
    let held: Vec<(PathBuf, std::fs::File)> = (0..50)
        .map(|i| {
            let p = dir.path().join(format!("held-{i}"));
            let f = std::fs::File::create(&p).expect("held file");
            (p, f)
        })
        .collect();
    // Started during the overload (its exec is most likely dropped); it
    // opens the marker once the test has seen the agent rescan /proc.
    let go = dir.path().join("go");
    let late = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "while [ ! -e {} ]; do sleep 0.1; done; cat {}/marker >/dev/null",
            go.display(),
            dir.path().display()
        ))
        .spawn()
        .expect("sh");
    let t0 = Instant::now();
    let mut peak = base_rss;
    while t0.elapsed() < Duration::from_secs(6) {
        peak = peak.max(vm_rss_kib(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for g in gens {
        g.join().expect("generator");
    }
    drop(limit);
    // Recovery: the agent catches up and rescans /proc once an interval
    // passes without drops.
    let t1 = Instant::now();
    while metric_sum(port, "saker_proc_rescans_total") < 1.0 {
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "no /proc rescan after the drops:\n{}",
            run.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::write(&go, b"").expect("go");
    let mut late = late;
    assert!(late.wait().expect("wait sh").success());
    std::thread::sleep(Duration::from_secs(2));
    for (_, f) in &held {
        // SAFETY: an fd the File owns.
        assert_eq!(unsafe { libc::fchmod(f.as_raw_fd(), 0o600) }, 0);
    }
    std::thread::sleep(Duration::from_secs(1));
    let recovered = metric_sum(port, "saker_fds_recovered_total");
    let after_rss = vm_rss_kib(pid);
    let opens = metric_sum(
        port,
        "saker_kernel_drops_by_event_total{evt_type=\"openat\"}",
    );
    let closes = metric_sum(
        port,
        "saker_kernel_drops_by_event_total{evt_type=\"close\"}",
    );
    let total = metric_sum(port, "saker_kernel_drops_total");
    let rescans = metric_sum(port, "saker_proc_rescans_total");
    let (out, err) = run.stop();
    eprintln!(
        "overload: kernel drops {total} (openat {opens}, close {closes}); /proc rescans {rescans}, fds recovered {recovered}; RSS KiB baseline {base_rss} peak {peak} after {after_rss}"
    );
    assert!(opens > 0.0, "openat drops are counted:\n{err}");
    assert!(
        opens + closes <= total,
        "per-type figures are part of the total"
    );
    assert!(
        peak < base_rss * 3 / 2 + 20 * 1024,
        "memory stays bounded: {base_rss} -> {peak} KiB"
    );
    let alerts = parse_alerts(&out);
    let drop_alert = alerts
        .iter()
        .find(|a| a["rule"] == "Saker internal: syscall event drop")
        .unwrap_or_else(|| panic!("no drop alert:\n{out}\n{err}"));
    let text = drop_alert["output"].as_str().expect("output");
    assert!(text.contains("openat="), "{text}");
    assert!(text.contains("Overload opens"), "{text}");
    assert!(
        !text.contains("Overload connects"),
        "connect lost nothing: {text}"
    );
    // Every held file is named, whether its open was seen or recovered.
    let held_alerts: Vec<&str> = alerts
        .iter()
        .filter(|a| a["rule"] == "Overload held")
        .filter_map(|a| a["output"].as_str())
        .collect();
    for (p, _) in &held {
        let want = format!("file={}", p.display());
        assert!(
            held_alerts.iter().any(|o| o.split(' ').any(|w| w == want)),
            "no alert naming {} (fds recovered: {recovered}):\n{}",
            p.display(),
            held_alerts.join("\n")
        );
    }
    assert!(rescans >= 1.0, "a /proc rescan after the drops:\n{err}");
    let marker = alerts
        .iter()
        .filter(|a| a["rule"] == "Overload opens")
        .find(|a| a["output"].as_str().unwrap_or("").contains("proc=cat"))
        .unwrap_or_else(|| panic!("no alert from the late process:\n{out}"));
    let text = marker["output"].as_str().expect("output");
    assert!(
        text.contains("parent=sh") && text.contains(&format!("[ ! -e {} ]", go.display())),
        "the process started during the overload is known: {text}\n{err}"
    );
}
