//! The rule-derived kernel filter loses no alert (docs/rules.md "Kernel
//! filter"). A live recording of a workload that exercises Falco's stable
//! rules and Saker's default rules (sensitive reads directly and through a
//! dup'ed fd, relative and unnormalized paths, log truncation, directories,
//! and thousands of opens no rule matches) is made unfiltered (`saker run
//! --write` never filters); the userspace model of the filter
//! (`OpenFilter::passes` plus the untracked-fd closes) is applied to it; both
//! recordings are replayed through the same rules and must give the same
//! alerts, while the filtered one holds far fewer events.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use common::*;
use saker::event::{Detail, flags};
use saker::recording::{FRAME_PROCESS, Frame, RecordingReader, RecordingWriter};
use saker::rules::pushdown::{OpenFilter, open_filter};
use saker::rules::{RuleSource, load_sources};

const WORKLOAD: &str = r#"
set +e
cd "$DIR"
cat /etc/shadow >/dev/null
head -c1 /etc/sudoers >/dev/null 2>&1
exec 3</etc/shadow; cat <&3 >/dev/null; exec 3<&-
(cd /tmp && cat ../../../../../etc/shadow >/dev/null)
cat /etc//shadow >/dev/null
cat /etc/./pam.conf >/dev/null 2>&1
ls /etc/pam.d >/dev/null
: > "$DIR/var/log/app.log"
ln -s /etc/shadow "$DIR/link" 2>/dev/null
i=0
while [ $i -lt 300 ]; do
  cat "$DIR/data" >/dev/null
  i=$((i+1))
done
python3 -c '
import os, sys
d = sys.argv[1]
for i in range(3000):
    fd = os.open(d + "/data", os.O_RDONLY)
    os.close(fd)
fd = os.open("/etc/shadow", os.O_RDONLY)
os.dup2(fd, 9)
os.close(fd)
os.close(9)
' "$DIR"
"#;

/// The model of the probe: opens the filter leaves out, and the closes of
/// their fds, per process, until an emitted event makes the fd again.
struct Model {
    filter: OpenFilter,
    untracked: HashMap<u32, HashSet<i64>>,
    left_out: usize,
}

impl Model {
    fn keep(&mut self, record: &[u8]) -> bool {
        let Ok(ev) = saker::event::decode(record) else {
            return true;
        };
        let name = ev.etype.name();
        match &ev.detail {
            Detail::Open { path, flags: f, .. } => {
                let dir = f & flags::O_DIRECTORY != 0;
                if self.filter.passes(path.as_bytes(), dir) {
                    self.untracked.entry(ev.tgid).or_default().remove(&ev.ret);
                    return true;
                }
                if ev.ret >= 0 && ev.ret < 1024 {
                    self.untracked.entry(ev.tgid).or_default().insert(ev.ret);
                }
                self.left_out += 1;
                false
            }
            Detail::Close { fd } => {
                if self
                    .untracked
                    .get_mut(&ev.tgid)
                    .is_some_and(|s| s.remove(fd))
                {
                    self.left_out += 1;
                    return false;
                }
                true
            }
            Detail::Exit {
                group_dead: true, ..
            } => {
                self.untracked.remove(&ev.tgid);
                true
            }
            _ => {
                let makes = matches!(
                    name,
                    "socket" | "accept" | "accept4" | "dup" | "dup2" | "dup3" | "memfd_create"
                );
                if makes && ev.ret >= 0 {
                    self.untracked.entry(ev.tgid).or_default().remove(&ev.ret);
                }
                true
            }
        }
    }
}

/// Copies `from` to `to`, leaving out the events `keep` refuses. Returns
/// (events read, events written).
fn filter_recording(from: &Path, to: &Path, mut keep: impl FnMut(&[u8]) -> bool) -> (usize, usize) {
    let mut r = RecordingReader::open(from).expect("open recording");
    let mut w = RecordingWriter::create(to, &r.meta.clone()).expect("create recording");
    let (mut read, mut written) = (0, 0);
    while let Some((_, frame)) = r.next_frame().expect("frame") {
        match frame {
            Frame::Event(rec) => {
                read += 1;
                if keep(&rec) {
                    w.write_event(&rec).expect("write");
                    written += 1;
                }
            }
            Frame::Process(v) => w.write_json(FRAME_PROCESS, &v).expect("write"),
            Frame::Trailer(v) => {
                w.finish(&v).expect("finish");
                return (read, written);
            }
        }
    }
    w.finish(&serde_json::json!({})).expect("finish");
    (read, written)
}

/// (rule, output) of every alert of a replay, sorted.
fn replay(rec: &Path, rules: &[&Path]) -> Vec<(String, String)> {
    let mut cmd = Command::new(saker_bin());
    cmd.args(["run", "--json", "--replay"]).arg(rec);
    for r in rules {
        cmd.arg("-r").arg(r);
    }
    let out = cmd.output().expect("replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut alerts: Vec<(String, String)> = parse_alerts(&String::from_utf8_lossy(&out.stdout))
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap_or_default().to_string(),
                a["output"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    alerts.sort();
    alerts
}

#[test]
fn the_filter_model_loses_no_alert_of_a_recorded_workload() {
    if !bpf_available() {
        return;
    }
    let Some(upstream) = falco_rules_dir(&[saker_upstream::STABLE]) else {
        return;
    };
    let dir = unique_dir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("var/log")).expect("mkdir");
    std::fs::write(d.join("data"), b"x").expect("data");
    let stable = upstream.join(saker_upstream::STABLE);
    let default = d.join("default_rules.yaml");
    std::fs::write(&default, saker::rules::DEFAULT_RULES).expect("default rules");
    let rules = [stable.as_path(), default.as_path()];

    let rec = d.join("live.rec");
    let mut args: Vec<String> = vec!["run".into(), "--json".into(), "--write".into()];
    args.push(rec.display().to_string());
    for r in &rules {
        args.push("-r".into());
        args.push(r.display().to_string());
    }
    args.extend(["-o".into(), "webserver.enabled=false".into()]);
    let run = SakerRun::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let st = Command::new("/bin/sh")
        .arg("-c")
        .arg(WORKLOAD)
        .env("DIR", d)
        .status()
        .expect("workload");
    assert!(st.success());
    let (_, err) = run.stop();
    assert!(
        !err.contains("kernel filter: opens of paths"),
        "a recording is made unfiltered:\n{err}"
    );

    let texts: Vec<RuleSource> = rules
        .iter()
        .map(|p| RuleSource {
            name: p.display().to_string(),
            text: std::fs::read_to_string(p).expect("rules"),
        })
        .collect();
    let filter = open_filter(&load_sources(&texts).ruleset);
    assert!(filter.patterns.is_some(), "{:?}", filter.unreduced);
    let mut model = Model {
        filter,
        untracked: HashMap::new(),
        left_out: 0,
    };
    let filtered = d.join("filtered.rec");
    let (read, written) = filter_recording(&rec, &filtered, |r| model.keep(r));
    eprintln!(
        "kernel filter model: {read} events recorded, {written} kept, {} left out",
        model.left_out
    );
    assert!(
        model.left_out > 5000,
        "the loops' opens and closes are left out"
    );

    let all = replay(&rec, &rules);
    let kept = replay(&filtered, &rules);
    assert!(
        all.iter()
            .any(|(r, _)| r == "Read sensitive file untrusted"),
        "the workload alerts: {all:#?}"
    );
    assert_eq!(all, kept, "the same alerts with and without the filter");
}

/// More path patterns than the probe's tries hold: the agent starts, says
/// that opens are not filtered, and still alerts (nothing is lost).
#[test]
fn too_many_patterns_leave_opens_unfiltered() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let d = dir.path();
    let names: Vec<String> = (0..5000).map(|i| format!("{}/f{i}", d.display())).collect();
    let rules = d.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "- list: many_files\n  items: [{}]\n- rule: Many\n  desc: t\n  condition: evt.type in (open, openat) and fd.name in (many_files)\n  output: many %fd.name\n  priority: WARNING\n",
            names.join(", ")
        ),
    )
    .expect("rules");
    let run = SakerRun::start(&[
        "run",
        "--json",
        "-r",
        rules.to_str().expect("utf-8"),
        "-o",
        "webserver.enabled=false",
    ]);
    std::fs::write(&names[4321], b"x").expect("open");
    let (out, err) = run.stop();
    assert!(
        err.contains("opens are not filtered"),
        "the fallback is said:\n{err}"
    );
    assert!(
        parse_alerts(&out).iter().any(|a| a["rule"] == "Many"),
        "{out}\n{err}"
    );
}

/// exec closes the `O_CLOEXEC` fds of filtered opens without a `close`
/// call; the probe forgets them there. Otherwise a later fd with the same
/// number from calls it does not trace (here `pipe` and `dup2`) would have
/// its `close` left out, and userspace would keep a closed fd.
#[test]
fn after_exec_the_close_of_a_reused_fd_number_is_seen() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let path = dir.path().join("plain");
    std::fs::write(&path, b"x").unwrap();
    let cap = LiveCapture::start_filtered(
        saker::probe::ProbeOptions::default(),
        interest("openat,close,execve"),
        true,
        Some(vec![saker::rules::pushdown::PathPattern::Exact(
            "/saker-test/no-such-file".into(),
        )]),
    );
    // 20 filtered opens, so that the last fd's number is above those the
    // dynamic loader uses after exec.
    let (pid, out) = run_load(&["cloexec-exec", path.to_str().unwrap(), "20"]);
    let fd: i64 = out.trim().parse().expect("the fd printed after exec");
    let got = cap.stop();
    let events = got.of_pid(pid);
    let opens = events
        .iter()
        .filter(|e| matches!(&e.detail, Detail::Open { path: p, .. } if Path::new(p) == path))
        .count();
    assert_eq!(opens, 0, "the 20 opens of {} were filtered", path.display());
    assert!(
        events
            .iter()
            .any(|e| matches!(e.detail, Detail::Close { fd: f } if f == fd) && e.ret == 0),
        "the close of fd {fd} (a pipe made after exec) is seen"
    );
}
