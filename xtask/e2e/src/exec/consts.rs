//! Symbolic constants accepted in step arguments (event-generator's
//! `pkg/test/step/syscall/base/consts.go`: the same names, Linux x86_64
//! values from the kernel's uapi headers), and `cap_from_text(3)` parsing for
//! process capabilities.

pub(crate) type Table = &'static [(&'static str, i64)];

pub(crate) const AT_FDCWD: i64 = -100;
pub(crate) const DIRFD: Table = &[("AT_FDCWD", AT_FDCWD)];

pub(crate) const OPEN_FLAGS: Table = &[
    ("O_ACCMODE", 0o3),
    ("O_RDONLY", 0),
    ("O_WRONLY", 0o1),
    ("O_RDWR", 0o2),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("O_NDELAY", 0o4000),
    ("O_DSYNC", 0o10000),
    ("O_ASYNC", 0o20000),
    ("O_DIRECT", 0o40000),
    ("O_LARGEFILE", 0o100000),
    ("O_DIRECTORY", 0o200000),
    ("O_NOFOLLOW", 0o400000),
    ("O_NOATIME", 0o1000000),
    ("O_CLOEXEC", 0o2000000),
    ("O_SYNC", 0o4010000),
    ("O_FSYNC", 0o4010000),
    ("O_RSYNC", 0o4010000),
    ("O_PATH", 0o10000000),
    ("O_TMPFILE", 0o20200000),
];

pub(crate) const MODES: Table = &[
    ("S_IRWXU", 0o700),
    ("S_IRUSR", 0o400),
    ("S_IWUSR", 0o200),
    ("S_IXUSR", 0o100),
    ("S_IRWXG", 0o70),
    ("S_IRGRP", 0o40),
    ("S_IWGRP", 0o20),
    ("S_IXGRP", 0o10),
    ("S_IRWXO", 0o7),
    ("S_IROTH", 0o4),
    ("S_IWOTH", 0o2),
    ("S_IXOTH", 0o1),
    ("S_ISUID", 0o4000),
    ("S_ISGID", 0o2000),
    ("S_ISVTX", 0o1000),
];

pub(crate) const RESOLVE_FLAGS: Table = &[
    ("RESOLVE_NO_XDEV", 0x01),
    ("RESOLVE_NO_MAGICLINKS", 0x02),
    ("RESOLVE_NO_SYMLINKS", 0x04),
    ("RESOLVE_BENEATH", 0x08),
    ("RESOLVE_IN_ROOT", 0x10),
    ("RESOLVE_CACHED", 0x20),
];

pub(crate) const LINKAT_FLAGS: Table = &[("AT_SYMLINK_FOLLOW", 0x400), ("AT_EMPTY_PATH", 0x1000)];

pub(crate) const FINIT_MODULE_FLAGS: Table = &[
    ("MODULE_INIT_IGNORE_MODVERSIONS", 1),
    ("MODULE_INIT_IGNORE_VERMAGIC", 2),
    ("MODULE_INIT_COMPRESSED_FILE", 4),
];

pub(crate) const DUP3_FLAGS: Table = &[("O_CLOEXEC", 0o2000000)];

pub(crate) const SOCKET_DOMAINS: Table = &[
    ("AF_UNSPEC", 0),
    ("AF_UNIX", 1),
    ("AF_LOCAL", 1),
    ("AF_INET", 2),
    ("AF_AX25", 3),
    ("AF_IPX", 4),
    ("AF_APPLETALK", 5),
    ("AF_NETROM", 6),
    ("AF_BRIDGE", 7),
    ("AF_ATMPVC", 8),
    ("AF_X25", 9),
    ("AF_INET6", 10),
    ("AF_ROSE", 11),
    ("AF_DECnet", 12),
    ("AF_NETBEUI", 13),
    ("AF_SECURITY", 14),
    ("AF_KEY", 15),
    ("AF_NETLINK", 16),
    ("AF_ROUTE", 16),
    ("AF_PACKET", 17),
    ("AF_ASH", 18),
    ("AF_ECONET", 19),
    ("AF_ATMSVC", 20),
    ("AF_RDS", 21),
    ("AF_SNA", 22),
    ("AF_IRDA", 23),
    ("AF_PPPOX", 24),
    ("AF_WANPIPE", 25),
    ("AF_LLC", 26),
    ("AF_IB", 27),
    ("AF_MPLS", 28),
    ("AF_CAN", 29),
    ("AF_TIPC", 30),
    ("AF_BLUETOOTH", 31),
    ("AF_IUCV", 32),
    ("AF_RXRPC", 33),
    ("AF_ISDN", 34),
    ("AF_PHONET", 35),
    ("AF_IEEE802154", 36),
    ("AF_CAIF", 37),
    ("AF_ALG", 38),
    ("AF_NFC", 39),
    ("AF_VSOCK", 40),
    ("AF_KCM", 41),
    ("AF_QIPCRTR", 42),
    ("AF_SMC", 43),
    ("AF_XDP", 44),
    ("AF_MCTP", 45),
];

pub(crate) const SOCKET_TYPES: Table = &[
    ("SOCK_STREAM", 1),
    ("SOCK_DGRAM", 2),
    ("SOCK_RAW", 3),
    ("SOCK_RDM", 4),
    ("SOCK_SEQPACKET", 5),
    ("SOCK_DCCP", 6),
    ("SOCK_PACKET", 10),
    ("SOCK_NONBLOCK", 0o4000),
    ("SOCK_CLOEXEC", 0o2000000),
];

pub(crate) const SOCKET_PROTOCOLS: Table = &[
    ("IPPROTO_IP", 0),
    ("IPPROTO_ICMP", 1),
    ("IPPROTO_IGMP", 2),
    ("IPPROTO_IPIP", 4),
    ("IPPROTO_TCP", 6),
    ("IPPROTO_EGP", 8),
    ("IPPROTO_PUP", 12),
    ("IPPROTO_UDP", 17),
    ("IPPROTO_IDP", 22),
    ("IPPROTO_TP", 29),
    ("IPPROTO_DCCP", 33),
    ("IPPROTO_IPV6", 41),
    ("IPPROTO_RSVP", 46),
    ("IPPROTO_GRE", 47),
    ("IPPROTO_ESP", 50),
    ("IPPROTO_AH", 51),
    ("IPPROTO_ICMPV6", 58),
    ("IPPROTO_MTP", 92),
    ("IPPROTO_BEETPH", 94),
    ("IPPROTO_ENCAP", 98),
    ("IPPROTO_PIM", 103),
    ("IPPROTO_COMP", 108),
    ("IPPROTO_L2TP", 115),
    ("IPPROTO_SCTP", 132),
    ("IPPROTO_UDPLITE", 136),
    ("IPPROTO_MPLS", 137),
    ("IPPROTO_ETHERNET", 143),
    ("IPPROTO_RAW", 255),
    ("IPPROTO_MPTCP", 262),
];

pub(crate) const SEND_FLAGS: Table = &[
    ("MSG_OOB", 0x1),
    ("MSG_DONTROUTE", 0x4),
    ("MSG_DONTWAIT", 0x40),
    ("MSG_EOR", 0x80),
    ("MSG_CONFIRM", 0x800),
    ("MSG_NOSIGNAL", 0x4000),
    ("MSG_MORE", 0x8000),
];

pub(crate) const SIGNALS: Table = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGIOT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGSTKFLT", 16),
    ("SIGCHLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGPROF", 27),
    ("SIGWINCH", 28),
    ("SIGIO", 29),
    ("SIGPOLL", 29),
    ("SIGPWR", 30),
    ("SIGSYS", 31),
];

/// Capability names in bit order (linux/capability.h).
const CAPABILITIES: &[&str] = &[
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// The `security.capability` extended attribute (`struct vfs_cap_data`,
/// revision 2) for a `cap_from_text(3)` string: clauses `NAMES OP FLAGS...`
/// separated by spaces, NAMES a comma list of capability names or `all`
/// (empty before `=` means all), OP `=` `+` `-`, FLAGS from `e`, `i`, `p`.
/// File capabilities have one effective bit for the whole set: it is set if
/// any capability is effective.
pub(crate) fn file_capabilities(text: &str) -> Result<Vec<u8>, String> {
    let all: u64 = (1u64 << CAPABILITIES.len()) - 1;
    let (mut e, mut i, mut p) = (0u64, 0u64, 0u64);
    for clause in text.split_whitespace() {
        let op_at = clause
            .find(['=', '+', '-'])
            .ok_or_else(|| format!("capabilities `{text}`: `{clause}` has no = + or -"))?;
        let names = &clause[..op_at];
        let mask = if names.is_empty() || names == "all" {
            all
        } else {
            names.split(',').try_fold(0u64, |m, n| {
                let n = n.to_ascii_lowercase();
                CAPABILITIES
                    .iter()
                    .position(|c| *c == n)
                    .map(|bit| m | (1 << bit))
                    .ok_or_else(|| format!("capabilities `{text}`: unknown capability `{n}`"))
            })?
        };
        let mut rest = &clause[op_at..];
        while let Some(op) = rest.chars().next() {
            let flags_end = rest[1..]
                .find(['=', '+', '-'])
                .map_or(rest.len(), |x| x + 1);
            let flags = &rest[1..flags_end];
            if op == '=' {
                e &= !mask;
                i &= !mask;
                p &= !mask;
            }
            for f in flags.chars() {
                let set = match f {
                    'e' => &mut e,
                    'i' => &mut i,
                    'p' => &mut p,
                    other => {
                        return Err(format!("capabilities `{text}`: unknown flag `{other}`"));
                    }
                };
                if op == '-' {
                    *set &= !mask;
                } else {
                    *set |= mask;
                }
            }
            rest = &rest[flags_end..];
        }
    }
    const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
    const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x1;
    let magic = VFS_CAP_REVISION_2 | if e != 0 { VFS_CAP_FLAGS_EFFECTIVE } else { 0 };
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&magic.to_le_bytes());
    for half in 0..2 {
        let shift = 32 * half;
        out.extend_from_slice(&((p >> shift) as u32).to_le_bytes());
        out.extend_from_slice(&((i >> shift) as u32).to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_text() {
        let x = file_capabilities("cap_net_raw,cap_sys_admin+ep").unwrap_or_default();
        assert_eq!(x.len(), 20);
        assert_eq!(u32::from_le_bytes([x[0], x[1], x[2], x[3]]), 0x0200_0001);
        let permitted_lo = u32::from_le_bytes([x[4], x[5], x[6], x[7]]);
        assert_eq!(permitted_lo, (1 << 13) | (1 << 21));
        assert!(file_capabilities("cap_nope+e").is_err());
        let none = file_capabilities("all=").unwrap_or_default();
        assert_eq!(
            u32::from_le_bytes([none[0], none[1], none[2], none[3]]),
            0x0200_0000
        );
    }
}
