//! Extraction on hand-built events and state, and the upstream Falco rules
//! evaluated against them.

use std::sync::Arc;

use super::*;
use crate::event::{ExecInfo, SockAddr, SockTuple};
use crate::fields::resolve;
use crate::state::process::Process;
use crate::state::users::UserDb;

fn run() -> RunInfo {
    RunInfo {
        hostname: Arc::from("node-1"),
        start_ns: 1_700_000_000_000_000_000,
    }
}

fn ev(tgid: u32, etype: &str, ret: i64, detail: Detail) -> Event {
    Event {
        etype: EventType::from_name(etype).unwrap(),
        ts_boot_ns: 10_000_000_000,
        ts_wall_ns: 1_700_000_010_000_000_000,
        tgid,
        tid: tgid,
        ppid: 0,
        uid: 0,
        gid: 0,
        loginuid: 1000,
        cgroup_id: 0,
        cpu: 1,
        comm: "cat".into(),
        ret,
        truncated: false,
        read_failed: false,
        detail,
    }
}

fn proc(tgid: u32, ppid: u32, comm: &str, args: &[&str]) -> Process {
    let mut p = Process::minimal(tgid, ppid, comm, &Arc::from("host"));
    p.exe = comm.to_string();
    p.exepath = format!("/usr/bin/{comm}");
    p.args = args.iter().map(|s| s.to_string()).collect();
    p.uid = 0;
    p.gid = 0;
    p.cwd = "/root".into();
    p.start_ns = 1_700_000_000_000_000_000;
    p
}

/// systemd(1) -> sshd(10) -> bash(20) -> cat(30)
fn state() -> State {
    let mut s = State::detached(UserDb::from_text(
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/zsh\n",
        "root:x:0:\nalice:x:1000:\n",
    ));
    s.insert_seed(proc(1, 0, "systemd", &[]));
    s.insert_seed(proc(10, 1, "sshd", &[]));
    s.insert_seed(proc(20, 10, "bash", &["-l"]));
    s.insert_seed(proc(30, 20, "cat", &["/etc/shadow"]));
    s
}

fn get(ctx: &EventContext<'_>, name: &str) -> Option<String> {
    let (field, arg) = match name.split_once('[') {
        Some((f, a)) => (f, Some(a.trim_end_matches(']'))),
        None => (name, None),
    };
    let f = resolve(field, arg).unwrap();
    ctx.extract(&f).map(|v| v.to_text())
}

fn open(tgid: u32, path: &str, flags: u64, ret: i64) -> Event {
    ev(
        tgid,
        "openat",
        ret,
        Detail::Open {
            dirfd: AT_FDCWD,
            path: path.into(),
            flags,
            mode: 0,
            resolve: 0,
        },
    )
}

#[test]
fn process_lineage_and_user_fields() {
    let mut s = state();
    let e = open(30, "/etc/shadow", 0, 3);
    s.apply(&e);
    let r = run();
    let c = EventContext::new(&e, &s, 7, 0, &r);
    assert_eq!(get(&c, "proc.name").as_deref(), Some("cat"));
    assert_eq!(get(&c, "proc.cmdline").as_deref(), Some("cat /etc/shadow"));
    assert_eq!(get(&c, "proc.args").as_deref(), Some("/etc/shadow"));
    assert_eq!(get(&c, "proc.pname").as_deref(), Some("bash"));
    assert_eq!(get(&c, "proc.pcmdline").as_deref(), Some("bash -l"));
    assert_eq!(get(&c, "proc.aname[2]").as_deref(), Some("sshd"));
    assert_eq!(get(&c, "proc.aname[3]").as_deref(), Some("systemd"));
    assert_eq!(get(&c, "proc.aname[4]"), None);
    assert_eq!(
        get(&c, "proc.aname").as_deref(),
        Some("(bash,sshd,systemd)")
    );
    assert_eq!(get(&c, "proc.apid[1]").as_deref(), Some("20"));
    assert_eq!(get(&c, "proc.exepath").as_deref(), Some("/usr/bin/cat"));
    assert_eq!(get(&c, "proc.pexepath").as_deref(), Some("/usr/bin/bash"));
    assert_eq!(get(&c, "proc.cwd").as_deref(), Some("/root/"));
    assert_eq!(get(&c, "proc.loginshellid").as_deref(), Some("20"));
    assert_eq!(get(&c, "proc.duration").as_deref(), Some("10000000000"));
    assert_eq!(get(&c, "user.name").as_deref(), Some("root"));
    assert_eq!(get(&c, "user.uid").as_deref(), Some("0"));
    assert_eq!(get(&c, "user.loginuid").as_deref(), Some("1000"));
    assert_eq!(get(&c, "user.loginname").as_deref(), Some("alice"));
    assert_eq!(get(&c, "group.name").as_deref(), Some("root"));
    assert_eq!(get(&c, "container.id").as_deref(), Some("host"));
    assert_eq!(get(&c, "container.image.repository"), None);
    assert_eq!(get(&c, "evt.num").as_deref(), Some("7"));
    assert_eq!(get(&c, "evt.hostname").as_deref(), Some("node-1"));
    assert_eq!(get(&c, "evt.dir").as_deref(), Some("<"));
    assert_eq!(get(&c, "proc.tty").as_deref(), Some("0"));
}

#[test]
fn open_fields_for_success_and_failure() {
    let mut s = state();
    let e = open(30, "../etc/./shadow", flags::O_CLOEXEC_BIT, 3);
    s.apply(&e);
    let r = run();
    let c = EventContext::new(&e, &s, 1, 0, &r);
    assert_eq!(get(&c, "fd.name").as_deref(), Some("/etc/shadow"));
    assert_eq!(get(&c, "fd.nameraw").as_deref(), Some("../etc/./shadow"));
    assert_eq!(get(&c, "fd.directory").as_deref(), Some("/etc"));
    assert_eq!(get(&c, "fd.filename").as_deref(), Some("shadow"));
    assert_eq!(get(&c, "fd.typechar").as_deref(), Some("f"));
    assert_eq!(get(&c, "fd.type").as_deref(), Some("file"));
    assert_eq!(get(&c, "fd.num").as_deref(), Some("3"));
    assert_eq!(get(&c, "evt.is_open_read").as_deref(), Some("true"));
    assert_eq!(get(&c, "evt.is_open_write").as_deref(), Some("false"));
    assert_eq!(
        get(&c, "evt.arg.flags").as_deref(),
        Some("O_RDONLY|O_CLOEXEC")
    );
    // FSRELPATH: evt.arg is the path joined to the cwd (/root), rawarg as given.
    assert_eq!(get(&c, "evt.arg.name").as_deref(), Some("/etc/shadow"));
    assert_eq!(
        get(&c, "evt.rawarg.name").as_deref(),
        Some("../etc/./shadow")
    );
    // PT_FD: the fd's type and name.
    assert_eq!(get(&c, "evt.arg[0]").as_deref(), Some("<f>/etc/shadow"));
    assert_eq!(get(&c, "evt.rawarg.fd").as_deref(), Some("3"));
    // PPM_O_RDONLY | PPM_O_CLOEXEC, not the kernel's O_CLOEXEC bit.
    assert_eq!(get(&c, "evt.rawarg.flags").as_deref(), Some("4097"));
    assert_eq!(get(&c, "evt.res").as_deref(), Some("SUCCESS"));
    assert_eq!(get(&c, "evt.abspath").as_deref(), Some("/etc/shadow"));
    assert!(
        get(&c, "evt.args")
            .unwrap()
            .contains("name=../etc/./shadow(/etc/shadow) flags=4097(O_RDONLY|O_CLOEXEC)")
    );

    let failed = open(30, "/etc/nope", flags::O_WRONLY | flags::O_TRUNC, -2);
    s.apply(&failed);
    let c = EventContext::new(&failed, &s, 2, 0, &r);
    assert_eq!(get(&c, "fd.num").as_deref(), Some("-1"));
    assert_eq!(get(&c, "fd.name").as_deref(), Some("/etc/nope"));
    assert_eq!(get(&c, "fd.typechar").as_deref(), Some("f"));
    assert_eq!(get(&c, "evt.res").as_deref(), Some("ENOENT"));
    assert_eq!(get(&c, "evt.rawres").as_deref(), Some("-2"));
    assert_eq!(get(&c, "evt.is_open_write").as_deref(), Some("true"));
    assert!(get(&c, "evt.arg.flags").unwrap().contains("O_TRUNC"));
}

#[test]
fn socket_fields_after_connect_and_dup() {
    let mut s = state();
    s.apply(&ev(
        30,
        "socket",
        3,
        Detail::Socket {
            domain: 2,
            sock_type: 1,
            protocol: 0,
        },
    ));
    let t = SockTuple {
        family: 2,
        sock_type: 1,
        protocol: 6,
        state: 1,
        local: Some(("172.17.0.2".parse().unwrap(), 51000)),
        remote: Some(("8.8.8.8".parse().unwrap(), 443)),
        unix_path: None,
    };
    let conn = ev(
        30,
        "connect",
        0,
        Detail::SocketIo {
            fd: 3,
            addr: Some(SockAddr::Inet {
                ip: "8.8.8.8".parse().unwrap(),
                port: 443,
            }),
            tuple: Some(t),
            size: 0,
            flags: 0,
        },
    );
    s.apply(&conn);
    let r = run();
    let c = EventContext::new(&conn, &s, 1, 0, &r);
    assert_eq!(
        get(&c, "fd.name").as_deref(),
        Some("172.17.0.2:51000->8.8.8.8:443")
    );
    assert_eq!(get(&c, "fd.typechar").as_deref(), Some("4"));
    assert_eq!(get(&c, "fd.sip").as_deref(), Some("8.8.8.8"));
    assert_eq!(get(&c, "fd.cip").as_deref(), Some("172.17.0.2"));
    assert_eq!(get(&c, "fd.sport").as_deref(), Some("443"));
    assert_eq!(get(&c, "fd.lport").as_deref(), Some("51000"));
    assert_eq!(get(&c, "fd.rport").as_deref(), Some("443"));
    assert_eq!(get(&c, "fd.l4proto").as_deref(), Some("tcp"));
    assert_eq!(get(&c, "fd.sockfamily").as_deref(), Some("ip"));
    assert_eq!(get(&c, "fd.connected").as_deref(), Some("true"));
    assert_eq!(get(&c, "fd.is_server").as_deref(), Some("false"));
    assert_eq!(
        get(&c, "evt.arg.tuple").as_deref(),
        Some("172.17.0.2:51000->8.8.8.8:443")
    );

    // dup2(3, 0): the reverse-shell pattern; the fd context is the socket.
    let dup = ev(
        30,
        "dup2",
        0,
        Detail::Dup {
            oldfd: 3,
            newfd: Some(0),
            flags: 0,
        },
    );
    s.apply(&dup);
    let c = EventContext::new(&dup, &s, 2, 0, &r);
    assert_eq!(get(&c, "fd.type").as_deref(), Some("ipv4"));
    assert_eq!(get(&c, "evt.rawres").as_deref(), Some("0"));
    assert_eq!(get(&c, "fd.types[0]").as_deref(), Some("ipv4"));
}

#[test]
fn exec_fields_caps_and_flags() {
    let mut s = state();
    let x = ExecInfo {
        old_tid: 30,
        filename: "/dev/shm/x".into(),
        exe_path: "/memfd:payload (deleted)".into(),
        args: vec!["/dev/shm/x".into(), "-c".into()],
        env: vec!["HOME=/root".into(), "SECRET=1".into()],
        cwd: "/dev/shm".into(),
        cgroup: "/".into(),
        cap_inheritable: 0,
        cap_permitted: 0x1fffff,
        cap_effective: (1 << 21) | (1 << 16) | 1,
        exe_ino: 42,
        exe_dev: 0,
        exe_ctime_ns: 5,
        exe_mtime_ns: 6,
        exe_writable: true,
        exe_upper_layer: false,
        exe_lower_layer: false,
        exe_from_memfd: true,
        start_boot_ns: 9_000_000_000,
        ruid: 0,
        rgid: 0,
        vpid: 30,
        vtid: 30,
        sid: 20,
        vpgid: 30,
        tty: 34817,
        pidns_level: 0,
    };
    let mut e = ev(30, "execve", 0, Detail::Exec(Box::new(x)));
    e.comm = "x".into();
    s.apply(&e);
    let r = run();
    let c = EventContext::new(&e, &s, 1, 0, &r);
    assert_eq!(get(&c, "proc.exe").as_deref(), Some("/dev/shm/x"));
    assert_eq!(get(&c, "proc.name").as_deref(), Some("x"));
    assert_eq!(get(&c, "proc.args").as_deref(), Some("-c"));
    assert_eq!(get(&c, "proc.cmdline").as_deref(), Some("x -c"));
    assert_eq!(get(&c, "proc.is_exe_from_memfd").as_deref(), Some("true"));
    assert_eq!(get(&c, "proc.is_exe_writable").as_deref(), Some("true"));
    assert_eq!(get(&c, "proc.is_vpgid_leader").as_deref(), Some("true"));
    assert_eq!(get(&c, "proc.sname").as_deref(), Some("bash"));
    assert_eq!(get(&c, "proc.env[SECRET]").as_deref(), Some("1"));
    assert_eq!(get(&c, "proc.tty").as_deref(), Some("34817"));
    assert_eq!(
        get(&c, "thread.cap_effective").as_deref(),
        Some("CAP_CHOWN CAP_SYS_MODULE CAP_SYS_ADMIN")
    );
    assert_eq!(
        get(&c, "evt.arg.flags").as_deref(),
        Some("EXE_WRITABLE|EXE_FROM_MEMFD")
    );
    assert_eq!(get(&c, "proc.exe_ino.ctime").as_deref(), Some("5"));
    assert_eq!(get(&c, "fd.name"), None, "exec has no fd context");
}

/// Falco's stable rules through the one lookup (saker-upstream); `None`
/// (the test says it is skipped, and how to get them) when they are absent.
fn falco_rules() -> Option<crate::rules::RuleSet> {
    let dir = saker_upstream::for_test(&[saker_upstream::STABLE])?;
    let out = crate::rules::load_paths(&[dir.join(saker_upstream::STABLE)]);
    assert!(!out.has_errors(), "{:?}", out.diagnostics);
    Some(out.ruleset)
}

fn fired(rules: &crate::rules::RuleSet, ctx: &EventContext<'_>) -> Vec<String> {
    let mut names = Vec::new();
    rules.evaluate(ctx, |r| names.push(r.name.to_string()));
    names
}

#[test]
fn upstream_rules_fire_on_built_scenarios() {
    let Some(rules) = falco_rules() else {
        return;
    };
    let r = run();

    // cat /etc/shadow
    let mut s = state();
    let e = open(30, "/etc/shadow", 0, 3);
    s.apply(&e);
    let c = EventContext::new(&e, &s, 1, 0, &r);
    assert_eq!(fired(&rules, &c), vec!["Read sensitive file untrusted"]);
    let mut alert = None;
    rules.evaluate(&c, |rule| alert = Some(rule.alert(&c, &r.hostname)));
    let alert = alert.unwrap();
    assert!(
        alert.output.contains("file=/etc/shadow"),
        "{}",
        alert.output
    );
    assert!(
        alert.output.contains("command=cat /etc/shadow"),
        "{}",
        alert.output
    );
    assert!(alert.output.contains("parent=bash"), "{}", alert.output);
    assert!(alert.output.contains("user=root"), "{}", alert.output);

    // The same read by a trusted binary (sshd) does not fire.
    let e = open(10, "/etc/shadow", 0, 4);
    s.apply(&e);
    let c = EventContext::new(&e, &s, 2, 0, &r);
    assert!(fired(&rules, &c).is_empty());

    // A benign read does not fire.
    let e = open(30, "/etc/hostname", 0, 5);
    s.apply(&e);
    let c = EventContext::new(&e, &s, 3, 0, &r);
    assert!(fired(&rules, &c).is_empty());

    // ln -s /etc/shadow /tmp/x
    let e = ev(
        30,
        "symlinkat",
        0,
        Detail::Symlink {
            target: "/etc/shadow".into(),
            newdirfd: AT_FDCWD,
            linkpath: "/tmp/x".into(),
        },
    );
    s.apply(&e);
    let c = EventContext::new(&e, &s, 4, 0, &r);
    assert_eq!(
        fired(&rules, &c),
        vec!["Create Symlink Over Sensitive Files"]
    );

    // ptrace(PTRACE_ATTACH, ...)
    let e = ev(
        30,
        "ptrace",
        0,
        Detail::Ptrace {
            request: 16,
            pid: 99,
            addr: 0,
            data: 0,
        },
    );
    s.apply(&e);
    let c = EventContext::new(&e, &s, 5, 0, &r);
    assert_eq!(fired(&rules, &c), vec!["PTRACE attached to process"]);
}
