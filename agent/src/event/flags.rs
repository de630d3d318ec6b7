//! Symbolic names for numeric syscall arguments, spelled as Falco spells them
//! (rules match on these strings: `evt.arg.flags contains O_TRUNC`,
//! `evt.arg.request contains PTRACE_ATTACH`, `evt.res = ENOENT`).

use std::fmt::Write;

/// Bits of a flags word and their names; a name with value 0 is printed when
/// no other bit of its mask is set (like `O_RDONLY`).
type FlagTable = &'static [(u64, &'static str)];

fn join_flags(value: u64, table: FlagTable, zero: Option<&'static str>) -> String {
    let mut out = String::new();
    let mut rest = value;
    for &(bit, name) in table {
        if bit != 0 && value & bit == bit {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        let _ = write!(out, "{rest:#x}");
    }
    if out.is_empty()
        && let Some(z) = zero
    {
        out.push_str(z);
    }
    out
}

const OPEN_FLAGS: FlagTable = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
];

pub const O_ACCMODE: u64 = 0o3;
pub const O_RDONLY: u64 = 0;
pub const O_WRONLY: u64 = 1;
pub const O_RDWR: u64 = 2;
pub const O_CREAT: u64 = 0o100;
pub const O_TRUNC: u64 = 0o1000;
pub const O_DIRECTORY: u64 = 0o200000;
pub const O_CLOEXEC_BIT: u64 = 0o2000000;
pub const O_PATH: u64 = 0o10000000;
pub const O_TMPFILE: u64 = 0o20000000 | O_DIRECTORY;
/// __O_SYNC is part of O_SYNC (0o4010000).
const O_SYNC_BIT: u64 = 0o4000000;

/// Open flags as Falco prints them: `O_RDONLY|O_CLOEXEC`, `O_WRONLY|O_CREAT|O_TRUNC`.
pub fn open_flags(flags: u64) -> String {
    let access = match flags & O_ACCMODE {
        O_RDONLY => "O_RDONLY",
        O_WRONLY => "O_WRONLY",
        O_RDWR => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let mut rest = flags & !O_ACCMODE;
    let mut out = String::from(access);
    if rest & O_SYNC_BIT != 0 {
        out.push_str("|O_SYNC");
        rest &= !(O_SYNC_BIT | 0o10000);
    }
    let tail = join_flags(rest, OPEN_FLAGS, None);
    if !tail.is_empty() {
        out.push('|');
        out.push_str(&tail);
    }
    out
}

const PTRACE_REQUESTS: &[(u64, &str)] = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSR"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSR"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (18, "PTRACE_GETFPXREGS"),
    (19, "PTRACE_SETFPXREGS"),
    (24, "PTRACE_SYSCALL"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
];

pub fn ptrace_request(req: u64) -> String {
    PTRACE_REQUESTS
        .iter()
        .find(|(v, _)| *v == req)
        .map_or_else(|| format!("{req}"), |(_, n)| (*n).to_string())
}

const CLONE_FLAGS: FlagTable = &[
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
    (0x80, "CLONE_NEWTIME"),
];

/// Clone/unshare/setns namespace flags (the exit signal byte is left out).
pub fn clone_flags(flags: u64) -> String {
    join_flags(flags & !0xff | (flags & 0x80), CLONE_FLAGS, Some("0"))
}

const MEMFD_FLAGS: FlagTable = &[
    (1, "MFD_CLOEXEC"),
    (2, "MFD_ALLOW_SEALING"),
    (4, "MFD_HUGETLB"),
    (8, "MFD_NOEXEC_SEAL"),
    (0x10, "MFD_EXEC"),
];

pub fn memfd_flags(flags: u64) -> String {
    join_flags(flags, MEMFD_FLAGS, Some("0"))
}

const AT_FLAGS: FlagTable = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
];

pub fn at_flags(flags: u64) -> String {
    join_flags(flags, AT_FLAGS, Some("0"))
}

const RENAME_FLAGS: FlagTable = &[
    (1, "RENAME_NOREPLACE"),
    (2, "RENAME_EXCHANGE"),
    (4, "RENAME_WHITEOUT"),
];

pub fn rename_flags(flags: u64) -> String {
    join_flags(flags, RENAME_FLAGS, Some("0"))
}

pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const AF_NETLINK: u16 = 16;
pub const AF_PACKET: u16 = 17;

pub fn socket_family(f: u64) -> String {
    match f as u16 {
        0 => "AF_UNSPEC".into(),
        AF_UNIX => "AF_UNIX".into(),
        AF_INET => "AF_INET".into(),
        AF_INET6 => "AF_INET6".into(),
        AF_NETLINK => "AF_NETLINK".into(),
        AF_PACKET => "AF_PACKET".into(),
        other => format!("{other}"),
    }
}

pub const SOCK_STREAM: u16 = 1;
pub const SOCK_DGRAM: u16 = 2;
pub const SOCK_RAW: u16 = 3;

pub fn socket_type(t: u64) -> String {
    let base = match t & 0xf {
        1 => "SOCK_STREAM",
        2 => "SOCK_DGRAM",
        3 => "SOCK_RAW",
        4 => "SOCK_RDM",
        5 => "SOCK_SEQPACKET",
        6 => "SOCK_DCCP",
        10 => "SOCK_PACKET",
        _ => "",
    };
    let mut out = if base.is_empty() {
        format!("{}", t & 0xf)
    } else {
        base.to_string()
    };
    if t & 0o4000 != 0 {
        out.push_str("|SOCK_NONBLOCK");
    }
    if t & 0o2000000 != 0 {
        out.push_str("|SOCK_CLOEXEC");
    }
    out
}

const ERRNO_NAMES: [&str; 134] = [
    "",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "EHWPOISON",
];

/// Falco's `evt.res`: `SUCCESS` for non-negative results, the errno name otherwise.
pub fn result_name(ret: i64) -> String {
    if ret >= 0 {
        return "SUCCESS".into();
    }
    let e = ret.unsigned_abs();
    match usize::try_from(e).ok().and_then(|i| ERRNO_NAMES.get(i)) {
        Some(name) if !name.is_empty() => (*name).to_string(),
        _ => format!("{ret}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_read_like_falco() {
        assert_eq!(open_flags(0), "O_RDONLY");
        assert_eq!(open_flags(0o2000000), "O_RDONLY|O_CLOEXEC");
        assert_eq!(open_flags(0o1101), "O_WRONLY|O_CREAT|O_TRUNC");
        assert_eq!(open_flags(0o4010002), "O_RDWR|O_SYNC");
    }

    #[test]
    fn errno_names_and_success() {
        assert_eq!(result_name(3), "SUCCESS");
        assert_eq!(result_name(0), "SUCCESS");
        assert_eq!(result_name(-2), "ENOENT");
        assert_eq!(result_name(-115), "EINPROGRESS");
        assert_eq!(result_name(-13), "EACCES");
        assert_eq!(result_name(-4000), "-4000");
    }

    #[test]
    fn other_tables() {
        assert_eq!(ptrace_request(16), "PTRACE_ATTACH");
        assert_eq!(ptrace_request(0x4206), "PTRACE_SEIZE");
        assert_eq!(ptrace_request(77), "77");
        assert_eq!(
            clone_flags(0x20000000 | 0x40000000),
            "CLONE_NEWPID|CLONE_NEWNET"
        );
        assert_eq!(clone_flags(17), "0");
        assert_eq!(memfd_flags(3), "MFD_CLOEXEC|MFD_ALLOW_SEALING");
        assert_eq!(socket_type(1 | 0o2000000), "SOCK_STREAM|SOCK_CLOEXEC");
        assert_eq!(socket_family(10), "AF_INET6");
        assert_eq!(at_flags(0x200), "AT_REMOVEDIR");
        assert_eq!(rename_flags(1), "RENAME_NOREPLACE");
    }
}
