//! Saker's eBPF programs and their wire format.
//!
//! The programs are C (`bpf/*.bpf.c`), compiled with clang and linked into
//! one object by `build.rs`; [`OBJECT`] is that object. [`abi`] mirrors
//! `include/abi.h`, the one definition of the records they emit.

pub mod abi;

#[repr(C, align(32))]
struct Aligned<B: ?Sized>(B);

static ALIGNED: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/saker.bpf.o")));

/// The linked BPF object (ELF), aligned for the ELF parser.
pub static OBJECT: &[u8] = &ALIGNED.0;

/// Names of the programs in [`OBJECT`] and the BTF tracepoints they attach to.
pub const PROGRAMS: [(&str, &str); 4] = [
    ("saker_sys_exit", "sys_exit"),
    ("saker_exec", "sched_process_exec"),
    ("saker_fork", "sched_process_fork"),
    ("saker_exit", "sched_process_exit"),
];

/// Names of the global variables the loader sets (`const volatile` in C).
pub mod globals {
    pub const SELF_TGID: &str = "saker_self_tgid";
    pub const WAKEUP_BYTES: &str = "saker_wakeup_bytes";
    pub const ABI_VERSION: &str = "saker_abi_version";
    pub const TS_EVERY: &str = "saker_ts_every";
}

/// Names of the maps in [`OBJECT`].
pub mod maps {
    pub const EVENTS: &str = "events";
    pub const INTEREST: &str = "interest";
    pub const COUNTERS: &str = "counters";
    pub const DROPS_BY_TYPE: &str = "drops_by_type";
    pub const CLOCK: &str = "clock";
    pub const SCRATCH: &str = "scratch";
    /// The rule-derived open filter (`bpf/syscalls.bpf.c`).
    pub const OPEN_PREFIXES: &str = "open_prefixes";
    pub const OPEN_SUFFIXES: &str = "open_suffixes";
    pub const FILTER_CONFIG: &str = "filter_config";
    pub const FILTERED_BY_TYPE: &str = "filtered_by_type";
}

/// Scratch buffers per CPU (`SCRATCH_SLOTS_PER_CPU` in bpf/lib/common.h).
pub const SCRATCH_SLOTS_PER_CPU: u32 = 2;

static FLOOR_ALIGNED: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/floor.bpf.o")));

/// The benchmark floor (`bpf/floor.bpf.c`): programs on `sys_enter` and
/// `sys_exit` that only count. A separate object, not part of [`OBJECT`];
/// loaded by `saker bench-floor` for `cargo xtask bench`.
pub static FLOOR_OBJECT: &[u8] = &FLOOR_ALIGNED.0;

/// Names in [`FLOOR_OBJECT`].
pub mod floor {
    /// Programs and the BTF tracepoints they attach to.
    pub const PROGRAMS: [(&str, &str); 2] = [
        ("floor_sys_enter", "sys_enter"),
        ("floor_sys_exit", "sys_exit"),
    ];
    /// Per-CPU `u64` run counts: index 0 sys_enter, 1 sys_exit.
    pub const RUNS: &str = "floor_runs";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mentions(object: &[u8], name: &str) -> bool {
        object.windows(name.len()).any(|w| w == name.as_bytes())
    }

    #[test]
    fn floor_is_its_own_object_and_not_in_the_agents() {
        assert_eq!(&FLOOR_OBJECT[..4], b"\x7fELF");
        for (prog, _) in floor::PROGRAMS {
            assert!(
                mentions(FLOOR_OBJECT, prog),
                "{prog} missing from the floor"
            );
            assert!(
                !mentions(OBJECT, prog),
                "{prog} linked into the agent object"
            );
        }
        assert!(mentions(OBJECT, PROGRAMS[0].0));
    }
}
