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
}

/// Names of the maps in [`OBJECT`].
pub mod maps {
    pub const EVENTS: &str = "events";
    pub const INTEREST: &str = "interest";
    pub const COUNTERS: &str = "counters";
    pub const CLOCK: &str = "clock";
    pub const SCRATCH: &str = "scratch";
}

/// Scratch buffers per CPU (`SCRATCH_SLOTS_PER_CPU` in bpf/lib/common.h).
pub const SCRATCH_SLOTS_PER_CPU: u32 = 2;
