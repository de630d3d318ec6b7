//! The probe on the real kernel: each test starts a workload process, finds
//! its events by pid and checks the decoded arguments.

mod common;

use std::process::Command;

use common::*;
use saker::event::{AT_FDCWD, Detail, SockAddr, flags};

const RING: u32 = 8 * 1024 * 1024;

#[test]
fn open_of_a_unique_path_reports_path_flags_and_fd() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let path = dir.path().join("opened-by-test");
    let path_s = path.to_str().unwrap();
    let cap = LiveCapture::start(interest("openat,open"), RING, true);
    let before = wall_ns();
    let (pid, out) = run_load(&["open", path_s]);
    let after = wall_ns();
    let got = cap.stop();
    let fd: i64 = out.parse().unwrap();
    let opens: Vec<_> = got
        .of_pid(pid)
        .into_iter()
        .filter(|e| matches!(&e.detail, Detail::Open { path, .. } if path == path_s))
        .collect();
    assert_eq!(opens.len(), 1, "one open of {path_s} by {pid}");
    let ev = opens[0];
    assert_eq!(ev.etype.name(), "openat");
    assert_eq!(ev.ret, fd, "returned fd");
    let Detail::Open {
        dirfd,
        flags: f,
        mode,
        ..
    } = &ev.detail
    else {
        unreachable!()
    };
    assert_eq!(*dirfd, AT_FDCWD);
    // As Falco prints them: file_flags order, and O_F_CREATED because the
    // call created the file.
    assert_eq!(
        flags::open_flags(*f),
        "O_CREAT|O_WRONLY|O_CLOEXEC|O_F_CREATED"
    );
    assert_eq!(*mode, 0o600);
    assert_eq!(ev.comm, "saker-testload");
    // evt.time: a syscall event may share its CPU's clock reading from up to
    // one scheduler tick (at most 10 ms, HZ=100) earlier.
    assert!(
        ev.ts_wall_ns > before - 10_000_000 && ev.ts_wall_ns <= after,
        "event time {} outside the run [{before}, {after}]",
        ev.ts_wall_ns
    );
    assert_eq!(got.decode_errors, 0);
}

fn wall_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    d.as_nanos() as i64
}

#[test]
fn exec_reports_exe_path_and_argv() {
    if !bpf_available() {
        return;
    }
    let marker = format!("saker-exec-test-{}", std::process::id());
    let cap = LiveCapture::start(interest("execve,execveat"), RING, true);
    let child = Command::new("/bin/true")
        .args([marker.as_str(), "second arg"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success());
    let got = cap.stop();
    let execs: Vec<_> = got
        .of_pid(pid)
        .into_iter()
        .filter_map(|e| match &e.detail {
            Detail::Exec(x) => Some((e, x)),
            _ => None,
        })
        .collect();
    assert_eq!(execs.len(), 1, "one exec by {pid}");
    let (ev, x) = execs[0];
    assert_eq!(ev.etype.name(), "execve");
    assert_eq!(ev.ret, 0);
    assert_eq!(x.filename, "/bin/true");
    let real = std::fs::canonicalize("/bin/true").unwrap();
    assert_eq!(
        x.exe_path,
        real.to_str().unwrap(),
        "exe path from the kernel"
    );
    assert_eq!(x.args, vec!["/bin/true", marker.as_str(), "second arg"]);
    assert_eq!(ev.comm, "true");
    assert_eq!(x.cwd, std::env::current_dir().unwrap().to_str().unwrap());
    assert!(
        x.env.iter().any(|v| v.starts_with("PATH=")),
        "environment captured"
    );
}

#[test]
fn failed_exec_is_reported_with_its_error() {
    if !bpf_available() {
        return;
    }
    let cap = LiveCapture::start(interest("execve"), RING, true);
    let missing = format!("/nonexistent/saker-{}", std::process::id());
    // Command spawns a child that calls execve, which fails with ENOENT.
    let err = Command::new(&missing).spawn().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let got = cap.stop();
    let failed: Vec<_> = got
        .events
        .iter()
        .filter(
            |e| matches!(&e.detail, Detail::ExecFailed { filename, .. } if *filename == missing),
        )
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(flags::result_name(failed[0].ret), "ENOENT");
}

#[test]
fn connect_and_accept_report_addresses_and_ports() {
    if !bpf_available() {
        return;
    }
    connect_and_accept_over("127.0.0.1");
}

#[test]
fn connect_and_accept_over_ipv6_report_addresses_and_ports() {
    if !bpf_available() {
        return;
    }
    connect_and_accept_over("::1");
}

/// A TCP connection over loopback address `ip`: the connect and the accept
/// carry both ends' addresses and ports (the probe's socket tuple).
fn connect_and_accept_over(ip: &str) {
    let loopback: std::net::IpAddr = ip.parse().unwrap();
    let cap = LiveCapture::start(interest("connect,accept,accept4"), RING, true);
    let mut listener = Command::new(testload())
        .args(["listen", ip])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let listener_pid = listener.id();
    let mut stdout = std::io::BufReader::new(listener.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let (pid, local) = run_load(&["connect", &port.to_string(), ip]);
    assert!(listener.wait().unwrap().success());
    let got = cap.stop();
    let local_port: u16 = local.rsplit(':').next().unwrap().parse().unwrap();

    let connects: Vec<_> = got
        .of_pid(pid)
        .into_iter()
        .filter(|e| e.etype.name() == "connect")
        .collect();
    assert_eq!(connects.len(), 1);
    let Detail::SocketIo { addr, tuple, .. } = &connects[0].detail else {
        panic!("not socket io: {:?}", connects[0].detail)
    };
    assert_eq!(addr, &Some(SockAddr::Inet { ip: loopback, port }));
    let t = tuple.as_ref().expect("socket tuple");
    assert_eq!(t.remote, Some((loopback, port)));
    assert_eq!(t.local, Some((loopback, local_port)));
    assert_eq!(t.protocol, libc::IPPROTO_TCP as u16);
    assert_eq!(connects[0].ret, 0);

    let accepts: Vec<_> = got
        .of_pid(listener_pid)
        .into_iter()
        .filter(|e| matches!(e.etype.name(), "accept" | "accept4"))
        .collect();
    assert_eq!(accepts.len(), 1, "accept seen on the listener side");
    let Detail::SocketIo { tuple, .. } = &accepts[0].detail else {
        panic!()
    };
    let t = tuple.as_ref().expect("accepted socket tuple");
    assert_eq!(t.local, Some((loopback, port)));
    assert_eq!(t.remote, Some((loopback, local_port)));
    assert!(accepts[0].ret >= 0, "new fd returned");
}

#[test]
fn fd_and_file_syscalls_report_their_arguments() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("src"), b"x").unwrap();
    let cap = LiveCapture::start(
        interest("dup2,dup3,symlinkat,unlinkat,renameat2,memfd_create"),
        RING,
        true,
    );
    let (dup_pid, _) = run_load(&["dup2", &p("src"), "77"]);
    let (sym_pid, _) = run_load(&["symlinkat", "/etc/shadow", &p("link")]);
    let (ren_pid, _) = run_load(&["renameat2", &p("src"), &p("dst")]);
    let (unl_pid, _) = run_load(&["unlinkat", &p("dst")]);
    let (memfd_pid, memfd_out) = run_load(&["memfd", "saker-memfd-test"]);
    let got = cap.stop();

    let dup = got.of_pid(dup_pid);
    assert!(
        dup.iter().any(|e| e.etype.name() == "dup2"
            && e.ret == 77
            && matches!(
                e.detail,
                Detail::Dup {
                    newfd: Some(77),
                    ..
                }
            )),
        "dup2 with newfd 77: {dup:?}"
    );
    let sym = got.of_pid(sym_pid);
    assert!(
        sym.iter().any(|e| matches!(&e.detail,
            Detail::Symlink { target, linkpath, newdirfd } if target == "/etc/shadow" && *linkpath == p("link") && *newdirfd == AT_FDCWD)
            && e.ret == 0),
        "symlinkat: {sym:?}"
    );
    let ren = got.of_pid(ren_pid);
    assert!(
        ren.iter().any(|e| matches!(&e.detail,
            Detail::TwoPaths { oldpath, newpath, flags, .. } if *oldpath == p("src") && *newpath == p("dst") && *flags == libc::RENAME_NOREPLACE as u64)),
        "renameat2: {ren:?}"
    );
    let unl = got.of_pid(unl_pid);
    assert!(
        unl.iter().any(|e| e.etype.name() == "unlinkat"
            && matches!(&e.detail, Detail::PathOp { path, .. } if *path == p("dst"))),
        "unlinkat: {unl:?}"
    );
    let memfd = got.of_pid(memfd_pid);
    assert!(
        memfd.iter().any(|e| e.ret.to_string() == memfd_out
            && matches!(&e.detail, Detail::MemfdCreate { name, flags } if name == "saker-memfd-test" && flags::memfd_flags(*flags) == "MFD_CLOEXEC")),
        "memfd_create: {memfd:?}"
    );
}

#[test]
fn ptrace_attach_reports_request_and_target() {
    if !bpf_available() {
        return;
    }
    let cap = LiveCapture::start(interest("ptrace"), RING, true);
    let (pid, target) = run_load(&["ptrace-attach"]);
    let got = cap.stop();
    let target: i64 = target.parse().unwrap();
    let attach: Vec<_> = got
        .of_pid(pid)
        .into_iter()
        .filter(|e| {
            matches!(e.detail, Detail::Ptrace { request, pid: t, .. }
                if flags::ptrace_request(request) == "PTRACE_ATTACH" && t == target)
        })
        .collect();
    assert_eq!(attach.len(), 1, "{:?}", got.of_pid(pid));
    assert_eq!(attach[0].ret, 0);
}

#[test]
fn syscalls_left_out_of_the_interest_map_produce_no_event() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let d = dir.path().join("made-dir");
    let f = dir.path().join("made-file");
    let cap = LiveCapture::start(interest("openat"), RING, true);
    let (pid, _) = run_load(&["mkdir-then-open", d.to_str().unwrap(), f.to_str().unwrap()]);
    let got = cap.stop();
    assert!(d.is_dir(), "the workload really made the directory");
    let mine = got.of_pid(pid);
    assert!(
        mine.iter()
            .any(|e| matches!(&e.detail, Detail::Open { path, .. } if path == f.to_str().unwrap())),
        "the enabled openat is reported"
    );
    assert!(
        mine.iter().all(|e| e.etype.name() == "openat"),
        "only openat events: {:?}",
        mine.iter().map(|e| e.etype.name()).collect::<Vec<_>>()
    );
}

#[test]
fn process_lifecycle_events_track_fork_exec_and_exit() {
    if !bpf_available() {
        return;
    }
    let cap = LiveCapture::start(
        interest("execve,clone,clone3,fork,vfork,procexit"),
        RING,
        true,
    );
    let out = Command::new("/bin/sh")
        .args(["-c", "/bin/true; echo $$"])
        .output()
        .unwrap();
    let got = cap.stop();
    let sh_pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let forks: Vec<(u32, u32)> = got
        .of_pid(sh_pid)
        .iter()
        .filter_map(|e| match e.detail {
            Detail::Fork {
                child_tid,
                child_tgid,
                ..
            } => Some((child_tid, child_tgid)),
            _ => None,
        })
        .collect();
    assert_eq!(forks.len(), 1, "sh forks once for /bin/true");
    let child = forks[0].1;
    let child_events: Vec<&str> = got.of_pid(child).iter().map(|e| e.etype.name()).collect();
    assert_eq!(
        child_events,
        vec!["execve", "procexit"],
        "the child execs then exits"
    );
    let exit = got
        .of_pid(sh_pid)
        .into_iter()
        .find(|e| matches!(e.detail, Detail::Exit { .. }))
        .expect("sh exits");
    assert!(matches!(
        exit.detail,
        Detail::Exit {
            group_dead: true,
            ..
        }
    ));
}

#[test]
fn a_tiny_ring_under_load_counts_every_drop() {
    if !bpf_available() {
        return;
    }
    // userfaultfd is a syscall nothing else on the machine makes, so the
    // kernel counters see exactly the load generator's calls.
    const N: u64 = 50_000;
    let cap = LiveCapture::start(interest("userfaultfd"), 4096, false);
    let (pid, _) = run_load(&["userfaultfd-loop", &N.to_string()]);
    let got = cap.stop();
    let c = &got.counters.total;
    assert!(c.dropped_full > 0, "a 4 KiB ring must overflow: {c:?}");
    assert_eq!(
        c.emitted + c.dropped_full + c.scratch_busy,
        N,
        "every call is either delivered or counted as dropped: {c:?}"
    );
    let delivered = got.of_pid(pid).len() as u64;
    assert_eq!(
        delivered, c.emitted,
        "userspace received what the kernel emitted"
    );
    assert!(got.events.iter().all(|e| e.etype.name() == "userfaultfd"));
}

/// Removes a cgroup directory and its children once their (exited)
/// processes are reaped (rmdir fails with EBUSY until then).
fn remove_cgroup_tree(top: &std::path::Path) {
    for _ in 0..100 {
        let mut dirs: Vec<std::path::PathBuf> = Vec::new();
        let mut stack = vec![top.to_path_buf()];
        while let Some(d) = stack.pop() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        stack.push(e.path());
                    }
                }
            }
            dirs.push(d);
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        if dirs
            .iter()
            .all(|d| std::fs::remove_dir(d).is_ok() || !d.exists())
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// On v1 (and hybrid) hierarchies a container's cgroup may be visible in a
/// v1 controller only: the probe takes the memory controller's path, and the
/// pids controller's when the task sits at the memory root. The cgroup
/// matcher then names the container from that path.
#[test]
fn exec_reports_the_v1_controller_cgroup_when_v2_is_the_root() {
    if !bpf_available() {
        return;
    }
    use saker::state::container::{CgroupMatcher, ContainerType};
    let v1 = std::path::Path::new("/sys/fs/cgroup");
    if !v1.join("memory").is_dir() || !v1.join("pids").is_dir() {
        // A pure cgroup v2 host has no v1 controller to test.
        assert!(
            std::env::var("SAKER_REQUIRE_BPF").is_err(),
            "CI machines have cgroup v1 controllers (hybrid layout)"
        );
        eprintln!("not run: no cgroup v1 memory/pids hierarchies here");
        return;
    }
    let top = format!("saker-it-{}", std::process::id());
    let hex_mem = format!(
        "{:0>64}",
        format!("{:x}", 0x5a4e_u64 + u64::from(std::process::id()))
    );
    let hex_pids = format!(
        "{:0>64}",
        format!("{:x}", 0x91d5_u64 + u64::from(std::process::id()))
    );
    let mem_dir = v1.join("memory").join(&top).join("docker").join(&hex_mem);
    let pids_dir = v1.join("pids").join(&top).join("docker").join(&hex_pids);
    std::fs::create_dir_all(&mem_dir).unwrap();
    std::fs::create_dir_all(&pids_dir).unwrap();
    let cap = LiveCapture::start(interest("execve"), RING, true);
    // The shell moves itself, then execs: the exec record carries the new cgroup.
    let in_memory = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec /bin/true in-memory",
            mem_dir.display()
        ))
        .status()
        .unwrap();
    let in_pids = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && echo $$ > {}/cgroup.procs && exec /bin/true in-pids",
            v1.join("memory").display(),
            pids_dir.display()
        ))
        .status()
        .unwrap();
    let got = cap.stop();
    assert!(in_memory.success() && in_pids.success());
    let cgroup_of = |marker: &str| -> String {
        got.events
            .iter()
            .find_map(|e| match &e.detail {
                Detail::Exec(x) if x.args.iter().any(|a| a == marker) => Some(x.cgroup.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no exec of /bin/true {marker}"))
    };
    let matcher = CgroupMatcher::default();
    for (marker, hex) in [("in-memory", &hex_mem), ("in-pids", &hex_pids)] {
        let cg = cgroup_of(marker);
        assert_eq!(cg, format!("/{top}/docker/{hex}"), "{marker}");
        let m = matcher.match_cgroup(&cg).unwrap();
        assert_eq!((m.id, m.kind), (hex.as_str(), ContainerType::Docker));
    }
    remove_cgroup_tree(&v1.join("memory").join(&top));
    remove_cgroup_tree(&v1.join("pids").join(&top));
}

/// `saker-testload open-timed`: the boot-clock times read just before each
/// open, and the pid that made them.
fn open_timed(path: &str, n: u32, gap_us: u32) -> (u32, Vec<u64>) {
    let (pid, out) = run_load(&["open-timed", path, &n.to_string(), &gap_us.to_string()]);
    let before = out
        .split_whitespace()
        .map(|t| t.parse().expect("boot time"))
        .collect();
    (pid, before)
}

/// Exact event times by default (issue 13: three opens 1 ms apart all got
/// the same `evt.time` when syscall records shared one clock reading per 16):
/// `saker run` with no configuration gives three opens ~1 ms apart three
/// distinct, increasing times, as far apart as the opens were.
#[test]
fn opens_a_millisecond_apart_get_distinct_increasing_times_by_default() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let target = dir.path().join("timed");
    std::fs::write(&target, b"x").unwrap();
    let target = target.to_str().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Timed open\n  desc: opens of the test's file\n  \
             condition: evt.type in (open, openat) and fd.name = {target}\n  \
             output: t=%evt.rawtime\n  priority: NOTICE\n"
        ),
    )
    .unwrap();
    let run = SakerRun::start(&[
        "run",
        "-r",
        rules.to_str().unwrap(),
        "--json",
        "-o",
        "webserver.enabled=false",
    ]);
    let (_pid, before) = open_timed(target, 3, 1000);
    let (stdout, stderr) = run.stop();
    let times: Vec<u64> = parse_alerts(&stdout)
        .iter()
        .filter(|a| a["rule"] == "Timed open")
        .map(|a| {
            a["output_fields"]["evt.rawtime"]
                .as_u64()
                .unwrap_or_else(|| panic!("evt.rawtime in {a}"))
        })
        .collect();
    assert_eq!(times.len(), 3, "three alerts:\n{stdout}\n{stderr}");
    for (w, b) in times.windows(2).zip(before.windows(2)) {
        // The opens were at least 1 ms apart (a sleep between them); exact
        // times are as far apart. Allow 0.1 ms for a refresh of the
        // boot-to-wall clock offset between the two events.
        assert!(
            w[1] > w[0] && w[1] - w[0] >= 900_000,
            "times {times:?} for opens at boot times {before:?}"
        );
        assert!(b[1] - b[0] >= 1_000_000);
    }
}

/// How early `evt.time` can be: the boot-clock time read just before each of
/// 400 opens, 20 us apart, against the event's time. Exact (the default): never
/// earlier. `timestamp_every: 16` (opt-in): earlier by at most one scheduler
/// tick (`record_time()` in agent-ebpf/bpf/lib/common.h reuses a CPU's last
/// reading only within the same jiffy; 1/CONFIG_HZ is 10 ms at most) — the
/// bound docs/configuration.md states. The measured figures are printed.
#[test]
fn sharing_clock_readings_is_opt_in_and_at_most_one_tick_early() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let target = dir.path().join("timed");
    std::fs::write(&target, b"x").unwrap();
    let target = target.to_str().unwrap();
    let default = saker::probe::ProbeOptions::default().timestamp_every;
    for (every, exact) in [(default, true), (16, false)] {
        let opts = saker::probe::ProbeOptions {
            ring_bytes: RING,
            timestamp_every: every,
            ..saker::probe::ProbeOptions::default()
        };
        let cap = LiveCapture::start_with(opts, interest("openat,open"), true);
        let (pid, before) = open_timed(target, 400, 20);
        let got = cap.stop();
        let events: Vec<u64> = got
            .of_pid(pid)
            .into_iter()
            .filter(|e| matches!(&e.detail, Detail::Open { path, .. } if path == target))
            .map(|e| e.ts_boot_ns)
            .collect();
        assert_eq!(events.len(), before.len(), "every open captured");
        let early: Vec<i64> = before
            .iter()
            .zip(&events)
            .map(|(b, e)| *b as i64 - *e as i64)
            .collect();
        let max_early = early.iter().copied().max().unwrap_or(0);
        let mut distinct = events.clone();
        distinct.dedup();
        eprintln!(
            "timestamp_every={every}: {} opens, {} distinct times, at most {max_early} ns early",
            events.len(),
            distinct.len()
        );
        assert!(
            events.windows(2).all(|w| w[0] <= w[1]),
            "times never go back"
        );
        if exact {
            assert!(max_early <= 0, "an exact time is never before the call");
            assert_eq!(distinct.len(), events.len(), "every open its own time");
        } else {
            assert!(
                max_early < 10_000_000,
                "a shared reading is at most one tick (<= 10 ms) old: {max_early} ns"
            );
        }
    }
}
