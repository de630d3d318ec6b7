//! Symbolic names for numeric syscall arguments, as Falco spells them (rules
//! match on these strings: `evt.arg.flags contains O_TRUNC`,
//! `evt.arg.request contains PTRACE_ATTACH`, `evt.arg.mode contains S_ISUID`,
//! `evt.res = ENOENT`).
//!
//! Falco's probes do not report kernel bits: they translate each flags word
//! into Falco's own codes (`PPM_O_*`, `PPM_S_*`, `PPM_CL_*`, ...;
//! falcosecurity/libs `driver/ppm_events_public.h`) with the
//! `*_to_scap` helpers of `driver/ppm_flag_helpers.h`, and libsinsp names
//! them from the tables of `driver/flags_table.c`, walking each table in its
//! order. `evt.rawarg.*` holds those codes. This module is that pipeline:
//! one table per `flags_table.c` table (names, codes, order as there), one
//! conversion per helper, and the three renderers of libsinsp's
//! `sinsp_evt::get_param_as_str` (`userspace/libsinsp/event.cpp`): flags,
//! enumerations and modes.

/// A `flags_table.c` table: (name, Falco code), in Falco's order.
pub type FlagTable = &'static [(&'static str, u32)];

// ---------------------------------------------------------------------------
// Falco's codes (driver/ppm_events_public.h).

pub const PPM_O_NONE: u32 = 0;
pub const PPM_O_RDONLY: u32 = 1 << 0;
pub const PPM_O_WRONLY: u32 = 1 << 1;
pub const PPM_O_RDWR: u32 = PPM_O_RDONLY | PPM_O_WRONLY;
pub const PPM_O_CREAT: u32 = 1 << 2;
pub const PPM_O_APPEND: u32 = 1 << 3;
pub const PPM_O_DSYNC: u32 = 1 << 4;
pub const PPM_O_EXCL: u32 = 1 << 5;
pub const PPM_O_NONBLOCK: u32 = 1 << 6;
pub const PPM_O_SYNC: u32 = 1 << 7;
pub const PPM_O_TRUNC: u32 = 1 << 8;
pub const PPM_O_DIRECT: u32 = 1 << 9;
pub const PPM_O_DIRECTORY: u32 = 1 << 10;
pub const PPM_O_LARGEFILE: u32 = 1 << 11;
pub const PPM_O_CLOEXEC: u32 = 1 << 12;
pub const PPM_O_TMPFILE: u32 = 1 << 13;
pub const PPM_O_F_CREATED: u32 = 1 << 14;
pub const PPM_FD_UPPER_LAYER: u32 = 1 << 15;
pub const PPM_FD_LOWER_LAYER: u32 = 1 << 16;

pub const PPM_CL_CHILD_IN_PIDNS: u32 = 1 << 29;

pub const PPM_EXE_WRITABLE: u32 = 1 << 0;
pub const PPM_EXE_UPPER_LAYER: u32 = 1 << 1;
pub const PPM_EXE_FROM_MEMFD: u32 = 1 << 2;
pub const PPM_EXE_LOWER_LAYER: u32 = 1 << 3;

// ---------------------------------------------------------------------------
// The tables (driver/flags_table.c, same names, codes and order).

/// `socket_families` (flags_table.c lines 13-55). An enumeration: several
/// names share a code (`AF_LOCAL`/`AF_UNIX`, `AF_ROUTE`/`AF_NETLINK`) and
/// libsinsp prints them all.
pub const SOCKET_FAMILIES: FlagTable = &[
    ("AF_NFC", 39),
    ("AF_ALG", 38),
    ("AF_CAIF", 37),
    ("AF_IEEE802154", 36),
    ("AF_PHONET", 35),
    ("AF_ISDN", 34),
    ("AF_RXRPC", 33),
    ("AF_IUCV", 32),
    ("AF_BLUETOOTH", 31),
    ("AF_TIPC", 30),
    ("AF_CAN", 29),
    ("AF_LLC", 26),
    ("AF_WANPIPE", 25),
    ("AF_PPPOX", 24),
    ("AF_IRDA", 23),
    ("AF_SNA", 22),
    ("AF_RDS", 21),
    ("AF_ATMSVC", 20),
    ("AF_ECONET", 19),
    ("AF_ASH", 18),
    ("AF_PACKET", 17),
    ("AF_ROUTE", 16),
    ("AF_NETLINK", 16),
    ("AF_KEY", 15),
    ("AF_SECURITY", 14),
    ("AF_NETBEUI", 13),
    ("AF_DECnet", 12),
    ("AF_ROSE", 11),
    ("AF_INET6", 10),
    ("AF_X25", 9),
    ("AF_ATMPVC", 8),
    ("AF_BRIDGE", 7),
    ("AF_NETROM", 6),
    ("AF_APPLETALK", 5),
    ("AF_IPX", 4),
    ("AF_AX25", 3),
    ("AF_INET", 2),
    ("AF_LOCAL", 1),
    ("AF_UNIX", 1),
    ("AF_UNSPEC", 0),
];

/// `file_flags` (flags_table.c lines 57-78): open, dup3, socket, userfaultfd.
pub const FILE_FLAGS: FlagTable = &[
    ("O_LARGEFILE", PPM_O_LARGEFILE),
    ("O_DIRECTORY", PPM_O_DIRECTORY),
    ("O_DIRECT", PPM_O_DIRECT),
    ("O_TRUNC", PPM_O_TRUNC),
    ("O_SYNC", PPM_O_SYNC),
    ("O_NONBLOCK", PPM_O_NONBLOCK),
    ("O_EXCL", PPM_O_EXCL),
    ("O_DSYNC", PPM_O_DSYNC),
    ("O_APPEND", PPM_O_APPEND),
    ("O_CREAT", PPM_O_CREAT),
    ("O_RDWR", PPM_O_RDWR),
    ("O_WRONLY", PPM_O_WRONLY),
    ("O_RDONLY", PPM_O_RDONLY),
    ("O_CLOEXEC", PPM_O_CLOEXEC),
    ("O_NONE", PPM_O_NONE),
    ("O_TMPFILE", PPM_O_TMPFILE),
    ("O_F_CREATED", PPM_O_F_CREATED),
    ("FD_UPPER_LAYER", PPM_FD_UPPER_LAYER),
    ("FD_LOWER_LAYER", PPM_FD_LOWER_LAYER),
];

/// `creat_flags` (flags_table.c lines 80-84).
pub const CREAT_FLAGS: FlagTable = &[("FD_UPPER_LAYER_CREAT", 1), ("FD_LOWER_LAYER_CREAT", 2)];

/// `clone_flags` (flags_table.c lines 95-124): clone, unshare, setns.
pub const CLONE_FLAGS: FlagTable = &[
    ("CLONE_FILES", 1 << 0),
    ("CLONE_FS", 1 << 1),
    ("CLONE_IO", 1 << 2),
    ("CLONE_NEWIPC", 1 << 3),
    ("CLONE_NEWNET", 1 << 4),
    ("CLONE_NEWNS", 1 << 5),
    ("CLONE_NEWPID", 1 << 6),
    ("CLONE_NEWUTS", 1 << 7),
    ("CLONE_PARENT", 1 << 8),
    ("CLONE_PARENT_SETTID", 1 << 9),
    ("CLONE_PTRACE", 1 << 10),
    ("CLONE_SIGHAND", 1 << 11),
    ("CLONE_SYSVSEM", 1 << 12),
    ("CLONE_THREAD", 1 << 13),
    ("CLONE_UNTRACED", 1 << 14),
    ("CLONE_VM", 1 << 15),
    ("CLONE_INVERTED", 1 << 16),
    ("NAME_CHANGED", 1 << 17),
    ("CLOSED", 1 << 18),
    ("CLONE_NEWUSER", 1 << 20),
    ("CLONE_CHILD_CLEARTID", 1 << 23),
    ("CLONE_CHILD_SETTID", 1 << 24),
    ("CLONE_SETTLS", 1 << 25),
    ("CLONE_STOPPED", 1 << 26),
    ("CLONE_VFORK", 1 << 27),
    ("CLONE_NEWCGROUP", 1 << 28),
    ("CLONE_CHILD_IN_PIDNS", PPM_CL_CHILD_IN_PIDNS),
];

/// `fcntl_commands` (flags_table.c lines 240-272). The three `*64` entries
/// are compiled into userspace (`CONFIG_64BIT` is a kernel symbol), though an
/// x86_64 probe never reports them.
pub const FCNTL_COMMANDS: FlagTable = &[
    ("F_GETPIPE_SZ", 29),
    ("F_SETPIPE_SZ", 28),
    ("F_NOTIFY", 27),
    ("F_DUPFD_CLOEXEC", 26),
    ("F_CANCELLK", 25),
    ("F_GETLEASE", 24),
    ("F_SETLEASE", 23),
    ("F_GETOWN_EX", 22),
    ("F_SETOWN_EX", 21),
    ("F_SETLKW64", 19),
    ("F_SETLK64", 18),
    ("F_GETLK64", 17),
    ("F_GETSIG", 15),
    ("F_SETSIG", 13),
    ("F_GETOWN", 12),
    ("F_SETOWN", 10),
    ("F_SETLKW", 9),
    ("F_SETLK", 8),
    ("F_GETLK", 6),
    ("F_SETFL", 5),
    ("F_GETFL", 4),
    ("F_SETFD", 3),
    ("F_GETFD", 2),
    ("F_DUPFD", 1),
    ("F_OFD_GETLK", 30),
    ("F_OFD_SETLK", 31),
    ("F_OFD_SETLKW", 32),
    ("UNKNOWN", 0),
];

/// `ptrace_requests` (flags_table.c lines 339-380).
pub const PTRACE_REQUESTS: FlagTable = &[
    ("PTRACE_SINGLEBLOCK", 38),
    ("PTRACE_SYSEMU_SINGLESTEP", 37),
    ("PTRACE_SYSEMU", 36),
    ("PTRACE_ARCH_PRCTL", 35),
    ("PTRACE_SET_THREAD_AREA", 34),
    ("PTRACE_GET_THREAD_AREA", 33),
    ("PTRACE_OLDSETOPTIONS", 32),
    ("PTRACE_SETFPXREGS", 31),
    ("PTRACE_GETFPXREGS", 30),
    ("PTRACE_SETFPREGS", 29),
    ("PTRACE_GETFPREGS", 28),
    ("PTRACE_SETREGS", 27),
    ("PTRACE_GETREGS", 26),
    ("PTRACE_SETSIGMASK", 25),
    ("PTRACE_GETSIGMASK", 24),
    ("PTRACE_PEEKSIGINFO", 23),
    ("PTRACE_LISTEN", 22),
    ("PTRACE_INTERRUPT", 21),
    ("PTRACE_SEIZE", 20),
    ("PTRACE_SETREGSET", 19),
    ("PTRACE_GETREGSET", 18),
    ("PTRACE_SETSIGINFO", 17),
    ("PTRACE_GETSIGINFO", 16),
    ("PTRACE_GETEVENTMSG", 15),
    ("PTRACE_SETOPTIONS", 14),
    ("PTRACE_SYSCALL", 13),
    ("PTRACE_DETACH", 12),
    ("PTRACE_ATTACH", 11),
    ("PTRACE_SINGLESTEP", 10),
    ("PTRACE_KILL", 9),
    ("PTRACE_CONT", 8),
    ("PTRACE_POKEUSR", 7),
    ("PTRACE_POKEDATA", 6),
    ("PTRACE_POKETEXT", 5),
    ("PTRACE_PEEKUSR", 4),
    ("PTRACE_PEEKDATA", 3),
    ("PTRACE_PEEKTEXT", 2),
    ("PTRACE_TRACEME", 1),
    ("PTRACE_UNKNOWN", 0),
];

/// `unlinkat_flags` (flags_table.c lines 509-512).
pub const UNLINKAT_FLAGS: FlagTable = &[("AT_REMOVEDIR", 0x200)];

/// `linkat_flags` (flags_table.c lines 514-518).
pub const LINKAT_FLAGS: FlagTable = &[("AT_SYMLINK_FOLLOW", 0x400), ("AT_EMPTY_PATH", 0x1000)];

/// `chmod_mode` (flags_table.c lines 527-541). `PPM_S_*` codes equal the
/// kernel's permission bits.
pub const CHMOD_MODE: FlagTable = &[
    ("S_IXOTH", 1 << 0),
    ("S_IWOTH", 1 << 1),
    ("S_IROTH", 1 << 2),
    ("S_IXGRP", 1 << 3),
    ("S_IWGRP", 1 << 4),
    ("S_IRGRP", 1 << 5),
    ("S_IXUSR", 1 << 6),
    ("S_IWUSR", 1 << 7),
    ("S_IRUSR", 1 << 8),
    ("S_ISVTX", 1 << 9),
    ("S_ISGID", 1 << 10),
    ("S_ISUID", 1 << 11),
];

/// `renameat2_flags` (flags_table.c lines 549-554); `PPM_RENAME_*` equal the
/// kernel's `RENAME_*`.
pub const RENAMEAT2_FLAGS: FlagTable = &[
    ("RENAME_NOREPLACE", 1 << 0),
    ("RENAME_EXCHANGE", 1 << 1),
    ("RENAME_WHITEOUT", 1 << 2),
];

/// `openat2_flags` (flags_table.c lines 556-564): openat2's `resolve`.
pub const OPENAT2_FLAGS: FlagTable = &[
    ("RESOLVE_BENEATH", 1 << 0),
    ("RESOLVE_IN_ROOT", 1 << 1),
    ("RESOLVE_NO_MAGICLINKS", 1 << 2),
    ("RESOLVE_NO_SYMLINKS", 1 << 3),
    ("RESOLVE_NO_XDEV", 1 << 4),
    ("RESOLVE_CACHED", 1 << 5),
];

/// `execve_flags` (flags_table.c lines 566-572).
pub const EXECVE_FLAGS: FlagTable = &[
    ("EXE_WRITABLE", PPM_EXE_WRITABLE),
    ("EXE_UPPER_LAYER", PPM_EXE_UPPER_LAYER),
    ("EXE_FROM_MEMFD", PPM_EXE_FROM_MEMFD),
    ("EXE_LOWER_LAYER", PPM_EXE_LOWER_LAYER),
];

/// `memfd_create_flags` (flags_table.c lines 733-738).
pub const MEMFD_CREATE_FLAGS: FlagTable = &[
    ("MFD_CLOEXEC", 1 << 0),
    ("MFD_ALLOW_SEALING", 1 << 1),
    ("MFD_HUGETLB", 1 << 2),
];

/// `bpf_commands` (flags_table.c lines 766-805). `BPF_PROG_RUN` is an alias
/// of `BPF_PROG_TEST_RUN` (code 10): both names print.
pub const BPF_COMMANDS: FlagTable = &[
    ("BPF_MAP_CREATE", 0),
    ("BPF_MAP_LOOKUP_ELEM", 1),
    ("BPF_MAP_UPDATE_ELEM", 2),
    ("BPF_MAP_DELETE_ELEM", 3),
    ("BPF_MAP_GET_NEXT_KEY", 4),
    ("BPF_PROG_LOAD", 5),
    ("BPF_OBJ_PIN", 6),
    ("BPF_OBJ_GET", 7),
    ("BPF_PROG_ATTACH", 8),
    ("BPF_PROG_DETACH", 9),
    ("BPF_PROG_TEST_RUN", 10),
    ("BPF_PROG_RUN", 10),
    ("BPF_PROG_GET_NEXT_ID", 11),
    ("BPF_MAP_GET_NEXT_ID", 12),
    ("BPF_PROG_GET_FD_BY_ID", 13),
    ("BPF_MAP_GET_FD_BY_ID", 14),
    ("BPF_OBJ_GET_INFO_BY_FD", 15),
    ("BPF_PROG_QUERY", 16),
    ("BPF_RAW_TRACEPOINT_OPEN", 17),
    ("BPF_BTF_LOAD", 18),
    ("BPF_BTF_GET_FD_BY_ID", 19),
    ("BPF_TASK_FD_QUERY", 20),
    ("BPF_MAP_LOOKUP_AND_DELETE_ELEM", 21),
    ("BPF_MAP_FREEZE", 22),
    ("BPF_BTF_GET_NEXT_ID", 23),
    ("BPF_MAP_LOOKUP_BATCH", 24),
    ("BPF_MAP_LOOKUP_AND_DELETE_BATCH", 25),
    ("BPF_MAP_UPDATE_BATCH", 26),
    ("BPF_MAP_DELETE_BATCH", 27),
    ("BPF_LINK_CREATE", 28),
    ("BPF_LINK_UPDATE", 29),
    ("BPF_LINK_GET_FD_BY_ID", 30),
    ("BPF_LINK_GET_NEXT_ID", 31),
    ("BPF_ENABLE_STATS", 32),
    ("BPF_ITER_CREATE", 33),
    ("BPF_LINK_DETACH", 34),
    ("BPF_PROG_BIND_MAP", 35),
];

/// `finit_module_flags` (flags_table.c lines 819-824).
pub const FINIT_MODULE_FLAGS: FlagTable = &[
    ("MODULE_INIT_IGNORE_MODVERSIONS", 1),
    ("MODULE_INIT_IGNORE_VERMAGIC", 2),
    ("MODULE_INIT_COMPRESSED_FILE", 4),
];

// ---------------------------------------------------------------------------
// Kernel values (x86_64 uapi) that state tracking and the conversions test.

pub const O_ACCMODE: u64 = 0o3;
pub const O_RDONLY: u64 = 0;
pub const O_WRONLY: u64 = 1;
pub const O_RDWR: u64 = 2;
pub const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
pub const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_NONBLOCK: u64 = 0o4000;
const O_DSYNC: u64 = 0o10000;
const O_DIRECT: u64 = 0o40000;
const O_LARGEFILE: u64 = 0o100000;
pub const O_DIRECTORY: u64 = 0o200000;
pub const O_CLOEXEC_BIT: u64 = 0o2000000;
/// O_SYNC is `__O_SYNC | O_DSYNC`.
const O_SYNC: u64 = 0o4010000;
pub const O_PATH: u64 = 0o10000000;
pub const O_TMPFILE: u64 = 0o20000000 | O_DIRECTORY;

pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const AF_NETLINK: u16 = 16;
pub const AF_PACKET: u16 = 17;

pub const SOCK_STREAM: u16 = 1;
pub const SOCK_DGRAM: u16 = 2;
pub const SOCK_RAW: u16 = 3;

// ---------------------------------------------------------------------------
// Kernel values to Falco's codes (driver/ppm_flag_helpers.h).

/// `open_flags_to_scap`: the access mode always sets a bit (O_RDONLY too),
/// each known flag its code; unknown bits are dropped. `O_SYNC` is tested as
/// the whole `O_SYNC` mask and `O_TMPFILE` as `flags & O_TMPFILE` (which an
/// O_DIRECTORY open satisfies), both as the helper does.
pub fn open_flags_to_ppm(flags: u64) -> u32 {
    let mut res = match flags & O_ACCMODE {
        O_WRONLY => PPM_O_WRONLY,
        O_RDWR => PPM_O_RDWR,
        _ => PPM_O_RDONLY,
    };
    for (bit, code) in [
        (O_CREAT, PPM_O_CREAT),
        (O_TMPFILE, PPM_O_TMPFILE),
        (O_APPEND, PPM_O_APPEND),
        (O_DSYNC, PPM_O_DSYNC),
        (O_EXCL, PPM_O_EXCL),
        (O_NONBLOCK, PPM_O_NONBLOCK),
        (O_SYNC, PPM_O_SYNC),
        (O_TRUNC, PPM_O_TRUNC),
        (O_DIRECT, PPM_O_DIRECT),
        (O_DIRECTORY, PPM_O_DIRECTORY),
        (O_LARGEFILE, PPM_O_LARGEFILE),
        (O_CLOEXEC_BIT, PPM_O_CLOEXEC),
    ] {
        if flags & bit != 0 {
            res |= code;
        }
    }
    res
}

/// [`open_flags_to_ppm`] plus `PPM_O_F_CREATED` when the decoder marked the
/// file created ([`super::OPEN_F_CREATED`], the kernel's FMODE_CREATED), as
/// Falco's probes add it to the open family's flags.
pub fn open_flags_to_ppm_created(flags: u64) -> u32 {
    let mut code = open_flags_to_ppm(flags);
    if flags & super::OPEN_F_CREATED != 0 {
        code |= PPM_O_F_CREATED;
    }
    code
}

/// `open_modes_to_scap`: the mode only counts with O_CREAT or O_TMPFILE
/// (otherwise 0); the permission bits keep their values.
pub fn open_mode_to_ppm(flags: u64, mode: u32) -> u32 {
    if flags & (O_CREAT | O_TMPFILE) == 0 {
        return 0;
    }
    chmod_mode_to_ppm(mode)
}

/// `chmod_mode_to_scap`: the twelve permission bits (their codes are the
/// kernel's), file type bits dropped.
pub fn chmod_mode_to_ppm(mode: u32) -> u32 {
    mode & 0o7777
}

/// `clone_flags_to_scap` (the exit signal byte and unknown bits dropped).
pub fn clone_flags_to_ppm(flags: u64) -> u32 {
    const MAP: [(u64, u32); 22] = [
        (0x400, 1 << 0),        // CLONE_FILES
        (0x200, 1 << 1),        // CLONE_FS
        (0x8000_0000, 1 << 2),  // CLONE_IO
        (0x0800_0000, 1 << 3),  // CLONE_NEWIPC
        (0x4000_0000, 1 << 4),  // CLONE_NEWNET
        (0x0002_0000, 1 << 5),  // CLONE_NEWNS
        (0x2000_0000, 1 << 6),  // CLONE_NEWPID
        (0x0400_0000, 1 << 7),  // CLONE_NEWUTS
        (0x0010_0000, 1 << 9),  // CLONE_PARENT_SETTID
        (0x8000, 1 << 8),       // CLONE_PARENT
        (0x2000, 1 << 10),      // CLONE_PTRACE
        (0x800, 1 << 11),       // CLONE_SIGHAND
        (0x0004_0000, 1 << 12), // CLONE_SYSVSEM
        (0x0001_0000, 1 << 13), // CLONE_THREAD
        (0x0080_0000, 1 << 14), // CLONE_UNTRACED
        (0x100, 1 << 15),       // CLONE_VM
        (0x1000_0000, 1 << 20), // CLONE_NEWUSER
        (0x0020_0000, 1 << 23), // CLONE_CHILD_CLEARTID
        (0x0100_0000, 1 << 24), // CLONE_CHILD_SETTID
        (0x0008_0000, 1 << 25), // CLONE_SETTLS
        (0x4000, 1 << 27),      // CLONE_VFORK
        (0x0200_0000, 1 << 28), // CLONE_NEWCGROUP
    ];
    // (CLONE_STOPPED no longer exists in the kernel.)
    MAP.iter()
        .filter(|(bit, _)| flags & bit != 0)
        .fold(0, |acc, (_, code)| acc | code)
}

/// `socket_family_to_scap`: the families Falco knows keep their numbers;
/// any other becomes `PPM_AF_UNSPEC` (0).
pub fn socket_family_to_ppm(family: u64) -> u32 {
    match u32::try_from(family) {
        Ok(f) if SOCKET_FAMILIES.iter().any(|(_, code)| *code == f) => f,
        _ => 0,
    }
}

/// `socket_flags_to_scap`: SOCK_NONBLOCK and SOCK_CLOEXEC of a socket type
/// (or of accept4's flags) as open flags.
pub fn socket_flags_to_ppm(flags: u64) -> u32 {
    let mut res = 0;
    if flags & O_NONBLOCK != 0 {
        res |= PPM_O_NONBLOCK;
    }
    if flags & O_CLOEXEC_BIT != 0 {
        res |= PPM_O_CLOEXEC;
    }
    res
}

/// `dup3_flags_to_scap`: only O_CLOEXEC (so `dup3(.., O_CLOEXEC)` prints
/// `O_CLOEXEC`, and no flags print `O_NONE`).
pub fn dup3_flags_to_ppm(flags: u64) -> u32 {
    if flags & O_CLOEXEC_BIT != 0 {
        PPM_O_CLOEXEC
    } else {
        0
    }
}

/// `fcntl_cmd_to_scap`: x86_64 command numbers to `PPM_FCNTL_*`; unknown
/// commands are `PPM_FCNTL_UNKNOWN` (0).
pub fn fcntl_cmd_to_ppm(cmd: u64) -> u32 {
    match cmd {
        0 => 1,     // F_DUPFD
        1 => 2,     // F_GETFD
        2 => 3,     // F_SETFD
        3 => 4,     // F_GETFL
        4 => 5,     // F_SETFL
        5 => 6,     // F_GETLK
        6 => 8,     // F_SETLK
        7 => 9,     // F_SETLKW
        8 => 10,    // F_SETOWN
        9 => 12,    // F_GETOWN
        10 => 13,   // F_SETSIG
        11 => 15,   // F_GETSIG
        15 => 21,   // F_SETOWN_EX
        16 => 22,   // F_GETOWN_EX
        1024 => 23, // F_SETLEASE
        1025 => 24, // F_GETLEASE
        1029 => 25, // F_CANCELLK
        1030 => 26, // F_DUPFD_CLOEXEC
        1026 => 27, // F_NOTIFY
        1031 => 28, // F_SETPIPE_SZ
        1032 => 29, // F_GETPIPE_SZ
        36 => 30,   // F_OFD_GETLK
        37 => 31,   // F_OFD_SETLK
        38 => 32,   // F_OFD_SETLKW
        _ => 0,
    }
}

/// `ptrace_requests_to_scap`: x86_64 request numbers to `PPM_PTRACE_*`;
/// unknown requests are `PPM_PTRACE_UNKNOWN` (0).
pub fn ptrace_request_to_ppm(req: u64) -> u32 {
    match req {
        0 => 1,       // PTRACE_TRACEME
        1 => 2,       // PTRACE_PEEKTEXT
        2 => 3,       // PTRACE_PEEKDATA
        3 => 4,       // PTRACE_PEEKUSR
        4 => 5,       // PTRACE_POKETEXT
        5 => 6,       // PTRACE_POKEDATA
        6 => 7,       // PTRACE_POKEUSR
        7 => 8,       // PTRACE_CONT
        8 => 9,       // PTRACE_KILL
        9 => 10,      // PTRACE_SINGLESTEP
        16 => 11,     // PTRACE_ATTACH
        17 => 12,     // PTRACE_DETACH
        24 => 13,     // PTRACE_SYSCALL
        0x4200 => 14, // PTRACE_SETOPTIONS
        0x4201 => 15, // PTRACE_GETEVENTMSG
        0x4202 => 16, // PTRACE_GETSIGINFO
        0x4203 => 17, // PTRACE_SETSIGINFO
        0x4204 => 18, // PTRACE_GETREGSET
        0x4205 => 19, // PTRACE_SETREGSET
        0x4206 => 20, // PTRACE_SEIZE
        0x4207 => 21, // PTRACE_INTERRUPT
        0x4208 => 22, // PTRACE_LISTEN
        0x4209 => 23, // PTRACE_PEEKSIGINFO
        0x420a => 24, // PTRACE_GETSIGMASK
        0x420b => 25, // PTRACE_SETSIGMASK
        12 => 26,     // PTRACE_GETREGS
        13 => 27,     // PTRACE_SETREGS
        14 => 28,     // PTRACE_GETFPREGS
        15 => 29,     // PTRACE_SETFPREGS
        18 => 30,     // PTRACE_GETFPXREGS
        19 => 31,     // PTRACE_SETFPXREGS
        21 => 32,     // PTRACE_OLDSETOPTIONS
        25 => 33,     // PTRACE_GET_THREAD_AREA
        26 => 34,     // PTRACE_SET_THREAD_AREA
        30 => 35,     // PTRACE_ARCH_PRCTL
        31 => 36,     // PTRACE_SYSEMU
        32 => 37,     // PTRACE_SYSEMU_SINGLESTEP
        33 => 38,     // PTRACE_SINGLEBLOCK
        _ => 0,
    }
}

/// `unlinkat_flags_to_scap`: AT_REMOVEDIR only.
pub fn unlinkat_flags_to_ppm(flags: u64) -> u32 {
    (flags & 0x200) as u32
}

/// `linkat_flags_to_scap`: AT_SYMLINK_FOLLOW and AT_EMPTY_PATH only.
pub fn linkat_flags_to_ppm(flags: u64) -> u32 {
    (flags & (0x400 | 0x1000)) as u32
}

/// `memfd_create_flags_to_scap`: MFD_CLOEXEC, MFD_ALLOW_SEALING and
/// MFD_HUGETLB (same values); newer flags (MFD_NOEXEC_SEAL, MFD_EXEC) dropped.
pub fn memfd_flags_to_ppm(flags: u64) -> u32 {
    (flags & 0x7) as u32
}

/// `finit_module_flags_to_scap` (same values, unknown bits dropped).
pub fn finit_module_flags_to_ppm(flags: u64) -> u32 {
    (flags & 0x7) as u32
}

/// `openat2_resolve_to_scap`: the kernel's RESOLVE_NO_XDEV (1),
/// NO_MAGICLINKS (2), NO_SYMLINKS (4), BENEATH (8), IN_ROOT (0x10),
/// CACHED (0x20) to Falco's order of codes.
pub fn openat2_resolve_to_ppm(resolve: u64) -> u32 {
    const MAP: [(u64, u32); 6] = [
        (0x01, 1 << 4), // RESOLVE_NO_XDEV
        (0x02, 1 << 2), // RESOLVE_NO_MAGICLINKS
        (0x04, 1 << 3), // RESOLVE_NO_SYMLINKS
        (0x08, 1 << 0), // RESOLVE_BENEATH
        (0x10, 1 << 1), // RESOLVE_IN_ROOT
        (0x20, 1 << 5), // RESOLVE_CACHED
    ];
    MAP.iter()
        .filter(|(bit, _)| resolve & bit != 0)
        .fold(0, |acc, (_, code)| acc | code)
}

/// `renameat2`'s flags: Falco's `PPM_RENAME_*` are the kernel's values.
pub fn rename_flags_to_ppm(flags: u64) -> u32 {
    (flags & 0x7) as u32
}

// ---------------------------------------------------------------------------
// Rendering (libsinsp `sinsp_evt::get_param_as_str`, event.cpp).

/// `PT_FLAGS*`: the table is walked in order; an entry prints when all its
/// bits are still set (its bits are then removed), a zero entry only when
/// the whole value is 0, and the walk stops at the entry that equals the
/// whole value. Unnamed bits are not printed. Returns false when nothing
/// matched (the parameter then prints as its number alone).
pub fn render_flags(out: &mut String, value: u32, table: FlagTable) -> bool {
    let start = out.len();
    let mut rest = value;
    for &(name, code) in table {
        let hit = (code == 0 && value == 0) || (code != 0 && rest & code == code && rest != 0);
        if hit {
            if out.len() > start {
                out.push('|');
            }
            out.push_str(name);
            rest &= !code;
            if code == value {
                break;
            }
        }
    }
    out.len() > start
}

/// `PT_ENUMFLAGS*`: every entry equal to the value prints, in table order.
pub fn render_enum(out: &mut String, value: u32, table: FlagTable) -> bool {
    let start = out.len();
    for &(name, code) in table {
        if code == value {
            if out.len() > start {
                out.push('|');
            }
            out.push_str(name);
        }
    }
    out.len() > start
}

/// The single name of an enumeration value when exactly one entry has it
/// (no allocation for the common case).
pub fn enum_name(value: u32, table: FlagTable) -> Option<&'static str> {
    let mut found = table.iter().filter(|(_, code)| *code == value);
    let first = found.next()?;
    found.next().is_none().then_some(first.0)
}

/// `PT_MODE`: like flags, except that the walk stops before an entry equal
/// to the whole value and then prints that entry (so a mode of one bit is
/// that bit's name).
pub fn render_mode(out: &mut String, value: u32, table: FlagTable) -> bool {
    let start = out.len();
    let mut rest = value;
    let mut stopped_at = None;
    for &(name, code) in table {
        if code == value {
            stopped_at = Some(name);
            break;
        }
        let hit = (code == 0 && value == 0) || (code != 0 && rest & code == code && rest != 0);
        if hit {
            if out.len() > start {
                out.push('|');
            }
            out.push_str(name);
            rest &= !code;
        }
    }
    if let Some(name) = stopped_at {
        if out.len() > start {
            out.push('|');
        }
        out.push_str(name);
    }
    out.len() > start
}

/// Flags as text, or `None` when no name matched.
pub fn flags_text(value: u32, table: FlagTable) -> Option<String> {
    let mut s = String::new();
    render_flags(&mut s, value, table).then_some(s)
}

// ---------------------------------------------------------------------------
// Compatibility helpers for the text capture output (event/format.rs): the
// kernel value through the Falco conversion and table.

/// Open flags as Falco prints them: `O_RDONLY|O_CLOEXEC`, `O_TRUNC|O_CREAT|O_WRONLY`
/// (with `O_F_CREATED` when the decoder marked the file created).
pub fn open_flags(flags: u64) -> String {
    flags_text(open_flags_to_ppm_created(flags), FILE_FLAGS).unwrap_or_default()
}

pub fn ptrace_request(req: u64) -> String {
    let code = ptrace_request_to_ppm(req);
    let mut s = String::new();
    render_enum(&mut s, code, PTRACE_REQUESTS);
    s
}

/// Clone/unshare/setns namespace flags; `0` when none is set.
pub fn clone_flags(flags: u64) -> String {
    flags_text(clone_flags_to_ppm(flags), CLONE_FLAGS).unwrap_or_else(|| "0".into())
}

pub fn memfd_flags(flags: u64) -> String {
    flags_text(memfd_flags_to_ppm(flags), MEMFD_CREATE_FLAGS).unwrap_or_else(|| "0".into())
}

pub fn socket_family(f: u64) -> String {
    let mut s = String::new();
    render_enum(&mut s, socket_family_to_ppm(f), SOCKET_FAMILIES);
    s
}

/// A socket type (Falco reports it as a plain number; named here for the
/// capture text).
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
    if t & O_NONBLOCK != 0 {
        out.push_str("|SOCK_NONBLOCK");
    }
    if t & O_CLOEXEC_BIT != 0 {
        out.push_str("|SOCK_CLOEXEC");
    }
    out
}

// ---------------------------------------------------------------------------
// Errors and signals (libsinsp `sinsp_utils::errno_to_str`,
// `sinsp_utils::signal_to_str`, userspace/libsinsp/utils.cpp).

/// `errno_to_str`'s names, by errno (index 0 unused; 41 and 58 are aliases
/// Falco does not name).
const ERRNO_NAMES: [&str; 126] = [
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
];

/// The kernel-internal codes (512..=530) `errno_to_str` also names.
const KERNEL_ERRNO_NAMES: [(u64, &str); 15] = [
    (512, "ERESTARTSYS"),
    (513, "ERESTARTNOINTR"),
    (514, "ERESTARTNOHAND"),
    (515, "ENOIOCTLCMD"),
    (516, "ERESTART_RESTARTBLOCK"),
    (521, "EBADHANDLE"),
    (522, "ENOTSYNC"),
    (523, "EBADCOOKIE"),
    (524, "ENOTSUPP"),
    (525, "ETOOSMALL"),
    (526, "ESERVERFAULT"),
    (527, "EBADTYPE"),
    (528, "EJUKEBOX"),
    (529, "EIOCBQUEUED"),
    (530, "EIOCBRETRY"),
];

/// The name of a negative return value (`-2` is `ENOENT`); `None` for
/// values Falco does not name.
pub fn errno_name(ret: i64) -> Option<&'static str> {
    if ret >= 0 {
        return None;
    }
    let e = ret.unsigned_abs();
    let name = match usize::try_from(e).ok().and_then(|i| ERRNO_NAMES.get(i)) {
        Some(n) => *n,
        None => KERNEL_ERRNO_NAMES
            .iter()
            .find(|(code, _)| *code == e)
            .map_or("", |(_, n)| *n),
    };
    (!name.is_empty()).then_some(name)
}

/// Falco's `evt.res`: `SUCCESS` for non-negative results, the errno name
/// otherwise (the number when Falco has no name for it).
pub fn result_name(ret: i64) -> String {
    if ret >= 0 {
        return "SUCCESS".into();
    }
    errno_name(ret).map_or_else(|| ret.to_string(), str::to_string)
}

/// `signal_to_str`: signal names by number (1..=31).
const SIGNAL_NAMES: [&str; 32] = [
    "",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

pub fn signal_name(sig: u8) -> Option<&'static str> {
    SIGNAL_NAMES
        .get(usize::from(sig))
        .copied()
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_read_like_falco() {
        // Falco's order (file_flags): O_TRUNC, O_CREAT before the access mode.
        assert_eq!(open_flags(0), "O_RDONLY");
        assert_eq!(open_flags(0o2000000), "O_RDONLY|O_CLOEXEC");
        assert_eq!(open_flags(0o1101), "O_TRUNC|O_CREAT|O_WRONLY");
        assert_eq!(open_flags(0o4010002), "O_SYNC|O_DSYNC|O_RDWR");
        assert_eq!(open_flags_to_ppm(0o2000000), 4097);
    }

    #[test]
    fn dup3_flags_have_no_access_mode() {
        assert_eq!(
            flags_text(dup3_flags_to_ppm(0o2000000), FILE_FLAGS).as_deref(),
            Some("O_CLOEXEC")
        );
        assert_eq!(
            flags_text(dup3_flags_to_ppm(0), FILE_FLAGS).as_deref(),
            Some("O_NONE")
        );
    }

    #[test]
    fn modes_print_every_bit_in_falco_order() {
        let mut s = String::new();
        assert!(render_mode(&mut s, chmod_mode_to_ppm(0o4755), CHMOD_MODE));
        assert_eq!(
            s,
            "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"
        );
        s.clear();
        assert!(render_mode(&mut s, 0o4000, CHMOD_MODE));
        assert_eq!(s, "S_ISUID");
        s.clear();
        assert!(!render_mode(&mut s, 0, CHMOD_MODE));
    }

    #[test]
    fn enumerations_print_every_alias() {
        assert_eq!(socket_family(1), "AF_LOCAL|AF_UNIX");
        assert_eq!(socket_family(16), "AF_ROUTE|AF_NETLINK");
        assert_eq!(socket_family(10), "AF_INET6");
        // AF_VSOCK (40) is not in Falco's table: the probe reports AF_UNSPEC.
        assert_eq!(socket_family(40), "AF_UNSPEC");
        assert_eq!(enum_name(10, BPF_COMMANDS), None);
        assert_eq!(enum_name(5, BPF_COMMANDS), Some("BPF_PROG_LOAD"));
    }

    #[test]
    fn errno_names_and_success() {
        assert_eq!(result_name(3), "SUCCESS");
        assert_eq!(result_name(0), "SUCCESS");
        assert_eq!(result_name(-2), "ENOENT");
        assert_eq!(result_name(-115), "EINPROGRESS");
        assert_eq!(result_name(-13), "EACCES");
        assert_eq!(result_name(-512), "ERESTARTSYS");
        // ENOKEY (126) has no name in Falco.
        assert_eq!(result_name(-126), "-126");
        assert_eq!(result_name(-4000), "-4000");
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(0), None);
    }

    #[test]
    fn other_tables() {
        assert_eq!(ptrace_request(16), "PTRACE_ATTACH");
        assert_eq!(ptrace_request(0x4206), "PTRACE_SEIZE");
        assert_eq!(ptrace_request(77), "PTRACE_UNKNOWN");
        assert_eq!(
            clone_flags(0x20000000 | 0x40000000),
            "CLONE_NEWNET|CLONE_NEWPID"
        );
        assert_eq!(clone_flags(17), "0");
        assert_eq!(memfd_flags(3), "MFD_CLOEXEC|MFD_ALLOW_SEALING");
        assert_eq!(socket_type(1 | 0o2000000), "SOCK_STREAM|SOCK_CLOEXEC");
        assert_eq!(fcntl_cmd_to_ppm(1030), 26);
        assert_eq!(openat2_resolve_to_ppm(0x08), 1);
    }
}
