//! Bounded memory under churn on the real kernel: many short-lived
//! processes, many fds opened and closed, and fds left open by processes
//! that exit. After the churn and a settle, the agent's RSS is within 10% of
//! its baseline (taken after a warm-up) and its tables are back near their
//! baseline sizes.
//!
//! CI sizes: 20,000 processes, 200,000 fds, 200 processes leaking 500 fds
//! each. `SAKER_CHURN_FULL=1` runs the issue's full sizes: 200,000
//! processes, 1,000,000 fds, 1,000 processes leaking 500 fds each.

mod common;

use std::ffi::CString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;

struct Sizes {
    procs: usize,
    fds: usize,
    leakers: usize,
    leaked_each: usize,
}

fn sizes() -> Sizes {
    if std::env::var_os("SAKER_CHURN_FULL").is_some() {
        Sizes {
            procs: 200_000,
            fds: 1_000_000,
            leakers: 1_000,
            leaked_each: 500,
        }
    } else {
        Sizes {
            procs: 20_000,
            fds: 200_000,
            leakers: 200,
            leaked_each: 500,
        }
    }
}

/// `n` processes that exit at once (`/bin/true`), over two threads.
fn spawn_short_lived(n: usize) {
    let threads: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                for _ in (t..n).step_by(2) {
                    let st = std::process::Command::new("/bin/true")
                        .status()
                        .expect("true");
                    assert!(st.success());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("spawner");
    }
}

/// `n` open+close pairs of /dev/null in this process.
fn open_close(n: usize) {
    let path = CString::new("/dev/null").expect("path");
    for _ in 0..n {
        // SAFETY: valid path; the fd is closed right away.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
    }
}

/// `n` processes that open `each` fds and exit without closing them.
fn leak_fds(n: usize, each: usize) {
    let path = CString::new("/dev/null").expect("path");
    for _ in 0..n {
        // SAFETY: the child only calls open and _exit (async-signal-safe).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            for _ in 0..each {
                // SAFETY: valid path.
                unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
            }
            // SAFETY: ends the child.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
}

struct Tables {
    processes: f64,
    threads: f64,
    fds: f64,
}

fn tables(port: u16) -> Tables {
    Tables {
        processes: metric_sum(port, "saker_processes"),
        threads: metric_sum(port, "saker_threads"),
        fds: metric_sum(port, "saker_fds"),
    }
}

#[test]
fn rss_and_tables_return_to_baseline_after_process_and_fd_churn() {
    if !bpf_available() {
        return;
    }
    let s = sizes();
    let dir = unique_dir();
    // One rule on opens, so the open path is exercised; it never matches.
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Churn never\n  desc: t\n  condition: evt.type in (open, openat) and fd.name = {}/none\n  output: x\n  priority: WARNING\n",
            dir.path().display()
        ),
    )
    .expect("rules");
    let run = SakerRun::start(&[
        "run",
        "-r",
        rules.to_str().expect("utf-8"),
        "-o",
        "webserver.listen_port=0",
        // Every open and fd reaches the state tables, as the scenario means
        // (the kernel filter would leave out the opens no rule matches).
        "-o",
        "saker.kernel_filter=false",
    ]);
    let pid = run.pid();
    let port = webserver_port(&run);

    // Warm-up: every code path and allocation size class once.
    spawn_short_lived(2_000);
    open_close(20_000);
    leak_fds(20, s.leaked_each);
    std::thread::sleep(Duration::from_secs(8));
    let base_rss = vm_rss_kib(pid);
    let base = tables(port);

    let peak = Arc::new(AtomicU64::new(base_rss));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(vm_rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let t0 = Instant::now();
    let fds = std::thread::spawn(move || open_close(s.fds));
    spawn_short_lived(s.procs);
    leak_fds(s.leakers, s.leaked_each);
    fds.join().expect("fds");
    let churn = t0.elapsed();

    // Settle: the agent reads what is queued, the sweep and trims run.
    std::thread::sleep(Duration::from_secs(12));
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let after_rss = vm_rss_kib(pid);
    let after = tables(port);
    let peak = peak.load(Ordering::Relaxed);
    let drops = metric_sum(port, "saker_kernel_drops_total");
    let evictions = metric_sum(port, "saker_state_evictions_total");
    eprintln!(
        "churn: {} processes, {} fds, {}x{} leaked in {churn:?}; RSS KiB baseline {base_rss} peak {peak} after {after_rss} ({:+.1}%); \
         processes {} -> {}, threads {} -> {}, fds {} -> {}; kernel drops {drops}, evictions {evictions}",
        s.procs,
        s.fds,
        s.leakers,
        s.leaked_each,
        (after_rss as f64 / base_rss as f64 - 1.0) * 100.0,
        base.processes,
        after.processes,
        base.threads,
        after.threads,
        base.fds,
        after.fds,
    );
    let (_, err) = run.stop();
    assert!(
        after_rss as f64 <= base_rss as f64 * 1.10,
        "RSS {after_rss} KiB is more than 10% above the baseline {base_rss} KiB:\n{}",
        err.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    assert!(
        after.processes <= base.processes + 50.0,
        "processes {} -> {}",
        base.processes,
        after.processes
    );
    assert!(
        after.threads <= base.threads + 100.0,
        "threads {} -> {}",
        base.threads,
        after.threads
    );
    assert!(
        after.fds <= base.fds + 1000.0,
        "fds {} -> {}",
        base.fds,
        after.fds
    );
}
