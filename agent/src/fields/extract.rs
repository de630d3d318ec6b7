//! Field extraction for live (and replayed) events: the [`FieldProvider`]
//! the rules engine evaluates against, built from one [`Event`] and the
//! [`State`] around it. Semantics follow libsinsp's filterchecks; where
//! Saker differs it is said at the field.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

use super::{FieldArg, FieldId, FieldProvider, FieldRef, Value};
use crate::alert::{format_clock_nanos, format_rfc3339_nanos};
use crate::event::{AT_FDCWD, Detail, Event, EventType, flags};
use crate::state::fd::{FdInfo, FdKind, Role};
use crate::state::path;
use crate::state::process::Process;
use crate::state::{State, container};

/// Per-run values the provider needs besides the event and state.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub hostname: std::sync::Arc<str>,
    /// Wall time of the first event (`evt.reltime`).
    pub start_ns: i64,
}

/// One event with the state around it.
pub struct EventContext<'a> {
    pub ev: &'a Event,
    pub state: &'a State,
    pub proc: Option<&'a Process>,
    /// `evt.num`.
    pub num: u64,
    /// Wall time of the previous event (`evt.deltatime`).
    pub prev_ts_ns: i64,
    pub run: &'a RunInfo,
    fd_num: Option<i64>,
    fd: Option<Cow<'a, FdInfo>>,
    cmdline: OnceCell<String>,
    args: OnceCell<String>,
    pcmdline: OnceCell<Option<String>>,
}

impl std::fmt::Debug for EventContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventContext")
            .field("ev", &self.ev)
            .field("num", &self.num)
            .finish_non_exhaustive()
    }
}

/// Which fd an event is about (Falco's "fd context"), if any.
fn event_fd(ev: &Event) -> Option<i64> {
    match &ev.detail {
        Detail::Open { .. } | Detail::Socket { .. } | Detail::MemfdCreate { .. } => Some(ev.ret),
        Detail::Userfaultfd { .. } => Some(ev.ret),
        Detail::Close { fd } | Detail::Listen { fd, .. } | Detail::Fchmod { fd, .. } => Some(*fd),
        Detail::Setns { fd, .. } => Some(*fd),
        Detail::Dup { oldfd, .. } => Some(*oldfd),
        Detail::Fcntl { fd, .. } => Some(*fd),
        Detail::SocketIo { fd, .. } => {
            if matches!(ev.etype.name(), "accept" | "accept4") {
                Some(ev.ret)
            } else {
                Some(*fd)
            }
        }
        Detail::Module { fd, .. } => *fd,
        Detail::Chdir { fd, .. } => *fd,
        // Calls captured with their raw registers whose first argument is
        // the fd Falco's event table gives them (EF_USES_FD): a read on a
        // copy made by fcntl(F_DUPFD) names the copied file.
        Detail::Other { args } if FD_FIRST_ARG.contains(&ev.etype.name()) => {
            Some(i64::from(args[0] as u32 as i32))
        }
        _ => None,
    }
}

/// Syscalls without decoded arguments that Falco's event table marks
/// EF_USES_FD with the fd (or dirfd) in the first argument of the system call
/// (falcosecurity/libs driver/event_table.c).
const FD_FIRST_ARG: &[&str] = &[
    "read",
    "write",
    "pread",
    "pwrite",
    "readv",
    "writev",
    "preadv",
    "pwritev",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "fstat",
    "lseek",
    "ioctl",
    "getdents",
    "getdents64",
    "flock",
    "fchown",
    "splice",
    "sendfile",
    "io_uring_enter",
    "io_uring_register",
    "fsconfig",
    "fchownat",
    "mknodat",
    "newfstatat",
];

impl<'a> EventContext<'a> {
    pub fn new(
        ev: &'a Event,
        state: &'a State,
        num: u64,
        prev_ts_ns: i64,
        run: &'a RunInfo,
    ) -> Self {
        let proc = state.procs.get(ev.tgid);
        let mut fd_num = event_fd(ev);
        let mut fd: Option<Cow<'a, FdInfo>> = None;
        if let Detail::Open {
            dirfd, path, flags, ..
        } = &ev.detail
        {
            if ev.ret >= 0 {
                fd = proc.and_then(|p| p.fds.get(&ev.ret)).map(Cow::Borrowed);
            }
            if fd.is_none() {
                // A failed open (or an unknown process): Falco still reports the
                // file it tried, with fd.num -1.
                let name = match proc {
                    Some(p) => State::resolve_path(p, *dirfd, path),
                    None => path::normalize(path),
                };
                let kind = if flags & flags::O_DIRECTORY != 0 {
                    FdKind::Directory
                } else {
                    FdKind::File
                };
                let mut f = FdInfo::new(kind, name);
                f.flags = *flags;
                fd = Some(Cow::Owned(f));
                if ev.ret < 0 {
                    fd_num = Some(-1);
                }
            }
        } else if let Some(n) = fd_num {
            fd = proc.and_then(|p| p.fds.get(&n)).map(Cow::Borrowed);
        }
        EventContext {
            ev,
            state,
            proc,
            num,
            prev_ts_ns,
            run,
            fd_num,
            fd,
            cmdline: OnceCell::new(),
            args: OnceCell::new(),
            pcmdline: OnceCell::new(),
        }
    }

    fn parent(&self) -> Option<&'a Process> {
        let p = self.proc?;
        self.state.procs.ancestor(p, 1)
    }

    fn ancestor(&self, n: u32) -> Option<&'a Process> {
        let p = self.proc?;
        self.state.procs.ancestor(p, n)
    }

    fn ancestors(&self) -> Vec<&'a Process> {
        match self.proc {
            Some(p) => self.state.procs.ancestors(p).collect(),
            None => Vec::new(),
        }
    }

    /// The process (or ancestor) whose pid is `vpid` in the process's namespace.
    fn find_in_lineage(&self, vpid: u32) -> Option<&'a Process> {
        let p = self.proc?;
        if p.vpid == vpid || p.tgid == vpid {
            return Some(p);
        }
        self.state
            .procs
            .ancestors(p)
            .find(|a| a.vpid == vpid || (a.pidns_level == 0 && a.tgid == vpid))
    }

    fn fd(&self) -> Option<&FdInfo> {
        self.fd.as_deref()
    }
}

fn s(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

fn owned<'x>(v: String) -> Value<'x> {
    Value::Str(Cow::Owned(v))
}

/// Linux capability names, by bit.
const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Capabilities as Falco prints them: names separated by spaces.
pub fn cap_names(mask: u64) -> String {
    let mut out = String::new();
    for (bit, name) in CAP_NAMES.iter().enumerate() {
        if mask & (1u64 << bit) != 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(name);
        }
    }
    out
}

impl<'a> EventContext<'a> {
    /// `evt.abspath`, `evt.abspath.src` (`key` "src") and `evt.abspath.dst`
    /// ("dst"), as Falco's `sinsp_filter_check_event::extract_abspath`
    /// (falcosecurity/libs userspace/libsinsp/sinsp_filtercheck_event.cpp):
    /// only the *at() calls that take a dirfd have it, and it is their dirfd
    /// and path joined: openat, openat2 (dirfd, name), unlinkat (dirfd,
    /// name), mkdirat (dirfd, path), fchmodat (dirfd, filename), symlinkat
    /// (linkdirfd, linkpath, for all three fields), renameat, renameat2 and
    /// linkat (the old path for `evt.abspath` and `.src`, the new one for
    /// `.dst`). Calls without a dirfd (open, rename, mkdir, ...) have none.
    fn abspath(&self, key: Option<&str>) -> Option<String> {
        let p = self.proc?;
        let name = self.ev.etype.name();
        let (dirfd, path) = match (&self.ev.detail, name) {
            (Detail::Open { dirfd, path, .. }, "openat" | "openat2") => (*dirfd, path),
            (Detail::PathOp { dirfd, path, .. }, "unlinkat" | "mkdirat" | "fchmodat") => {
                (*dirfd, path)
            }
            (
                Detail::Symlink {
                    newdirfd, linkpath, ..
                },
                "symlinkat",
            ) => (*newdirfd, linkpath),
            (
                Detail::TwoPaths {
                    olddirfd,
                    oldpath,
                    newdirfd,
                    newpath,
                    ..
                },
                "renameat" | "renameat2" | "linkat",
            ) => match key {
                Some("dst") => (*newdirfd, newpath),
                _ => (*olddirfd, oldpath),
            },
            _ => return None,
        };
        // An empty parameter gives no value.
        if path.is_empty() {
            return None;
        }
        if path.starts_with('/') {
            return Some(path::normalize(path));
        }
        match State::dir_of(p, dirfd) {
            Some(base) if !base.is_empty() => Some(path::resolve(base, path)),
            // An unknown dirfd: Falco joins the path to "<UNKNOWN>/".
            Some(_) | None if dirfd != AT_FDCWD => {
                Some(path::resolve("/", path).replacen('/', "<UNKNOWN>/", 1))
            }
            _ => Some(path.clone()),
        }
    }

    /// `evt.is_open_read`, `evt.is_open_write`, `evt.is_open_exec`,
    /// `evt.is_open_create`, as Falco's `TYPE_ISOPEN_*`
    /// (sinsp_filtercheck_event.cpp, on the flags Falco's probes report,
    /// driver/ppm_flag_helpers.h `open_flags_to_scap`):
    /// - only open, openat and openat2 have them (creat only `is_open_exec`);
    ///   every other event is false;
    /// - read: access mode O_RDONLY or O_RDWR (the invalid mode 3 counts as
    ///   O_RDONLY); write: O_WRONLY or O_RDWR; failed calls included;
    /// - create: the call created the file (FMODE_CREATED), or O_TMPFILE and
    ///   the call succeeded; O_CREAT alone on an existing file is not a creation;
    /// - exec: O_CREAT or O_TMPFILE and a mode with an execute bit; creat:
    ///   a mode with an execute bit.
    ///
    /// The driver tests O_TMPFILE as `flags & O_TMPFILE`, where O_TMPFILE is
    /// `__O_TMPFILE | O_DIRECTORY`: an O_DIRECTORY open counts as O_TMPFILE
    /// there, and so it does here.
    fn is_open(&self, id: FieldId) -> bool {
        const O_TMPFILE: u64 = 0o20_200_000;
        const S_IXUGO: u32 = 0o111;
        let Detail::Open { flags: f, mode, .. } = self.ev.detail else {
            return false;
        };
        let (tmpfile, creat) = (f & O_TMPFILE != 0, f & flags::O_CREAT != 0);
        match self.ev.etype.name() {
            "creat" => id == FieldId::EvtIsOpenExec && mode & S_IXUGO != 0,
            "open" | "openat" | "openat2" => {
                let mode_bits = f & flags::O_ACCMODE;
                match id {
                    FieldId::EvtIsOpenRead => mode_bits != flags::O_WRONLY,
                    FieldId::EvtIsOpenWrite => {
                        mode_bits == flags::O_WRONLY || mode_bits == flags::O_RDWR
                    }
                    FieldId::EvtIsOpenCreate => {
                        f & crate::event::OPEN_F_CREATED != 0 || (tmpfile && self.ev.ret >= 0)
                    }
                    FieldId::EvtIsOpenExec => (tmpfile || creat) && mode & S_IXUGO != 0,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// `fs.path.*`: (name, nameraw, source, sourceraw, target, targetraw).
    fn fs_path(&self, id: FieldId) -> Option<Value<'a>> {
        let p = self.proc?;
        let ev = self.ev;
        let (name, raw): (Option<String>, Option<&'a str>) = match (&ev.detail, id) {
            (Detail::PathOp { dirfd, path, .. }, FieldId::FsPathName) => {
                (Some(State::resolve_path(p, *dirfd, path)), None)
            }
            (Detail::PathOp { path, .. }, FieldId::FsPathNameraw) => (None, Some(path)),
            (Detail::Open { dirfd, path, .. }, FieldId::FsPathName) => {
                (Some(State::resolve_path(p, *dirfd, path)), None)
            }
            (Detail::Open { path, .. }, FieldId::FsPathNameraw) => (None, Some(path)),
            (
                Detail::TwoPaths {
                    olddirfd, oldpath, ..
                },
                FieldId::FsPathSource,
            ) => (Some(State::resolve_path(p, *olddirfd, oldpath)), None),
            (Detail::TwoPaths { oldpath, .. }, FieldId::FsPathSourceraw) => (None, Some(oldpath)),
            (
                Detail::TwoPaths {
                    newdirfd, newpath, ..
                },
                FieldId::FsPathTarget,
            ) => (Some(State::resolve_path(p, *newdirfd, newpath)), None),
            (Detail::TwoPaths { newpath, .. }, FieldId::FsPathTargetraw) => (None, Some(newpath)),
            (Detail::Symlink { target, .. }, FieldId::FsPathSource | FieldId::FsPathSourceraw) => {
                (None, Some(target))
            }
            (
                Detail::Symlink {
                    newdirfd, linkpath, ..
                },
                FieldId::FsPathTarget,
            ) => (Some(State::resolve_path(p, *newdirfd, linkpath)), None),
            (Detail::Symlink { linkpath, .. }, FieldId::FsPathTargetraw) => (None, Some(linkpath)),
            _ => (None, None),
        };
        match (name, raw) {
            (Some(n), _) => Some(owned(n)),
            (None, Some(r)) => Some(s(r)),
            _ => None,
        }
    }

    fn fd_field(&self, id: FieldId, arg: &FieldArg) -> Option<Value<'_>> {
        if id == FieldId::FdTypes {
            let p = self.proc?;
            return match arg {
                FieldArg::Index(i) => p.fds.get(&i64::from(*i)).map(|f| s(f.kind.name())),
                _ => {
                    let mut kinds: Vec<&'static str> =
                        p.fds.values().map(|f| f.kind.name()).collect();
                    kinds.sort_unstable();
                    kinds.dedup();
                    Some(Value::List(kinds.into_iter().map(s).collect()))
                }
            };
        }
        if id == FieldId::FdNum {
            return self.fd_num.map(Value::Int);
        }
        if id == FieldId::FdNameraw {
            return match &self.ev.detail {
                Detail::Open { path, .. } => Some(s(path)),
                _ => self.fd().map(|f| s(&f.name)),
            };
        }
        let f = self.fd()?;
        let (server, client) = f.server_client();
        let ip = |e: Option<(IpAddr, u16)>| e.map(|(ip, _)| Value::Ip(ip));
        let port = |e: Option<(IpAddr, u16)>| e.map(|(_, p)| Value::UInt(u64::from(p)));
        let inet = f.kind.is_inet();
        Some(match id {
            FieldId::FdType => s(f.kind.name()),
            FieldId::FdTypechar => owned(f.kind.typechar().to_string()),
            FieldId::FdName => s(&f.name),
            FieldId::FdDirectory => match f.kind {
                FdKind::File => s(path::directory(&f.name)),
                FdKind::Directory => s(&f.name),
                _ => return None,
            },
            FieldId::FdFilename => match f.kind {
                FdKind::File => s(path::filename(&f.name)),
                _ => return None,
            },
            FieldId::FdIp if inet => {
                Value::List([ip(client), ip(server)].into_iter().flatten().collect())
            }
            FieldId::FdPort if inet => {
                Value::List([port(client), port(server)].into_iter().flatten().collect())
            }
            FieldId::FdNet if inet => {
                Value::List([ip(client), ip(server)].into_iter().flatten().collect())
            }
            FieldId::FdCip | FieldId::FdCnet if inet => ip(client)?,
            FieldId::FdSip | FieldId::FdSnet if inet => ip(server)?,
            FieldId::FdLip | FieldId::FdLnet if inet => ip(f.local)?,
            FieldId::FdRip | FieldId::FdRnet if inet => ip(f.remote)?,
            FieldId::FdCport if inet => port(client)?,
            FieldId::FdSport if inet => port(server)?,
            FieldId::FdLport if inet => port(f.local)?,
            FieldId::FdRport if inet => port(f.remote)?,
            FieldId::FdL4proto => s(f.l4proto_name()?),
            FieldId::FdSockfamily => match f.kind {
                FdKind::Ipv4 | FdKind::Ipv6 => s("ip"),
                FdKind::Unix => s("unix"),
                _ => return None,
            },
            FieldId::FdIsServer if inet || f.kind == FdKind::Unix => {
                Value::Bool(f.role == Role::Server)
            }
            FieldId::FdUid => owned(format!("{}{}", self.ev.tid, self.fd_num?)),
            FieldId::FdContainername => {
                let cid = self.proc.map_or(container::HOST, |p| &*p.container_id);
                owned(format!("{cid}:{}", f.name))
            }
            FieldId::FdContainerdirectory => {
                let cid = self.proc.map_or(container::HOST, |p| &*p.container_id);
                owned(format!("{cid}:{}", path::directory(&f.name)))
            }
            FieldId::FdConnected if inet || f.kind == FdKind::Unix => Value::Bool(f.connected),
            FieldId::FdNameChanged => Value::Bool(f.name_changed),
            // Conditions see Falco's names: the rule-named hosts that
            // resolve to the address (several: any may match). None of them:
            // an empty name, which no host name equals and every one differs
            // from, as Falco's compare_domain answers `=`, `!=` and `in` for
            // an address no cached name resolves to. Outputs add the reverse
            // name ([`OutputFields`]).
            FieldId::FdCipName | FieldId::FdSipName | FieldId::FdLipName | FieldId::FdRipName
                if inet =>
            {
                let mut names = self.state.hostnames.forward_names(self.name_field_ip(id)?);
                match names.len() {
                    0 => s(""),
                    1 => owned(names.remove(0).to_string()),
                    _ => Value::List(names.iter().map(|n| owned(n.to_string())).collect()),
                }
            }
            _ => return None,
        })
    }

    /// The address an `fd.*ip.name` field names: client, server, local or
    /// remote end of the event's inet socket.
    fn name_field_ip(&self, id: FieldId) -> Option<IpAddr> {
        let f = self.fd()?;
        if !f.kind.is_inet() {
            return None;
        }
        let (server, client) = f.server_client();
        let end = match id {
            FieldId::FdCipName => client,
            FieldId::FdSipName => server,
            FieldId::FdLipName => f.local,
            FieldId::FdRipName => f.remote,
            _ => None,
        };
        end.map(|(ip, _)| ip)
    }

    /// The event as an alert's output reads it ([`OutputFields`]).
    pub fn for_output(&self) -> OutputFields<'_, 'a> {
        OutputFields(self)
    }

    fn user_field(&self, id: FieldId) -> Option<Value<'_>> {
        let ev = self.ev;
        let uid = self
            .proc
            .map_or(ev.uid, |p| if p.uid == u32::MAX { ev.uid } else { p.uid });
        let gid = self
            .proc
            .map_or(ev.gid, |p| if p.gid == u32::MAX { ev.gid } else { p.gid });
        let users = &self.state.users;
        // uid 0 is root everywhere, even without a passwd file (distroless images).
        let name = |u: u32| -> Option<Value<'_>> {
            match users.user(u) {
                Some(x) => Some(s(&x.name)),
                None if u == 0 => Some(s("root")),
                None => None,
            }
        };
        Some(match id {
            FieldId::UserUid => Value::UInt(u64::from(uid)),
            FieldId::UserName => name(uid)?,
            FieldId::UserHomedir => s(&users.user(uid)?.home),
            FieldId::UserShell => s(&users.user(uid)?.shell),
            FieldId::UserLoginuid => Value::Int(i64::from(ev.loginuid as i32)),
            FieldId::UserLoginname => {
                if ev.loginuid == u32::MAX {
                    return None;
                }
                name(ev.loginuid)?
            }
            FieldId::GroupGid => Value::UInt(u64::from(gid)),
            FieldId::GroupName => match users.group(gid) {
                Some(g) => s(g),
                None if gid == 0 => s("root"),
                None => return None,
            },
            _ => return None,
        })
    }

    fn evt_field(&self, f: &FieldRef) -> Option<Value<'_>> {
        let ev = self.ev;
        let t = ev.ts_wall_ns;
        let name = ev.etype.name();
        Some(match f.id {
            FieldId::EvtNum => Value::UInt(self.num),
            FieldId::EvtTime => owned(format_clock_nanos(t)),
            FieldId::EvtTimeS => owned(format_clock_nanos(t)[..8].to_string()),
            FieldId::EvtTimeIso8601 => owned(format_rfc3339_nanos(t)),
            FieldId::EvtDatetime => {
                let r = format_rfc3339_nanos(t);
                owned(r.trim_end_matches('Z').replacen('T', " ", 1))
            }
            FieldId::EvtRawtime => Value::Int(t),
            FieldId::EvtRawtimeS => Value::UInt((t / 1_000_000_000) as u64),
            FieldId::EvtRawtimeNs => Value::UInt((t % 1_000_000_000) as u64),
            FieldId::EvtReltime => Value::Int(t.wrapping_sub(self.run.start_ns)),
            FieldId::EvtDeltatime => Value::Int(if self.prev_ts_ns == 0 {
                0
            } else {
                t - self.prev_ts_ns
            }),
            FieldId::EvtDir => s("<"),
            FieldId::EvtType => s(name),
            FieldId::EvtSyscallType => {
                ev.etype.syscall_nr()?;
                s(name)
            }
            FieldId::EvtCategory => s(category(ev)),
            FieldId::EvtCpu => Value::UInt(u64::from(ev.cpu)),
            FieldId::EvtArgs | FieldId::EvtInfo => owned(self.args_text()),
            FieldId::EvtArg => return self.param(&f.arg, false),
            FieldId::EvtRawArg => return self.param(&f.arg, true),
            FieldId::EvtRes => owned(flags::result_name(ev.ret)),
            FieldId::EvtRawres => Value::Int(ev.ret),
            FieldId::EvtFailed => Value::Bool(ev.ret < 0),
            FieldId::EvtIsIo => Value::Bool(io_dir(name).is_some()),
            FieldId::EvtIsIoRead => Value::Bool(io_dir(name) == Some('r')),
            FieldId::EvtIsIoWrite => Value::Bool(io_dir(name) == Some('w')),
            FieldId::EvtIoDir => owned(io_dir(name)?.to_string()),
            FieldId::EvtIsWait => Value::Bool(false),
            FieldId::EvtIsSyslog => Value::Bool(
                io_dir(name) == Some('w') && self.fd().is_some_and(|f| f.name.contains("/dev/log")),
            ),
            FieldId::EvtCount => Value::UInt(1),
            FieldId::EvtAbspath => {
                let key = match &f.arg {
                    FieldArg::Key(k) => Some(&**k),
                    _ => None,
                };
                owned(self.abspath(key)?)
            }
            FieldId::EvtIsOpenRead
            | FieldId::EvtIsOpenWrite
            | FieldId::EvtIsOpenExec
            | FieldId::EvtIsOpenCreate => Value::Bool(self.is_open(f.id)),
            FieldId::EvtHostname => s(&self.run.hostname),
            FieldId::EvtSource => s("syscall"),
            FieldId::EvtIsAsync => Value::Bool(false),
            _ => return None,
        })
    }

    fn proc_field(&self, f: &FieldRef) -> Option<Value<'_>> {
        let ev = self.ev;
        let index = match f.arg {
            FieldArg::Index(i) => Some(i),
            _ => None,
        };
        // proc.a*: [0] is the process itself, [1] the parent; no index means any ancestor.
        let lineage =
            |i: Option<u32>, get: &dyn Fn(&'a Process) -> Value<'a>| -> Option<Value<'a>> {
                match i {
                    Some(0) => self.proc.map(get),
                    Some(n) => self.ancestor(n).map(get),
                    None => Some(Value::List(self.ancestors().into_iter().map(get).collect())),
                }
            };
        if let FieldId::ThreadTid = f.id {
            return Some(Value::Int(i64::from(ev.tid)));
        }
        if let FieldId::ThreadIsMainThread = f.id {
            return Some(Value::Bool(ev.tid == ev.tgid));
        }
        if let FieldId::ProcPid = f.id {
            return Some(Value::Int(i64::from(ev.tgid)));
        }
        if let FieldId::ProcName = f.id {
            return Some(match self.proc {
                Some(p) => s(&p.comm),
                None => s(ev.comm.as_str()),
            });
        }
        let p = self.proc?;
        Some(match f.id {
            FieldId::ProcExe => s(&p.exe),
            FieldId::ProcPexe => s(&self.parent()?.exe),
            FieldId::ProcAexe => return lineage(index, &|a| s(&a.exe)),
            FieldId::ProcExepath => s(&p.exepath),
            FieldId::ProcPexepath => s(&self.parent()?.exepath),
            FieldId::ProcAexepath => return lineage(index, &|a| s(&a.exepath)),
            FieldId::ProcPname => s(&self.parent()?.comm),
            FieldId::ProcAname => return lineage(index, &|a| s(&a.comm)),
            FieldId::ProcArgs => s(self.args.get_or_init(|| p.args_joined())),
            FieldId::ProcCmdline => s(self.cmdline.get_or_init(|| p.cmdline())),
            FieldId::ProcPcmdline => s(self
                .pcmdline
                .get_or_init(|| self.parent().map(Process::cmdline))
                .as_deref()?),
            FieldId::ProcAcmdline => return lineage(index, &|a| owned(a.cmdline())),
            FieldId::ProcCmdnargs => Value::UInt(p.args.len() as u64),
            FieldId::ProcCmdlenargs => Value::UInt(p.args.iter().map(|a| a.len() as u64).sum()),
            FieldId::ProcExeline => {
                let mut line = p.exe.clone();
                for a in &p.args {
                    line.push(' ');
                    line.push_str(a);
                }
                owned(line)
            }
            FieldId::ProcEnv => match &f.arg {
                FieldArg::Key(k) => s(p.env_var(k)?),
                _ => owned(p.env.join(" ")),
            },
            FieldId::ProcAenv => match &f.arg {
                FieldArg::Key(k) => {
                    let found = std::iter::once(p)
                        .chain(self.state.procs.ancestors(p))
                        .find_map(|a| a.env_var(k))?;
                    s(found)
                }
                _ => owned(p.env.join(" ")),
            },
            FieldId::ProcCwd => {
                if p.cwd.is_empty() {
                    return None;
                }
                // Falco prints proc.cwd with a trailing slash.
                if p.cwd.ends_with('/') {
                    s(&p.cwd)
                } else {
                    owned(format!("{}/", p.cwd))
                }
            }
            FieldId::ProcLoginshellid => {
                let shell = std::iter::once(p)
                    .chain(self.state.procs.ancestors(p))
                    .filter(|a| SHELLS.contains(&a.comm.as_str()))
                    .last()?;
                Value::Int(i64::from(shell.tgid))
            }
            FieldId::ProcTty => Value::UInt(u64::from(p.tty)),
            FieldId::ProcPpid => Value::Int(i64::from(p.ppid)),
            FieldId::ProcApid => return lineage(index, &|a| Value::Int(i64::from(a.tgid))),
            FieldId::ProcVpid => Value::Int(i64::from(p.vpid)),
            FieldId::ProcPvpid => Value::Int(i64::from(self.parent()?.vpid)),
            FieldId::ProcSid => Value::Int(i64::from(p.sid)),
            FieldId::ProcSname => s(&self.find_in_lineage(p.sid)?.comm),
            FieldId::ProcSidExe => s(&self.find_in_lineage(p.sid)?.exe),
            FieldId::ProcSidExepath => s(&self.find_in_lineage(p.sid)?.exepath),
            FieldId::ProcVpgid => Value::Int(i64::from(p.vpgid)),
            FieldId::ProcVpgidName => s(&self.find_in_lineage(p.vpgid)?.comm),
            FieldId::ProcVpgidExe => s(&self.find_in_lineage(p.vpgid)?.exe),
            FieldId::ProcVpgidExepath => s(&self.find_in_lineage(p.vpgid)?.exepath),
            FieldId::ProcDuration => {
                if p.start_ns == 0 {
                    return None;
                }
                Value::Int(ev.ts_wall_ns.wrapping_sub(p.start_ns))
            }
            FieldId::ProcPpidDuration => {
                let pp = self.parent()?;
                if pp.start_ns == 0 {
                    return None;
                }
                Value::Int(ev.ts_wall_ns.wrapping_sub(pp.start_ns))
            }
            FieldId::ProcPidTs => Value::Int(p.start_ns),
            FieldId::ProcPpidTs => Value::Int(self.parent()?.start_ns),
            FieldId::ProcIsExeWritable => Value::Bool(p.exe_writable),
            FieldId::ProcIsExeUpperLayer => Value::Bool(p.exe_upper_layer),
            FieldId::ProcIsExeFromMemfd => Value::Bool(p.exe_from_memfd),
            FieldId::ProcIsSidLeader => Value::Bool(p.sid != 0 && p.vpid == p.sid),
            FieldId::ProcIsVpgidLeader => Value::Bool(p.vpgid != 0 && p.vpid == p.vpgid),
            FieldId::ProcExeIno => Value::UInt(p.exe_ino),
            FieldId::ProcExeInoCtime => Value::Int(p.exe_ctime_ns as i64),
            FieldId::ProcExeInoMtime => Value::Int(p.exe_mtime_ns as i64),
            FieldId::ProcExeInoCtimeDurationProcStart => {
                if p.exe_ctime_ns == 0 || p.start_ns == 0 {
                    return None;
                }
                Value::Int(p.start_ns.wrapping_sub(p.exe_ctime_ns as i64))
            }
            FieldId::ProcThreadCount => Value::UInt(u64::from(p.threads)),
            FieldId::ProcNchilds => Value::UInt(
                self.state
                    .procs
                    .iter()
                    .filter(|c| c.ppid == p.tgid && c.tgid != p.tgid)
                    .count() as u64,
            ),
            FieldId::ProcFdopencount => Value::UInt(p.fds.len() as u64),
            FieldId::ThreadVtid => {
                if ev.tid != ev.tgid {
                    return None;
                }
                Value::Int(i64::from(p.vpid))
            }
            FieldId::ThreadCapPermitted => owned(cap_names(p.cap_permitted)),
            FieldId::ThreadCapInheritable => owned(cap_names(p.cap_inheritable)),
            FieldId::ThreadCapEffective => owned(cap_names(p.cap_effective)),
            _ => return None,
        })
    }

    fn container_field(&self, field: &FieldRef) -> Option<Value<'_>> {
        let cid: &str = self.proc.map_or(container::HOST, |p| &p.container_id);
        let entry = if cid == container::HOST {
            None
        } else {
            self.state.containers.get(cid)
        };
        container_value(field, cid, entry, self.ev.ts_wall_ns)
    }
}

/// `container.*` and `k8s.*` values of container `cid` (its table entry, if
/// any), at event time `now_ns`: what the container plugin's extractor
/// returns (falcosecurity/plugins `plugins/container/src/caps/extract/extract.cpp`).
/// On the host, id, name and type are `host` and everything else is missing;
/// in a container whose metadata is not (yet) known, only the id, the full id
/// (when the cgroup spells it), the type (from the cgroup layout) and the
/// start time are known.
pub fn container_value<'a>(
    field: &FieldRef,
    cid: &'a str,
    entry: Option<&'a container::ContainerEntry>,
    now_ns: i64,
) -> Option<Value<'a>> {
    use FieldId as F;
    if cid == container::HOST {
        return match field.id {
            F::ContainerId | F::ContainerFullId | F::ContainerName | F::ContainerType => {
                Some(s(container::HOST))
            }
            _ => None,
        };
    }
    if field.id == F::ContainerId {
        return Some(s(cid));
    }
    let entry = entry?;
    let info = entry.info.as_deref();
    let nonempty = |v: &'a str| (!v.is_empty()).then(|| s(v));
    let start_ns = || {
        if entry.start_ns > 0 {
            Some(entry.start_ns)
        } else {
            info.map(|i| i.created_ns).filter(|t| *t > 0)
        }
    };
    match field.id {
        F::ContainerFullId => info
            .map(|i| i.full_id.as_str())
            .filter(|v| !v.is_empty())
            .or((entry.cgroup_id.len() == 64).then_some(entry.cgroup_id.as_str()))
            .map(s),
        F::ContainerType => Some(s(entry.kind().as_str())),
        F::ContainerStartTs => start_ns().map(Value::Int),
        F::ContainerDuration => start_ns().map(|t| Value::Int(now_ns.saturating_sub(t).max(0))),
        _ => {
            let info = info?;
            let pod = info.pod.as_ref();
            match field.id {
                F::ContainerName => nonempty(&info.name),
                F::ContainerImage => nonempty(&info.image),
                F::ContainerImageId => nonempty(&info.image_id),
                F::ContainerImageRepository => nonempty(&info.image_repository),
                F::ContainerImageTag => nonempty(&info.image_tag),
                F::ContainerImageDigest => nonempty(&info.image_digest),
                F::ContainerPrivileged => info.privileged.map(Value::Bool),
                F::ContainerHostPid => info.host_pid.map(Value::Bool),
                F::ContainerHostNetwork => info.host_network.map(Value::Bool),
                F::ContainerHostIpc => info.host_ipc.map(Value::Bool),
                F::ContainerIp | F::K8sPodIp => nonempty(&info.ip),
                F::ContainerCniJson | F::K8sPodCniJson => nonempty(&info.cni_json),
                F::ContainerMounts => {
                    let all: Vec<String> = info.mounts.iter().map(mount_text).collect();
                    Some(owned(all.join(",")))
                }
                F::ContainerMount
                | F::ContainerMountSource
                | F::ContainerMountDest
                | F::ContainerMountMode
                | F::ContainerMountRdwr
                | F::ContainerMountPropagation => {
                    let Some(m) = find_mount(&info.mounts, field.id, &field.arg) else {
                        // The plugin prints "none" for a mount that does not exist.
                        return (field.id == F::ContainerMount).then(|| s("none"));
                    };
                    Some(match field.id {
                        F::ContainerMount => owned(mount_text(m)),
                        F::ContainerMountSource => s(&m.source),
                        F::ContainerMountDest => s(&m.dest),
                        F::ContainerMountMode => s(&m.mode),
                        F::ContainerMountRdwr => s(if m.rw { "true" } else { "false" }),
                        _ => s(&m.propagation),
                    })
                }
                F::ContainerLabel => match &field.arg {
                    FieldArg::Key(k) => info.labels.get(&**k).map(|v| s(v)),
                    _ => None,
                },
                F::ContainerLabels => Some(owned(labels_text(&info.labels))),
                F::K8sPodName => nonempty(&pod?.name),
                F::K8sNsName => nonempty(&pod?.namespace),
                F::K8sPodUid | F::K8sPodId => nonempty(&pod?.uid),
                F::K8sPodSandboxId => nonempty(container::short_id(&pod?.sandbox_id)),
                F::K8sPodFullSandboxId => nonempty(&pod?.sandbox_id),
                F::K8sPodLabel => match &field.arg {
                    FieldArg::Key(k) => pod?.labels.get(&**k).map(|v| s(v)),
                    _ => None,
                },
                F::K8sPodLabels => Some(owned(labels_text(&pod?.labels))),
                _ => None,
            }
        }
    }
}

/// True when an output operand reads container metadata that a runtime
/// lookup supplies (everything of `container.*` but the id, and `k8s.*`):
/// what a held alert renders once the lookup is answered.
pub fn is_container_metadata(op: &crate::rules::cond::COperand) -> bool {
    use crate::rules::cond::COperand;
    match op {
        COperand::Field(f) | COperand::Engine(f) => {
            let n = f.id as u16;
            ((FieldId::ContainerFullId as u16..=FieldId::ContainerLabels as u16).contains(&n)
                && !matches!(f.id, FieldId::ContainerStartTs | FieldId::ContainerDuration))
                || n >= FieldId::K8sNsName as u16
        }
        COperand::Transform(_, args) => args.iter().any(is_container_metadata),
    }
}

/// A provider of the container fields alone: renders the held parts of an
/// alert once the container's metadata is known.
#[derive(Debug)]
pub struct ContainerFields<'a> {
    cid: &'a str,
    entry: Option<&'a container::ContainerEntry>,
    time_ns: i64,
    etype: EventType,
}

impl<'a> ContainerFields<'a> {
    pub fn new(
        cid: &'a str,
        entry: Option<&'a container::ContainerEntry>,
        time_ns: i64,
        etype: EventType,
    ) -> Self {
        ContainerFields {
            cid,
            entry,
            time_ns,
            etype,
        }
    }
}

impl FieldProvider for ContainerFields<'_> {
    fn event_type(&self) -> EventType {
        self.etype
    }

    fn timestamp_ns(&self) -> i64 {
        self.time_ns
    }

    fn extract(&self, field: &FieldRef) -> Option<Value<'_>> {
        container_value(field, self.cid, self.entry, self.time_ns)
    }
}

/// `source:dest:mode:rdrw:propagation`, as the plugin prints one mount.
fn mount_text(m: &container::Mount) -> String {
    format!(
        "{}:{}:{}:{}:{}",
        m.source, m.dest, m.mode, m.rw, m.propagation
    )
}

/// `k1:v1,k2:v2` in key order.
fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    parts.join(",")
}

/// The mount a `container.mount*[key]` names: by number, else by source
/// (by destination for `container.mount.source`); the path may be a glob.
fn find_mount<'m>(
    mounts: &'m [container::Mount],
    id: FieldId,
    arg: &FieldArg,
) -> Option<&'m container::Mount> {
    let key: &str = match arg {
        FieldArg::Key(k) => k,
        FieldArg::Index(i) => return mounts.get(*i as usize),
        FieldArg::None => return None,
    };
    if let Ok(i) = key.parse::<usize>() {
        return mounts.get(i);
    }
    let by_dest = id == FieldId::ContainerMountSource;
    let glob = globset::Glob::new(key).ok().map(|g| g.compile_matcher());
    mounts.iter().find(|m| {
        let path = if by_dest { &m.dest } else { &m.source };
        path == key || glob.as_ref().is_some_and(|g| g.is_match(path))
    })
}

const SHELLS: [&str; 8] = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"];

fn io_dir(name: &str) -> Option<char> {
    match name {
        "sendto" | "sendmsg" | "write" | "writev" | "pwrite" | "pwritev" | "sendmmsg" => Some('w'),
        "recvfrom" | "recvmsg" | "read" | "readv" | "pread" | "preadv" | "recvmmsg" => Some('r'),
        _ => None,
    }
}

/// Falco's `evt.category` for the event types Saker produces.
fn category(ev: &Event) -> &'static str {
    match &ev.detail {
        Detail::Open { .. }
        | Detail::Close { .. }
        | Detail::Dup { .. }
        | Detail::TwoPaths { .. }
        | Detail::Symlink { .. }
        | Detail::PathOp { .. }
        | Detail::Fchmod { .. }
        | Detail::MemfdCreate { .. }
        | Detail::Chdir { .. } => "file",
        // EC_IO_OTHER: Falco names it by the fd's kind; files are the common case.
        Detail::Fcntl { .. } => "file",
        Detail::Socket { .. } | Detail::SocketIo { .. } | Detail::Listen { .. } => "net",
        Detail::Exec(_)
        | Detail::ExecFailed { .. }
        | Detail::Fork { .. }
        | Detail::Exit { .. }
        | Detail::Ptrace { .. }
        | Detail::Setns { .. }
        | Detail::Unshare { .. } => "process",
        Detail::SetId { .. } => "user",
        Detail::Module { .. } | Detail::Bpf { .. } | Detail::Userfaultfd { .. } => "system",
        Detail::Other { .. } => "other",
    }
}

impl FieldProvider for EventContext<'_> {
    fn event_type(&self) -> EventType {
        self.ev.etype
    }

    fn timestamp_ns(&self) -> i64 {
        self.ev.ts_wall_ns
    }

    fn extract(&self, field: &FieldRef) -> Option<Value<'_>> {
        use FieldId as F;
        match field.id {
            id if (id as u16) < F::ProcExe as u16 => self.evt_field(field),
            F::UserUid
            | F::UserName
            | F::UserHomedir
            | F::UserShell
            | F::UserLoginuid
            | F::UserLoginname
            | F::GroupGid
            | F::GroupName => self.user_field(field.id),
            id if (F::FdNum as u16..=F::FdTypes as u16).contains(&(id as u16)) => {
                self.fd_field(id, &field.arg)
            }
            F::FsPathName
            | F::FsPathNameraw
            | F::FsPathSource
            | F::FsPathSourceraw
            | F::FsPathTarget
            | F::FsPathTargetraw => self.fs_path(field.id),
            id if (F::ContainerId as u16..=F::ContainerLabels as u16).contains(&(id as u16))
                || id as u16 >= F::K8sNsName as u16 =>
            {
                self.container_field(field)
            }
            id if (id as u16) < F::UserUid as u16 => self.proc_field(field),
            _ => None,
        }
    }
}

/// An event as an alert's output reads it: like [`EventContext`], except
/// that `fd.*ip.name` falls back to the address's reverse name (asked for on
/// first use, from the cache after), where Falco prints `<NA>` unless a rule
/// named a host that resolves to the address. Conditions never see reverse
/// names, so rules behave as in Falco and evaluating them sends no lookups.
#[derive(Debug)]
pub struct OutputFields<'c, 'a>(&'c EventContext<'a>);

impl FieldProvider for OutputFields<'_, '_> {
    fn event_type(&self) -> EventType {
        self.0.event_type()
    }

    fn timestamp_ns(&self) -> i64 {
        self.0.timestamp_ns()
    }

    fn extract(&self, field: &FieldRef) -> Option<Value<'_>> {
        use FieldId as F;
        let v = self.0.extract(field)?;
        if !matches!(
            field.id,
            F::FdCipName | F::FdSipName | F::FdLipName | F::FdRipName
        ) || !matches!(&v, Value::Str(n) if n.is_empty())
        {
            return Some(v);
        }
        let ip = self.0.name_field_ip(field.id)?;
        let name = self.0.state.hostnames.reverse_name(ip)?;
        Some(owned(name.to_string()))
    }
}

/// Whether live capture supplies a field (drives `saker fields` and the
/// catalog's `live` column, which a test keeps equal to this).
pub fn is_live(id: FieldId) -> bool {
    use FieldId as F;
    let not_captured = matches!(
        id,
        F::EvtBuffer
            | F::EvtBuflen
            | F::EvtAround
            | F::EvtPluginname
            | F::EvtAsynctype
            | F::ProcExeInoCtimeDurationPidnsStart
            | F::ProcPidnsInit
            | F::ProcVmsize
            | F::ProcVmrss
            | F::FdProto
            | F::FdCproto
            | F::FdSproto
            | F::FdLproto
            | F::FdRproto
            | F::FdDev
            | F::FdDevMajor
            | F::FdDevMinor
            | F::FdIno
            | F::FdlistNums
            | F::FdlistNames
    );
    not_live_reason(id).is_none() && !not_captured
}

/// Why live capture cannot supply a container or Kubernetes field (None: it can).
pub fn not_live_reason(id: FieldId) -> Option<&'static str> {
    use FieldId as F;
    match id {
        F::ContainerHealthcheck | F::ContainerLivenessProbe | F::ContainerReadinessProbe => {
            Some("health and probe definitions are not read from the runtime")
        }
        F::K8sRcName | F::K8sRsName | F::K8sSvcName | F::K8sDeploymentName | F::K8sNsLabel => Some(
            "needs the Kubernetes API server (Falco's k8smeta plugin); the node's runtime does not know it",
        ),
        _ => None,
    }
}

mod args;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod fd_tests;
