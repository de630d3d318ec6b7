//! The table against the decoder and against its own rules (Falco's
//! `driver/event_table.c` header: every `DIRFD_PARAM(n)` of a
//! `PT_FSRELPATH` names a `PT_FD` parameter; names are unique per event).
//! Per-syscall names, order and rendering are checked against Falco's
//! values in `fields/extract/args/tests.rs`.

use saker_ebpf::abi::{self, EventHeader, ProcInfo};

use super::*;
use crate::event::decode::{self, DECODED_SYSCALLS, build};

#[test]
fn every_event_saker_decodes_has_an_entry() {
    let others = ["clone", "clone3", "fork", "vfork", "procexit"];
    for name in DECODED_SYSCALLS.iter().chain(others.iter()) {
        let t = EventType::from_name(name).unwrap_or_else(|| panic!("{name}: unknown type"));
        let e = of(t).unwrap_or_else(|| panic!("{name}: no event table entry"));
        assert_eq!(e.syscall, *name);
    }
    // Nothing in the table that Saker does not produce.
    for e in EVENTS {
        assert!(
            DECODED_SYSCALLS.contains(&e.syscall) || others.contains(&e.syscall),
            "{}: in the table but not decoded",
            e.syscall
        );
    }
}

#[test]
fn entries_follow_falcos_table_rules() {
    for e in EVENTS {
        let mut names: Vec<&str> = e.params.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            e.params.len(),
            "{}: duplicate names",
            e.syscall
        );
        for p in e.params {
            if let ParamType::Fsrelpath(i) = p.ty {
                let dirfd = e.params.get(i).map(|d| d.ty);
                assert_eq!(
                    dirfd,
                    Some(ParamType::Fd),
                    "{}.{}: DIRFD_PARAM({i}) is not an fd",
                    e.syscall,
                    p.name
                );
            }
        }
    }
    // The counts of the `*_X` events followed (event_table.c nparams).
    let count = |n: &str| of(EventType::from_name(n).unwrap()).unwrap().params.len();
    assert_eq!(count("execve"), 31);
    assert_eq!(count("execveat"), 30);
    assert_eq!(count("clone3"), 21);
    assert_eq!(count("openat2"), 8);
    assert_eq!(count("accept4"), 6);
    assert_eq!(count("recvmsg"), 6);
}

fn header(kind: u16, nr: u32) -> EventHeader {
    EventHeader {
        kind,
        syscall_nr: nr as i32,
        tgid: 7,
        tid: 7,
        ..Default::default()
    }
}

/// A record of every decoded kind, as the probe writes it.
fn decoded(name: &str) -> Event {
    let t = EventType::from_name(name).unwrap();
    let nr = t.syscall_nr().unwrap_or(0);
    let rec = match name {
        "clone" | "clone3" | "fork" | "vfork" => build::record(header(abi::EV_FORK, nr), &[]),
        "procexit" => build::record(header(abi::EV_EXIT, 0), &[]),
        _ => {
            let mut h = header(abi::EV_SYSCALL, nr);
            // Plausible registers: fds, a request, flags.
            h.args = [3, 4, 0, 0, 0, 0];
            build::record(h, &[b"a", b"b", b"", b""])
        }
    };
    decode::decode(&rec).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every source the table names is one the decoder fills for that call:
/// a renamed or reshaped `Detail` cannot silently empty a parameter.
#[test]
fn sources_match_what_the_decoder_produces() {
    let mut checked = 0;
    for e in EVENTS {
        let ev = decoded(e.syscall);
        for p in e.params {
            if p.src == Source::Missing {
                continue;
            }
            assert_ne!(
                raw(&ev, p.src),
                Raw::Missing,
                "{}.{}: the decoded event has no {:?}",
                e.syscall,
                p.name,
                p.src
            );
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked}");
    // A successful exec carries every process value itself.
    let pi = build::proc_info_bytes(&ProcInfo::default());
    let nr = EventType::from_name("execve")
        .unwrap()
        .syscall_nr()
        .unwrap();
    let rec = build::record(
        header(abi::EV_EXEC, nr),
        &[&pi, b"/bin/true", b"true\0bin\0", b"true\0", b"", b"", b""],
    );
    let ev = decode::decode(&rec).unwrap();
    for p in of(ev.etype).unwrap().params {
        let r = raw(&ev, p.src);
        assert!(
            !matches!(r, Raw::Process(_)),
            "execve.{}: a successful exec has the value itself",
            p.name
        );
        assert_eq!(
            r == Raw::Missing,
            p.src == Source::Missing,
            "execve.{}",
            p.name
        );
    }
}

#[test]
fn conversions_to_falcos_codes() {
    let ev = |detail| Event {
        detail,
        ..decoded("close")
    };
    // chmod u+s on 0755: PPM_S_* equal the kernel bits.
    let e = ev(Detail::PathOp {
        dirfd: crate::event::AT_FDCWD,
        path: "f".into(),
        mode: 0o104755,
        flags: 0,
    });
    assert_eq!(raw(&e, Source::ChmodMode), Raw::UInt(0o4755));
    // open(O_WRONLY|O_APPEND|O_CLOEXEC, 0644) without O_CREAT: mode 0.
    let e = ev(Detail::Open {
        dirfd: 3,
        path: "f".into(),
        flags: 0o2002001,
        mode: 0o644,
        resolve: 0,
    });
    assert_eq!(raw(&e, Source::OpenFlags), Raw::UInt(2 | 8 | 4096));
    assert_eq!(raw(&e, Source::OpenMode), Raw::UInt(0));
    assert_eq!(raw(&e, Source::CreatMode), Raw::UInt(0o644));
    // ptrace(PTRACE_SEIZE): PPM_PTRACE_SEIZE is 20.
    let e = Event {
        ret: 0,
        ..ev(Detail::Ptrace {
            request: 0x4206,
            pid: 9,
            addr: 0,
            data: 0,
        })
    };
    assert_eq!(raw(&e, Source::PtraceRequest), Raw::UInt(20));
    assert_eq!(raw(&e, Source::PtraceData), Raw::UInt(0));
}
