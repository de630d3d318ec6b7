//! State transitions on hand-built events.

use std::sync::Arc;

use super::*;
use crate::event::EventType;

fn ev(tgid: u32, tid: u32, etype: &str, ret: i64, detail: Detail) -> Event {
    Event {
        etype: EventType::from_name(etype).unwrap(),
        ts_boot_ns: 1_000,
        ts_wall_ns: 1_700_000_000_000_000_000,
        tgid,
        tid,
        ppid: 1,
        uid: 1000,
        gid: 1000,
        loginuid: 1000,
        cgroup_id: 0,
        cpu: 0,
        comm: "bash".into(),
        ret,
        truncated: false,
        read_failed: false,
        detail,
    }
}

use crate::event::exec_info_fixture as exec_info;

fn state() -> State {
    State::detached(UserDb::from_text("", ""))
}

fn open(tgid: u32, dirfd: i64, path: &str, flags: u64, fd: i64) -> Event {
    ev(
        tgid,
        tgid,
        "openat",
        fd,
        Detail::Open {
            dirfd,
            path: path.into(),
            flags,
            mode: 0,
            resolve: 0,
        },
    )
}

#[test]
fn fork_then_exec_builds_a_child_with_its_lineage() {
    let mut s = state();
    let mut parent = Process::minimal(100, 1, "bash", &Arc::from("host"));
    parent.cwd = "/home/u".into();
    s.insert_seed(parent);
    let fork = ev(
        100,
        100,
        "clone",
        200,
        Detail::Fork {
            child_tid: 200,
            child_tgid: 200,
            clone_flags: 0,
            child_ppid: 100,
            child_vtid: 200,
            child_vpid: 200,
        },
    );
    s.apply(&fork);
    let mut exec = ev(
        200,
        200,
        "execve",
        0,
        Detail::Exec(exec_info(
            &["cat", "/etc/shadow"],
            "/usr/bin/cat",
            "/home/u",
            "/",
        )),
    );
    exec.comm = "cat".into();
    if let Detail::Exec(x) = &mut exec.detail {
        x.old_tid = 200;
    }
    exec.ppid = 100;
    s.apply(&exec);
    let p = s.procs.get(200).unwrap();
    assert_eq!(p.comm, "cat");
    assert_eq!(p.exe, "cat");
    assert_eq!(p.args, vec!["/etc/shadow"]);
    assert_eq!(p.exepath, "/usr/bin/cat");
    assert_eq!(p.cmdline(), "cat /etc/shadow");
    assert_eq!(p.tty, 34816);
    assert_eq!(s.procs.ancestor(p, 1).unwrap().comm, "bash");
    assert_eq!(&*p.container_id, "host");
    // Start time comes from the kernel's boot-clock start, converted to wall time.
    assert_eq!(p.start_ns, 500 + (1_700_000_000_000_000_000 - 1_000));
}

#[test]
fn fds_follow_open_dup_close_and_resolve_relative_paths() {
    let mut s = state();
    let mut p = Process::minimal(10, 1, "app", &Arc::from("host"));
    p.cwd = "/var/www/html".into();
    s.insert_seed(p);
    s.apply(&open(10, AT_FDCWD, "../../../../etc/passwd", 0, 3));
    assert_eq!(s.procs.get(10).unwrap().fds[&3].name, "/etc/passwd");
    // Relative to a directory fd.
    s.apply(&open(10, AT_FDCWD, "/etc", O_DIRECTORY, 4));
    assert_eq!(s.procs.get(10).unwrap().fds[&4].kind, FdKind::Directory);
    s.apply(&open(10, 4, "shadow", 0, 5));
    assert_eq!(s.procs.get(10).unwrap().fds[&5].name, "/etc/shadow");
    // A failed open adds nothing.
    s.apply(&open(10, AT_FDCWD, "/nope", 0, -2));
    assert_eq!(s.procs.get(10).unwrap().fds.len(), 3);
    // dup2 copies; close removes after rules ran.
    let dup = ev(
        10,
        10,
        "dup2",
        1,
        Detail::Dup {
            oldfd: 5,
            newfd: Some(1),
            flags: 0,
        },
    );
    s.apply(&dup);
    assert_eq!(s.procs.get(10).unwrap().fds[&1].name, "/etc/shadow");
    let close = ev(10, 10, "close", 0, Detail::Close { fd: 5 });
    s.apply(&close);
    assert!(
        s.procs.get(10).unwrap().fds.contains_key(&5),
        "still visible to rules on the close"
    );
    s.finish(&close);
    assert!(!s.procs.get(10).unwrap().fds.contains_key(&5));
}

/// fcntl(F_DUPFD[_CLOEXEC]) copies an fd like dup (Falco's
/// parse_fcntl_exit): Python's os.dup is fcntl(fd, F_DUPFD_CLOEXEC, 0).
/// F_SETFD sets and clears close-on-exec; exec then closes what has it.
#[test]
fn fcntl_dupfd_copies_and_setfd_sets_close_on_exec() {
    use crate::event::fcntl::{F_DUPFD, F_DUPFD_CLOEXEC, F_GETFL, F_SETFD};
    let mut s = state();
    s.insert_seed(Process::minimal(10, 1, "python3", &Arc::from("host")));
    s.apply(&open(10, AT_FDCWD, "/etc/shadow", 0, 3));
    let fcntl = |fd: i64, cmd: u64, arg: u64, ret: i64| {
        ev(10, 10, "fcntl", ret, Detail::Fcntl { fd, cmd, arg })
    };
    s.apply(&fcntl(3, F_DUPFD, 10, 10));
    s.apply(&fcntl(3, F_DUPFD_CLOEXEC, 0, 4));
    // A failed dup and an unrelated command change nothing.
    s.apply(&fcntl(3, F_DUPFD, 20, -24));
    s.apply(&fcntl(3, F_GETFL, 0, 0));
    let fds = &s.procs.get(10).unwrap().fds;
    assert_eq!(fds[&10].name, "/etc/shadow");
    assert_eq!(fds[&10].kind, FdKind::File);
    assert_eq!(fds[&10].flags & O_CLOEXEC_BIT, 0);
    assert_ne!(fds[&4].flags & O_CLOEXEC_BIT, 0);
    assert!(!fds.contains_key(&20));
    assert_eq!(fds.len(), 3);

    s.apply(&fcntl(10, F_SETFD, crate::event::fcntl::FD_CLOEXEC, 0));
    s.apply(&fcntl(4, F_SETFD, 0, 0));
    let mut exec = ev(
        10,
        10,
        "execve",
        0,
        Detail::Exec(exec_info(&["true"], "/bin/true", "/", "/")),
    );
    if let Detail::Exec(x) = &mut exec.detail {
        x.old_tid = 10;
    }
    s.apply(&exec);
    let fds = &s.procs.get(10).unwrap().fds;
    assert!(!fds.contains_key(&10), "F_SETFD FD_CLOEXEC: closed by exec");
    assert!(fds.contains_key(&4), "F_SETFD 0 cleared close-on-exec");
    assert!(fds.contains_key(&3));
}

/// dup3(O_CLOEXEC) gives the copy close-on-exec; dup2 never does.
#[test]
fn dup3_with_cloexec_marks_the_copy() {
    let mut s = state();
    s.insert_seed(Process::minimal(10, 1, "sh", &Arc::from("host")));
    s.apply(&open(10, AT_FDCWD, "/etc/hostname", O_CLOEXEC_BIT, 3));
    let dup = |etype: &str, newfd: i64, flags: u64| {
        ev(
            10,
            10,
            etype,
            newfd,
            Detail::Dup {
                oldfd: 3,
                newfd: Some(newfd),
                flags,
            },
        )
    };
    s.apply(&dup("dup3", 10, O_CLOEXEC_BIT));
    s.apply(&dup("dup2", 11, 0));
    let fds = &s.procs.get(10).unwrap().fds;
    assert_ne!(fds[&10].flags & O_CLOEXEC_BIT, 0);
    assert_eq!(fds[&11].flags & O_CLOEXEC_BIT, 0);
    assert_eq!(fds[&11].name, "/etc/hostname");
}

#[test]
fn exec_drops_cloexec_fds_and_detects_containers() {
    let mut s = state();
    s.insert_seed(Process::minimal(10, 1, "runc", &Arc::from("host")));
    s.apply(&open(10, AT_FDCWD, "/tmp/keep", 0, 3));
    s.apply(&open(10, AT_FDCWD, "/tmp/drop", O_CLOEXEC_BIT, 4));
    let id = "3f4e1b2c9d8a7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
    let mut exec = ev(
        10,
        10,
        "execve",
        0,
        Detail::Exec(exec_info(
            &["sh"],
            "/bin/sh",
            "/",
            &format!("/default/{id}"),
        )),
    );
    if let Detail::Exec(x) = &mut exec.detail {
        x.old_tid = 10;
    }
    s.apply(&exec);
    let p = s.procs.get(10).unwrap();
    assert!(p.fds.contains_key(&3));
    assert!(!p.fds.contains_key(&4));
    assert_eq!(&*p.container_id, &id[..12]);
}

#[test]
fn sockets_get_endpoints_from_connect_and_accept() {
    use crate::event::SockTuple;
    let mut s = state();
    s.insert_seed(Process::minimal(10, 1, "nc", &Arc::from("host")));
    s.apply(&ev(
        10,
        10,
        "socket",
        3,
        Detail::Socket {
            domain: 2,
            sock_type: 1,
            protocol: 0,
        },
    ));
    let tuple = SockTuple {
        family: 2,
        sock_type: 1,
        protocol: 6,
        state: 1,
        local: Some(("10.0.0.5".parse().unwrap(), 40000)),
        remote: Some(("1.2.3.4".parse().unwrap(), 4444)),
        unix_path: None,
    };
    s.apply(&ev(
        10,
        10,
        "connect",
        0,
        Detail::SocketIo {
            fd: 3,
            addr: Some(SockAddr::Inet {
                ip: "1.2.3.4".parse().unwrap(),
                port: 4444,
            }),
            tuple: Some(tuple.clone()),
            size: 0,
            flags: 0,
        },
    ));
    let f = &s.procs.get(10).unwrap().fds[&3];
    assert_eq!(f.kind, FdKind::Ipv4);
    assert_eq!(f.name, "10.0.0.5:40000->1.2.3.4:4444");
    assert_eq!(f.l4proto_name(), Some("tcp"));
    assert!(f.connected);
    assert_eq!(
        f.server_client().0,
        Some(("1.2.3.4".parse().unwrap(), 4444))
    );

    s.apply(&ev(
        10,
        10,
        "accept4",
        7,
        Detail::SocketIo {
            fd: 5,
            addr: None,
            tuple: Some(tuple),
            size: 0,
            flags: 0,
        },
    ));
    let f = &s.procs.get(10).unwrap().fds[&7];
    assert_eq!(f.role, Role::Server);
    assert_eq!(f.name, "1.2.3.4:4444->10.0.0.5:40000", "client first");
}

/// An AF_INET6 socket talking to an IPv4 peer (`::ffff:a.b.c.d` on both
/// ends) is an IPv4 socket with IPv4 addresses, as Falco's parser makes it
/// (parsers.cpp, `set_ipv4_mapped_ipv6_addresses_and_ports`); a real IPv6
/// peer keeps it IPv6.
#[test]
fn ipv4_mapped_ipv6_sockets_are_ipv4_as_in_falco() {
    use crate::event::SockTuple;
    let mut s = state();
    s.insert_seed(Process::minimal(10, 1, "curl", &Arc::from("host")));
    let socket6 = |fd: i64| {
        ev(
            10,
            10,
            "socket",
            fd,
            Detail::Socket {
                domain: 10,
                sock_type: 1,
                protocol: 0,
            },
        )
    };
    let connect = |fd: i64, local: &str, remote: &str| {
        let ip = |a: &str| a.parse::<std::net::IpAddr>().unwrap();
        ev(
            10,
            10,
            "connect",
            0,
            Detail::SocketIo {
                fd,
                addr: Some(SockAddr::Inet {
                    ip: ip(remote),
                    port: 8080,
                }),
                tuple: Some(SockTuple {
                    family: 10,
                    sock_type: 1,
                    protocol: 6,
                    state: 1,
                    local: Some((ip(local), 40000)),
                    remote: Some((ip(remote), 8080)),
                    unix_path: None,
                }),
                size: 0,
                flags: 0,
            },
        )
    };
    s.apply(&socket6(3));
    // Before any address is known the socket is what socket() made it.
    assert_eq!(s.procs.get(10).unwrap().fds[&3].kind, FdKind::Ipv6);
    s.apply(&connect(3, "::ffff:127.0.0.1", "::ffff:127.0.0.1"));
    let f = &s.procs.get(10).unwrap().fds[&3];
    assert_eq!(f.kind, FdKind::Ipv4);
    assert_eq!((f.kind.name(), f.kind.typechar()), ("ipv4", '4'));
    assert_eq!(f.name, "127.0.0.1:40000->127.0.0.1:8080");
    let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(f.server_client(), (Some((lo, 8080)), Some((lo, 40000))));

    // A real IPv6 peer stays IPv6; Falco prints IPv6 tuples unbracketed.
    s.apply(&socket6(4));
    s.apply(&connect(4, "::1", "::1"));
    let f = &s.procs.get(10).unwrap().fds[&4];
    assert_eq!(f.kind, FdKind::Ipv6);
    assert_eq!(f.name, "::1:40000->::1:8080");

    // bind of an IPv6 socket to `::` (all-zero): Falco's bind parser takes
    // it for IPv4 (0.0.0.0), like is_ipv4_mapped_ipv6 says.
    s.apply(&socket6(5));
    s.apply(&ev(
        10,
        10,
        "bind",
        0,
        Detail::SocketIo {
            fd: 5,
            addr: Some(SockAddr::Inet {
                ip: "::".parse().unwrap(),
                port: 9000,
            }),
            tuple: None,
            size: 0,
            flags: 0,
        },
    ));
    let f = &s.procs.get(10).unwrap().fds[&5];
    assert_eq!(f.kind, FdKind::Ipv4);
    assert_eq!(f.local, Some(("0.0.0.0".parse().unwrap(), 9000)));
}

#[test]
fn threads_and_exits_keep_the_table_bounded() {
    let mut s = state();
    for i in 0..1000u32 {
        let pid = 1000 + i;
        s.apply(&ev(
            pid,
            pid,
            "openat",
            3,
            Detail::Open {
                dirfd: AT_FDCWD,
                path: "/x".into(),
                flags: 0,
                mode: 0,
                resolve: 0,
            },
        ));
        let thread = ev(
            pid,
            pid,
            "clone",
            0,
            Detail::Fork {
                child_tid: pid + 100_000,
                child_tgid: pid,
                clone_flags: 0x10000,
                child_ppid: 1,
                child_vtid: 0,
                child_vpid: 0,
            },
        );
        s.apply(&thread);
        let texit = ev(
            pid,
            pid + 100_000,
            "procexit",
            0,
            Detail::Exit {
                status: 0,
                group_dead: false,
            },
        );
        s.apply(&texit);
        s.finish(&texit);
        let exit = ev(
            pid,
            pid,
            "procexit",
            0,
            Detail::Exit {
                status: 0,
                group_dead: true,
            },
        );
        s.apply(&exit);
        assert!(
            s.procs.get(pid).is_some(),
            "visible to rules on its own exit"
        );
        s.finish(&exit);
    }
    assert_eq!(s.procs.len(), 0);
    assert_eq!(s.procs.thread_count(), 0);
}

#[test]
fn unknown_processes_are_created_from_the_event_when_detached() {
    let mut s = state();
    let e = open(4242, AT_FDCWD, "/etc/hosts", 0, 3);
    s.apply(&e);
    let p = s.procs.get(4242).unwrap();
    assert_eq!(p.comm, "bash");
    assert_eq!(p.uid, 1000);
    assert_eq!(
        p.fds[&3].name, "/etc/hosts",
        "an absolute path needs no cwd"
    );
}

/// A live state of this test process, its fd table bounded to one entry.
fn live_state_of_self(max_fds_per_process: usize) -> (State, u32) {
    let mut s = State::live(Path::new("/"), 0, ContainerTable::default());
    s.set_limits(StateLimits {
        max_fds_per_process,
        ..StateLimits::default()
    });
    (s, std::process::id())
}

#[test]
fn an_evicted_fd_used_again_is_read_back_from_proc() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept-open");
    let file = std::fs::File::create(&path).unwrap();
    let fd = i64::from(file.as_raw_fd());
    let (mut s, pid) = live_state_of_self(1);
    assert!(
        s.procs.get(pid).unwrap().fds.contains_key(&fd),
        "seeded from /proc"
    );
    // An open makes the table exceed its bound of one: everything but the
    // new fd is evicted, ours included.
    s.apply(&open(pid, AT_FDCWD, "/new", 0, 900));
    let p = s.procs.get(pid).unwrap();
    assert!(!p.fds.contains_key(&fd) && p.fds_evicted);
    assert!(s.stats.fds_evicted >= 1);

    s.apply(&ev(
        pid,
        pid,
        "fchmod",
        0,
        Detail::Fchmod { fd, mode: 0o644 },
    ));
    let f = s.procs.get(pid).unwrap().fds.get(&fd).expect("read back");
    assert_eq!(f.name, path.to_str().unwrap());
    assert_eq!(f.kind, FdKind::File);
    assert_eq!(s.stats.fds_recovered, 1);
    drop(file);
}

#[test]
fn a_rescan_recovers_opens_and_closes_that_drops_hid() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let first = std::fs::File::create(dir.path().join("first")).unwrap();
    let reused = i64::from(first.as_raw_fd());
    let (mut s, pid) = live_state_of_self(16_384);
    assert_eq!(
        s.procs.get(pid).unwrap().fds.get(&reused).unwrap().name,
        dir.path().join("first").to_str().unwrap()
    );
    // While events were dropped: a file opened, and the first fd's number
    // reused for it (dup2 closes the old file).
    let second_path = dir.path().join("second");
    let second = std::fs::File::create(&second_path).unwrap();
    let opened = i64::from(second.as_raw_fd());
    // SAFETY: both fds are open and owned by the Files above.
    assert_eq!(
        unsafe { libc::dup2(opened as i32, reused as i32) },
        reused as i32
    );

    // And an exec that was lost: the table still holds what ran before.
    let real_comm = s.procs.get(pid).unwrap().comm.clone();
    let p = s.procs.get_mut(pid).unwrap();
    p.comm = "sh".into();
    p.args = vec!["-c".into(), "before the exec".into()];

    let r = s.rescan();
    // (Other processes of the machine may have exec'd since the seed too.)
    assert!(r.refreshed >= 1, "{r:?}");
    let p = s.procs.get(pid).unwrap();
    assert_eq!(p.comm, real_comm);
    assert!(!p.args.iter().any(|a| a == "before the exec"));
    let second_path = second_path.to_str().unwrap();
    assert_eq!(
        p.fds.get(&reused).unwrap().name,
        second_path,
        "stale entry replaced"
    );
    assert_eq!(
        p.fds.get(&opened).unwrap().name,
        second_path,
        "lost open added"
    );
    assert!(s.stats.fds_recovered >= 2, "{:?}", s.stats);
    assert_eq!(s.stats.proc_rescans, 1);

    // A close the drops hid: the next rescan forgets the fd.
    drop(second);
    s.rescan();
    assert_eq!(s.procs.get(pid).unwrap().comm, real_comm);
    assert!(
        !s.procs.get(pid).unwrap().fds.contains_key(&opened) || {
            // Another test thread may have opened a file on the same number.
            s.procs.get(pid).unwrap().fds.get(&opened).unwrap().name != second_path
        }
    );
    drop(first);
}

#[test]
fn reconciling_keeps_what_events_told_when_proc_agrees() {
    let host: Arc<str> = Arc::from("host");
    let mut p = Process::minimal(7, 1, "x", &host);
    let mut file = FdInfo::new(FdKind::File, "/etc/passwd".into());
    file.flags = 0o2000;
    p.fds.insert(3, file.clone());
    p.fds.insert(
        4,
        FdInfo::new(FdKind::Ipv4, "10.0.0.1:1->10.0.0.2:2".into()),
    );
    p.fds.insert(5, FdInfo::new(FdKind::File, "/gone".into()));
    let mut now = FastMap::default();
    now.insert(3, FdInfo::new(FdKind::File, "/etc/passwd".into()));
    // A socket /proc could not resolve: the event's endpoints stay.
    now.insert(4, FdInfo::new(FdKind::Unknown, "socket:[1]".into()));
    now.insert(6, FdInfo::new(FdKind::Pipe, "pipe:[2]".into()));
    assert_eq!(reconcile_fds(&mut p, now), 1);
    assert_eq!(p.fds.get(&3), Some(&file), "flags from the open kept");
    assert_eq!(p.fds.get(&4).unwrap().kind, FdKind::Ipv4);
    assert!(!p.fds.contains_key(&5));
    assert_eq!(p.fds.get(&6).unwrap().kind, FdKind::Pipe);
}

/// Found by the recording_reader fuzz target: an exec record whose times
/// are nonsense (a hostile or corrupt recording) overflowed the start time
/// arithmetic; it must give a nonsense start, not a panic.
#[test]
fn an_exec_with_nonsense_times_does_not_panic() {
    let mut s = state();
    let mut exec = ev(
        300,
        300,
        "execve",
        0,
        Detail::Exec(exec_info(&["x"], "/bin/x", "/", "/kubepods/pod1/abc")),
    );
    exec.ts_wall_ns = i64::MAX;
    exec.ts_boot_ns = 0;
    if let Detail::Exec(x) = &mut exec.detail {
        x.old_tid = 300;
        x.start_boot_ns = i64::MAX as u64;
    }
    s.apply(&exec);
    assert!(s.procs.get(300).is_some());
}
