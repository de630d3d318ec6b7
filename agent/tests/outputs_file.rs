//! file_output (rotation, reopen, SIGUSR1) and program_output (restart).
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test"
)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use saker::output::{OutputKind, Outputs, OutputsConfig};
use support::*;

fn start(cfg: &OutputsConfig) -> Outputs {
    Outputs::start(&cfg.validate().unwrap(), &tokio::runtime::Handle::current()).unwrap()
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(10)
}

fn file_config(path: &Path, extra: &str) -> OutputsConfig {
    let yaml = format!(
        r#"
json_output: true
stdout_output: {{enabled: false}}
file_output:
  enabled: true
  filename: "{}"
{extra}
"#,
        path.display()
    );
    serde_yaml::from_str(&yaml).unwrap()
}

fn lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            assert!(
                s.is_empty() || s.ends_with('\n'),
                "{} ends mid-line",
                path.display()
            );
            s.lines().map(str::to_string).collect()
        }
        Err(_) => Vec::new(),
    }
}

fn seq_of(line: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["output_fields"]["evt.num"].as_u64().unwrap()
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_a_burst_puts_every_line_in_exactly_one_file() {
    const N: u64 = 10_000;
    const MAX: u64 = 256 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    let cfg = file_config(
        &path,
        &format!(
            "  keep_alive: true\n  queue_capacity: {N}\n  rotate: {{max_bytes: {MAX}, keep: 100}}"
        ),
    );
    let outputs = Arc::new(start(&cfg));
    let o = Arc::clone(&outputs);
    std::thread::spawn(move || {
        for seq in 0..N {
            o.send(alert(seq));
            if seq % 2500 == 0 {
                // SIGUSR1 in the middle of the burst must not lose or split lines.
                o.reopen();
            }
        }
    })
    .join()
    .unwrap();
    outputs.shutdown(deadline()).await;
    let s = outputs.stats_of(OutputKind::File).unwrap().snapshot();
    assert_eq!((s.sent, s.dropped()), (N, 0), "{s:?}");

    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    let mut files = 0;
    // Oldest file first: events.json.K .. events.json.1, events.json.
    let mut order: Vec<u64> = Vec::new();
    for n in (1..=100).rev() {
        let p = numbered(&path, n);
        if !p.exists() {
            continue;
        }
        files += 1;
        assert!(
            std::fs::metadata(&p).unwrap().len() <= MAX,
            "{} too big",
            p.display()
        );
        for l in lines(&p) {
            let q = seq_of(&l);
            *seen.entry(q).or_default() += 1;
            order.push(q);
        }
    }
    for l in lines(&path) {
        let q = seq_of(&l);
        *seen.entry(q).or_default() += 1;
        order.push(q);
    }
    assert!(files >= 10, "expected many rotations, got {files}");
    assert_eq!(seen.len() as u64, N, "every line is somewhere");
    assert!(seen.values().all(|c| *c == 1), "no line is in two files");
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "files hold consecutive runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_at_most_n_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let mut cfg = file_config(&path, "  rotate: {max_bytes: 4096, keep: 3}");
    cfg.json_output = false;
    let outputs = start(&cfg);
    for seq in 0..500 {
        outputs.send(alert(seq));
    }
    outputs.shutdown(deadline()).await;
    assert!(numbered(&path, 3).exists());
    assert!(!numbered(&path, 4).exists());
    let last = lines(&path);
    assert!(
        last.last().unwrap().contains("seq=499"),
        "text lines are Falco's output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_reopens_the_file_after_an_external_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    let outputs = Arc::new(start(&file_config(&path, "  keep_alive: true")));
    let handler =
        saker::output::reopen_on_sigusr1(Arc::clone(&outputs), &tokio::runtime::Handle::current())
            .unwrap();
    for seq in 0..10 {
        outputs.send(alert(seq));
    }
    let stats = Arc::clone(outputs.stats_of(OutputKind::File).unwrap());
    while stats.snapshot().sent < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // logrotate moves the file, then signals the agent.
    let moved = dir.path().join("events.json.old");
    std::fs::rename(&path, &moved).unwrap();
    // SAFETY: sends a signal to this process, whose SIGUSR1 handler is installed.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) }, 0);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for seq in 10..20 {
        outputs.send(alert(seq));
    }
    outputs.shutdown(deadline()).await;
    handler.abort();
    let old: Vec<u64> = lines(&moved).iter().map(|l| seq_of(l)).collect();
    let new: Vec<u64> = lines(&path).iter().map(|l| seq_of(l)).collect();
    assert_eq!(old, (0..10).collect::<Vec<_>>());
    assert_eq!(new, (10..20).collect::<Vec<_>>());
}

fn program_config(program: &str, keep_alive: bool) -> OutputsConfig {
    let mut cfg: OutputsConfig =
        serde_yaml::from_str("json_output: true\nstdout_output: {enabled: false}").unwrap();
    cfg.program_output.enabled = true;
    cfg.program_output.keep_alive = keep_alive;
    cfg.program_output.program = program.to_string();
    cfg.program_output.retry.initial_backoff_ms = 10;
    cfg.program_output.retry.max_backoff_ms = 100;
    cfg
}

async fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = lines(path);
        if l.len() >= n || tokio::time::Instant::now() >= until {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn program_output_pipes_alerts_to_a_long_running_program() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    for keep_alive in [true, false] {
        let _ = std::fs::remove_file(&out);
        let outputs = start(&program_config(
            &format!("cat >> '{}'", out.display()),
            keep_alive,
        ));
        for seq in 0..50 {
            outputs.send(alert(seq));
        }
        outputs.shutdown(deadline()).await;
        let got: Vec<u64> = lines(&out).iter().map(|l| seq_of(l)).collect();
        assert_eq!(got, (0..50).collect::<Vec<_>>(), "keep_alive {keep_alive}");
        let s = outputs.stats_of(OutputKind::Program).unwrap().snapshot();
        assert_eq!((s.sent, s.dropped()), (50, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn program_output_restarts_a_program_that_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    // Reads exactly one line (sh's `read` takes no more from a pipe), then exits.
    let program = format!(
        "read -r line && printf '%s\\n' \"$line\" >> '{}'",
        out.display()
    );
    let outputs = start(&program_config(&program, true));
    for seq in 0..5u64 {
        outputs.send(alert(seq));
        let got = wait_lines(&out, seq as usize + 1).await;
        assert_eq!(got.len() as u64, seq + 1, "alert {seq} did not arrive");
        // Let the program exit before the next alert.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    outputs.shutdown(deadline()).await;
    let got: Vec<u64> = lines(&out).iter().map(|l| seq_of(l)).collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    let s = outputs.stats_of(OutputKind::Program).unwrap().snapshot();
    assert_eq!((s.sent, s.dropped()), (5, 0), "{s:?}");
}
