//! Events: kernel records decoded into typed, owned values.
//!
//! [`decode::decode`] turns one ring-buffer record (layout: `agent-ebpf/include/abi.h`)
//! into an [`Event`]. Everything downstream (capture output, recordings,
//! state, rules) works on `Event`.

pub mod decode;
pub mod flags;
mod format;
pub mod params;
mod syscalls_x86_64;
pub mod types;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

pub use decode::{DecodeError, decode};
pub use format::tuple_text;
pub use types::EventType;

/// `AT_FDCWD`: "relative to the working directory" in *at() calls.
pub const AT_FDCWD: i64 = -100;

/// Set by the decoder in [`Detail::Open`]`.flags` when the call created the
/// file (the kernel's FMODE_CREATED on the new file). Kernel open flags are
/// 32 bits, so this bit never collides with one. Falco's probes put the same
/// fact in the open flags (`PPM_O_F_CREATED`, printed `O_F_CREATED`), and
/// `evt.is_open_create` reads it.
pub const OPEN_F_CREATED: u64 = 1 << 32;

/// fcntl commands whose effect on the fd table state tracking follows
/// (x86_64 `include/uapi/asm-generic/fcntl.h`, `linux/fcntl.h`).
pub mod fcntl {
    pub const F_DUPFD: u64 = 0;
    pub const F_SETFD: u64 = 2;
    pub const F_GETFL: u64 = 3;
    pub const F_DUPFD_CLOEXEC: u64 = 1030;
    /// `F_SETFD`'s close-on-exec bit.
    pub const FD_CLOEXEC: u64 = 1;

    /// The command's name as Falco's `fcntl_commands` table spells it
    /// (driver/flags_table.c), from the x86_64 kernel number.
    pub fn name(cmd: u64) -> Option<&'static str> {
        Some(match cmd {
            0 => "F_DUPFD",
            1 => "F_GETFD",
            2 => "F_SETFD",
            3 => "F_GETFL",
            4 => "F_SETFL",
            5 => "F_GETLK",
            6 => "F_SETLK",
            7 => "F_SETLKW",
            8 => "F_SETOWN",
            9 => "F_GETOWN",
            10 => "F_SETSIG",
            11 => "F_GETSIG",
            15 => "F_SETOWN_EX",
            16 => "F_GETOWN_EX",
            36 => "F_OFD_GETLK",
            37 => "F_OFD_SETLK",
            38 => "F_OFD_SETLKW",
            1024 => "F_SETLEASE",
            1025 => "F_GETLEASE",
            1026 => "F_NOTIFY",
            1029 => "F_CANCELLK",
            1030 => "F_DUPFD_CLOEXEC",
            1031 => "F_SETPIPE_SZ",
            1032 => "F_GETPIPE_SZ",
            _ => return None,
        })
    }
}

/// A task's comm (at most 15 bytes), stored inline: no allocation per event.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Comm {
    bytes: [u8; 16],
    len: u8,
}

impl Comm {
    /// From the kernel's NUL-padded array; invalid UTF-8 is replaced.
    pub fn from_kernel(raw: &[u8; 16]) -> Self {
        let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
        match std::str::from_utf8(&raw[..end]) {
            Ok(s) => Self::new(s),
            Err(_) => Self::new(&String::from_utf8_lossy(&raw[..end])),
        }
    }

    /// Keeps at most 16 bytes, cut at a character boundary.
    pub fn new(s: &str) -> Self {
        let mut end = s.len().min(16);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; 16];
        bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        Comm {
            bytes,
            len: end as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Built from a &str cut at a char boundary, so always valid UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl From<&str> for Comm {
    fn from(s: &str) -> Self {
        Comm::new(s)
    }
}

impl std::ops::Deref for Comm {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Comm {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Comm {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Serialize for Comm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Falco's `evt.type`.
    #[serde(rename = "type")]
    pub etype: EventType,
    /// Boot-clock timestamp (ns since boot).
    pub ts_boot_ns: u64,
    /// Wall-clock timestamp (ns since the Unix epoch).
    pub ts_wall_ns: i64,
    pub tgid: u32,
    pub tid: u32,
    pub ppid: u32,
    /// Effective uid and gid.
    pub uid: u32,
    pub gid: u32,
    /// Audit login uid; `u32::MAX` when unset.
    pub loginuid: u32,
    pub cgroup_id: u64,
    pub cpu: u16,
    pub comm: Comm,
    /// Syscall return value (0 for process events).
    pub ret: i64,
    /// A parameter was cut at its bound in the kernel.
    pub truncated: bool,
    /// A parameter could not be read in the kernel.
    pub read_failed: bool,
    pub detail: Detail,
}

/// Per-kind arguments. Paths are as the process passed them (not resolved).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    Open {
        dirfd: i64,
        path: String,
        flags: u64,
        mode: u32,
        /// openat2 `resolve` flags.
        resolve: u64,
    },
    Close {
        fd: i64,
    },
    Dup {
        oldfd: i64,
        /// For dup2/dup3; for dup the new fd is the return value.
        newfd: Option<i64>,
        flags: u64,
    },
    /// fcntl: `cmd` and `arg` as the kernel got them; for F_DUPFD and
    /// F_DUPFD_CLOEXEC the new fd is the return value.
    Fcntl {
        fd: i64,
        cmd: u64,
        arg: u64,
    },
    Socket {
        domain: u64,
        sock_type: u64,
        protocol: u64,
    },
    /// connect, bind, accept, accept4, sendto, sendmsg, recvfrom, recvmsg.
    SocketIo {
        /// The socket fd (for accept: the listening socket; the new fd is `ret`).
        fd: i64,
        /// The address the caller passed or received (sockaddr from user memory).
        addr: Option<SockAddr>,
        /// The kernel's view of the socket after the call.
        tuple: Option<SockTuple>,
        size: u64,
        flags: u64,
    },
    Listen {
        fd: i64,
        backlog: i64,
    },
    Ptrace {
        request: u64,
        pid: i64,
        addr: u64,
        data: u64,
    },
    Module {
        /// finit_module's fd.
        fd: Option<i64>,
        /// init_module's image length.
        len: u64,
        uargs: String,
        flags: u64,
    },
    /// link, linkat, rename, renameat, renameat2.
    TwoPaths {
        olddirfd: i64,
        oldpath: String,
        newdirfd: i64,
        newpath: String,
        flags: u64,
    },
    Symlink {
        target: String,
        newdirfd: i64,
        linkpath: String,
    },
    /// unlink, unlinkat, rmdir, mkdir, mkdirat, chmod, fchmodat, fchmodat2.
    PathOp {
        dirfd: i64,
        path: String,
        mode: u32,
        flags: u64,
    },
    Fchmod {
        fd: i64,
        mode: u32,
    },
    SetId {
        /// setuid/setgid: `[id]`; setre*: `[real, effective]`; setres*: `[real, effective, saved]`.
        ids: Vec<u32>,
    },
    Setns {
        fd: i64,
        nstype: u64,
    },
    Unshare {
        flags: u64,
    },
    Bpf {
        cmd: u64,
    },
    MemfdCreate {
        name: String,
        flags: u64,
    },
    Userfaultfd {
        flags: u64,
    },
    Chdir {
        /// chdir's argument.
        path: Option<String>,
        /// fchdir's argument.
        fd: Option<i64>,
        /// The working directory after the call, from the kernel.
        cwd: String,
    },
    /// A failed execve/execveat (successes are [`Detail::Exec`]).
    ExecFailed {
        dirfd: i64,
        filename: String,
        flags: u64,
    },
    Exec(Box<ExecInfo>),
    /// A new thread or process (clone, clone3, fork, vfork; kernel threads).
    Fork {
        child_tid: u32,
        child_tgid: u32,
        clone_flags: u64,
        child_ppid: u32,
        /// Child tid and tgid in its own pid namespace.
        child_vtid: u32,
        child_vpid: u32,
    },
    /// A thread ended (`procexit`).
    Exit {
        /// Wait status (`exit_code` in the task).
        status: u64,
        /// The last thread of the process ended.
        group_dead: bool,
    },
    /// Any other enabled syscall: the raw argument registers.
    Other {
        args: [u64; 6],
    },
}

/// What the kernel knew of a process at a successful exec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecInfo {
    /// The tid that called exec (differs from `tid` when a non-leader thread execs).
    pub old_tid: u32,
    /// The filename passed to exec.
    pub filename: String,
    /// The executable's path, from the kernel.
    pub exe_path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub cgroup: String,
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub exe_ino: u64,
    pub exe_dev: u32,
    pub exe_ctime_ns: u64,
    pub exe_mtime_ns: u64,
    pub exe_writable: bool,
    pub exe_upper_layer: bool,
    pub exe_lower_layer: bool,
    pub exe_from_memfd: bool,
    pub start_boot_ns: u64,
    pub ruid: u32,
    pub rgid: u32,
    pub vpid: u32,
    pub vtid: u32,
    pub sid: u32,
    pub vpgid: u32,
    pub tty: u32,
    pub pidns_level: u32,
}

/// A socket address as passed in or out of a syscall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "family_kind", rename_all = "snake_case")]
pub enum SockAddr {
    Inet { ip: IpAddr, port: u16 },
    Unix { path: String },
    Other { family: u16 },
}

/// The kernel's view of a socket: both ends and the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SockTuple {
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub state: u16,
    pub local: Option<(IpAddr, u16)>,
    pub remote: Option<(IpAddr, u16)>,
    /// AF_UNIX path (own, else peer's); abstract names start with `@`.
    pub unix_path: Option<String>,
}

/// The IPv4 address an address stands for, as Falco sees it: an IPv4
/// address, an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), or the all-zero
/// IPv6 address, which Falco also takes for IPv4 (`0.0.0.0`)
/// (`sinsp_utils::is_ipv4_mapped_ipv6`, falcosecurity/libs
/// `userspace/libsinsp/utils.cpp`). `None` for any other IPv6 address.
pub fn falco_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let mapped = o[..10].iter().all(|b| *b == 0)
                && ((o[10] == 0xff && o[11] == 0xff) || o[10..].iter().all(|b| *b == 0));
            mapped.then(|| Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }
    }
}

impl SockTuple {
    /// The tuple as Falco reads it: an AF_INET6 socket whose two ends are
    /// both IPv4-mapped (or all-zero) is an IPv4 socket with the IPv4
    /// addresses (falcosecurity/libs `userspace/libsinsp/parsers.cpp`,
    /// `set_ipv4_mapped_ipv6_addresses_and_ports`, and `event.cpp`, which
    /// renders such a tuple as IPv4).
    pub fn unmapped(&self) -> std::borrow::Cow<'_, SockTuple> {
        use std::borrow::Cow;
        if self.family != flags::AF_INET6 {
            return Cow::Borrowed(self);
        }
        let (Some((lip, lport)), Some((rip, rport))) = (self.local, self.remote) else {
            return Cow::Borrowed(self);
        };
        match (falco_ipv4(lip), falco_ipv4(rip)) {
            (Some(l), Some(r)) => Cow::Owned(SockTuple {
                family: flags::AF_INET,
                local: Some((IpAddr::V4(l), lport)),
                remote: Some((IpAddr::V4(r), rport)),
                ..self.clone()
            }),
            _ => Cow::Borrowed(self),
        }
    }

    pub(crate) fn from_abi(t: &saker_ebpf::abi::SockTuple, unix_path: Option<String>) -> Self {
        let ip = |b: &[u8; 16]| -> Option<IpAddr> {
            match t.family {
                flags::AF_INET => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
                flags::AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*b))),
                _ => None,
            }
        };
        SockTuple {
            family: t.family,
            sock_type: t.sock_type,
            protocol: t.protocol,
            state: t.state,
            local: ip(&t.laddr).map(|a| (a, t.lport)),
            remote: ip(&t.raddr).map(|a| (a, t.rport)),
            unix_path,
        }
    }
}

impl Event {
    /// Falco's `evt.dir`: every event Saker produces is an exit event.
    pub fn dir(&self) -> char {
        '<'
    }

    /// Falco's `thread.is_main_thread`-style test used by state tracking.
    pub fn is_main_thread(&self) -> bool {
        self.tid == self.tgid
    }
}

/// An exec record's details for tests: `args`, executable `exe`, working
/// directory `cwd`, cgroup path `cgroup`; a non-root user on a tty.
#[cfg(test)]
pub(crate) fn exec_info_fixture(
    args: &[&str],
    exe: &str,
    cwd: &str,
    cgroup: &str,
) -> Box<ExecInfo> {
    Box::new(ExecInfo {
        old_tid: 0,
        filename: exe.into(),
        exe_path: exe.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["HOME=/root".into()],
        cwd: cwd.into(),
        cgroup: cgroup.into(),
        cap_inheritable: 0,
        cap_permitted: 0,
        cap_effective: 0x1fff,
        exe_ino: 7,
        exe_dev: 0,
        exe_ctime_ns: 0,
        exe_mtime_ns: 0,
        exe_writable: false,
        exe_upper_layer: false,
        exe_lower_layer: false,
        exe_from_memfd: false,
        start_boot_ns: 500,
        ruid: 1000,
        rgid: 1000,
        vpid: 0,
        vtid: 0,
        sid: 0,
        vpgid: 0,
        tty: 34816,
        pidns_level: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `sinsp_utils::is_ipv4_mapped_ipv6` (libs userspace/libsinsp/utils.cpp):
    /// `::ffff:a.b.c.d` and the all-zero address are IPv4, nothing else.
    #[test]
    fn falco_ipv4_follows_is_ipv4_mapped_ipv6() {
        assert_eq!(
            falco_ipv4(ip("::ffff:127.0.0.1")),
            Some(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            falco_ipv4(ip("::ffff:10.1.2.3")),
            Some(Ipv4Addr::new(10, 1, 2, 3))
        );
        assert_eq!(falco_ipv4(ip("::")), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(falco_ipv4(ip("10.1.2.3")), Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(falco_ipv4(ip("::1")), None);
        // IPv4-compatible (::a.b.c.d, deprecated) is not mapped.
        assert_eq!(falco_ipv4(ip("::7f00:1")), None);
        assert_eq!(falco_ipv4(ip("2001:db8::ffff:7f00:1")), None);
    }

    /// Falco's event.cpp renders an IPv6 tuple with mapped ends as IPv4, and
    /// other IPv6 tuples as `sip:sport->dip:dport` without brackets.
    #[test]
    fn tuple_text_renders_mapped_tuples_as_ipv4() {
        let t = |l: &str, r: &str| SockTuple {
            family: flags::AF_INET6,
            sock_type: 1,
            protocol: 6,
            state: 1,
            local: Some((ip(l), 40000)),
            remote: Some((ip(r), 80)),
            unix_path: None,
        };
        let mapped = t("::ffff:127.0.0.1", "::ffff:10.0.0.1");
        assert_eq!(tuple_text(&mapped), "127.0.0.1:40000->10.0.0.1:80");
        assert_eq!(mapped.unmapped().family, flags::AF_INET);
        assert_eq!(tuple_text(&t("::1", "::1")), "::1:40000->::1:80");
        // One mapped end is not enough: Falco checks both.
        assert_eq!(
            tuple_text(&t("::ffff:127.0.0.1", "2001:db8::1")),
            "::ffff:127.0.0.1:40000->2001:db8::1:80"
        );
    }
}
