//! Rust mirror of `include/abi.h`. Sizes and offsets are checked at compile
//! time; the constants are checked against the header by a unit test.

use core::mem::{offset_of, size_of};

pub const ABI_VERSION: u32 = 3;

pub const MAX_PATH: usize = 4096;
pub const MAX_ARGS: usize = 4096;
pub const MAX_ENV: usize = 4096;
pub const MAX_SOCKADDR: usize = 128;
pub const MAX_PATH_DEPTH: usize = 48;
pub const MAX_CGROUP_DEPTH: usize = 12;
pub const MAX_RECORD: usize = 32768;

pub const SYSCALL_SLOTS: u32 = 512;
pub const INTEREST_EXEC: u32 = SYSCALL_SLOTS;
pub const INTEREST_FORK: u32 = SYSCALL_SLOTS + 1;
pub const INTEREST_EXIT: u32 = SYSCALL_SLOTS + 2;
pub const INTEREST_SLOTS: u32 = SYSCALL_SLOTS + 3;
/// Entries of the `drops_by_type` map: records lost per event type, indexed
/// like the interest map (`SAKER_DROP_SLOTS`).
pub const DROP_SLOTS: u32 = INTEREST_SLOTS;
/// The open filter's path bound (bytes with the NUL) and entries per trie.
pub const FILTER_PATH: usize = 256;
pub const FILTER_ENTRIES: u32 = 4096;
/// Fds per process whose filtered open filters their close too.
pub const UNTRACKED_FDS: u32 = 1024;

/// `filter_config` entry 0 (`struct saker_filter_config`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterConfig {
    /// Non-zero: opens are filtered by path.
    pub open: u32,
    /// Non-zero: `open_suffixes` holds entries.
    pub suffixes: u32,
}

pub const EV_SYSCALL: u16 = 1;
pub const EV_EXEC: u16 = 2;
pub const EV_FORK: u16 = 3;
pub const EV_EXIT: u16 = 4;

pub const F_TRUNCATED: u16 = 0x1;
pub const F_READ_FAILED: u16 = 0x2;

/// Result flags of the open family (`args[4]`).
pub const OPEN_CREATED: u64 = 0x1;

pub const EXE_WRITABLE: u32 = 0x1;
pub const EXE_UPPER_LAYER: u32 = 0x2;
pub const EXE_FROM_MEMFD: u32 = 0x4;
pub const EXE_LOWER_LAYER: u32 = 0x8;

/// `struct saker_event_header`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventHeader {
    pub len: u32,
    pub kind: u16,
    pub nparams: u16,
    pub ts_boot_ns: u64,
    pub ts_wall_ns: u64,
    pub cgroup_id: u64,
    pub ret: i64,
    pub args: [u64; 6],
    pub tgid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub loginuid: u32,
    pub syscall_nr: i32,
    pub cpu: u16,
    pub flags: u16,
    pub comm: [u8; 16],
}

/// `struct saker_proc_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcInfo {
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub exe_ino: u64,
    pub exe_ctime_ns: u64,
    pub exe_mtime_ns: u64,
    pub start_boot_ns: u64,
    pub ruid: u32,
    pub rgid: u32,
    pub vpid: u32,
    pub vtid: u32,
    pub sid: u32,
    pub vpgid: u32,
    pub tty: u32,
    pub exe_flags: u32,
    pub pidns_level: u32,
    pub exe_dev: u32,
}

/// `struct saker_sock_tuple`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockTuple {
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub state: u16,
    pub lport: u16,
    pub rport: u16,
    pub pad: u32,
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
}

/// `struct saker_counters`, one per CPU in the `counters` map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub emitted: u64,
    pub dropped_full: u64,
    pub read_failures: u64,
    pub truncated: u64,
    pub scratch_busy: u64,
    pub compat_skipped: u64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.emitted += o.emitted;
        self.dropped_full += o.dropped_full;
        self.read_failures += o.read_failures;
        self.truncated += o.truncated;
        self.scratch_busy += o.scratch_busy;
        self.compat_skipped += o.compat_skipped;
    }
}

const _: () = {
    assert!(size_of::<EventHeader>() == 136);
    assert!(offset_of!(EventHeader, len) == 0);
    assert!(offset_of!(EventHeader, kind) == 4);
    assert!(offset_of!(EventHeader, nparams) == 6);
    assert!(offset_of!(EventHeader, ts_boot_ns) == 8);
    assert!(offset_of!(EventHeader, ts_wall_ns) == 16);
    assert!(offset_of!(EventHeader, cgroup_id) == 24);
    assert!(offset_of!(EventHeader, ret) == 32);
    assert!(offset_of!(EventHeader, args) == 40);
    assert!(offset_of!(EventHeader, tgid) == 88);
    assert!(offset_of!(EventHeader, tid) == 92);
    assert!(offset_of!(EventHeader, ppid) == 96);
    assert!(offset_of!(EventHeader, uid) == 100);
    assert!(offset_of!(EventHeader, gid) == 104);
    assert!(offset_of!(EventHeader, loginuid) == 108);
    assert!(offset_of!(EventHeader, syscall_nr) == 112);
    assert!(offset_of!(EventHeader, cpu) == 116);
    assert!(offset_of!(EventHeader, flags) == 118);
    assert!(offset_of!(EventHeader, comm) == 120);

    assert!(size_of::<ProcInfo>() == 96);
    assert!(offset_of!(ProcInfo, start_boot_ns) == 48);
    assert!(offset_of!(ProcInfo, ruid) == 56);
    assert!(offset_of!(ProcInfo, tty) == 80);
    assert!(offset_of!(ProcInfo, exe_dev) == 92);

    assert!(size_of::<SockTuple>() == 48);
    assert!(offset_of!(SockTuple, lport) == 8);
    assert!(offset_of!(SockTuple, laddr) == 16);
    assert!(offset_of!(SockTuple, raddr) == 32);

    assert!(size_of::<Counters>() == 48);
};

/// Reads a `#[repr(C)]` plain-old-data struct from the start of `bytes`.
/// Returns `None` when `bytes` is too short.
pub trait FromBytes: Sized + Copy + Default {
    fn read_from(bytes: &[u8]) -> Option<Self>;
}

macro_rules! impl_from_bytes {
    ($t:ty) => {
        impl FromBytes for $t {
            fn read_from(bytes: &[u8]) -> Option<Self> {
                if bytes.len() < size_of::<$t>() {
                    return None;
                }
                // SAFETY: the type is repr(C), made only of integers and
                // integer arrays (every bit pattern is valid), and `bytes`
                // holds at least size_of::<$t>() bytes; read_unaligned
                // accepts any alignment.
                Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<$t>()) })
            }
        }
    };
}

impl_from_bytes!(EventHeader);
impl_from_bytes!(ProcInfo);
impl_from_bytes!(SockTuple);
impl_from_bytes!(Counters);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// `#define SAKER_X value` lines of abi.h, values evaluated for the simple
    /// forms the header uses (decimal, hex, `(A + n)`).
    fn header_defines() -> HashMap<String, u64> {
        let text = include_str!("../include/abi.h");
        let mut defs: HashMap<String, u64> = HashMap::new();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("#define SAKER_") else {
                continue;
            };
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let expr: String = std::iter::once(value)
                .chain(parts.take_while(|p| !p.starts_with("/*")))
                .collect::<Vec<_>>()
                .join(" ");
            let expr = expr.trim_matches(['(', ')']);
            let parse = |s: &str| -> Option<u64> {
                let s = s.trim();
                if let Some(h) = s.strip_prefix("0x") {
                    u64::from_str_radix(h, 16).ok()
                } else if let Some(d) = s.strip_prefix("SAKER_") {
                    defs.get(d).copied()
                } else {
                    s.parse().ok()
                }
            };
            let v = match expr.split_once('+') {
                Some((a, b)) => parse(a).zip(parse(b)).map(|(a, b)| a + b),
                None => parse(expr),
            };
            if let Some(v) = v {
                defs.insert(name.to_string(), v);
            }
        }
        defs
    }

    #[test]
    fn constants_match_the_c_header() {
        let d = header_defines();
        let expect: &[(&str, u64)] = &[
            ("ABI_VERSION", ABI_VERSION.into()),
            ("MAX_PATH", MAX_PATH as u64),
            ("MAX_ARGS", MAX_ARGS as u64),
            ("MAX_ENV", MAX_ENV as u64),
            ("MAX_SOCKADDR", MAX_SOCKADDR as u64),
            ("MAX_PATH_DEPTH", MAX_PATH_DEPTH as u64),
            ("MAX_CGROUP_DEPTH", MAX_CGROUP_DEPTH as u64),
            ("MAX_RECORD", MAX_RECORD as u64),
            ("SYSCALL_SLOTS", SYSCALL_SLOTS.into()),
            ("INTEREST_EXEC", INTEREST_EXEC.into()),
            ("INTEREST_FORK", INTEREST_FORK.into()),
            ("INTEREST_EXIT", INTEREST_EXIT.into()),
            ("INTEREST_SLOTS", INTEREST_SLOTS.into()),
            ("DROP_SLOTS", DROP_SLOTS.into()),
            ("FILTER_PATH", FILTER_PATH as u64),
            ("FILTER_ENTRIES", FILTER_ENTRIES.into()),
            ("UNTRACKED_FDS", UNTRACKED_FDS.into()),
            ("F_TRUNCATED", F_TRUNCATED.into()),
            ("F_READ_FAILED", F_READ_FAILED.into()),
            ("OPEN_CREATED", OPEN_CREATED),
            ("EXE_WRITABLE", EXE_WRITABLE.into()),
            ("EXE_UPPER_LAYER", EXE_UPPER_LAYER.into()),
            ("EXE_FROM_MEMFD", EXE_FROM_MEMFD.into()),
            ("EXE_LOWER_LAYER", EXE_LOWER_LAYER.into()),
        ];
        for (name, value) in expect {
            assert_eq!(
                d.get(*name),
                Some(value),
                "SAKER_{name} differs between abi.h and abi.rs"
            );
        }
    }

    #[test]
    fn struct_sizes_match_the_c_static_asserts() {
        let text = include_str!("../include/abi.h");
        let sizes: HashMap<&str, usize> = [
            ("saker_event_header", size_of::<EventHeader>()),
            ("saker_proc_info", size_of::<ProcInfo>()),
            ("saker_sock_tuple", size_of::<SockTuple>()),
            ("saker_counters", size_of::<Counters>()),
        ]
        .into_iter()
        .collect();
        let mut seen = 0;
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("_Static_assert(sizeof(struct ") else {
                continue;
            };
            let (name, rest) = rest.split_once(')').unwrap();
            let n: usize = rest
                .trim_start_matches([' ', '='])
                .split(',')
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert_eq!(sizes.get(name), Some(&n), "size of struct {name}");
            seen += 1;
        }
        assert_eq!(seen, sizes.len());
    }

    #[test]
    fn enum_kinds_match_the_c_header() {
        let text = include_str!("../include/abi.h");
        for (name, v) in [
            ("SAKER_EV_SYSCALL", EV_SYSCALL),
            ("SAKER_EV_EXEC", EV_EXEC),
            ("SAKER_EV_FORK", EV_FORK),
            ("SAKER_EV_EXIT", EV_EXIT),
        ] {
            assert!(
                text.contains(&format!("{name} = {v},")),
                "{name} = {v} not in abi.h"
            );
        }
    }

    #[test]
    fn short_input_is_rejected_not_read() {
        assert!(EventHeader::read_from(&[0u8; 135]).is_none());
        let mut bytes = [0u8; 136];
        bytes[0] = 136;
        bytes[4] = 2;
        let h = EventHeader::read_from(&bytes).unwrap();
        assert_eq!((h.len, h.kind), (136, EV_EXEC));
    }

    #[test]
    fn embedded_object_is_a_bpf_elf() {
        assert_eq!(&crate::OBJECT[..4], b"\x7fELF");
        // e_machine == EM_BPF (247)
        assert_eq!(
            u16::from_le_bytes([crate::OBJECT[18], crate::OBJECT[19]]),
            247
        );
    }
}
