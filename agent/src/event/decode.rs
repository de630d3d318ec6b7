//! Raw kernel records to [`Event`]s. Every length is checked against the
//! record; a malformed record is an error (counted by the caller), never a
//! panic or an out-of-bounds read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use saker_ebpf::abi::{self, EventHeader, FromBytes, ProcInfo};

use super::{AT_FDCWD, Detail, Event, EventType, ExecInfo, SockAddr, SockTuple, flags};

/// Why a record could not be decoded. Offsets are bytes from the record start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than the {header}-byte header")]
    TooShort { len: usize, header: usize },
    #[error("header says {header_len} bytes but the record has {record_len}")]
    LengthMismatch {
        header_len: usize,
        record_len: usize,
    },
    #[error("parameter {index} at offset {offset}: {what}")]
    BadParam {
        index: usize,
        offset: usize,
        what: &'static str,
    },
    #[error("unknown record kind {0}")]
    UnknownKind(u16),
    #[error("unknown syscall number {0}")]
    UnknownSyscall(i32),
}

const HEADER: usize = size_of::<EventHeader>();
/// No record kind carries more parameters than this.
const MAX_PARAMS: usize = 8;

/// The parameters of a record, split and bounds-checked.
struct Params<'a> {
    items: [&'a [u8]; MAX_PARAMS],
    count: usize,
}

impl<'a> Params<'a> {
    fn split(record: &'a [u8], nparams: u16) -> Result<Self, DecodeError> {
        let n = usize::from(nparams);
        if n > MAX_PARAMS {
            return Err(DecodeError::BadParam {
                index: n,
                offset: HEADER,
                what: "more parameters than any record kind has",
            });
        }
        let mut items: [&[u8]; MAX_PARAMS] = [&[]; MAX_PARAMS];
        let mut off = HEADER;
        for (index, item) in items.iter_mut().enumerate().take(n) {
            let len_bytes = record.get(off..off + 2).ok_or(DecodeError::BadParam {
                index,
                offset: off,
                what: "length field past the end of the record",
            })?;
            let len = usize::from(u16::from_le_bytes([len_bytes[0], len_bytes[1]]));
            let data = record
                .get(off + 2..off + 2 + len)
                .ok_or(DecodeError::BadParam {
                    index,
                    offset: off,
                    what: "data past the end of the record",
                })?;
            *item = data;
            off += 2 + len;
        }
        if off != record.len() {
            return Err(DecodeError::BadParam {
                index: n,
                offset: off,
                what: "bytes left after the last parameter",
            });
        }
        Ok(Params { items, count: n })
    }

    /// Parameter `i`, empty when the kernel had no room for it (the record is
    /// then flagged truncated).
    fn get(&self, i: usize) -> &'a [u8] {
        if i < self.count { self.items[i] } else { &[] }
    }

    fn string(&self, i: usize) -> String {
        lossy(self.get(i))
    }
}

fn lossy(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A leaf-first walk ("passwd\0etc\0") to a path ("/etc/passwd"). A walk
/// ending in an empty component ("memfd:x\0\0") names a file with no path
/// and is returned without the leading slash ("memfd:x").
pub(crate) fn walk_to_path(walk: &[u8]) -> String {
    let unanchored = walk.ends_with(&[0, 0]);
    let mut parts: Vec<&[u8]> = walk.split(|b| *b == 0).filter(|p| !p.is_empty()).collect();
    parts.reverse();
    let mut out = String::with_capacity(walk.len() + 1);
    if parts.is_empty() {
        out.push('/');
    }
    for (i, p) in parts.into_iter().enumerate() {
        if i > 0 || !unanchored {
            out.push('/');
        }
        out.push_str(&String::from_utf8_lossy(p));
    }
    out
}

/// NUL-separated strings (argv, environ); a trailing unterminated piece is kept.
fn nul_list(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|c| *c == 0).map(lossy).collect()
}

/// A `struct sockaddr` from user memory; `None` when empty.
pub(crate) fn parse_sockaddr(b: &[u8]) -> Option<SockAddr> {
    if b.len() < 2 {
        return None;
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    let port = |b: &[u8]| u16::from_be_bytes([b[2], b[3]]);
    Some(match family {
        flags::AF_INET if b.len() >= 8 => SockAddr::Inet {
            ip: IpAddr::V4(Ipv4Addr::new(b[4], b[5], b[6], b[7])),
            port: port(b),
        },
        flags::AF_INET6 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            SockAddr::Inet {
                ip: IpAddr::V6(Ipv6Addr::from(a)),
                port: port(b),
            }
        }
        flags::AF_UNIX => SockAddr::Unix {
            path: unix_path(&b[2..]),
        },
        other => SockAddr::Other { family: other },
    })
}

/// A sun_path: NUL-terminated, or abstract (leading NUL, shown as `@name`).
fn unix_path(b: &[u8]) -> String {
    match b.split_first() {
        Some((0, rest)) => {
            let end = rest.iter().position(|c| *c == 0).unwrap_or(rest.len());
            format!("@{}", lossy(&rest[..end]))
        }
        _ => {
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            lossy(&b[..end])
        }
    }
}

fn sock_tuple(p: &Params<'_>, tuple_at: usize) -> Option<SockTuple> {
    let t = abi::SockTuple::read_from(p.get(tuple_at))?;
    if t.family == 0 {
        return None;
    }
    let unix = p.get(tuple_at + 1);
    let unix = (!unix.is_empty()).then(|| unix_path(unix));
    Some(SockTuple::from_abi(&t, unix))
}

// x86_64 syscall numbers with decoded arguments (abi.h lists their layout).
mod nr {
    pub const OPEN: i32 = 2;
    pub const CLOSE: i32 = 3;
    pub const DUP: i32 = 32;
    pub const DUP2: i32 = 33;
    pub const SOCKET: i32 = 41;
    pub const CONNECT: i32 = 42;
    pub const ACCEPT: i32 = 43;
    pub const SENDTO: i32 = 44;
    pub const RECVFROM: i32 = 45;
    pub const SENDMSG: i32 = 46;
    pub const RECVMSG: i32 = 47;
    pub const BIND: i32 = 49;
    pub const LISTEN: i32 = 50;
    pub const CLONE: i32 = 56;
    pub const FORK: i32 = 57;
    pub const VFORK: i32 = 58;
    pub const EXECVE: i32 = 59;
    pub const FCNTL: i32 = 72;
    pub const CHDIR: i32 = 80;
    pub const FCHDIR: i32 = 81;
    pub const RENAME: i32 = 82;
    pub const MKDIR: i32 = 83;
    pub const RMDIR: i32 = 84;
    pub const CREAT: i32 = 85;
    pub const LINK: i32 = 86;
    pub const UNLINK: i32 = 87;
    pub const SYMLINK: i32 = 88;
    pub const CHMOD: i32 = 90;
    pub const FCHMOD: i32 = 91;
    pub const PTRACE: i32 = 101;
    pub const SETUID: i32 = 105;
    pub const SETGID: i32 = 106;
    pub const SETREUID: i32 = 113;
    pub const SETREGID: i32 = 114;
    pub const SETRESUID: i32 = 117;
    pub const SETRESGID: i32 = 119;
    pub const INIT_MODULE: i32 = 175;
    pub const OPENAT: i32 = 257;
    pub const MKDIRAT: i32 = 258;
    pub const UNLINKAT: i32 = 263;
    pub const RENAMEAT: i32 = 264;
    pub const LINKAT: i32 = 265;
    pub const SYMLINKAT: i32 = 266;
    pub const FCHMODAT: i32 = 268;
    pub const UNSHARE: i32 = 272;
    pub const ACCEPT4: i32 = 288;
    pub const DUP3: i32 = 292;
    pub const SETNS: i32 = 308;
    pub const FINIT_MODULE: i32 = 313;
    pub const RENAMEAT2: i32 = 316;
    pub const MEMFD_CREATE: i32 = 319;
    pub const BPF: i32 = 321;
    pub const EXECVEAT: i32 = 322;
    pub const USERFAULTFD: i32 = 323;
    pub const CLONE3: i32 = 435;
    pub const OPENAT2: i32 = 437;
    pub const FCHMODAT2: i32 = 452;
}

/// The syscalls whose arguments the probe decodes (abi.h's table), by name.
pub const DECODED_SYSCALLS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "socket",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "sendto",
    "sendmsg",
    "recvfrom",
    "recvmsg",
    "ptrace",
    "init_module",
    "finit_module",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setns",
    "unshare",
    "bpf",
    "memfd_create",
    "userfaultfd",
    "chdir",
    "fchdir",
    "execve",
    "execveat",
];

/// Decodes one ring-buffer record.
pub fn decode(record: &[u8]) -> Result<Event, DecodeError> {
    let h = EventHeader::read_from(record).ok_or(DecodeError::TooShort {
        len: record.len(),
        header: HEADER,
    })?;
    let len = h.len as usize;
    if len < HEADER || len != record.len() {
        return Err(DecodeError::LengthMismatch {
            header_len: len,
            record_len: record.len(),
        });
    }
    let p = Params::split(record, h.nparams)?;
    let (etype, detail) = match h.kind {
        abi::EV_SYSCALL => decode_syscall(&h, &p)?,
        abi::EV_EXEC => decode_exec(&h, &p)?,
        abi::EV_FORK => decode_fork(&h),
        abi::EV_EXIT => (
            EventType::PROCEXIT,
            Detail::Exit {
                status: h.args[0],
                group_dead: h.args[1] != 0,
            },
        ),
        other => return Err(DecodeError::UnknownKind(other)),
    };
    Ok(Event {
        etype,
        ts_boot_ns: h.ts_boot_ns,
        ts_wall_ns: h.ts_wall_ns as i64,
        tgid: h.tgid,
        tid: h.tid,
        ppid: h.ppid,
        uid: h.uid,
        gid: h.gid,
        loginuid: h.loginuid,
        cgroup_id: h.cgroup_id,
        cpu: h.cpu,
        comm: super::Comm::from_kernel(&h.comm),
        ret: h.ret,
        truncated: h.flags & abi::F_TRUNCATED != 0,
        read_failed: h.flags & abi::F_READ_FAILED != 0,
        detail,
    })
}

fn fd(v: u64) -> i64 {
    // Descriptors are C ints: sign-extend the low 32 bits (AT_FDCWD is -100).
    i64::from(v as u32 as i32)
}

fn decode_syscall(h: &EventHeader, p: &Params<'_>) -> Result<(EventType, Detail), DecodeError> {
    let n = h.syscall_nr;
    let etype = u32::try_from(n)
        .ok()
        .and_then(EventType::from_syscall)
        .ok_or(DecodeError::UnknownSyscall(n))?;
    let a = &h.args;
    let detail = match n {
        nr::OPEN | nr::OPENAT | nr::OPENAT2 | nr::CREAT => Detail::Open {
            dirfd: fd(a[0]),
            path: p.string(0),
            // Kernel open flags are a C int: the result bit goes above them.
            flags: (a[1] & u64::from(u32::MAX))
                | if a[4] & abi::OPEN_CREATED != 0 {
                    super::OPEN_F_CREATED
                } else {
                    0
                },
            mode: a[2] as u32,
            resolve: a[3],
        },
        nr::CLOSE => Detail::Close { fd: fd(a[0]) },
        nr::DUP => Detail::Dup {
            oldfd: fd(a[0]),
            newfd: None,
            flags: 0,
        },
        nr::DUP2 | nr::DUP3 => Detail::Dup {
            oldfd: fd(a[0]),
            newfd: Some(fd(a[1])),
            flags: if n == nr::DUP3 { a[2] } else { 0 },
        },
        nr::FCNTL => Detail::Fcntl {
            fd: fd(a[0]),
            cmd: a[1],
            arg: a[2],
        },
        nr::SOCKET => Detail::Socket {
            domain: a[0],
            sock_type: a[1],
            protocol: a[2],
        },
        nr::CONNECT | nr::BIND => Detail::SocketIo {
            fd: fd(a[0]),
            addr: parse_sockaddr(p.get(0)),
            tuple: sock_tuple(p, 1),
            size: 0,
            flags: 0,
        },
        nr::SENDTO | nr::RECVFROM | nr::SENDMSG | nr::RECVMSG => Detail::SocketIo {
            fd: fd(a[0]),
            addr: parse_sockaddr(p.get(0)),
            tuple: sock_tuple(p, 1),
            size: a[1],
            flags: a[2],
        },
        nr::ACCEPT | nr::ACCEPT4 => Detail::SocketIo {
            fd: fd(a[0]),
            addr: None,
            tuple: sock_tuple(p, 0),
            size: 0,
            flags: a[3],
        },
        nr::LISTEN => Detail::Listen {
            fd: fd(a[0]),
            backlog: a[1] as i64,
        },
        nr::PTRACE => Detail::Ptrace {
            request: a[0],
            pid: fd(a[1]),
            addr: a[2],
            data: a[3],
        },
        nr::INIT_MODULE => Detail::Module {
            fd: None,
            len: a[0],
            uargs: p.string(0),
            flags: 0,
        },
        nr::FINIT_MODULE => Detail::Module {
            fd: Some(fd(a[0])),
            len: 0,
            uargs: p.string(0),
            flags: a[1],
        },
        nr::LINK | nr::LINKAT | nr::RENAME | nr::RENAMEAT | nr::RENAMEAT2 => Detail::TwoPaths {
            olddirfd: fd(a[0]),
            oldpath: p.string(0),
            newdirfd: fd(a[1]),
            newpath: p.string(1),
            flags: a[2],
        },
        nr::SYMLINK | nr::SYMLINKAT => Detail::Symlink {
            target: p.string(0),
            newdirfd: fd(a[0]),
            linkpath: p.string(1),
        },
        nr::UNLINK | nr::UNLINKAT | nr::RMDIR => Detail::PathOp {
            dirfd: fd(a[0]),
            path: p.string(0),
            mode: 0,
            flags: a[1],
        },
        nr::MKDIR | nr::MKDIRAT | nr::CHMOD | nr::FCHMODAT | nr::FCHMODAT2 => Detail::PathOp {
            dirfd: fd(a[0]),
            path: p.string(0),
            mode: a[1] as u32,
            flags: a[2],
        },
        nr::FCHMOD => Detail::Fchmod {
            fd: fd(a[0]),
            mode: a[1] as u32,
        },
        nr::SETUID | nr::SETGID => Detail::SetId {
            ids: vec![a[0] as u32],
        },
        nr::SETREUID | nr::SETREGID => Detail::SetId {
            ids: vec![a[0] as u32, a[1] as u32],
        },
        nr::SETRESUID | nr::SETRESGID => Detail::SetId {
            ids: vec![a[0] as u32, a[1] as u32, a[2] as u32],
        },
        nr::SETNS => Detail::Setns {
            fd: fd(a[0]),
            nstype: a[1],
        },
        nr::UNSHARE => Detail::Unshare { flags: a[0] },
        nr::BPF => Detail::Bpf { cmd: a[0] },
        nr::MEMFD_CREATE => Detail::MemfdCreate {
            name: p.string(0),
            flags: a[0],
        },
        nr::USERFAULTFD => Detail::Userfaultfd { flags: a[0] },
        nr::CHDIR => Detail::Chdir {
            path: Some(p.string(0)),
            fd: None,
            cwd: walk_to_path(p.get(1)),
        },
        nr::FCHDIR => Detail::Chdir {
            path: None,
            fd: Some(fd(a[0])),
            cwd: walk_to_path(p.get(0)),
        },
        nr::EXECVE | nr::EXECVEAT => Detail::ExecFailed {
            dirfd: if n == nr::EXECVE { AT_FDCWD } else { fd(a[0]) },
            filename: p.string(0),
            flags: a[1],
        },
        _ => Detail::Other { args: h.args },
    };
    Ok((etype, detail))
}

fn decode_exec(h: &EventHeader, p: &Params<'_>) -> Result<(EventType, Detail), DecodeError> {
    let pi = ProcInfo::read_from(p.get(0)).ok_or(DecodeError::BadParam {
        index: 0,
        offset: HEADER,
        what: "process info shorter than struct saker_proc_info",
    })?;
    let exec_nr = if h.syscall_nr == nr::EXECVEAT {
        nr::EXECVEAT
    } else {
        nr::EXECVE
    };
    let etype =
        EventType::from_syscall(exec_nr as u32).ok_or(DecodeError::UnknownSyscall(h.syscall_nr))?;
    let info = ExecInfo {
        old_tid: h.args[0] as u32,
        filename: p.string(1),
        exe_path: walk_to_path(p.get(2)),
        args: nul_list(p.get(3)),
        env: nul_list(p.get(4)),
        cwd: walk_to_path(p.get(5)),
        cgroup: walk_to_path(p.get(6)),
        cap_inheritable: pi.cap_inheritable,
        cap_permitted: pi.cap_permitted,
        cap_effective: pi.cap_effective,
        exe_ino: pi.exe_ino,
        exe_dev: pi.exe_dev,
        exe_ctime_ns: pi.exe_ctime_ns,
        exe_mtime_ns: pi.exe_mtime_ns,
        exe_writable: pi.exe_flags & abi::EXE_WRITABLE != 0,
        exe_upper_layer: pi.exe_flags & abi::EXE_UPPER_LAYER != 0,
        exe_lower_layer: pi.exe_flags & abi::EXE_LOWER_LAYER != 0,
        exe_from_memfd: pi.exe_flags & abi::EXE_FROM_MEMFD != 0,
        start_boot_ns: pi.start_boot_ns,
        ruid: pi.ruid,
        rgid: pi.rgid,
        vpid: pi.vpid,
        vtid: pi.vtid,
        sid: pi.sid,
        vpgid: pi.vpgid,
        tty: pi.tty,
        pidns_level: pi.pidns_level,
    };
    Ok((etype, Detail::Exec(Box::new(info))))
}

fn decode_fork(h: &EventHeader) -> (EventType, Detail) {
    let nr = match h.syscall_nr {
        n @ (nr::FORK | nr::VFORK | nr::CLONE3 | nr::CLONE) => n,
        // Kernel threads and anything unexpected: Falco reports clone.
        _ => nr::CLONE,
    };
    let etype = EventType::from_syscall(nr as u32).unwrap_or(EventType::PROCEXIT);
    (
        etype,
        Detail::Fork {
            child_tid: h.args[0] as u32,
            child_tgid: h.args[1] as u32,
            clone_flags: h.args[2],
            child_ppid: h.args[3] as u32,
            child_vtid: h.args[4] as u32,
            child_vpid: h.args[5] as u32,
        },
    )
}

/// Builds records in the kernel's layout; used by tests and fuzzing.
#[cfg(any(test, feature = "testing"))]
pub mod build {
    use saker_ebpf::abi::{EventHeader, ProcInfo, SockTuple};

    /// Serializes a header and its params into one record (fixing len and nparams).
    pub fn record(mut h: EventHeader, params: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        for p in params {
            body.extend_from_slice(&(p.len() as u16).to_le_bytes());
            body.extend_from_slice(p);
        }
        h.len = (size_of::<EventHeader>() + body.len()) as u32;
        h.nparams = params.len() as u16;
        let mut out = header_bytes(&h);
        out.extend_from_slice(&body);
        out
    }

    pub fn header_bytes(h: &EventHeader) -> Vec<u8> {
        let mut v = Vec::with_capacity(size_of::<EventHeader>());
        v.extend_from_slice(&h.len.to_le_bytes());
        v.extend_from_slice(&h.kind.to_le_bytes());
        v.extend_from_slice(&h.nparams.to_le_bytes());
        for x in [h.ts_boot_ns, h.ts_wall_ns, h.cgroup_id] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&h.ret.to_le_bytes());
        for a in h.args {
            v.extend_from_slice(&a.to_le_bytes());
        }
        for x in [h.tgid, h.tid, h.ppid, h.uid, h.gid, h.loginuid] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&h.syscall_nr.to_le_bytes());
        v.extend_from_slice(&h.cpu.to_le_bytes());
        v.extend_from_slice(&h.flags.to_le_bytes());
        v.extend_from_slice(&h.comm);
        v
    }

    /// `struct saker_proc_info` as the kernel writes it.
    pub fn proc_info_bytes(p: &ProcInfo) -> Vec<u8> {
        let mut b = Vec::with_capacity(size_of::<ProcInfo>());
        for v in [
            p.cap_inheritable,
            p.cap_permitted,
            p.cap_effective,
            p.exe_ino,
            p.exe_ctime_ns,
            p.exe_mtime_ns,
            p.start_boot_ns,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            p.ruid,
            p.rgid,
            p.vpid,
            p.vtid,
            p.sid,
            p.vpgid,
            p.tty,
            p.exe_flags,
            p.pidns_level,
            p.exe_dev,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(b.len(), size_of::<ProcInfo>());
        b
    }

    /// `struct saker_sock_tuple` as the kernel writes it.
    pub fn tuple_bytes(t: &SockTuple) -> Vec<u8> {
        let mut b = Vec::with_capacity(size_of::<SockTuple>());
        for v in [t.family, t.sock_type, t.protocol, t.state, t.lport, t.rport] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&t.pad.to_le_bytes());
        b.extend_from_slice(&t.laddr);
        b.extend_from_slice(&t.raddr);
        assert_eq!(b.len(), size_of::<SockTuple>());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::build::record;
    use super::*;

    fn header(kind: u16, nr: i32) -> EventHeader {
        let mut comm = [0u8; 16];
        comm[..3].copy_from_slice(b"cat");
        EventHeader {
            kind,
            syscall_nr: nr,
            tgid: 42,
            tid: 43,
            ppid: 1,
            uid: 1000,
            ts_boot_ns: 5,
            ts_wall_ns: 1_700_000_000_000_000_000,
            comm,
            ..Default::default()
        }
    }

    #[test]
    fn openat_decodes_path_flags_and_fd() {
        let mut h = header(abi::EV_SYSCALL, nr::OPENAT);
        h.args = [(-100i64) as u64, 0o2000000, 0o644, 0, 0, 0];
        h.ret = 3;
        let ev = decode(&record(h, &[b"/etc/passwd"])).unwrap();
        assert_eq!(ev.etype.name(), "openat");
        assert_eq!(
            (ev.tgid, ev.tid, ev.comm.as_str(), ev.ret),
            (42, 43, "cat", 3)
        );
        assert_eq!(
            ev.detail,
            Detail::Open {
                dirfd: AT_FDCWD,
                path: "/etc/passwd".into(),
                flags: 0o2000000,
                mode: 0o644,
                resolve: 0
            }
        );
    }

    /// The kernel's FMODE_CREATED result (abi.h open oflags) becomes
    /// OPEN_F_CREATED in the flags, above the 32 kernel flag bits.
    #[test]
    fn open_reports_whether_it_created_the_file() {
        let mut h = header(abi::EV_SYSCALL, nr::OPENAT);
        h.args = [(-100i64) as u64, 0o101, 0o644, 0, abi::OPEN_CREATED, 0];
        h.ret = 3;
        let ev = decode(&record(h, &[b"/tmp/new"])).unwrap();
        let Detail::Open { flags, .. } = ev.detail else {
            panic!("not open")
        };
        assert_eq!(flags, 0o101 | crate::event::OPEN_F_CREATED);
        h.args[4] = 0;
        let ev = decode(&record(h, &[b"/tmp/new"])).unwrap();
        assert!(matches!(ev.detail, Detail::Open { flags: 0o101, .. }));
    }

    /// abi.h: fcntl args are fd, cmd, arg; the new fd of F_DUPFD is `ret`.
    #[test]
    fn fcntl_decodes_fd_cmd_and_arg() {
        let mut h = header(abi::EV_SYSCALL, nr::FCNTL);
        h.args = [3, crate::event::fcntl::F_DUPFD, 10, 0, 0, 0];
        h.ret = 10;
        let ev = decode(&record(h, &[])).unwrap();
        assert_eq!(ev.etype.name(), "fcntl");
        assert_eq!(
            ev.detail,
            Detail::Fcntl {
                fd: 3,
                cmd: 0,
                arg: 10
            }
        );
        assert!(DECODED_SYSCALLS.contains(&"fcntl"));
    }

    #[test]
    fn connect_decodes_sockaddr_and_tuple() {
        let mut h = header(abi::EV_SYSCALL, nr::CONNECT);
        h.args[0] = 5;
        let sa = [2u8, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let t = abi::SockTuple {
            family: 2,
            sock_type: 1,
            protocol: 6,
            lport: 40000,
            rport: 8080,
            laddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            raddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        };
        let tb = super::build::tuple_bytes(&t);
        let ev = decode(&record(h, &[&sa, &tb, b""])).unwrap();
        let Detail::SocketIo {
            fd, addr, tuple, ..
        } = ev.detail
        else {
            panic!("not socket io");
        };
        assert_eq!(fd, 5);
        assert_eq!(
            addr,
            Some(SockAddr::Inet {
                ip: "127.0.0.1".parse().unwrap(),
                port: 8080
            })
        );
        let tuple = tuple.unwrap();
        assert_eq!(tuple.local, Some(("127.0.0.1".parse().unwrap(), 40000)));
        assert_eq!(tuple.remote, Some(("127.0.0.1".parse().unwrap(), 8080)));
        assert_eq!(tuple.protocol, 6);
    }

    #[test]
    fn walks_become_absolute_paths() {
        assert_eq!(walk_to_path(b"passwd\0etc\0"), "/etc/passwd");
        assert_eq!(walk_to_path(b""), "/");
        assert_eq!(walk_to_path(b"memfd:payload\0\0"), "memfd:payload");
    }

    #[test]
    fn unix_and_abstract_sockaddrs() {
        let mut b = vec![1u8, 0];
        b.extend_from_slice(b"/run/x.sock\0\0\0");
        assert_eq!(
            parse_sockaddr(&b),
            Some(SockAddr::Unix {
                path: "/run/x.sock".into()
            })
        );
        let b = [1u8, 0, 0, b'a', b'b'];
        assert_eq!(
            parse_sockaddr(&b),
            Some(SockAddr::Unix { path: "@ab".into() })
        );
        assert_eq!(parse_sockaddr(&[2u8]), None);
        assert_eq!(
            parse_sockaddr(&[2u8, 0, 1]),
            Some(SockAddr::Other { family: 2 })
        );
    }

    #[test]
    fn malformed_records_are_errors() {
        assert!(matches!(
            decode(&[0u8; 10]),
            Err(DecodeError::TooShort { .. })
        ));
        let h = header(abi::EV_SYSCALL, nr::OPENAT);
        let mut r = record(h, &[b"/x"]);
        // Length field claims more bytes than exist.
        r[HEADER] = 200;
        assert!(matches!(
            decode(&r),
            Err(DecodeError::BadParam { index: 0, .. })
        ));
        // Header length disagrees with the record.
        let mut r = record(h, &[b"/x"]);
        r.push(0);
        assert!(matches!(
            decode(&r),
            Err(DecodeError::LengthMismatch { .. })
        ));
        // Unknown kind and syscall.
        assert_eq!(
            decode(&record(header(99, 0), &[])),
            Err(DecodeError::UnknownKind(99))
        );
        assert_eq!(
            decode(&record(header(abi::EV_SYSCALL, 9999), &[])),
            Err(DecodeError::UnknownSyscall(9999))
        );
        // Too many params.
        let mut r = record(h, &[]);
        r[6] = 200;
        assert!(decode(&r).is_err());
    }

    #[test]
    fn exec_decodes_argv_env_and_flags() {
        let mut h = header(abi::EV_EXEC, nr::EXECVE);
        h.args[0] = 43;
        let pi = ProcInfo {
            exe_flags: abi::EXE_FROM_MEMFD | abi::EXE_WRITABLE,
            tty: 34816,
            ..Default::default()
        };
        let pib = super::build::proc_info_bytes(&pi);
        let ev = decode(&record(
            h,
            &[
                &pib,
                b"/bin/true",
                b"true\0bin\0usr\0",
                b"/bin/true\0hello\0",
                b"A=1\0B=2\0",
                b"tmp\0",
                b"",
            ],
        ))
        .unwrap();
        assert_eq!(ev.etype.name(), "execve");
        let Detail::Exec(x) = ev.detail else { panic!() };
        assert_eq!(x.exe_path, "/usr/bin/true");
        assert_eq!(x.args, vec!["/bin/true", "hello"]);
        assert_eq!(x.env, vec!["A=1", "B=2"]);
        assert_eq!(x.cwd, "/tmp");
        assert_eq!(x.cgroup, "/");
        assert!(x.exe_from_memfd && x.exe_writable && !x.exe_upper_layer);
        assert_eq!(x.tty, 34816);
    }

    #[test]
    fn fork_and_exit() {
        let mut h = header(abi::EV_FORK, nr::CLONE3);
        h.args = [100, 100, 0x11, 42, 1, 1];
        let ev = decode(&record(h, &[])).unwrap();
        assert_eq!(ev.etype.name(), "clone3");
        assert!(matches!(
            ev.detail,
            Detail::Fork {
                child_tid: 100,
                child_tgid: 100,
                ..
            }
        ));
        let mut h = header(abi::EV_EXIT, -1);
        h.args = [9, 1, 0, 0, 0, 0];
        let ev = decode(&record(h, &[])).unwrap();
        assert_eq!(ev.etype, EventType::PROCEXIT);
        assert_eq!(
            ev.detail,
            Detail::Exit {
                status: 9,
                group_dead: true
            }
        );
    }
}
