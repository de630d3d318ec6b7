//! File descriptor and network state as the fields see it: IPv4-mapped IPv6
//! sockets, fd copies made by fcntl, `evt.is_open_*` and `evt.abspath*`, each
//! against the value Falco's filterchecks give (falcosecurity/libs
//! userspace/libsinsp/sinsp_filtercheck_event.cpp and sinsp_filtercheck_fd.cpp).

use std::sync::Arc;

use super::*;
use crate::event::{OPEN_F_CREATED, SockAddr, SockTuple, fcntl};
use crate::fields::resolve;
use crate::rules::{RuleSource, load_sources};
use crate::state::process::Process;
use crate::state::users::UserDb;

fn run() -> RunInfo {
    RunInfo {
        hostname: Arc::from("node-1"),
        start_ns: 1,
    }
}

fn ev(etype: &str, ret: i64, detail: Detail) -> Event {
    Event {
        etype: EventType::from_name(etype).unwrap(),
        ts_boot_ns: 10,
        ts_wall_ns: 1_700_000_010_000_000_000,
        tgid: 30,
        tid: 30,
        ppid: 1,
        uid: 0,
        gid: 0,
        loginuid: u32::MAX,
        cgroup_id: 0,
        cpu: 0,
        comm: "python3".into(),
        ret,
        truncated: false,
        read_failed: false,
        detail,
    }
}

fn state() -> State {
    let mut s = State::detached(UserDb::from_text("", ""));
    let mut p = Process::minimal(30, 1, "python3", &Arc::from("host"));
    p.cwd = "/home/u".into();
    s.insert_seed(p);
    s
}

fn get(s: &State, e: &Event, field: &str) -> Option<String> {
    let r = run();
    let c = EventContext::new(e, s, 1, 0, &r);
    let f = resolve(field, None).unwrap();
    c.extract(&f).map(|v| v.to_text())
}

fn open_ev(etype: &str, dirfd: i64, path: &str, flags: u64, mode: u32, ret: i64) -> Event {
    ev(
        etype,
        ret,
        Detail::Open {
            dirfd,
            path: path.into(),
            flags,
            mode,
            resolve: 0,
        },
    )
}

/// (is_open_read, is_open_write, is_open_create, is_open_exec)
fn is_open(e: &Event) -> (bool, bool, bool, bool) {
    let s = state();
    let b = |f| get(&s, e, f).as_deref() == Some("true");
    (
        b("evt.is_open_read"),
        b("evt.is_open_write"),
        b("evt.is_open_create"),
        b("evt.is_open_exec"),
    )
}

/// TYPE_ISOPEN_* in sinsp_filtercheck_event.cpp, on the flags and mode the
/// driver reports (open_flags_to_scap, open_modes_to_scap, FMODE_CREATED).
#[test]
fn is_open_fields_follow_falco() {
    use flags::{O_CREAT, O_RDWR, O_WRONLY};
    // Read-only, read-write, write-only; a failed call still says how it
    // tried to open.
    assert_eq!(
        is_open(&open_ev("openat", AT_FDCWD, "/etc/shadow", 0, 0, 3)),
        (true, false, false, false)
    );
    assert_eq!(
        is_open(&open_ev("open", AT_FDCWD, "/etc/x", O_RDWR, 0, -13)),
        (true, true, false, false)
    );
    assert_eq!(
        is_open(&open_ev("openat2", AT_FDCWD, "/etc/x", O_WRONLY, 0, 3)),
        (false, true, false, false)
    );
    // The invalid access mode 3 is O_RDONLY for the driver.
    assert_eq!(
        is_open(&open_ev("openat", AT_FDCWD, "/x", 3, 0, 3)),
        (true, false, false, false)
    );
    // O_CREAT on an existing file creates nothing (no FMODE_CREATED) ...
    let existing = open_ev("openat", AT_FDCWD, "/tmp/a", O_WRONLY | O_CREAT, 0o644, 3);
    assert_eq!(is_open(&existing), (false, true, false, false));
    // ... the kernel's FMODE_CREATED does; with an execute bit it is open_exec.
    let created = open_ev(
        "openat",
        AT_FDCWD,
        "/tmp/a",
        O_WRONLY | O_CREAT | OPEN_F_CREATED,
        0o755,
        3,
    );
    assert_eq!(is_open(&created), (false, true, true, true));
    // is_open_exec needs O_CREAT or O_TMPFILE (the driver reports mode 0
    // otherwise), not that the file was created.
    let exec_existing = open_ev("openat", AT_FDCWD, "/tmp/a", O_WRONLY | O_CREAT, 0o700, 3);
    assert!(is_open(&exec_existing).3);
    assert!(!is_open(&open_ev("openat", AT_FDCWD, "/tmp/a", O_WRONLY, 0o755, 3)).3);
    // O_TMPFILE: created when the call succeeds.
    let tmpfile = 0o20_200_000 | O_RDWR;
    assert_eq!(
        is_open(&open_ev("openat", AT_FDCWD, "/tmp", tmpfile, 0o600, 3)),
        (true, true, true, false)
    );
    assert!(!is_open(&open_ev("openat", AT_FDCWD, "/tmp", tmpfile, 0o600, -95)).2);
    // creat: Falco answers only is_open_exec, from the mode.
    let creat = open_ev("creat", AT_FDCWD, "/tmp/x.sh", O_WRONLY | O_CREAT, 0o755, 3);
    assert_eq!(is_open(&creat), (false, false, false, true));
    // Any other event: all false.
    let mkdir = ev(
        "mkdir",
        0,
        Detail::PathOp {
            dirfd: AT_FDCWD,
            path: "/tmp/d".into(),
            mode: 0o777,
            flags: 0,
        },
    );
    assert_eq!(is_open(&mkdir), (false, false, false, false));
}

/// extract_abspath: only *at() calls with a dirfd; renameat/linkat old path
/// for evt.abspath and .src, new path for .dst; symlinkat the link for all.
#[test]
fn abspath_follows_falco() {
    let mut s = state();
    s.apply(&open_ev(
        "openat",
        AT_FDCWD,
        "/etc",
        flags::O_DIRECTORY,
        0,
        5,
    ));
    let q = |e: &Event| {
        [
            get(&s, e, "evt.abspath"),
            get(&s, e, "evt.abspath.src"),
            get(&s, e, "evt.abspath.dst"),
        ]
    };
    let some = |v: &str| Some(v.to_string());
    let two = |etype: &str, olddirfd: i64, newdirfd: i64| {
        ev(
            etype,
            0,
            Detail::TwoPaths {
                olddirfd,
                oldpath: "a/../shadow".into(),
                newdirfd,
                newpath: "x".into(),
                flags: 0,
            },
        )
    };
    assert_eq!(
        q(&two("renameat", 5, AT_FDCWD)),
        [some("/etc/shadow"), some("/etc/shadow"), some("/home/u/x")]
    );
    assert_eq!(
        q(&two("linkat", AT_FDCWD, 5)),
        [
            some("/home/u/shadow"),
            some("/home/u/shadow"),
            some("/etc/x")
        ]
    );
    // rename and link have no dirfd: no evt.abspath in Falco.
    assert_eq!(q(&two("rename", AT_FDCWD, AT_FDCWD)), [None, None, None]);
    assert_eq!(q(&two("link", AT_FDCWD, AT_FDCWD)), [None, None, None]);
    let symlinkat = ev(
        "symlinkat",
        0,
        Detail::Symlink {
            target: "/etc/shadow".into(),
            newdirfd: 5,
            linkpath: "sh".into(),
        },
    );
    assert_eq!(
        q(&symlinkat),
        [some("/etc/sh"), some("/etc/sh"), some("/etc/sh")]
    );
    // openat: dirfd and name, the same for every suffix; open has none.
    let openat = open_ev("openat", 5, "passwd", 0, 0, 3);
    assert_eq!(
        q(&openat),
        [
            some("/etc/passwd"),
            some("/etc/passwd"),
            some("/etc/passwd")
        ]
    );
    assert_eq!(q(&open_ev("open", AT_FDCWD, "x", 0, 0, 3))[0], None);
    let path_op = |etype: &str, dirfd: i64, p: &str| {
        ev(
            etype,
            0,
            Detail::PathOp {
                dirfd,
                path: p.into(),
                mode: 0,
                flags: 0,
            },
        )
    };
    assert_eq!(
        get(&s, &path_op("unlinkat", AT_FDCWD, "f"), "evt.abspath"),
        some("/home/u/f")
    );
    assert_eq!(
        get(&s, &path_op("mkdirat", 5, "d/"), "evt.abspath"),
        some("/etc/d")
    );
    assert_eq!(
        get(&s, &path_op("fchmodat", 99, "/abs/./f"), "evt.abspath"),
        some("/abs/f"),
        "an absolute path ignores the dirfd"
    );
    // An unknown dirfd: Falco joins to "<UNKNOWN>/".
    assert_eq!(
        get(&s, &path_op("unlinkat", 99, "f"), "evt.abspath"),
        some("<UNKNOWN>/f")
    );
    assert_eq!(
        get(&s, &path_op("unlink", AT_FDCWD, "f"), "evt.abspath"),
        None
    );
    assert_eq!(
        get(&s, &path_op("mkdir", AT_FDCWD, "d"), "evt.abspath"),
        None
    );
    assert_eq!(
        get(&s, &path_op("unlinkat", AT_FDCWD, ""), "evt.abspath"),
        None
    );
}

/// Python's os.dup is fcntl(fd, F_DUPFD_CLOEXEC, 0): a read on the copy
/// names the file (Falco's parse_fcntl_exit adds the copy to the fd table).
#[test]
fn a_read_on_an_fcntl_copy_names_the_file() {
    let mut s = state();
    s.apply(&open_ev("openat", AT_FDCWD, "/etc/shadow", 0, 0, 3));
    let dup = ev(
        "fcntl",
        10,
        Detail::Fcntl {
            fd: 3,
            cmd: fcntl::F_DUPFD,
            arg: 10,
        },
    );
    s.apply(&dup);
    assert_eq!(get(&s, &dup, "fd.name").as_deref(), Some("/etc/shadow"));
    assert_eq!(get(&s, &dup, "evt.arg.cmd").as_deref(), Some("F_DUPFD"));
    let read = ev(
        "read",
        512,
        Detail::Other {
            args: [10, 0x7fff_0000, 4096, 0, 0, 0],
        },
    );
    s.apply(&read);
    assert_eq!(get(&s, &read, "fd.num").as_deref(), Some("10"));
    assert_eq!(get(&s, &read, "fd.name").as_deref(), Some("/etc/shadow"));
    assert_eq!(get(&s, &read, "fd.typechar").as_deref(), Some("f"));
    // A syscall whose first argument is not an fd has no fd context.
    let getpid = ev(
        "getpid",
        30,
        Detail::Other {
            args: [10, 0, 0, 0, 0, 0],
        },
    );
    assert_eq!(get(&s, &getpid, "fd.name"), None);
}

fn connect6(local: &str, remote: &str) -> Event {
    let ip = |a: &str| a.parse::<std::net::IpAddr>().unwrap();
    ev(
        "connect",
        0,
        Detail::SocketIo {
            fd: 3,
            addr: Some(SockAddr::Inet {
                ip: ip(remote),
                port: 8080,
            }),
            tuple: Some(SockTuple {
                family: flags::AF_INET6,
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
}

fn socket6() -> Event {
    ev(
        "socket",
        3,
        Detail::Socket {
            domain: 10,
            sock_type: 1,
            protocol: 0,
        },
    )
}

/// A connect from an IPv6 socket to `::ffff:127.0.0.1` has the fields of an
/// IPv4 loopback connection, and loopback exclusions written for IPv4 hold
/// for it, as in Falco.
#[test]
fn ipv4_mapped_connect_has_ipv4_fields_and_matches_ipv4_rules() {
    let mut s = state();
    s.apply(&socket6());
    let c = connect6("::ffff:127.0.0.1", "::ffff:127.0.0.1");
    s.apply(&c);
    for (field, want) in [
        ("fd.type", "ipv4"),
        ("fd.typechar", "4"),
        ("fd.sip", "127.0.0.1"),
        ("fd.cip", "127.0.0.1"),
        ("fd.lip", "127.0.0.1"),
        ("fd.rip", "127.0.0.1"),
        ("fd.sport", "8080"),
        ("fd.name", "127.0.0.1:40000->127.0.0.1:8080"),
        ("fd.sockfamily", "ip"),
        ("fd.is_server", "false"),
        ("fd.l4proto", "tcp"),
        ("evt.arg.tuple", "127.0.0.1:40000->127.0.0.1:8080"),
    ] {
        assert_eq!(get(&s, &c, field).as_deref(), Some(want), "{field}");
    }
    let rules = load_sources(&[RuleSource {
        name: "t.yaml".into(),
        text: r#"
- macro: loopback
  condition: (fd.sip = 127.0.0.1 or fd.snet = "127.0.0.0/8" or fd.net = "127.0.0.0/8")
- rule: Outbound IPv4 not to loopback
  desc: t
  condition: evt.type = connect and fd.type = ipv4 and fd.typechar = 4 and not loopback
  output: "%fd.name"
  priority: WARNING
- rule: Outbound IPv4 to loopback
  desc: t
  condition: evt.type = connect and fd.type = ipv4 and fd.sip = "127.0.0.1" and fd.net = "127.0.0.0/8" and fd.cip in (127.0.0.1)
  output: "%fd.name"
  priority: WARNING
"#
        .into(),
    }]);
    assert!(!out_has_errors(&rules), "{:?}", rules.diagnostics);
    let fired = |s: &State, e: &Event| {
        let r = run();
        let ctx = EventContext::new(e, s, 1, 0, &r);
        let mut names = Vec::new();
        rules
            .ruleset
            .evaluate(&ctx, |r| names.push(r.name.to_string()));
        names
    };
    assert_eq!(fired(&s, &c), vec!["Outbound IPv4 to loopback"]);

    // The same through a real IPv6 peer: not IPv4, no IPv4 rule fires.
    let mut s6 = state();
    s6.apply(&socket6());
    let c6 = connect6("2001:db8::2", "2001:db8::1");
    s6.apply(&c6);
    assert_eq!(get(&s6, &c6, "fd.type").as_deref(), Some("ipv6"));
    assert_eq!(get(&s6, &c6, "fd.sip").as_deref(), Some("2001:db8::1"));
    assert!(fired(&s6, &c6).is_empty());

    // A mapped non-loopback peer is an IPv4 connection the exclusion does not cover.
    let mut sp = state();
    sp.apply(&socket6());
    let cp = connect6("::ffff:10.0.0.2", "::ffff:10.0.0.1");
    sp.apply(&cp);
    assert_eq!(fired(&sp, &cp), vec!["Outbound IPv4 not to loopback"]);
    assert_eq!(get(&sp, &cp, "fd.sip").as_deref(), Some("10.0.0.1"));
}

fn out_has_errors(o: &crate::rules::LoadOutcome) -> bool {
    o.has_errors()
}
