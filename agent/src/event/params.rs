//! The event table: for every event type Saker decodes, its parameters as
//! Falco's event table declares them (falcosecurity/libs `driver/event_table.c`:
//! names, order, types, print formats, flag tables), and where Saker's
//! decoded [`Event`] holds each value.
//!
//! This is the one source that `evt.arg[N]`, `evt.arg.NAME`,
//! `evt.rawarg.NAME` and `evt.args` read (`fields/extract/args.rs` renders a
//! parameter from its [`ParamType`] alone, as libsinsp's
//! `sinsp_evt::get_param_as_str` does). Falco sends one enter and one exit
//! event per system call; since libs 0.20 every parameter is on the exit
//! event (the enter events are `EF_OLD_VERSION`), which is the event Saker
//! produces, so each entry follows the current `*_X` event of its call.
//!
//! A parameter Falco has but Saker's probe does not capture (`dev`/`ino` of
//! opens, accept's queue figures, I/O `data` buffers, ...) keeps its name and
//! position with [`Source::Missing`]: it has no value (`evt.arg.dev` fails to
//! extract, `evt.args` prints it as Falco prints an empty parameter).

use super::flags::{self, FlagTable};
use super::{Detail, Event, EventType, SockAddr, SockTuple};

/// A parameter's type (Falco's `ppm_param_type`), which decides how it
/// renders and what its raw value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `PT_FD`: a descriptor; renders with the fd's type and name.
    Fd,
    /// `PT_PID`: renders with the thread's comm.
    Pid,
    /// `PT_ERRNO`: renders with the errno name when negative.
    Errno,
    /// `PT_UID`: renders with the user name (`<NONE>` for -1).
    Uid,
    /// `PT_GID`: renders with the group name (`<NONE>` for -1).
    Gid,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    /// `PT_CHARBUF`: text as given.
    Charbuf,
    /// `PT_BYTEBUF`: bytes; unprintable ones (the NULs between argv
    /// entries) print as `.`.
    Bytebuf,
    /// `PT_FSPATH`: a path, resolved against the thread's working directory.
    Fspath,
    /// `PT_FSRELPATH`: a path resolved against the directory of the fd
    /// parameter at this index (`DIRFD_PARAM(n)`; AT_FDCWD: the working
    /// directory).
    Fsrelpath(usize),
    /// `PT_SOCKADDR`.
    Sockaddr,
    /// `PT_SOCKTUPLE`.
    Socktuple,
    /// `PT_FLAGS*`: a bit set named from the table.
    Flags(FlagTable),
    /// `PT_ENUMFLAGS*`: one value named from the table.
    EnumFlags(FlagTable),
    /// `PT_MODE`: permission bits named from the table.
    Mode(FlagTable),
    /// `PT_SIGTYPE`: a signal number, rendered with its name.
    Sigtype,
    /// `PT_ABSTIME`: nanoseconds since the epoch, rendered as a date.
    Abstime,
    /// `PT_DYN` of ptrace's addr and data (`ptrace_dynamic_param`): a u64,
    /// or a signal for the requests that take one.
    PtraceDyn,
}

/// A parameter's print format (`ppm_print_format`), for numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    /// `PF_DEC`.
    Dec,
    /// `PF_HEX`: upper-case hex without a prefix (`%X`).
    Hex,
    /// `PF_OCT`: octal with a leading 0 (`%#o`).
    Oct,
    /// `PF_NA`.
    Na,
}

/// Where Saker's [`Event`] holds a parameter's value, and the conversion to
/// Falco's codes (`driver/ppm_flag_helpers.h`) where Falco's probe makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Falco has the parameter; Saker's probe does not capture it.
    Missing,
    /// The system call's return value.
    Ret,
    /// The call's fd argument (close, listen, fchmod, setns, finit_module,
    /// fchdir, fcntl, the socket calls).
    Fd,
    /// The open/path call's dirfd and path.
    Dirfd,
    Path,
    /// Open flags through `open_flags_to_scap` (plus `O_F_CREATED`).
    OpenFlags,
    /// The open mode through `open_modes_to_scap` (0 without O_CREAT/O_TMPFILE).
    OpenMode,
    /// creat's mode (`open_modes_to_scap(O_CREAT, mode)`).
    CreatMode,
    /// openat2's resolve through `openat2_resolve_to_scap`.
    OpenResolve,
    Oldfd,
    Newfd,
    /// dup3's flags through `dup3_flags_to_scap`.
    Dup3Flags,
    /// socket's domain through `socket_family_to_scap`.
    SocketDomain,
    /// socket's type, as the kernel got it.
    SocketType,
    SocketProto,
    /// socket's SOCK_NONBLOCK/SOCK_CLOEXEC through `socket_flags_to_scap`.
    SocketFlags,
    Tuple,
    Addr,
    /// The byte count of sendto and recvfrom.
    Size,
    /// accept4's flags through `socket_flags_to_scap`.
    Accept4Flags,
    Backlog,
    /// ptrace's addr (0 when the call failed).
    PtraceAddr,
    /// ptrace's data: a signal for CONT, SINGLESTEP, DETACH and SYSCALL, else
    /// the value (0 when the call failed).
    PtraceData,
    /// ptrace's request through `ptrace_requests_to_scap`.
    PtraceRequest,
    PtracePid,
    ModuleLength,
    ModuleUargs,
    /// finit_module's flags through `finit_module_flags_to_scap`.
    ModuleFlags,
    OldDirfd,
    OldPath,
    NewDirfd,
    NewPath,
    /// linkat's flags through `linkat_flags_to_scap`.
    LinkatFlags,
    /// renameat2's flags (`PPM_RENAME_*` are the kernel's values).
    RenameFlags,
    /// symlink's target and the link's dirfd and path.
    Target,
    LinkDirfd,
    LinkPath,
    /// unlinkat's flags through `unlinkat_flags_to_scap`.
    UnlinkatFlags,
    /// mkdir's mode, as the kernel got it.
    MkdirMode,
    /// The chmod family's mode through `chmod_mode_to_scap`.
    ChmodMode,
    /// The n-th id of the setuid family.
    Id(usize),
    /// setns' nstype and unshare's flags through `clone_flags_to_scap`.
    Nstype,
    UnshareFlags,
    /// bpf's command (`bpf_cmd_to_scap` is the identity).
    BpfCmd,
    MemfdName,
    /// memfd_create's flags through `memfd_create_flags_to_scap`.
    MemfdFlags,
    /// userfaultfd's flags, unconverted (Falco's probe sends the kernel
    /// value, and libsinsp names it from `file_flags`).
    UffdFlags,
    ChdirPath,
    /// fcntl's command through `fcntl_cmd_to_scap`, and its argument.
    FcntlCmd,
    FcntlArg,
    /// The calling thread (header): tid, pid, parent, comm, credentials.
    Tid,
    Pid,
    Ptid,
    Comm,
    Uid,
    Gid,
    Loginuid,
    /// The process image: from the exec record on a successful exec, else
    /// from the process table (failed exec, clone).
    Exe,
    Args,
    Cwd,
    Cgroups,
    Env,
    Tty,
    Vpgid,
    ExeFlags,
    CapInheritable,
    CapPermitted,
    CapEffective,
    ExeIno,
    ExeCtime,
    ExeMtime,
    TrustedExepath,
    /// exec's filename argument.
    Filename,
    /// The new thread of a clone (clone's `res` on the parent's side).
    ChildTid,
    /// Clone flags through `clone_flags_to_scap`, plus CLONE_CHILD_IN_PIDNS
    /// when the child is in a non-initial pid namespace.
    CloneFlags,
    /// The caller's ids in its pid namespace.
    Vtid,
    Vpid,
    /// procexit: the wait status and what `__WEXITSTATUS`, `__WTERMSIG` and
    /// `__WCOREDUMP` make of it.
    ExitStatus,
    ExitRet,
    ExitSig,
    ExitCore,
}

/// One parameter of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamType,
    pub fmt: Fmt,
    pub src: Source,
}

/// The parameters of one event type.
#[derive(Debug, Clone, Copy)]
pub struct EventParams {
    /// The system call (Saker's event type, kernel spelling).
    pub syscall: &'static str,
    /// The Falco event whose parameters these are (`driver/event_table.c`),
    /// or a note where Falco has none.
    pub falco: &'static str,
    pub params: &'static [Param],
}

/// A parameter's value as the event holds it, before rendering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Raw<'a> {
    Int(i64),
    UInt(u64),
    Str(&'a str),
    /// Strings Falco carries NUL-separated in one buffer (argv, environment).
    List(&'a [String]),
    Addr(Option<&'a SockAddr>),
    Tuple(Option<&'a SockTuple>),
    /// A signal number (ptrace data, procexit sig).
    Signal(u8),
    /// A value the process table holds (failed exec, clone).
    Process(ProcValue),
    Missing,
}

/// Values of the calling process that an event does not carry itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcValue {
    Exe,
    Args,
    Cwd,
    Comm,
    Cgroups,
    Env,
    Tty,
    Vpgid,
    ExeFlags,
    CapInheritable,
    CapPermitted,
    CapEffective,
    ExeIno,
    ExeCtime,
    ExeMtime,
    TrustedExepath,
    Vtid,
    Vpid,
}

const fn p(name: &'static str, ty: ParamType, fmt: Fmt, src: Source) -> Param {
    Param { name, ty, fmt, src }
}

use Fmt::{Dec, Hex, Na, Oct};
use ParamType as T;
use Source as S;

const RES: Param = p("res", T::Errno, Dec, S::Ret);
const RES_FD: Param = p("res", T::Fd, Dec, S::Ret);
const FD_RET: Param = p("fd", T::Fd, Dec, S::Ret);
const FD_ARG: Param = p("fd", T::Fd, Dec, S::Fd);
const DIRFD: Param = p("dirfd", T::Fd, Dec, S::Dirfd);
const OPEN_FLAGS: Param = p("flags", T::Flags(flags::FILE_FLAGS), Hex, S::OpenFlags);
const OPEN_MODE: Param = p("mode", T::Uint32, Oct, S::OpenMode);
const DEV: Param = p("dev", T::Uint32, Hex, S::Missing);
const INO: Param = p("ino", T::Uint64, Dec, S::Missing);
const TUPLE: Param = p("tuple", T::Socktuple, Na, S::Tuple);
const ADDR: Param = p("addr", T::Sockaddr, Na, S::Addr);
const DATA: Param = p("data", T::Bytebuf, Na, S::Missing);
const CHMOD_MODE: Param = p("mode", T::Mode(flags::CHMOD_MODE), Oct, S::ChmodMode);
const OLDPATH: Param = p("oldpath", T::Fspath, Na, S::OldPath);
const NEWPATH: Param = p("newpath", T::Fspath, Na, S::NewPath);
const OLDDIRFD: Param = p("olddirfd", T::Fd, Dec, S::OldDirfd);
const NEWDIRFD: Param = p("newdirfd", T::Fd, Dec, S::NewDirfd);
const OLDPATH_AT: Param = p("oldpath", T::Fsrelpath(1), Na, S::OldPath);
const NEWPATH_AT: Param = p("newpath", T::Fsrelpath(3), Na, S::NewPath);
const QUEUE: [Param; 3] = [
    p("queuepct", T::Uint8, Dec, S::Missing),
    p("queuelen", T::Uint32, Dec, S::Missing),
    p("queuemax", T::Uint32, Dec, S::Missing),
];

/// execve and execveat (PPME_SYSCALL_EXECVE_19_X, event_table.c lines
/// 1993-2024; execveat's PPME_SYSCALL_EXECVEAT_X, lines 2228-2259, is the
/// same without `filename`).
const EXECVE: [Param; 31] = [
    RES,
    p("exe", T::Charbuf, Na, S::Exe),
    p("args", T::Bytebuf, Na, S::Args),
    p("tid", T::Pid, Dec, S::Tid),
    p("pid", T::Pid, Dec, S::Pid),
    p("ptid", T::Pid, Dec, S::Ptid),
    p("cwd", T::Charbuf, Na, S::Cwd),
    p("fdlimit", T::Uint64, Dec, S::Missing),
    p("pgft_maj", T::Uint64, Dec, S::Missing),
    p("pgft_min", T::Uint64, Dec, S::Missing),
    p("vm_size", T::Uint32, Dec, S::Missing),
    p("vm_rss", T::Uint32, Dec, S::Missing),
    p("vm_swap", T::Uint32, Dec, S::Missing),
    p("comm", T::Charbuf, Na, S::Comm),
    p("cgroups", T::Bytebuf, Na, S::Cgroups),
    p("env", T::Bytebuf, Na, S::Env),
    p("tty", T::Uint32, Dec, S::Tty),
    p("vpgid", T::Pid, Dec, S::Vpgid),
    p("loginuid", T::Uid, Dec, S::Loginuid),
    p("flags", T::Flags(flags::EXECVE_FLAGS), Hex, S::ExeFlags),
    p("cap_inheritable", T::Uint64, Hex, S::CapInheritable),
    p("cap_permitted", T::Uint64, Hex, S::CapPermitted),
    p("cap_effective", T::Uint64, Hex, S::CapEffective),
    p("exe_ino", T::Uint64, Dec, S::ExeIno),
    p("exe_ino_ctime", T::Abstime, Dec, S::ExeCtime),
    p("exe_ino_mtime", T::Abstime, Dec, S::ExeMtime),
    p("uid", T::Uid, Dec, S::Uid),
    p("trusted_exepath", T::Fspath, Na, S::TrustedExepath),
    p("pgid", T::Pid, Na, S::Missing),
    p("gid", T::Gid, Dec, S::Gid),
    p("filename", T::Fspath, Na, S::Filename),
];

/// clone, fork, vfork, clone3 (PPME_SYSCALL_CLONE_20_X, event_table.c lines
/// 1518-1540; FORK_20_X, VFORK_20_X and CLONE3_X have the same parameters).
/// Saker reports the parent's side: `res` is the new thread.
const CLONE: [Param; 21] = [
    p("res", T::Pid, Dec, S::ChildTid),
    p("exe", T::Charbuf, Na, S::Exe),
    p("args", T::Bytebuf, Na, S::Args),
    p("tid", T::Pid, Dec, S::Tid),
    p("pid", T::Pid, Dec, S::Pid),
    p("ptid", T::Pid, Dec, S::Ptid),
    p("cwd", T::Charbuf, Na, S::Cwd),
    p("fdlimit", T::Int64, Dec, S::Missing),
    p("pgft_maj", T::Uint64, Dec, S::Missing),
    p("pgft_min", T::Uint64, Dec, S::Missing),
    p("vm_size", T::Uint32, Dec, S::Missing),
    p("vm_rss", T::Uint32, Dec, S::Missing),
    p("vm_swap", T::Uint32, Dec, S::Missing),
    p("comm", T::Charbuf, Na, S::Comm),
    p("cgroups", T::Bytebuf, Na, S::Cgroups),
    p("flags", T::Flags(flags::CLONE_FLAGS), Hex, S::CloneFlags),
    p("uid", T::Uint32, Dec, S::Uid),
    p("gid", T::Uint32, Dec, S::Gid),
    p("vtid", T::Pid, Dec, S::Vtid),
    p("vpid", T::Pid, Dec, S::Vpid),
    p("pidns_init_start_ts", T::Uint64, Dec, S::Missing),
];

const fn ev(syscall: &'static str, falco: &'static str, params: &'static [Param]) -> EventParams {
    EventParams {
        syscall,
        falco,
        params,
    }
}

/// Every event type Saker decodes, with the Falco event (and its line range
/// in `driver/event_table.c` at falcosecurity/libs 48dfd53) it follows.
pub static EVENTS: &[EventParams] = &[
    ev(
        "open",
        "PPME_SYSCALL_OPEN_X (event_table.c 70-79)",
        &[
            FD_RET,
            p("name", T::Fspath, Na, S::Path),
            OPEN_FLAGS,
            OPEN_MODE,
            DEV,
            INO,
        ],
    ),
    ev(
        "openat",
        "PPME_SYSCALL_OPENAT_2_X (event_table.c 2095-2105)",
        &[
            FD_RET,
            DIRFD,
            p("name", T::Fsrelpath(1), Na, S::Path),
            OPEN_FLAGS,
            OPEN_MODE,
            DEV,
            INO,
        ],
    ),
    ev(
        "openat2",
        "PPME_SYSCALL_OPENAT2_X (event_table.c 2194-2205)",
        &[
            FD_RET,
            DIRFD,
            p("name", T::Fsrelpath(1), Na, S::Path),
            OPEN_FLAGS,
            OPEN_MODE,
            p(
                "resolve",
                T::Flags(flags::OPENAT2_FLAGS),
                Hex,
                S::OpenResolve,
            ),
            DEV,
            INO,
        ],
    ),
    ev(
        "creat",
        "PPME_SYSCALL_CREAT_X (event_table.c 443-452)",
        &[
            FD_RET,
            p("name", T::Fspath, Na, S::Path),
            p("mode", T::Uint32, Oct, S::CreatMode),
            DEV,
            INO,
            p("creat_flags", T::Flags(flags::CREAT_FLAGS), Hex, S::Missing),
        ],
    ),
    ev(
        "close",
        "PPME_SYSCALL_CLOSE_X (event_table.c 86-91)",
        &[RES, FD_ARG],
    ),
    ev(
        "dup",
        "PPME_SYSCALL_DUP_1_X (event_table.c 2475-2479)",
        &[RES_FD, p("oldfd", T::Fd, Dec, S::Oldfd)],
    ),
    ev(
        "dup2",
        "PPME_SYSCALL_DUP2_X (event_table.c 2450-2456)",
        &[
            RES_FD,
            p("oldfd", T::Fd, Dec, S::Oldfd),
            p("newfd", T::Fd, Dec, S::Newfd),
        ],
    ),
    ev(
        "dup3",
        "PPME_SYSCALL_DUP3_X (event_table.c 2462-2469)",
        &[
            RES_FD,
            p("oldfd", T::Fd, Dec, S::Oldfd),
            p("newfd", T::Fd, Dec, S::Newfd),
            p("flags", T::Flags(flags::FILE_FLAGS), Hex, S::Dup3Flags),
        ],
    ),
    ev(
        "fcntl",
        "PPME_SYSCALL_FCNTL_X (event_table.c 968-975)",
        &[
            RES_FD,
            FD_ARG,
            p("cmd", T::EnumFlags(flags::FCNTL_COMMANDS), Dec, S::FcntlCmd),
            p("arg", T::Uint64, Hex, S::FcntlArg),
        ],
    ),
    ev(
        "socket",
        "PPME_SOCKET_SOCKET_X (event_table.c 178-186)",
        &[
            FD_RET,
            p(
                "domain",
                T::EnumFlags(flags::SOCKET_FAMILIES),
                Dec,
                S::SocketDomain,
            ),
            p("type", T::Uint32, Dec, S::SocketType),
            p("proto", T::Uint32, Dec, S::SocketProto),
            p("flags", T::Flags(flags::FILE_FLAGS), Hex, S::SocketFlags),
        ],
    ),
    ev(
        "bind",
        "PPME_SOCKET_BIND_X (event_table.c 193-199)",
        &[RES, ADDR, FD_ARG],
    ),
    ev(
        "connect",
        "PPME_SOCKET_CONNECT_X (event_table.c 205-212)",
        &[RES, TUPLE, FD_ARG, ADDR],
    ),
    ev(
        "listen",
        "PPME_SOCKET_LISTEN_X (event_table.c 218-224)",
        &[RES, FD_ARG, p("backlog", T::Int32, Dec, S::Backlog)],
    ),
    ev(
        "accept",
        "PPME_SOCKET_ACCEPT_5_X (event_table.c 1705-1713)",
        &[FD_RET, TUPLE, QUEUE[0], QUEUE[1], QUEUE[2]],
    ),
    ev(
        "accept4",
        "PPME_SOCKET_ACCEPT4_6_X (event_table.c 2588-2597)",
        &[
            FD_RET,
            TUPLE,
            QUEUE[0],
            QUEUE[1],
            QUEUE[2],
            p("flags", T::Int32, Hex, S::Accept4Flags),
        ],
    ),
    ev(
        "sendto",
        "PPME_SOCKET_SENDTO_X (event_table.c 260-270)",
        &[RES, DATA, FD_ARG, p("size", T::Uint32, Dec, S::Size), TUPLE],
    ),
    ev(
        "sendmsg",
        "PPME_SOCKET_SENDMSG_X (event_table.c 374-384)",
        &[
            RES,
            DATA,
            FD_ARG,
            p("size", T::Uint32, Dec, S::Missing),
            TUPLE,
        ],
    ),
    ev(
        "recvfrom",
        "PPME_SOCKET_RECVFROM_X (event_table.c 291-301)",
        &[RES, DATA, TUPLE, FD_ARG, p("size", T::Uint32, Dec, S::Size)],
    ),
    ev(
        "recvmsg",
        "PPME_SOCKET_RECVMSG_X (event_table.c 401-412)",
        &[
            RES,
            p("size", T::Uint32, Dec, S::Missing),
            DATA,
            TUPLE,
            p("msgcontrol", T::Bytebuf, Na, S::Missing),
            FD_ARG,
        ],
    ),
    ev(
        "ptrace",
        "PPME_SYSCALL_PTRACE_X (event_table.c 1133-1142)",
        &[
            RES,
            p("addr", T::PtraceDyn, Hex, S::PtraceAddr),
            p("data", T::PtraceDyn, Hex, S::PtraceData),
            p(
                "request",
                T::EnumFlags(flags::PTRACE_REQUESTS),
                Dec,
                S::PtraceRequest,
            ),
            p("pid", T::Pid, Dec, S::PtracePid),
        ],
    ),
    ev(
        "init_module",
        "PPME_SYSCALL_INIT_MODULE_X (event_table.c 2715-2722)",
        &[
            RES,
            p("img", T::Bytebuf, Na, S::Missing),
            p("length", T::Uint64, Dec, S::ModuleLength),
            p("uargs", T::Charbuf, Na, S::ModuleUargs),
        ],
    ),
    ev(
        "finit_module",
        "PPME_SYSCALL_FINIT_MODULE_X (event_table.c 2724-2731)",
        &[
            RES,
            FD_ARG,
            p("uargs", T::Charbuf, Na, S::ModuleUargs),
            p(
                "flags",
                T::Flags(flags::FINIT_MODULE_FLAGS),
                Hex,
                S::ModuleFlags,
            ),
        ],
    ),
    ev(
        "link",
        "PPME_SYSCALL_LINK_2_X (event_table.c 2107-2113)",
        &[RES, OLDPATH, NEWPATH],
    ),
    ev(
        "linkat",
        "PPME_SYSCALL_LINKAT_2_X (event_table.c 2115-2124)",
        &[
            RES,
            p("olddir", T::Fd, Dec, S::OldDirfd),
            OLDPATH_AT,
            p("newdir", T::Fd, Dec, S::NewDirfd),
            NEWPATH_AT,
            p("flags", T::Flags(flags::LINKAT_FLAGS), Hex, S::LinkatFlags),
        ],
    ),
    ev(
        "symlink",
        "PPME_SYSCALL_SYMLINK_X (event_table.c 1199-1205)",
        &[
            RES,
            p("target", T::Charbuf, Na, S::Target),
            p("linkpath", T::Fspath, Na, S::LinkPath),
        ],
    ),
    ev(
        "symlinkat",
        "PPME_SYSCALL_SYMLINKAT_X (event_table.c 1207-1214)",
        &[
            RES,
            p("target", T::Charbuf, Na, S::Target),
            p("linkdirfd", T::Fd, Dec, S::LinkDirfd),
            p("linkpath", T::Fsrelpath(2), Na, S::LinkPath),
        ],
    ),
    ev(
        "unlink",
        "PPME_SYSCALL_UNLINK_2_X (event_table.c 2064-2068)",
        &[RES, p("path", T::Fspath, Na, S::Path)],
    ),
    ev(
        "unlinkat",
        "PPME_SYSCALL_UNLINKAT_2_X (event_table.c 2070-2077)",
        &[
            RES,
            DIRFD,
            p("name", T::Fsrelpath(1), Na, S::Path),
            p(
                "flags",
                T::Flags(flags::UNLINKAT_FLAGS),
                Hex,
                S::UnlinkatFlags,
            ),
        ],
    ),
    ev(
        "rename",
        "PPME_SYSCALL_RENAME_X (event_table.c 1181-1187)",
        &[RES, OLDPATH, NEWPATH],
    ),
    ev(
        "renameat",
        "PPME_SYSCALL_RENAMEAT_X (event_table.c 1189-1197)",
        &[RES, OLDDIRFD, OLDPATH_AT, NEWDIRFD, NEWPATH_AT],
    ),
    ev(
        "renameat2",
        "PPME_SYSCALL_RENAMEAT2_X (event_table.c 2151-2160)",
        &[
            RES,
            OLDDIRFD,
            OLDPATH_AT,
            NEWDIRFD,
            NEWPATH_AT,
            p(
                "flags",
                T::Flags(flags::RENAMEAT2_FLAGS),
                Hex,
                S::RenameFlags,
            ),
        ],
    ),
    ev(
        "mkdir",
        "PPME_SYSCALL_MKDIR_2_X (event_table.c 1887-1893)",
        &[
            RES,
            p("path", T::Fspath, Na, S::Path),
            p("mode", T::Uint32, Hex, S::MkdirMode),
        ],
    ),
    ev(
        "mkdirat",
        "PPME_SYSCALL_MKDIRAT_X (event_table.c 2079-2086)",
        &[
            RES,
            DIRFD,
            p("path", T::Fsrelpath(1), Na, S::Path),
            p("mode", T::Uint32, Hex, S::MkdirMode),
        ],
    ),
    ev(
        "rmdir",
        "PPME_SYSCALL_RMDIR_2_X (event_table.c 1895-1899)",
        &[RES, p("path", T::Fspath, Na, S::Path)],
    ),
    ev(
        "chmod",
        "PPME_SYSCALL_CHMOD_X (event_table.c 2135-2141)",
        &[RES, p("filename", T::Fspath, Na, S::Path), CHMOD_MODE],
    ),
    ev(
        "fchmod",
        "PPME_SYSCALL_FCHMOD_X (event_table.c 2143-2149)",
        &[RES, FD_ARG, CHMOD_MODE],
    ),
    ev(
        "fchmodat",
        "PPME_SYSCALL_FCHMODAT_X (event_table.c 2126-2133)",
        &[
            RES,
            DIRFD,
            p("filename", T::Fsrelpath(1), Na, S::Path),
            CHMOD_MODE,
        ],
    ),
    ev(
        "fchmodat2",
        "none: Falco reports fchmodat2 as a generic syscall event; Saker gives it fchmodat's parameters",
        &[
            RES,
            DIRFD,
            p("filename", T::Fsrelpath(1), Na, S::Path),
            CHMOD_MODE,
        ],
    ),
    ev(
        "setuid",
        "PPME_SYSCALL_SETUID_X (event_table.c 1371-1375)",
        &[RES, p("uid", T::Uid, Dec, S::Id(0))],
    ),
    ev(
        "setgid",
        "PPME_SYSCALL_SETGID_X (event_table.c 1381-1385)",
        &[RES, p("gid", T::Gid, Dec, S::Id(0))],
    ),
    ev(
        "setreuid",
        "PPME_SYSCALL_SETREUID_X (event_table.c 2797-2803)",
        &[
            RES,
            p("ruid", T::Uid, Dec, S::Id(0)),
            p("euid", T::Uid, Dec, S::Id(1)),
        ],
    ),
    // Falco's table types setregid's ids PT_UID (not PT_GID): they render
    // as user names, and so they do here.
    ev(
        "setregid",
        "PPME_SYSCALL_SETREGID_X (event_table.c 2805-2811)",
        &[
            RES,
            p("rgid", T::Uid, Dec, S::Id(0)),
            p("egid", T::Uid, Dec, S::Id(1)),
        ],
    ),
    ev(
        "setresuid",
        "PPME_SYSCALL_SETRESUID_X (event_table.c 1327-1334)",
        &[
            RES,
            p("ruid", T::Uid, Dec, S::Id(0)),
            p("euid", T::Uid, Dec, S::Id(1)),
            p("suid", T::Uid, Dec, S::Id(2)),
        ],
    ),
    ev(
        "setresgid",
        "PPME_SYSCALL_SETRESGID_X (event_table.c 1342-1349)",
        &[
            RES,
            p("rgid", T::Gid, Dec, S::Id(0)),
            p("egid", T::Gid, Dec, S::Id(1)),
            p("sgid", T::Gid, Dec, S::Id(2)),
        ],
    ),
    ev(
        "setns",
        "PPME_SYSCALL_SETNS_X (event_table.c 1675-1681)",
        &[
            RES,
            p("fd", T::Fd, Na, S::Fd),
            p("nstype", T::Flags(flags::CLONE_FLAGS), Hex, S::Nstype),
        ],
    ),
    ev(
        "unshare",
        "PPME_SYSCALL_UNSHARE_X (event_table.c 1939-1943)",
        &[
            RES,
            p("flags", T::Flags(flags::CLONE_FLAGS), Hex, S::UnshareFlags),
        ],
    ),
    ev(
        "bpf",
        "PPME_SYSCALL_BPF_2_X (event_table.c 2485-2489)",
        &[
            FD_RET,
            p("cmd", T::EnumFlags(flags::BPF_COMMANDS), Dec, S::BpfCmd),
        ],
    ),
    ev(
        "memfd_create",
        "PPME_SYSCALL_MEMFD_CREATE_X (event_table.c 2684-2690)",
        &[
            FD_RET,
            p("name", T::Charbuf, Na, S::MemfdName),
            p(
                "flags",
                T::Flags(flags::MEMFD_CREATE_FLAGS),
                Hex,
                S::MemfdFlags,
            ),
        ],
    ),
    ev(
        "userfaultfd",
        "PPME_SYSCALL_USERFAULTFD_X (event_table.c 2165-2169)",
        &[
            RES,
            p("flags", T::Flags(flags::FILE_FLAGS), Hex, S::UffdFlags),
        ],
    ),
    ev(
        "chdir",
        "PPME_SYSCALL_CHDIR_X (event_table.c 619-623)",
        &[RES, p("path", T::Charbuf, Na, S::ChdirPath)],
    ),
    ev(
        "fchdir",
        "PPME_SYSCALL_FCHDIR_X (event_table.c 630-634)",
        &[RES, p("fd", T::Fd, Na, S::Fd)],
    ),
    ev(
        "execve",
        "PPME_SYSCALL_EXECVE_19_X (event_table.c 1993-2024)",
        &EXECVE,
    ),
    ev(
        "execveat",
        "PPME_SYSCALL_EXECVEAT_X (event_table.c 2228-2259)",
        EXECVE.split_at(30).0,
    ),
    ev(
        "clone",
        "PPME_SYSCALL_CLONE_20_X (event_table.c 1518-1540)",
        &CLONE,
    ),
    ev(
        "fork",
        "PPME_SYSCALL_FORK_20_X (event_table.c 1547-1569)",
        &CLONE,
    ),
    ev(
        "vfork",
        "PPME_SYSCALL_VFORK_20_X (event_table.c 1576-1598)",
        &CLONE,
    ),
    ev(
        "clone3",
        "PPME_SYSCALL_CLONE3_X (event_table.c 2285-2307)",
        &CLONE,
    ),
    ev(
        "procexit",
        "PPME_PROCEXIT_1_E (event_table.c 1263-1271)",
        &[
            p("status", T::Errno, Dec, S::ExitStatus),
            p("ret", T::Errno, Dec, S::ExitRet),
            p("sig", T::Sigtype, Dec, S::ExitSig),
            p("core", T::Uint8, Dec, S::ExitCore),
            p("reaper_tid", T::Pid, Dec, S::Missing),
        ],
    ),
];

/// The parameters of an event type, if Saker decodes it.
pub fn of(etype: EventType) -> Option<&'static EventParams> {
    static INDEX: std::sync::OnceLock<Vec<Option<u16>>> = std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut v = vec![None; EventType::COUNT];
        for (i, e) in EVENTS.iter().enumerate() {
            if let Some(t) = EventType::from_name(e.syscall)
                && let Some(slot) = v.get_mut(t.index())
            {
                *slot = Some(i as u16);
            }
        }
        v
    });
    let i = (*index.get(etype.index())?)?;
    EVENTS.get(usize::from(i))
}

/// A descriptor argument (the decoder sign-extended it: AT_FDCWD is -100).
fn fd(v: i64) -> Raw<'static> {
    Raw::Int(v)
}

fn proc_or<'a>(
    ev: &'a Event,
    from_exec: impl FnOnce(&'a super::ExecInfo) -> Raw<'a>,
    pv: ProcValue,
) -> Raw<'a> {
    match &ev.detail {
        Detail::Exec(x) => from_exec(x),
        Detail::ExecFailed { .. } | Detail::Fork { .. } => Raw::Process(pv),
        _ => Raw::Missing,
    }
}

/// The value of `src` in `ev` (already in Falco's codes where Falco's probe
/// converts), or [`Raw::Missing`] when the event does not hold it.
pub fn raw(ev: &Event, src: Source) -> Raw<'_> {
    use Detail as D;
    let d = &ev.detail;
    let u = |v: u32| Raw::UInt(u64::from(v));
    match src {
        S::Missing => Raw::Missing,
        S::Ret => Raw::Int(ev.ret),
        S::Fd => match d {
            D::Close { fd: f }
            | D::Listen { fd: f, .. }
            | D::Fchmod { fd: f, .. }
            | D::Setns { fd: f, .. }
            | D::SocketIo { fd: f, .. }
            | D::Fcntl { fd: f, .. } => fd(*f),
            D::Module { fd: Some(f), .. } | D::Chdir { fd: Some(f), .. } => fd(*f),
            _ => Raw::Missing,
        },
        S::Dirfd => match d {
            D::Open { dirfd, .. } | D::PathOp { dirfd, .. } => fd(*dirfd),
            _ => Raw::Missing,
        },
        S::Path => match d {
            D::Open { path, .. } | D::PathOp { path, .. } => Raw::Str(path),
            _ => Raw::Missing,
        },
        S::OpenFlags => match d {
            D::Open { flags: f, .. } => u(flags::open_flags_to_ppm_created(*f)),
            _ => Raw::Missing,
        },
        S::OpenMode => match d {
            D::Open { flags: f, mode, .. } => u(flags::open_mode_to_ppm(*f, *mode)),
            _ => Raw::Missing,
        },
        S::CreatMode => match d {
            D::Open { mode, .. } => u(flags::open_mode_to_ppm(flags::O_CREAT, *mode)),
            _ => Raw::Missing,
        },
        S::OpenResolve => match d {
            D::Open { resolve, .. } => u(flags::openat2_resolve_to_ppm(*resolve)),
            _ => Raw::Missing,
        },
        S::Oldfd => match d {
            D::Dup { oldfd, .. } => fd(*oldfd),
            _ => Raw::Missing,
        },
        S::Newfd => match d {
            D::Dup { newfd: Some(n), .. } => fd(*n),
            _ => Raw::Missing,
        },
        S::Dup3Flags => match d {
            D::Dup { flags: f, .. } => u(flags::dup3_flags_to_ppm(*f)),
            _ => Raw::Missing,
        },
        S::SocketDomain => match d {
            D::Socket { domain, .. } => u(flags::socket_family_to_ppm(*domain)),
            _ => Raw::Missing,
        },
        S::SocketType => match d {
            D::Socket { sock_type, .. } => Raw::UInt(*sock_type & 0xffff_ffff),
            _ => Raw::Missing,
        },
        S::SocketProto => match d {
            D::Socket { protocol, .. } => Raw::UInt(*protocol & 0xffff_ffff),
            _ => Raw::Missing,
        },
        S::SocketFlags => match d {
            D::Socket { sock_type, .. } => u(flags::socket_flags_to_ppm(*sock_type)),
            _ => Raw::Missing,
        },
        S::Tuple => match d {
            D::SocketIo { tuple, .. } => Raw::Tuple(tuple.as_ref()),
            _ => Raw::Missing,
        },
        S::Addr => match d {
            D::SocketIo { addr, .. } => Raw::Addr(addr.as_ref()),
            _ => Raw::Missing,
        },
        S::Size => match d {
            D::SocketIo { size, .. } => Raw::UInt(*size & 0xffff_ffff),
            _ => Raw::Missing,
        },
        S::Accept4Flags => match d {
            D::SocketIo { flags: f, .. } => Raw::Int(i64::from(flags::socket_flags_to_ppm(*f))),
            _ => Raw::Missing,
        },
        S::Backlog => match d {
            D::Listen { backlog, .. } => Raw::Int(i64::from(*backlog as i32)),
            _ => Raw::Missing,
        },
        S::PtraceAddr => match d {
            D::Ptrace { addr, .. } => Raw::UInt(if ev.ret < 0 { 0 } else { *addr }),
            _ => Raw::Missing,
        },
        S::PtraceData => match d {
            D::Ptrace { request, data, .. } => {
                // auxmap__store_ptrace_data_param (modern_bpf): CONT,
                // SINGLESTEP, DETACH and SYSCALL carry a signal. PEEK* carry the
                // word read from the tracee, which Saker does not read: the
                // pointer is reported.
                if ev.ret < 0 {
                    Raw::UInt(0)
                } else if matches!(flags::ptrace_request_to_ppm(*request), 8 | 10 | 12 | 13) {
                    Raw::Signal(*data as u8)
                } else {
                    Raw::UInt(*data)
                }
            }
            _ => Raw::Missing,
        },
        S::PtraceRequest => match d {
            D::Ptrace { request, .. } => u(flags::ptrace_request_to_ppm(*request)),
            _ => Raw::Missing,
        },
        S::PtracePid => match d {
            D::Ptrace { pid, .. } => Raw::Int(*pid),
            _ => Raw::Missing,
        },
        S::ModuleLength => match d {
            D::Module { fd: None, len, .. } => Raw::UInt(*len),
            _ => Raw::Missing,
        },
        S::ModuleUargs => match d {
            D::Module { uargs, .. } => Raw::Str(uargs),
            _ => Raw::Missing,
        },
        S::ModuleFlags => match d {
            D::Module { flags: f, .. } => u(flags::finit_module_flags_to_ppm(*f)),
            _ => Raw::Missing,
        },
        S::OldDirfd => match d {
            D::TwoPaths { olddirfd, .. } => fd(*olddirfd),
            _ => Raw::Missing,
        },
        S::OldPath => match d {
            D::TwoPaths { oldpath, .. } => Raw::Str(oldpath),
            _ => Raw::Missing,
        },
        S::NewDirfd => match d {
            D::TwoPaths { newdirfd, .. } => fd(*newdirfd),
            _ => Raw::Missing,
        },
        S::NewPath => match d {
            D::TwoPaths { newpath, .. } => Raw::Str(newpath),
            _ => Raw::Missing,
        },
        S::LinkatFlags => match d {
            D::TwoPaths { flags: f, .. } => u(flags::linkat_flags_to_ppm(*f)),
            _ => Raw::Missing,
        },
        S::RenameFlags => match d {
            D::TwoPaths { flags: f, .. } => u(flags::rename_flags_to_ppm(*f)),
            _ => Raw::Missing,
        },
        S::Target => match d {
            D::Symlink { target, .. } => Raw::Str(target),
            _ => Raw::Missing,
        },
        S::LinkDirfd => match d {
            D::Symlink { newdirfd, .. } => fd(*newdirfd),
            _ => Raw::Missing,
        },
        S::LinkPath => match d {
            D::Symlink { linkpath, .. } => Raw::Str(linkpath),
            _ => Raw::Missing,
        },
        S::UnlinkatFlags => match d {
            D::PathOp { flags: f, .. } => u(flags::unlinkat_flags_to_ppm(*f)),
            _ => Raw::Missing,
        },
        S::MkdirMode => match d {
            D::PathOp { mode, .. } => u(*mode),
            _ => Raw::Missing,
        },
        S::ChmodMode => match d {
            D::PathOp { mode, .. } | D::Fchmod { mode, .. } => u(flags::chmod_mode_to_ppm(*mode)),
            _ => Raw::Missing,
        },
        S::Id(i) => match d {
            D::SetId { ids } => ids.get(i).map_or(Raw::Missing, |v| u(*v)),
            _ => Raw::Missing,
        },
        S::Nstype => match d {
            D::Setns { nstype, .. } => u(flags::clone_flags_to_ppm(*nstype)),
            _ => Raw::Missing,
        },
        S::UnshareFlags => match d {
            D::Unshare { flags: f } => u(flags::clone_flags_to_ppm(*f)),
            _ => Raw::Missing,
        },
        S::BpfCmd => match d {
            D::Bpf { cmd } => Raw::UInt(*cmd & 0xffff_ffff),
            _ => Raw::Missing,
        },
        S::MemfdName => match d {
            D::MemfdCreate { name, .. } => Raw::Str(name),
            _ => Raw::Missing,
        },
        S::MemfdFlags => match d {
            D::MemfdCreate { flags: f, .. } => u(flags::memfd_flags_to_ppm(*f)),
            _ => Raw::Missing,
        },
        S::UffdFlags => match d {
            D::Userfaultfd { flags: f } => Raw::UInt(*f & 0xffff_ffff),
            _ => Raw::Missing,
        },
        S::ChdirPath => match d {
            D::Chdir {
                path: Some(pth), ..
            } => Raw::Str(pth),
            _ => Raw::Missing,
        },
        S::FcntlCmd => match d {
            D::Fcntl { cmd, .. } => u(flags::fcntl_cmd_to_ppm(*cmd)),
            _ => Raw::Missing,
        },
        S::FcntlArg => match d {
            D::Fcntl { arg, .. } => Raw::UInt(*arg),
            _ => Raw::Missing,
        },
        S::Tid => Raw::Int(i64::from(ev.tid)),
        S::Pid => Raw::Int(i64::from(ev.tgid)),
        S::Ptid => Raw::Int(i64::from(ev.ppid)),
        S::Comm => match d {
            // A clone reports the parent's comm, which the child shares.
            D::Exec(_) | D::ExecFailed { .. } | D::Fork { .. } => Raw::Str(ev.comm.as_str()),
            _ => Raw::Missing,
        },
        S::Uid => Raw::UInt(u64::from(ev.uid)),
        S::Gid => Raw::UInt(u64::from(ev.gid)),
        S::Loginuid => Raw::UInt(u64::from(ev.loginuid)),
        S::Exe => proc_or(
            ev,
            |x| Raw::Str(x.args.first().unwrap_or(&x.filename)),
            ProcValue::Exe,
        ),
        S::Args => proc_or(
            ev,
            |x| Raw::List(x.args.get(1..).unwrap_or(&[])),
            ProcValue::Args,
        ),
        S::Cwd => proc_or(ev, |x| Raw::Str(&x.cwd), ProcValue::Cwd),
        S::Cgroups => proc_or(ev, |x| Raw::Str(&x.cgroup), ProcValue::Cgroups),
        S::Env => match d {
            D::Exec(x) => Raw::List(&x.env),
            D::ExecFailed { .. } => Raw::Process(ProcValue::Env),
            _ => Raw::Missing,
        },
        S::Tty => proc_or(ev, |x| u(x.tty), ProcValue::Tty),
        S::Vpgid => proc_or(ev, |x| Raw::Int(i64::from(x.vpgid)), ProcValue::Vpgid),
        S::ExeFlags => proc_or(
            ev,
            |x| {
                u(exe_flags(
                    x.exe_writable,
                    x.exe_upper_layer,
                    x.exe_from_memfd,
                    x.exe_lower_layer,
                ))
            },
            ProcValue::ExeFlags,
        ),
        S::CapInheritable => proc_or(
            ev,
            |x| Raw::UInt(x.cap_inheritable),
            ProcValue::CapInheritable,
        ),
        S::CapPermitted => proc_or(ev, |x| Raw::UInt(x.cap_permitted), ProcValue::CapPermitted),
        S::CapEffective => proc_or(ev, |x| Raw::UInt(x.cap_effective), ProcValue::CapEffective),
        S::ExeIno => proc_or(ev, |x| Raw::UInt(x.exe_ino), ProcValue::ExeIno),
        S::ExeCtime => proc_or(ev, |x| Raw::UInt(x.exe_ctime_ns), ProcValue::ExeCtime),
        S::ExeMtime => proc_or(ev, |x| Raw::UInt(x.exe_mtime_ns), ProcValue::ExeMtime),
        S::TrustedExepath => proc_or(ev, |x| Raw::Str(&x.exe_path), ProcValue::TrustedExepath),
        S::Filename => match d {
            D::Exec(x) => Raw::Str(&x.filename),
            D::ExecFailed { filename, .. } => Raw::Str(filename),
            _ => Raw::Missing,
        },
        S::ChildTid => match d {
            D::Fork { child_tid, .. } => Raw::Int(i64::from(*child_tid)),
            _ => Raw::Missing,
        },
        S::CloneFlags => match d {
            D::Fork {
                clone_flags,
                child_tid,
                child_vtid,
                ..
            } => {
                let mut code = flags::clone_flags_to_ppm(*clone_flags);
                if child_vtid != child_tid {
                    code |= flags::PPM_CL_CHILD_IN_PIDNS;
                }
                u(code)
            }
            _ => Raw::Missing,
        },
        S::Vtid => match d {
            D::Fork { .. } => Raw::Process(ProcValue::Vtid),
            _ => Raw::Missing,
        },
        S::Vpid => match d {
            D::Fork { .. } => Raw::Process(ProcValue::Vpid),
            _ => Raw::Missing,
        },
        S::ExitStatus => match d {
            D::Exit { status, .. } => Raw::Int(i64::from(*status as i32)),
            _ => Raw::Missing,
        },
        S::ExitRet => match d {
            D::Exit { status, .. } => Raw::Int(((status >> 8) & 0xff) as i64),
            _ => Raw::Missing,
        },
        S::ExitSig => match d {
            // __WIFSIGNALED: the low 7 bits are a signal unless 0 (exited)
            // or 0x7f (stopped).
            D::Exit { status, .. } => {
                let sig = (status & 0x7f) as u8;
                Raw::Signal(if sig != 0 && sig != 0x7f { sig } else { 0 })
            }
            _ => Raw::Missing,
        },
        S::ExitCore => match d {
            D::Exit { status, .. } => Raw::UInt(u64::from(status & 0x80 != 0)),
            _ => Raw::Missing,
        },
    }
}

/// `PPM_EXE_*` from the exe facts (execve's `flags`).
pub fn exe_flags(writable: bool, upper: bool, memfd: bool, lower: bool) -> u32 {
    let mut code = 0;
    if writable {
        code |= flags::PPM_EXE_WRITABLE;
    }
    if upper {
        code |= flags::PPM_EXE_UPPER_LAYER;
    }
    if memfd {
        code |= flags::PPM_EXE_FROM_MEMFD;
    }
    if lower {
        code |= flags::PPM_EXE_LOWER_LAYER;
    }
    code
}

#[cfg(test)]
mod tests;
