//! One table-driven test per decoded system call: the parameters' names and
//! order, raw values (`evt.rawarg`) and rendered values (`evt.arg`), and the
//! whole `evt.args` line, each written by hand from falcosecurity/libs at
//! 48dfd53:
//! - names, order, types, formats: `driver/event_table.c` (the `*_X` entry
//!   named in each case; `crate::event::params::EVENTS` cites its lines);
//! - codes and names: `driver/ppm_flag_helpers.h` (kernel value to code),
//!   `driver/ppm_events_public.h` (codes), `driver/flags_table.c` (names,
//!   order);
//! - rendering: `userspace/libsinsp/event.cpp` `get_param_as_str` (lines
//!   753-1425: `%#o` for PF_OCT, `%X` for PF_HEX, flags walked in table
//!   order, `<f>name` for fds, user names for PT_UID, errno names),
//!   `sinsp_filtercheck_event.cpp` lines 1103-1160 (`evt.arg` is the
//!   resolved form when there is one, `evt.args` is `name=text(resolved)`).
//!
//! The thread has cwd /srv; fd 3 is the file /etc/hostname, fd 5 the
//! directory /var/lib, fd 7 a TCP socket 10.0.0.1:40000->10.0.0.2:443, fd
//! 16 a TCP socket not yet bound or connected.

use std::sync::Arc;

use super::super::{EventContext, RunInfo};
use crate::event::params;
use crate::event::{AT_FDCWD, Detail, Event, EventType, ExecInfo, SockAddr, SockTuple};
use crate::fields::{FieldProvider, resolve};
use crate::state::State;
use crate::state::fd::{FdInfo, FdKind, Role};
use crate::state::process::Process;
use crate::state::users::UserDb;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
    daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
    www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
    alice:x:1000:1000::/home/alice:/bin/bash\n\
    nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nshadow:x:42:\nalice:x:1000:\nnogroup:x:65534:\n";

fn state() -> State {
    let host: Arc<str> = Arc::from("host");
    let mut s = State::detached(UserDb::from_text(PASSWD, GROUP));
    let mut p = Process::minimal(100, 1, "tool", &host);
    p.exe = "tool".into();
    p.exepath = "/usr/bin/tool".into();
    p.args = vec!["--run".into()];
    p.env = vec!["HOME=/srv".into()];
    p.cwd = "/srv".into();
    p.uid = 1000;
    p.gid = 1000;
    p.vpid = 100;
    p.vpgid = 100;
    p.tty = 34816;
    p.cgroup = "/user.slice".into();
    p.fds
        .insert(3, FdInfo::new(FdKind::File, "/etc/hostname".into()));
    p.fds
        .insert(5, FdInfo::new(FdKind::Directory, "/var/lib".into()));
    let mut sock = FdInfo::new(FdKind::Ipv4, String::new());
    sock.l4proto = 6;
    sock.local = Some(("10.0.0.1".parse().unwrap(), 40000));
    sock.remote = Some(("10.0.0.2".parse().unwrap(), 443));
    sock.role = Role::Client;
    sock.set_inet_name();
    p.fds.insert(7, sock);
    let mut fresh = FdInfo::new(FdKind::Ipv4, String::new());
    fresh.l4proto = 6;
    p.fds.insert(16, fresh);
    s.insert_seed(p);
    s.insert_seed(Process::minimal(200, 1, "victim", &host));
    s
}

fn ev(etype: &str, ret: i64, detail: Detail) -> Event {
    Event {
        etype: EventType::from_name(etype).unwrap(),
        ts_boot_ns: 10_000_000_000,
        ts_wall_ns: 1_700_000_010_000_000_000,
        tgid: 100,
        tid: 100,
        ppid: 1,
        uid: 1000,
        gid: 1000,
        loginuid: 1000,
        cgroup_id: 0,
        cpu: 0,
        comm: "tool".into(),
        ret,
        truncated: false,
        read_failed: false,
        detail,
    }
}

fn get(c: &EventContext<'_>, field: &str, arg: Option<&str>) -> Option<String> {
    c.extract(&resolve(field, arg).unwrap())
        .map(|v| v.to_text())
}

/// (name, `evt.rawarg.NAME`, `evt.arg.NAME`); `None`: no value.
type Expected<'x> = &'x [(&'x str, Option<&'x str>, Option<&'x str>)];

/// Applies `e` to the state as the engine does, then checks every parameter
/// by name and by index, and the `evt.args` line.
fn check(e: Event, expected: Expected<'_>, args: &str) {
    let mut s = state();
    s.apply(&e);
    let run = RunInfo {
        hostname: Arc::from("node"),
        start_ns: 0,
    };
    let c = EventContext::new(&e, &s, 1, 0, &run);
    let what = e.etype.name();
    let table = params::of(e.etype).unwrap_or_else(|| panic!("{what}: no table entry"));
    let names: Vec<&str> = table.params.iter().map(|p| p.name).collect();
    let want: Vec<&str> = expected.iter().map(|x| x.0).collect();
    assert_eq!(names, want, "{what}: parameter names and order");
    for (i, (name, raw, arg)) in expected.iter().enumerate() {
        let by_name = get(&c, &format!("evt.arg.{name}"), None);
        assert_eq!(by_name.as_deref(), *arg, "{what}: evt.arg.{name}");
        let by_index = get(&c, "evt.arg", Some(&i.to_string()));
        assert_eq!(by_index.as_deref(), *arg, "{what}: evt.arg[{i}]");
        let rawarg = get(&c, &format!("evt.rawarg.{name}"), None);
        assert_eq!(rawarg.as_deref(), *raw, "{what}: evt.rawarg.{name}");
    }
    assert_eq!(
        get(&c, "evt.arg", Some(&expected.len().to_string())),
        None,
        "{what}: no parameter past the last"
    );
    assert_eq!(
        get(&c, "evt.args", None).as_deref(),
        Some(args),
        "{what}: evt.args"
    );
}

fn open(
    etype: &str,
    ret: i64,
    dirfd: i64,
    path: &str,
    flags: u64,
    mode: u32,
    resolve: u64,
) -> Event {
    ev(
        etype,
        ret,
        Detail::Open {
            dirfd,
            path: path.into(),
            flags,
            mode,
            resolve,
        },
    )
}

fn path_op(etype: &str, ret: i64, dirfd: i64, path: &str, mode: u32, flags: u64) -> Event {
    ev(
        etype,
        ret,
        Detail::PathOp {
            dirfd,
            path: path.into(),
            mode,
            flags,
        },
    )
}

fn two_paths(etype: &str, olddirfd: i64, old: &str, newdirfd: i64, new: &str, flags: u64) -> Event {
    ev(
        etype,
        0,
        Detail::TwoPaths {
            olddirfd,
            oldpath: old.into(),
            newdirfd,
            newpath: new.into(),
            flags,
        },
    )
}

const O_CLOEXEC: u64 = 0o2000000;

#[test]
fn open_family() {
    // PPME_SYSCALL_OPEN_X: O_RDONLY|O_CLOEXEC is PPM_O_RDONLY|PPM_O_CLOEXEC =
    // 1|4096; the mode counts only with O_CREAT (open_modes_to_scap).
    check(
        open("open", 3, AT_FDCWD, "/etc/hostname", O_CLOEXEC, 0o644, 0),
        &[
            ("fd", Some("3"), Some("<f>/etc/hostname")),
            ("name", Some("/etc/hostname"), Some("/etc/hostname")),
            ("flags", Some("4097"), Some("O_RDONLY|O_CLOEXEC")),
            ("mode", Some("0"), Some("0")),
            ("dev", None, None),
            ("ino", None, None),
        ],
        "fd=3(<f>/etc/hostname) name=/etc/hostname flags=4097(O_RDONLY|O_CLOEXEC) mode=0 \
         dev=<NA> ino=<NA>",
    );
    // PPME_SYSCALL_OPENAT_2_X: a failed open's fd is the errno (render_fd),
    // AT_FDCWD is named, the relative name joins the cwd, flags print in
    // file_flags order (O_TRUNC, O_CREAT before the access mode), the mode
    // is %#o.
    check(
        open("openat", -13, AT_FDCWD, "notes.txt", 0o1101, 0o640, 0),
        &[
            ("fd", Some("-13"), Some("EACCES")),
            ("dirfd", Some("-100"), Some("AT_FDCWD")),
            ("name", Some("notes.txt"), Some("/srv/notes.txt")),
            ("flags", Some("262"), Some("O_TRUNC|O_CREAT|O_WRONLY")),
            ("mode", Some("416"), Some("0640")),
            ("dev", None, None),
            ("ino", None, None),
        ],
        "fd=-13(EACCES) dirfd=-100(AT_FDCWD) name=notes.txt(/srv/notes.txt) \
         flags=262(O_TRUNC|O_CREAT|O_WRONLY) mode=0640 dev=<NA> ino=<NA>",
    );
    // A dirfd: the name is relative to the directory fd 5 names.
    check(
        open("openat", 4, 5, "dpkg/status", 0, 0, 0),
        &[
            ("fd", Some("4"), Some("<f>/var/lib/dpkg/status")),
            ("dirfd", Some("5"), Some("<d>/var/lib")),
            ("name", Some("dpkg/status"), Some("/var/lib/dpkg/status")),
            ("flags", Some("1"), Some("O_RDONLY")),
            ("mode", Some("0"), Some("0")),
            ("dev", None, None),
            ("ino", None, None),
        ],
        "fd=4(<f>/var/lib/dpkg/status) dirfd=5(<d>/var/lib) \
         name=dpkg/status(/var/lib/dpkg/status) flags=1(O_RDONLY) mode=0 dev=<NA> ino=<NA>",
    );
    // PPME_SYSCALL_OPENAT2_X: a created file adds PPM_O_F_CREATED (16384);
    // resolve RESOLVE_BENEATH (8) | RESOLVE_NO_SYMLINKS (4) are codes 1 | 8.
    check(
        open(
            "openat2",
            6,
            AT_FDCWD,
            "/tmp/new",
            0o302 | crate::event::OPEN_F_CREATED,
            0o600,
            0x08 | 0x04,
        ),
        &[
            ("fd", Some("6"), Some("<f>/tmp/new")),
            ("dirfd", Some("-100"), Some("AT_FDCWD")),
            ("name", Some("/tmp/new"), Some("/tmp/new")),
            (
                "flags",
                Some("16423"),
                Some("O_EXCL|O_CREAT|O_RDWR|O_F_CREATED"),
            ),
            ("mode", Some("384"), Some("0600")),
            (
                "resolve",
                Some("9"),
                Some("RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS"),
            ),
            ("dev", None, None),
            ("ino", None, None),
        ],
        "fd=6(<f>/tmp/new) dirfd=-100(AT_FDCWD) name=/tmp/new \
         flags=16423(O_EXCL|O_CREAT|O_RDWR|O_F_CREATED) mode=0600 \
         resolve=9(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) dev=<NA> ino=<NA>",
    );
    // PPME_SYSCALL_CREAT_X: no flags parameter; the mode always counts.
    check(
        open("creat", 8, AT_FDCWD, "x.sh", 0o1101, 0o755, 0),
        &[
            ("fd", Some("8"), Some("<f>/srv/x.sh")),
            ("name", Some("x.sh"), Some("/srv/x.sh")),
            ("mode", Some("493"), Some("0755")),
            ("dev", None, None),
            ("ino", None, None),
            ("creat_flags", None, None),
        ],
        "fd=8(<f>/srv/x.sh) name=x.sh(/srv/x.sh) mode=0755 dev=<NA> ino=<NA> \
         creat_flags=<NA>",
    );
}

#[test]
fn fd_calls() {
    // PPME_SYSCALL_CLOSE_X: res is PT_ERRNO, fd PT_FD.
    check(
        ev("close", 0, Detail::Close { fd: 3 }),
        &[
            ("res", Some("0"), Some("0")),
            ("fd", Some("3"), Some("<f>/etc/hostname")),
        ],
        "res=0 fd=3(<f>/etc/hostname)",
    );
    check(
        ev("close", -9, Detail::Close { fd: 42 }),
        &[
            ("res", Some("-9"), Some("EBADF")),
            ("fd", Some("42"), Some("42")),
        ],
        "res=-9(EBADF) fd=42",
    );
    // PPME_SYSCALL_DUP_1_X: res is PT_FD (the copy).
    check(
        ev(
            "dup",
            9,
            Detail::Dup {
                oldfd: 3,
                newfd: None,
                flags: 0,
            },
        ),
        &[
            ("res", Some("9"), Some("<f>/etc/hostname")),
            ("oldfd", Some("3"), Some("<f>/etc/hostname")),
        ],
        "res=9(<f>/etc/hostname) oldfd=3(<f>/etc/hostname)",
    );
    // PPME_SYSCALL_DUP2_X: a TCP socket is <4t>.
    check(
        ev(
            "dup2",
            1,
            Detail::Dup {
                oldfd: 7,
                newfd: Some(1),
                flags: 0,
            },
        ),
        &[
            ("res", Some("1"), Some("<4t>10.0.0.1:40000->10.0.0.2:443")),
            ("oldfd", Some("7"), Some("<4t>10.0.0.1:40000->10.0.0.2:443")),
            ("newfd", Some("1"), Some("<4t>10.0.0.1:40000->10.0.0.2:443")),
        ],
        "res=1(<4t>10.0.0.1:40000->10.0.0.2:443) \
         oldfd=7(<4t>10.0.0.1:40000->10.0.0.2:443) \
         newfd=1(<4t>10.0.0.1:40000->10.0.0.2:443)",
    );
    // PPME_SYSCALL_DUP3_X: dup3_flags_to_scap keeps only O_CLOEXEC, so there
    // is no access mode: `O_CLOEXEC` alone, and `O_NONE` for no flags.
    check(
        ev(
            "dup3",
            10,
            Detail::Dup {
                oldfd: 3,
                newfd: Some(10),
                flags: O_CLOEXEC,
            },
        ),
        &[
            ("res", Some("10"), Some("<f>/etc/hostname")),
            ("oldfd", Some("3"), Some("<f>/etc/hostname")),
            ("newfd", Some("10"), Some("<f>/etc/hostname")),
            ("flags", Some("4096"), Some("O_CLOEXEC")),
        ],
        "res=10(<f>/etc/hostname) oldfd=3(<f>/etc/hostname) newfd=10(<f>/etc/hostname) \
         flags=4096(O_CLOEXEC)",
    );
    check(
        ev(
            "dup3",
            -9,
            Detail::Dup {
                oldfd: 44,
                newfd: Some(10),
                flags: 0,
            },
        ),
        &[
            ("res", Some("-9"), Some("EBADF")),
            ("oldfd", Some("44"), Some("44")),
            ("newfd", Some("10"), Some("10")),
            ("flags", Some("0"), Some("O_NONE")),
        ],
        "res=-9(EBADF) oldfd=44 newfd=10 flags=0(O_NONE)",
    );
    // PPME_SYSCALL_FCNTL_X: F_DUPFD_CLOEXEC (1030) is PPM_FCNTL_F_DUPFD_CLOEXEC
    // (26); arg is PT_UINT64 PF_HEX (%lX).
    check(
        ev(
            "fcntl",
            20,
            Detail::Fcntl {
                fd: 3,
                cmd: 1030,
                arg: 20,
            },
        ),
        &[
            ("res", Some("20"), Some("<f>/etc/hostname")),
            ("fd", Some("3"), Some("<f>/etc/hostname")),
            ("cmd", Some("26"), Some("F_DUPFD_CLOEXEC")),
            ("arg", Some("20"), Some("14")),
        ],
        "res=20(<f>/etc/hostname) fd=3(<f>/etc/hostname) cmd=26(F_DUPFD_CLOEXEC) arg=14",
    );
    // An unknown command (F_ADD_SEALS, 1033) is PPM_FCNTL_UNKNOWN.
    check(
        ev(
            "fcntl",
            0,
            Detail::Fcntl {
                fd: 3,
                cmd: 1033,
                arg: 1,
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("fd", Some("3"), Some("<f>/etc/hostname")),
            ("cmd", Some("0"), Some("UNKNOWN")),
            ("arg", Some("1"), Some("1")),
        ],
        "res=0 fd=3(<f>/etc/hostname) cmd=0(UNKNOWN) arg=1",
    );
}

#[test]
fn sockets() {
    // PPME_SOCKET_SOCKET_X: domain is an enumeration of socket_families,
    // type and proto plain numbers, flags socket_flags_to_scap(type).
    check(
        ev(
            "socket",
            11,
            Detail::Socket {
                domain: 2,
                sock_type: 1 | O_CLOEXEC,
                protocol: 0,
            },
        ),
        &[
            ("fd", Some("11"), Some("<4t>")),
            ("domain", Some("2"), Some("AF_INET")),
            ("type", Some("524289"), Some("524289")),
            ("proto", Some("0"), Some("0")),
            ("flags", Some("4096"), Some("O_CLOEXEC")),
        ],
        "fd=11(<4t>) domain=2(AF_INET) type=524289 proto=0 flags=4096(O_CLOEXEC)",
    );
    // AF_UNIX has two names in socket_families (AF_LOCAL, AF_UNIX); no
    // flags is O_NONE (the zero entry of file_flags).
    check(
        ev(
            "socket",
            12,
            Detail::Socket {
                domain: 1,
                sock_type: 1,
                protocol: 0,
            },
        ),
        &[
            ("fd", Some("12"), Some("<u>")),
            ("domain", Some("1"), Some("AF_LOCAL|AF_UNIX")),
            ("type", Some("1"), Some("1")),
            ("proto", Some("0"), Some("0")),
            ("flags", Some("0"), Some("O_NONE")),
        ],
        "fd=12(<u>) domain=1(AF_LOCAL|AF_UNIX) type=1 proto=0 flags=0(O_NONE)",
    );
    let tuple = SockTuple {
        family: 2,
        sock_type: 1,
        protocol: 6,
        state: 1,
        local: Some(("10.0.0.1".parse().unwrap(), 40000)),
        remote: Some(("10.0.0.2".parse().unwrap(), 443)),
        unix_path: None,
    };
    let io = |fd, addr: Option<SockAddr>, size, flags| Detail::SocketIo {
        fd,
        addr,
        tuple: Some(tuple.clone()),
        size,
        flags,
    };
    let peer = SockAddr::Inet {
        ip: "10.0.0.2".parse().unwrap(),
        port: 443,
    };
    // PPME_SOCKET_CONNECT_X: res, tuple, fd, addr.
    check(
        ev("connect", -111, io(7, Some(peer.clone()), 0, 0)),
        &[
            ("res", Some("-111"), Some("ECONNREFUSED")),
            (
                "tuple",
                Some("10.0.0.1:40000->10.0.0.2:443"),
                Some("10.0.0.1:40000->10.0.0.2:443"),
            ),
            ("fd", Some("7"), Some("<4t>10.0.0.1:40000->10.0.0.2:443")),
            ("addr", Some("10.0.0.2:443"), Some("10.0.0.2:443")),
        ],
        "res=-111(ECONNREFUSED) tuple=10.0.0.1:40000->10.0.0.2:443 \
         fd=7(<4t>10.0.0.1:40000->10.0.0.2:443) addr=10.0.0.2:443",
    );
    // PPME_SOCKET_BIND_X: res, addr, fd (a failed bind: no fd state change).
    let any = SockAddr::Inet {
        ip: "0.0.0.0".parse().unwrap(),
        port: 8080,
    };
    let bind = ev(
        "bind",
        -98,
        Detail::SocketIo {
            fd: 16,
            addr: Some(any),
            tuple: None,
            size: 0,
            flags: 0,
        },
    );
    check(
        bind,
        &[
            ("res", Some("-98"), Some("EADDRINUSE")),
            ("addr", Some("0.0.0.0:8080"), Some("0.0.0.0:8080")),
            ("fd", Some("16"), Some("<4t>")),
        ],
        "res=-98(EADDRINUSE) addr=0.0.0.0:8080 fd=16(<4t>)",
    );
    // PPME_SOCKET_LISTEN_X: res, fd, backlog (PT_INT32).
    check(
        ev(
            "listen",
            0,
            Detail::Listen {
                fd: 7,
                backlog: 128,
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("fd", Some("7"), Some("<4t>10.0.0.1:40000->10.0.0.2:443")),
            ("backlog", Some("128"), Some("128")),
        ],
        "res=0 fd=7(<4t>10.0.0.1:40000->10.0.0.2:443) backlog=128",
    );
    // PPME_SOCKET_ACCEPT4_6_X: the new fd, its tuple (client first), the
    // queue figures (not captured), flags PT_INT32 PF_HEX of
    // socket_flags_to_scap (SOCK_CLOEXEC: PPM_O_CLOEXEC, 0x1000).
    let inbound = SockTuple {
        local: Some(("10.0.0.1".parse().unwrap(), 8080)),
        remote: Some(("10.0.0.9".parse().unwrap(), 51000)),
        ..tuple.clone()
    };
    let accept = |etype| {
        ev(
            etype,
            13,
            Detail::SocketIo {
                fd: 11,
                addr: None,
                tuple: Some(inbound.clone()),
                size: 0,
                flags: O_CLOEXEC,
            },
        )
    };
    check(
        accept("accept4"),
        &[
            ("fd", Some("13"), Some("<4t>10.0.0.9:51000->10.0.0.1:8080")),
            (
                "tuple",
                Some("10.0.0.9:51000->10.0.0.1:8080"),
                Some("10.0.0.9:51000->10.0.0.1:8080"),
            ),
            ("queuepct", None, None),
            ("queuelen", None, None),
            ("queuemax", None, None),
            ("flags", Some("4096"), Some("1000")),
        ],
        "fd=13(<4t>10.0.0.9:51000->10.0.0.1:8080) tuple=10.0.0.9:51000->10.0.0.1:8080 \
         queuepct=<NA> queuelen=<NA> queuemax=<NA> flags=1000",
    );
    // PPME_SOCKET_ACCEPT_5_X: the same without flags.
    check(
        accept("accept"),
        &[
            ("fd", Some("13"), Some("<4t>10.0.0.9:51000->10.0.0.1:8080")),
            (
                "tuple",
                Some("10.0.0.9:51000->10.0.0.1:8080"),
                Some("10.0.0.9:51000->10.0.0.1:8080"),
            ),
            ("queuepct", None, None),
            ("queuelen", None, None),
            ("queuemax", None, None),
        ],
        "fd=13(<4t>10.0.0.9:51000->10.0.0.1:8080) tuple=10.0.0.9:51000->10.0.0.1:8080 \
         queuepct=<NA> queuelen=<NA> queuemax=<NA>",
    );
    let t = "10.0.0.1:40000->10.0.0.2:443";
    let fd7 = "<4t>10.0.0.1:40000->10.0.0.2:443";
    // PPME_SOCKET_SENDTO_X: res, data (not captured), fd, size, tuple.
    check(
        ev("sendto", 512, io(7, None, 512, 0)),
        &[
            ("res", Some("512"), Some("512")),
            ("data", None, None),
            ("fd", Some("7"), Some(fd7)),
            ("size", Some("512"), Some("512")),
            ("tuple", Some(t), Some(t)),
        ],
        &format!("res=512 data=NULL fd=7({fd7}) size=512 tuple={t}"),
    );
    // PPME_SOCKET_RECVFROM_X: res, data, tuple, fd, size.
    check(
        ev("recvfrom", 100, io(7, None, 4096, 0)),
        &[
            ("res", Some("100"), Some("100")),
            ("data", None, None),
            ("tuple", Some(t), Some(t)),
            ("fd", Some("7"), Some(fd7)),
            ("size", Some("4096"), Some("4096")),
        ],
        &format!("res=100 data=NULL tuple={t} fd=7({fd7}) size=4096"),
    );
    // PPME_SOCKET_SENDMSG_X: res, data, fd, size, tuple (size not captured).
    check(
        ev("sendmsg", 64, io(7, None, 0, 0)),
        &[
            ("res", Some("64"), Some("64")),
            ("data", None, None),
            ("fd", Some("7"), Some(fd7)),
            ("size", None, None),
            ("tuple", Some(t), Some(t)),
        ],
        &format!("res=64 data=NULL fd=7({fd7}) size=<NA> tuple={t}"),
    );
    // PPME_SOCKET_RECVMSG_X: res, size, data, tuple, msgcontrol, fd.
    check(
        ev("recvmsg", -11, io(7, None, 0, 0)),
        &[
            ("res", Some("-11"), Some("EAGAIN")),
            ("size", None, None),
            ("data", None, None),
            ("tuple", Some(t), Some(t)),
            ("msgcontrol", None, None),
            ("fd", Some("7"), Some(fd7)),
        ],
        &format!("res=-11(EAGAIN) size=<NA> data=NULL tuple={t} msgcontrol=NULL fd=7({fd7})"),
    );
}

#[test]
fn ptrace_and_modules() {
    let pt = |ret, request, addr, data| {
        ev(
            "ptrace",
            ret,
            Detail::Ptrace {
                request,
                pid: 200,
                addr,
                data,
            },
        )
    };
    // PPME_SYSCALL_PTRACE_X: PTRACE_ATTACH (16) is PPM_PTRACE_ATTACH (11);
    // pid is PT_PID, rendered with the thread's comm.
    check(
        pt(0, 16, 0, 0),
        &[
            ("res", Some("0"), Some("0")),
            ("addr", Some("0"), Some("0")),
            ("data", Some("0"), Some("0")),
            ("request", Some("11"), Some("PTRACE_ATTACH")),
            ("pid", Some("200"), Some("victim")),
        ],
        "res=0 addr=0 data=0 request=11(PTRACE_ATTACH) pid=200(victim)",
    );
    // PTRACE_POKEDATA (5, code 6): addr and data are u64s, %lX.
    check(
        pt(0, 5, 0x7ffd_1000, 0xdead_beef),
        &[
            ("res", Some("0"), Some("0")),
            ("addr", Some("2147291136"), Some("7FFD1000")),
            ("data", Some("3735928559"), Some("DEADBEEF")),
            ("request", Some("6"), Some("PTRACE_POKEDATA")),
            ("pid", Some("200"), Some("victim")),
        ],
        "res=0 addr=7FFD1000 data=DEADBEEF request=6(PTRACE_POKEDATA) pid=200(victim)",
    );
    // PTRACE_CONT (7, code 8) sends a signal in data (PT_SIGTYPE).
    check(
        pt(0, 7, 0, 9),
        &[
            ("res", Some("0"), Some("0")),
            ("addr", Some("0"), Some("0")),
            ("data", Some("9"), Some("SIGKILL")),
            ("request", Some("8"), Some("PTRACE_CONT")),
            ("pid", Some("200"), Some("victim")),
        ],
        "res=0 addr=0 data=9(SIGKILL) request=8(PTRACE_CONT) pid=200(victim)",
    );
    // A failed call reports addr and data as 0.
    check(
        pt(-1, 5, 0x7ffd_1000, 0xdead_beef),
        &[
            ("res", Some("-1"), Some("EPERM")),
            ("addr", Some("0"), Some("0")),
            ("data", Some("0"), Some("0")),
            ("request", Some("6"), Some("PTRACE_POKEDATA")),
            ("pid", Some("200"), Some("victim")),
        ],
        "res=-1(EPERM) addr=0 data=0 request=6(PTRACE_POKEDATA) pid=200(victim)",
    );
    // PPME_SYSCALL_INIT_MODULE_X: res, img (not captured), length, uargs.
    check(
        ev(
            "init_module",
            0,
            Detail::Module {
                fd: None,
                len: 4096,
                uargs: "debug=1".into(),
                flags: 0,
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("img", None, None),
            ("length", Some("4096"), Some("4096")),
            ("uargs", Some("debug=1"), Some("debug=1")),
        ],
        "res=0 img=NULL length=4096 uargs=debug=1",
    );
    // PPME_SYSCALL_FINIT_MODULE_X: MODULE_INIT_IGNORE_VERMAGIC (2).
    check(
        ev(
            "finit_module",
            -17,
            Detail::Module {
                fd: Some(3),
                len: 0,
                uargs: String::new(),
                flags: 2,
            },
        ),
        &[
            ("res", Some("-17"), Some("EEXIST")),
            ("fd", Some("3"), Some("<f>/etc/hostname")),
            ("uargs", Some(""), Some("")),
            ("flags", Some("2"), Some("MODULE_INIT_IGNORE_VERMAGIC")),
        ],
        "res=-17(EEXIST) fd=3(<f>/etc/hostname) uargs= flags=2(MODULE_INIT_IGNORE_VERMAGIC)",
    );
}

#[test]
fn links_renames_and_paths() {
    // PPME_SYSCALL_LINK_2_X: both paths are PT_FSPATH, joined to the cwd
    // (/srv): the relative `ln ../etc/shadow x` names /etc/shadow.
    check(
        two_paths("link", AT_FDCWD, "../etc/shadow", AT_FDCWD, "x", 0),
        &[
            ("res", Some("0"), Some("0")),
            ("oldpath", Some("../etc/shadow"), Some("/etc/shadow")),
            ("newpath", Some("x"), Some("/srv/x")),
        ],
        "res=0 oldpath=../etc/shadow(/etc/shadow) newpath=x(/srv/x)",
    );
    // PPME_SYSCALL_LINKAT_2_X: olddir/newdir are PT_FD, the paths
    // PT_FSRELPATH of them; AT_SYMLINK_FOLLOW (0x400) in linkat_flags.
    check(
        two_paths("linkat", AT_FDCWD, "../etc/shadow", 5, "x", 0x400),
        &[
            ("res", Some("0"), Some("0")),
            ("olddir", Some("-100"), Some("AT_FDCWD")),
            ("oldpath", Some("../etc/shadow"), Some("/etc/shadow")),
            ("newdir", Some("5"), Some("<d>/var/lib")),
            ("newpath", Some("x"), Some("/var/lib/x")),
            ("flags", Some("1024"), Some("AT_SYMLINK_FOLLOW")),
        ],
        "res=0 olddir=-100(AT_FDCWD) oldpath=../etc/shadow(/etc/shadow) \
         newdir=5(<d>/var/lib) newpath=x(/var/lib/x) flags=1024(AT_SYMLINK_FOLLOW)",
    );
    // No flags: linkat_flags has no zero entry, the number prints alone.
    check(
        two_paths("linkat", AT_FDCWD, "/etc/shadow", AT_FDCWD, "/tmp/s", 0),
        &[
            ("res", Some("0"), Some("0")),
            ("olddir", Some("-100"), Some("AT_FDCWD")),
            ("oldpath", Some("/etc/shadow"), Some("/etc/shadow")),
            ("newdir", Some("-100"), Some("AT_FDCWD")),
            ("newpath", Some("/tmp/s"), Some("/tmp/s")),
            ("flags", Some("0"), Some("0")),
        ],
        "res=0 olddir=-100(AT_FDCWD) oldpath=/etc/shadow newdir=-100(AT_FDCWD) \
         newpath=/tmp/s flags=0",
    );
    // PPME_SYSCALL_SYMLINK_X: the target is PT_CHARBUF (never resolved).
    check(
        ev(
            "symlink",
            0,
            Detail::Symlink {
                target: "../etc/shadow".into(),
                newdirfd: AT_FDCWD,
                linkpath: "sh".into(),
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("target", Some("../etc/shadow"), Some("../etc/shadow")),
            ("linkpath", Some("sh"), Some("/srv/sh")),
        ],
        "res=0 target=../etc/shadow linkpath=sh(/srv/sh)",
    );
    // PPME_SYSCALL_SYMLINKAT_X: linkpath relative to linkdirfd.
    check(
        ev(
            "symlinkat",
            0,
            Detail::Symlink {
                target: "/etc/passwd".into(),
                newdirfd: 5,
                linkpath: "p".into(),
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("target", Some("/etc/passwd"), Some("/etc/passwd")),
            ("linkdirfd", Some("5"), Some("<d>/var/lib")),
            ("linkpath", Some("p"), Some("/var/lib/p")),
        ],
        "res=0 target=/etc/passwd linkdirfd=5(<d>/var/lib) linkpath=p(/var/lib/p)",
    );
    // PPME_SYSCALL_RENAME_X, RENAMEAT_X, RENAMEAT2_X.
    check(
        two_paths("rename", AT_FDCWD, "a", AT_FDCWD, "/tmp/b", 0),
        &[
            ("res", Some("0"), Some("0")),
            ("oldpath", Some("a"), Some("/srv/a")),
            ("newpath", Some("/tmp/b"), Some("/tmp/b")),
        ],
        "res=0 oldpath=a(/srv/a) newpath=/tmp/b",
    );
    check(
        two_paths("renameat", 5, "a/./b", AT_FDCWD, "c", 0),
        &[
            ("res", Some("0"), Some("0")),
            ("olddirfd", Some("5"), Some("<d>/var/lib")),
            ("oldpath", Some("a/./b"), Some("/var/lib/a/b")),
            ("newdirfd", Some("-100"), Some("AT_FDCWD")),
            ("newpath", Some("c"), Some("/srv/c")),
        ],
        "res=0 olddirfd=5(<d>/var/lib) oldpath=a/./b(/var/lib/a/b) \
         newdirfd=-100(AT_FDCWD) newpath=c(/srv/c)",
    );
    check(
        two_paths("renameat2", AT_FDCWD, "a", AT_FDCWD, "b", 1),
        &[
            ("res", Some("0"), Some("0")),
            ("olddirfd", Some("-100"), Some("AT_FDCWD")),
            ("oldpath", Some("a"), Some("/srv/a")),
            ("newdirfd", Some("-100"), Some("AT_FDCWD")),
            ("newpath", Some("b"), Some("/srv/b")),
            ("flags", Some("1"), Some("RENAME_NOREPLACE")),
        ],
        "res=0 olddirfd=-100(AT_FDCWD) oldpath=a(/srv/a) newdirfd=-100(AT_FDCWD) \
         newpath=b(/srv/b) flags=1(RENAME_NOREPLACE)",
    );
    // PPME_SYSCALL_UNLINK_2_X and UNLINKAT_2_X (AT_REMOVEDIR, 0x200).
    check(
        path_op("unlink", -2, AT_FDCWD, "old.log", 0, 0),
        &[
            ("res", Some("-2"), Some("ENOENT")),
            ("path", Some("old.log"), Some("/srv/old.log")),
        ],
        "res=-2(ENOENT) path=old.log(/srv/old.log)",
    );
    check(
        path_op("unlinkat", 0, 5, "cache", 0, 0x200),
        &[
            ("res", Some("0"), Some("0")),
            ("dirfd", Some("5"), Some("<d>/var/lib")),
            ("name", Some("cache"), Some("/var/lib/cache")),
            ("flags", Some("512"), Some("AT_REMOVEDIR")),
        ],
        "res=0 dirfd=5(<d>/var/lib) name=cache(/var/lib/cache) flags=512(AT_REMOVEDIR)",
    );
    // PPME_SYSCALL_MKDIR_2_X, MKDIRAT_X: mode is PT_UINT32 PF_HEX, the
    // kernel value (`mkdir bin` in /usr: 0755 prints 1ED).
    check(
        path_op("mkdir", 0, AT_FDCWD, "bin", 0o755, 0),
        &[
            ("res", Some("0"), Some("0")),
            ("path", Some("bin"), Some("/srv/bin")),
            ("mode", Some("493"), Some("1ED")),
        ],
        "res=0 path=bin(/srv/bin) mode=1ED",
    );
    check(
        path_op("mkdirat", 0, 5, "c", 0o700, 0),
        &[
            ("res", Some("0"), Some("0")),
            ("dirfd", Some("5"), Some("<d>/var/lib")),
            ("path", Some("c"), Some("/var/lib/c")),
            ("mode", Some("448"), Some("1C0")),
        ],
        "res=0 dirfd=5(<d>/var/lib) path=c(/var/lib/c) mode=1C0",
    );
    check(
        path_op("rmdir", 0, AT_FDCWD, "/tmp/d", 0, 0),
        &[
            ("res", Some("0"), Some("0")),
            ("path", Some("/tmp/d"), Some("/tmp/d")),
        ],
        "res=0 path=/tmp/d",
    );
    // PPME_SYSCALL_CHDIR_X: path is PT_CHARBUF (not resolved); FCHDIR_X.
    check(
        ev(
            "chdir",
            0,
            Detail::Chdir {
                path: Some("../tmp".into()),
                fd: None,
                cwd: "/tmp".into(),
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("path", Some("../tmp"), Some("../tmp")),
        ],
        "res=0 path=../tmp",
    );
    check(
        ev(
            "fchdir",
            0,
            Detail::Chdir {
                path: None,
                fd: Some(5),
                cwd: "/var/lib".into(),
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("fd", Some("5"), Some("<d>/var/lib")),
        ],
        "res=0 fd=5(<d>/var/lib)",
    );
}

#[test]
fn modes() {
    const SUID_755: &str = "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID";
    // PPME_SYSCALL_CHMOD_X: mode is PT_MODE PF_OCT with chmod_mode, every
    // bit named in the table's order, S_ISUID last (what `chmod u+s` sets).
    check(
        path_op("chmod", 0, AT_FDCWD, "tool", 0o4755, 0),
        &[
            ("res", Some("0"), Some("0")),
            ("filename", Some("tool"), Some("/srv/tool")),
            ("mode", Some("2541"), Some(SUID_755)),
        ],
        &format!("res=0 filename=tool(/srv/tool) mode=04755({SUID_755})"),
    );
    // PPME_SYSCALL_FCHMOD_X.
    check(
        ev("fchmod", 0, Detail::Fchmod { fd: 3, mode: 0o644 }),
        &[
            ("res", Some("0"), Some("0")),
            ("fd", Some("3"), Some("<f>/etc/hostname")),
            ("mode", Some("420"), Some("S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR")),
        ],
        "res=0 fd=3(<f>/etc/hostname) mode=0644(S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR)",
    );
    // PPME_SYSCALL_FCHMODAT_X: a single bit is that bit's name; mode 0 has
    // no name and prints as the number.
    check(
        path_op("fchmodat", 0, 5, "g", 0o2000, 0),
        &[
            ("res", Some("0"), Some("0")),
            ("dirfd", Some("5"), Some("<d>/var/lib")),
            ("filename", Some("g"), Some("/var/lib/g")),
            ("mode", Some("1024"), Some("S_ISGID")),
        ],
        "res=0 dirfd=5(<d>/var/lib) filename=g(/var/lib/g) mode=02000(S_ISGID)",
    );
    check(
        path_op("chmod", 0, AT_FDCWD, "/tmp/z", 0, 0),
        &[
            ("res", Some("0"), Some("0")),
            ("filename", Some("/tmp/z"), Some("/tmp/z")),
            ("mode", Some("0"), Some("0")),
        ],
        "res=0 filename=/tmp/z mode=0",
    );
    // fchmodat2 has no Falco event (a generic syscall there); Saker gives it
    // fchmodat's parameters.
    check(
        path_op("fchmodat2", 0, AT_FDCWD, "tool", 0o4755, 0),
        &[
            ("res", Some("0"), Some("0")),
            ("dirfd", Some("-100"), Some("AT_FDCWD")),
            ("filename", Some("tool"), Some("/srv/tool")),
            ("mode", Some("2541"), Some(SUID_755)),
        ],
        &format!("res=0 dirfd=-100(AT_FDCWD) filename=tool(/srv/tool) mode=04755({SUID_755})"),
    );
}

#[test]
fn credentials() {
    let ids = |etype, ret, ids: &[u32]| ev(etype, ret, Detail::SetId { ids: ids.to_vec() });
    // PPME_SYSCALL_SETUID_X: uid is PT_UID: the user name, `<NONE>` for -1
    // (printed -1), `<NA>` for a uid without a user.
    check(
        ids("setuid", 0, &[65534]),
        &[
            ("res", Some("0"), Some("0")),
            ("uid", Some("65534"), Some("nobody")),
        ],
        "res=0 uid=65534(nobody)",
    );
    check(
        ids("setuid", -1, &[u32::MAX]),
        &[
            ("res", Some("-1"), Some("EPERM")),
            ("uid", Some("4294967295"), Some("<NONE>")),
        ],
        "res=-1(EPERM) uid=-1(<NONE>)",
    );
    check(
        ids("setuid", 0, &[4242]),
        &[
            ("res", Some("0"), Some("0")),
            ("uid", Some("4242"), Some("<NA>")),
        ],
        "res=0 uid=4242(<NA>)",
    );
    // PPME_SYSCALL_SETGID_X: PT_GID, the group name.
    check(
        ids("setgid", 0, &[42]),
        &[
            ("res", Some("0"), Some("0")),
            ("gid", Some("42"), Some("shadow")),
        ],
        "res=0 gid=42(shadow)",
    );
    // PPME_SYSCALL_SETREUID_X.
    check(
        ids("setreuid", 0, &[1000, u32::MAX]),
        &[
            ("res", Some("0"), Some("0")),
            ("ruid", Some("1000"), Some("alice")),
            ("euid", Some("4294967295"), Some("<NONE>")),
        ],
        "res=0 ruid=1000(alice) euid=-1(<NONE>)",
    );
    // PPME_SYSCALL_SETREGID_X types its ids PT_UID: they print as user
    // names (33 is the user www-data; no group 33 exists here).
    check(
        ids("setregid", 0, &[33, 42]),
        &[
            ("res", Some("0"), Some("0")),
            ("rgid", Some("33"), Some("www-data")),
            ("egid", Some("42"), Some("<NA>")),
        ],
        "res=0 rgid=33(www-data) egid=42(<NA>)",
    );
    // PPME_SYSCALL_SETRESUID_X, SETRESGID_X.
    check(
        ids("setresuid", 0, &[0, 0, 0]),
        &[
            ("res", Some("0"), Some("0")),
            ("ruid", Some("0"), Some("root")),
            ("euid", Some("0"), Some("root")),
            ("suid", Some("0"), Some("root")),
        ],
        "res=0 ruid=0(root) euid=0(root) suid=0(root)",
    );
    check(
        ids("setresgid", 0, &[1000, 42, u32::MAX]),
        &[
            ("res", Some("0"), Some("0")),
            ("rgid", Some("1000"), Some("alice")),
            ("egid", Some("42"), Some("shadow")),
            ("sgid", Some("4294967295"), Some("<NONE>")),
        ],
        "res=0 rgid=1000(alice) egid=42(shadow) sgid=-1(<NONE>)",
    );
}

#[test]
fn namespaces_bpf_memfd_userfaultfd() {
    // PPME_SYSCALL_SETNS_X: nstype through clone_flags_to_scap
    // (CLONE_NEWNET 0x40000000 is PPM_CL_CLONE_NEWNET, 1<<4).
    check(
        ev(
            "setns",
            0,
            Detail::Setns {
                fd: 3,
                nstype: 0x4000_0000,
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("fd", Some("3"), Some("<f>/etc/hostname")),
            ("nstype", Some("16"), Some("CLONE_NEWNET")),
        ],
        "res=0 fd=3(<f>/etc/hostname) nstype=16(CLONE_NEWNET)",
    );
    // PPME_SYSCALL_UNSHARE_X: CLONE_NEWNS|CLONE_NEWUSER are 1<<5|1<<20, in
    // clone_flags order.
    check(
        ev(
            "unshare",
            0,
            Detail::Unshare {
                flags: 0x0002_0000 | 0x1000_0000,
            },
        ),
        &[
            ("res", Some("0"), Some("0")),
            ("flags", Some("1048608"), Some("CLONE_NEWNS|CLONE_NEWUSER")),
        ],
        "res=0 flags=1048608(CLONE_NEWNS|CLONE_NEWUSER)",
    );
    // PPME_SYSCALL_BPF_2_X: fd, cmd (an enumeration of bpf_commands);
    // BPF_PROG_TEST_RUN and BPF_PROG_RUN share code 10. (Falco's fd table
    // holds bpf fds, so it prints `fd=13(<b>)`; Saker's does not track them:
    // docs/rules.md, differences.)
    check(
        ev("bpf", 13, Detail::Bpf { cmd: 5 }),
        &[
            ("fd", Some("13"), Some("13")),
            ("cmd", Some("5"), Some("BPF_PROG_LOAD")),
        ],
        "fd=13 cmd=5(BPF_PROG_LOAD)",
    );
    check(
        ev("bpf", -1, Detail::Bpf { cmd: 10 }),
        &[
            ("fd", Some("-1"), Some("EPERM")),
            ("cmd", Some("10"), Some("BPF_PROG_TEST_RUN|BPF_PROG_RUN")),
        ],
        "fd=-1(EPERM) cmd=10(BPF_PROG_TEST_RUN|BPF_PROG_RUN)",
    );
    // PPME_SYSCALL_MEMFD_CREATE_X.
    check(
        ev(
            "memfd_create",
            14,
            Detail::MemfdCreate {
                name: "payload".into(),
                flags: 3,
            },
        ),
        &[
            ("fd", Some("14"), Some("<m>memfd:payload")),
            ("name", Some("payload"), Some("payload")),
            ("flags", Some("3"), Some("MFD_CLOEXEC|MFD_ALLOW_SEALING")),
        ],
        "fd=14(<m>memfd:payload) name=payload flags=3(MFD_CLOEXEC|MFD_ALLOW_SEALING)",
    );
    // PPME_SYSCALL_USERFAULTFD_X: Falco's probe sends the kernel flags
    // unconverted and libsinsp names them from file_flags' codes:
    // O_CLOEXEC|O_NONBLOCK (0x80800) has bit 11 set, PPM_O_LARGEFILE.
    check(
        ev("userfaultfd", 15, Detail::Userfaultfd { flags: 0x80800 }),
        &[
            ("res", Some("15"), Some("15")),
            ("flags", Some("526336"), Some("O_LARGEFILE")),
        ],
        "res=15 flags=526336(O_LARGEFILE)",
    );
}

#[test]
fn exec_clone_and_exit() {
    let mut x: ExecInfo = *crate::event::exec_info_fixture(
        &["sh", "-c", "echo hi"],
        "/bin/sh",
        "/tmp",
        "/user.slice",
    );
    x.filename = "/bin/sh".into();
    x.exe_path = "/usr/bin/dash".into();
    x.exe_writable = true;
    x.cap_effective = 0x1ff;
    x.exe_ctime_ns = 1_700_000_000_123_456_789;
    x.exe_mtime_ns = 0;
    x.vpgid = 100;
    let mut e = ev("execve", 0, Detail::Exec(Box::new(x.clone())));
    e.comm = "sh".into();
    // PPME_SYSCALL_EXECVE_19_X: args are the arguments after argv[0],
    // NUL-separated (printed as dots); loginuid and uid are PT_UID; flags
    // execve_flags; capabilities PT_UINT64 PF_HEX; the inode times PT_ABSTIME.
    check(
        e,
        &[
            ("res", Some("0"), Some("0")),
            ("exe", Some("sh"), Some("sh")),
            ("args", Some("-c.echo hi."), Some("-c.echo hi.")),
            ("tid", Some("100"), Some("sh")),
            ("pid", Some("100"), Some("sh")),
            ("ptid", Some("1"), Some("1")),
            ("cwd", Some("/tmp"), Some("/tmp")),
            ("fdlimit", None, None),
            ("pgft_maj", None, None),
            ("pgft_min", None, None),
            ("vm_size", None, None),
            ("vm_rss", None, None),
            ("vm_swap", None, None),
            ("comm", Some("sh"), Some("sh")),
            ("cgroups", Some("/user.slice"), Some("/user.slice")),
            ("env", Some("HOME=/root."), Some("HOME=/root.")),
            ("tty", Some("34816"), Some("34816")),
            ("vpgid", Some("100"), Some("sh")),
            ("loginuid", Some("1000"), Some("alice")),
            ("flags", Some("1"), Some("EXE_WRITABLE")),
            ("cap_inheritable", Some("0"), Some("0")),
            ("cap_permitted", Some("0"), Some("0")),
            ("cap_effective", Some("511"), Some("1FF")),
            ("exe_ino", Some("7"), Some("7")),
            (
                "exe_ino_ctime",
                Some("1700000000123456789"),
                Some("2023-11-14 22:13:20.123456789 +0000"),
            ),
            (
                "exe_ino_mtime",
                Some("0"),
                Some("1970-01-01 00:00:00.000000000 +0000"),
            ),
            ("uid", Some("1000"), Some("alice")),
            (
                "trusted_exepath",
                Some("/usr/bin/dash"),
                Some("/usr/bin/dash"),
            ),
            ("pgid", None, None),
            ("gid", Some("1000"), Some("alice")),
            ("filename", Some("/bin/sh"), Some("/bin/sh")),
        ],
        "res=0 exe=sh args=-c.echo hi. tid=100(sh) pid=100(sh) ptid=1 cwd=/tmp \
         fdlimit=<NA> pgft_maj=<NA> pgft_min=<NA> vm_size=<NA> vm_rss=<NA> vm_swap=<NA> \
         comm=sh cgroups=/user.slice env=HOME=/root. tty=34816 vpgid=100(sh) \
         loginuid=1000(alice) flags=1(EXE_WRITABLE) cap_inheritable=0 cap_permitted=0 \
         cap_effective=1FF exe_ino=7 exe_ino_ctime=2023-11-14 22:13:20.123456789 +0000 \
         exe_ino_mtime=1970-01-01 00:00:00.000000000 +0000 uid=1000(alice) \
         trusted_exepath=/usr/bin/dash pgid=<NA> gid=1000(alice) filename=/bin/sh",
    );
    // A failed execve describes the caller (from the process table) and the
    // file it tried. PPME_SYSCALL_EXECVEAT_X has no `filename`.
    let failed = ev(
        "execveat",
        -2,
        Detail::ExecFailed {
            dirfd: AT_FDCWD,
            filename: "/nope".into(),
            flags: 0,
        },
    );
    let s = state();
    let run = RunInfo {
        hostname: Arc::from("node"),
        start_ns: 0,
    };
    let c = EventContext::new(&failed, &s, 1, 0, &run);
    assert_eq!(
        params::of(failed.etype).unwrap().params.len(),
        30,
        "execveat has execve's parameters but filename"
    );
    assert_eq!(get(&c, "evt.arg.res", None).as_deref(), Some("ENOENT"));
    assert_eq!(get(&c, "evt.arg.exe", None).as_deref(), Some("tool"));
    assert_eq!(get(&c, "evt.arg.args", None).as_deref(), Some("--run."));
    assert_eq!(get(&c, "evt.arg.cwd", None).as_deref(), Some("/srv"));
    assert_eq!(get(&c, "evt.arg.filename", None), None);
    assert_eq!(
        get(&c, "evt.arg.trusted_exepath", None).as_deref(),
        Some("/usr/bin/tool")
    );

    // PPME_SYSCALL_CLONE_20_X, parent's side: res is the child (PT_PID,
    // with its comm); flags through clone_flags_to_scap in clone_flags
    // order; uid and gid are PT_UINT32 here (numbers, not names).
    let fork = ev(
        "clone",
        0,
        Detail::Fork {
            child_tid: 300,
            child_tgid: 300,
            clone_flags: 0x0120_0011,
            child_ppid: 100,
            child_vtid: 300,
            child_vpid: 300,
        },
    );
    check(
        fork,
        &[
            ("res", Some("300"), Some("tool")),
            ("exe", Some("tool"), Some("tool")),
            ("args", Some("--run."), Some("--run.")),
            ("tid", Some("100"), Some("tool")),
            ("pid", Some("100"), Some("tool")),
            ("ptid", Some("1"), Some("1")),
            ("cwd", Some("/srv"), Some("/srv")),
            ("fdlimit", None, None),
            ("pgft_maj", None, None),
            ("pgft_min", None, None),
            ("vm_size", None, None),
            ("vm_rss", None, None),
            ("vm_swap", None, None),
            ("comm", Some("tool"), Some("tool")),
            ("cgroups", Some("/user.slice"), Some("/user.slice")),
            (
                "flags",
                Some("25165824"),
                Some("CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID"),
            ),
            ("uid", Some("1000"), Some("1000")),
            ("gid", Some("1000"), Some("1000")),
            ("vtid", Some("100"), Some("tool")),
            ("vpid", Some("100"), Some("tool")),
            ("pidns_init_start_ts", None, None),
        ],
        "res=300(tool) exe=tool args=--run. tid=100(tool) pid=100(tool) ptid=1 cwd=/srv \
         fdlimit=<NA> pgft_maj=<NA> pgft_min=<NA> vm_size=<NA> vm_rss=<NA> vm_swap=<NA> \
         comm=tool cgroups=/user.slice flags=25165824(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID) \
         uid=1000 gid=1000 vtid=100(tool) vpid=100(tool) pidns_init_start_ts=<NA>",
    );

    // PPME_PROCEXIT_1_E: status is the wait status; ret __WEXITSTATUS; sig
    // __WTERMSIG when signaled (PT_SIGTYPE); core __WCOREDUMP.
    let exit = |status| {
        ev(
            "procexit",
            0,
            Detail::Exit {
                status,
                group_dead: true,
            },
        )
    };
    check(
        exit(9),
        &[
            ("status", Some("9"), Some("9")),
            ("ret", Some("0"), Some("0")),
            ("sig", Some("9"), Some("SIGKILL")),
            ("core", Some("0"), Some("0")),
            ("reaper_tid", None, None),
        ],
        "status=9 ret=0 sig=9(SIGKILL) core=0 reaper_tid=<NA>",
    );
    check(
        exit(256),
        &[
            ("status", Some("256"), Some("256")),
            ("ret", Some("1"), Some("1")),
            ("sig", Some("0"), Some("0")),
            ("core", Some("0"), Some("0")),
            ("reaper_tid", None, None),
        ],
        "status=256 ret=1 sig=0 core=0 reaper_tid=<NA>",
    );
}

#[test]
fn undecoded_calls_keep_their_registers() {
    let s = state();
    let run = RunInfo {
        hostname: Arc::from("node"),
        start_ns: 0,
    };
    let e = ev(
        "getpid",
        100,
        Detail::Other {
            args: [1, 2, 3, 4, 5, 6],
        },
    );
    let c = EventContext::new(&e, &s, 1, 0, &run);
    assert_eq!(
        get(&c, "evt.args", None).as_deref(),
        Some("res=100 arg0=1 arg1=2 arg2=3 arg3=4 arg4=5 arg5=6")
    );
    assert_eq!(get(&c, "evt.arg.arg2", None).as_deref(), Some("3"));
    assert_eq!(get(&c, "evt.rawarg.res", None).as_deref(), Some("100"));
    assert_eq!(get(&c, "evt.arg", Some("1")).as_deref(), Some("1"));
}
