//! Agent lifecycle on the real kernel: a second agent on the node is refused
//! (and two run side by side with their own lock files), a spool directory
//! is refused to a second agent, SIGTERM exits within the grace period while
//! the receiver is down, and after SIGKILL and a restart every spooled alert
//! arrives, each once (docs/outputs.md: a crash may repeat only the alert
//! whose delivery and commit it separated; here none was delivered).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// An HTTP receiver on loopback: answers 500 while `down`, else 200 and
/// counts the `marker-N` names in each accepted body.
struct Receiver {
    port: u16,
    down: Arc<AtomicBool>,
    seen: Arc<Mutex<BTreeMap<usize, usize>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(true));
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (d, s) = (down.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let (d, s) = (d.clone(), s.clone());
                std::thread::spawn(move || serve(conn, &d, &s));
            }
        });
        Receiver { port, down, seen }
    }

    fn counts(&self) -> BTreeMap<usize, usize> {
        self.seen.lock().expect("seen").clone()
    }
}

fn serve(conn: std::net::TcpStream, down: &AtomicBool, seen: &Mutex<BTreeMap<usize, usize>>) {
    let mut w = conn.try_clone().expect("clone");
    let mut r = BufReader::new(conn);
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        // Request line and headers.
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l
                .to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(str::trim)
                .and_then(|v| v.parse().ok())
            {
                len = v;
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let status = if down.load(Ordering::SeqCst) {
            "500 Internal Server Error"
        } else {
            let text = String::from_utf8_lossy(&body);
            let mut m = seen.lock().expect("seen");
            for part in text.split("marker-").skip(1) {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(i) = digits.parse::<usize>() {
                    *m.entry(i).or_default() += 1;
                    // The output text and the output field both carry the name.
                    break;
                }
            }
            "200 OK"
        };
        if write!(w, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}

fn rules(dir: &Path) -> String {
    format!(
        "- rule: Lifecycle marker\n  desc: opens of marker files\n  \
         condition: evt.type in (open, openat) and fd.name startswith {}/marker-\n  \
         output: marker file=%fd.name\n  priority: WARNING\n",
        dir.display()
    )
}

fn agent_args<'a>(rules: &'a str, extra: &'a [String]) -> Vec<String> {
    let mut v: Vec<String> = ["run", "-r", rules, "-o", "webserver.enabled=false"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for e in extra {
        v.push("-o".into());
        v.push(e.clone());
    }
    v
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs `saker ARGS` expecting it to stop by itself: (success, stderr).
fn run_to_exit(args: &[String]) -> (bool, String) {
    let mut child = Command::new(saker_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            let mut err = String::new();
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut err)
                .expect("read");
            return (st.success(), err);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("saker {args:?} did not stop by itself");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_second_agent_is_refused_and_two_run_with_their_own_lock_files() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let r = dir.path().join("rules.yaml");
    std::fs::write(&r, rules(dir.path())).expect("rules");
    let r = r.to_str().expect("utf-8").to_string();
    let lock = dir.path().join("saker.lock");
    let lock_kv = vec![format!("saker.lock_file={}", lock.display())];
    let first = SakerRun::start(&refs(&agent_args(&r, &lock_kv)));

    let (ok, err) = run_to_exit(&agent_args(&r, &lock_kv));
    assert!(!ok, "the second agent must not run:\n{err}");
    assert!(
        err.contains(&format!(
            "another saker agent with pid {} is running on this node",
            first.pid()
        )),
        "{err}"
    );
    assert!(
        err.contains("saker.lock_file"),
        "says how to run two: {err}"
    );

    // The documented way to run two: a lock file each.
    let other = vec![format!(
        "saker.lock_file={}",
        dir.path().join("other.lock").display()
    )];
    let second = SakerRun::start(&refs(&agent_args(&r, &other)));
    second.stop();
    first.stop();
}

#[test]
fn a_spool_directory_is_refused_to_a_second_agent() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let r = dir.path().join("rules.yaml");
    std::fs::write(&r, rules(dir.path())).expect("rules");
    let r = r.to_str().expect("utf-8").to_string();
    let spool = dir.path().join("spool");
    let http = |lock: &str| {
        vec![
            "http_output.enabled=true".to_string(),
            "http_output.url=http://127.0.0.1:9/".to_string(),
            "http_output.spool.enabled=true".to_string(),
            format!("http_output.spool.directory={}", spool.display()),
            format!("saker.lock_file={}", dir.path().join(lock).display()),
        ]
    };
    let first = SakerRun::start(&refs(&agent_args(&r, &http("a.lock"))));
    let (ok, err) = run_to_exit(&agent_args(&r, &http("b.lock")));
    assert!(!ok, "the second agent must not share the spool:\n{err}");
    assert!(
        err.contains(&format!("spool {}", spool.join("http").display())),
        "names the directory: {err}"
    );
    assert!(
        err.contains(&format!("in use by another agent (pid {})", first.pid())),
        "{err}"
    );
    first.stop();
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spool_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn sigterm_exits_in_the_grace_period_and_sigkill_loses_and_repeats_nothing_spooled() {
    if !bpf_available() {
        return;
    }
    const N: usize = 40;
    let dir = unique_dir();
    let marks = dir.path().join("m");
    std::fs::create_dir(&marks).expect("mkdir");
    let r = dir.path().join("rules.yaml");
    std::fs::write(&r, rules(&marks)).expect("rules");
    let r = r.to_str().expect("utf-8").to_string();
    let rx = Receiver::start();
    let spool = dir.path().join("spool");
    let grace_ms = 2000u64;
    let extra = vec![
        "json_output=true".to_string(),
        "http_output.enabled=true".to_string(),
        format!("http_output.url=http://127.0.0.1:{}/", rx.port),
        "http_output.retry.initial_backoff_ms=50".to_string(),
        "http_output.retry.max_backoff_ms=200".to_string(),
        "http_output.spool.enabled=true".to_string(),
        format!("http_output.spool.directory={}", spool.display()),
        format!("saker.shutdown_timeout_ms={grace_ms}"),
        format!(
            "saker.lock_file={}",
            dir.path().join("saker.lock").display()
        ),
    ];
    let args = agent_args(&r, &extra);

    // 1. Receiver down: the alerts go to the spool; the agent is SIGKILLed.
    let run = SakerRun::start(&refs(&args));
    for i in 0..N {
        std::fs::write(marks.join(format!("marker-{i}")), b"x").expect("marker");
    }
    let seg_dir = spool.join("http");
    // Every alert's record on disk (each is a few hundred bytes).
    wait_for("the alerts to be spooled", Duration::from_secs(20), || {
        spool_bytes(&seg_dir) > (N as u64) * 100
    });
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(run.pid() as i32, libc::SIGKILL) };
    drop(run);
    assert!(rx.counts().is_empty(), "nothing was accepted while down");

    // 2. Restart with the receiver up: every alert arrives, once. The lock
    // the killed agent held does not block the restart.
    rx.down.store(false, Ordering::SeqCst);
    let run = SakerRun::start(&refs(&args));
    wait_for("every spooled alert", Duration::from_secs(30), || {
        rx.counts().len() == N
    });
    std::thread::sleep(Duration::from_secs(1));
    let counts = rx.counts();
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "no delivery preceded the crash, so nothing may repeat: {repeated:?}"
    );

    // 3. Receiver down again, new alerts retried: SIGTERM still exits
    // within the grace period (plus start-up of the stop), successfully,
    // and the undelivered alerts stay in the spool for the next start.
    rx.down.store(true, Ordering::SeqCst);
    for i in N..N + 5 {
        std::fs::write(marks.join(format!("marker-{i}")), b"x").expect("marker");
    }
    std::thread::sleep(Duration::from_millis(800));
    let pid = run.pid() as i32;
    let t0 = Instant::now();
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let (_, err) = run.stop();
    let took = t0.elapsed();
    eprintln!("SIGTERM to exit: {took:?} (grace {grace_ms} ms)");
    assert!(
        took < Duration::from_millis(grace_ms + 3000),
        "exit took {took:?}:\n{err}"
    );

    rx.down.store(false, Ordering::SeqCst);
    let run = SakerRun::start(&refs(&args));
    wait_for(
        "the alerts spooled at shutdown",
        Duration::from_secs(30),
        || rx.counts().len() == N + 5,
    );
    std::thread::sleep(Duration::from_millis(500));
    run.stop();
    let counts = rx.counts();
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "a clean stop repeats nothing: {repeated:?}"
    );
}

/// SIGTERM while nothing reads the agent's standard output (a stalled log
/// shipper, `saker run | less` left open): the stdout output gives up at the
/// deadline and the agent exits, instead of waiting for the pipe forever.
#[test]
fn sigterm_exits_while_nothing_reads_stdout() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let r = dir.path().join("rules.yaml");
    std::fs::write(&r, rules(dir.path())).expect("rules");
    let log = dir.path().join("agent.log");
    let extra = vec![
        "saker.shutdown_timeout_ms=1000".to_string(),
        format!("saker.lock_file={}", unique_lock_file().display()),
    ];
    let mut child = Command::new(saker_bin())
        .args(agent_args(r.to_str().expect("utf-8"), &extra))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let _unread = child.stdout.take().expect("stdout");
    let agent_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the agent to start", Duration::from_secs(90), || {
        agent_log().contains("watching")
    });
    // Far more than a pipe holds (64 KiB): the writer blocks.
    for i in 0..3000 {
        std::fs::write(dir.path().join(format!("marker-{i}")), b"x").expect("marker");
    }
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("no exit 20 s after SIGTERM:\n{}", agent_log());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = t0.elapsed();
    eprintln!("SIGTERM to exit with stdout unread: {took:?} (grace 1000 ms)");
    assert!(status.success(), "{status:?}\n{}", agent_log());
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
}

/// A `program_output` program (`keep_alive`) that ignores its input does
/// not outlive the agent: it and what its shell started are killed once the
/// shutdown deadline passes.
#[test]
fn a_program_output_that_ignores_its_input_does_not_outlive_the_agent() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let r = dir.path().join("rules.yaml");
    std::fs::write(&r, rules(dir.path())).expect("rules");
    // A number no other process here sleeps for, to find it afterwards.
    let secs = 300_000 + std::process::id() % 100_000;
    let extra = vec![
        "saker.shutdown_timeout_ms=1000".to_string(),
        "program_output.enabled=true".to_string(),
        "program_output.keep_alive=true".to_string(),
        // Its output elsewhere: the agent's stdout pipe must close when it exits.
        format!("program_output.program=sleep {secs} >/dev/null 2>&1; echo done >/dev/null"),
    ];
    let run = SakerRun::start(&refs(&agent_args(r.to_str().expect("utf-8"), &extra)));
    std::fs::write(dir.path().join("marker-0"), b"x").expect("marker");
    let sleeping = || {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .filter(|c| c == format!("sleep\0{secs}\0").as_bytes())
            .count()
    };
    wait_for("the program to start", Duration::from_secs(10), || {
        sleeping() == 1
    });
    let (_, err) = run.stop();
    wait_for("the program to be gone", Duration::from_secs(3), || {
        sleeping() == 0
    });
    assert!(!err.contains("panicked"), "{err}");
}
