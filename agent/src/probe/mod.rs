//! Loading, configuring and attaching the eBPF programs; kernel counters.
//!
//! [`Probe::load`] checks the object's ABI version, sets the globals (own
//! tgid, wake-up threshold), sizes the maps, loads and verifies every
//! program. [`Probe::attach`] starts capture; dropping the `Probe` detaches
//! everything. The ring buffer is read by [`ring::RingReader`].

pub mod interest;
pub mod privileges;
pub mod ring;

use std::os::fd::OwnedFd;

use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};
use object::{Object, ObjectSection, ObjectSymbol};
use saker_ebpf::abi::{self, Counters};

pub use interest::InterestSet;
pub use ring::{RingMap, RingReader};

/// Ring buffer size when none is configured: 8 MiB, as Falco's default per-CPU buffer.
pub const DEFAULT_RING_BYTES: u32 = 8 * 1024 * 1024;
/// Wake the reader when this much data waits (a quarter of the default ring... capped).
pub const DEFAULT_WAKEUP_BYTES: u64 = 256 * 1024;
/// Syscall records per CPU that share one kernel clock reading. 1: every
/// record reads the clock, so `evt.time` is exact, as in Falco (its modern
/// probe reads `bpf_ktime_get_boot_ns()` for every event header:
/// falcosecurity/libs driver/modern_bpf/helpers/store/ringbuf_store_params.h).
/// Sharing a reading is an
/// opt-in approximation (`saker.timestamp_every`): a shared reading is at most
/// one scheduler tick old (`record_time()` in agent-ebpf/bpf/lib/common.h
/// reuses it only within the same jiffy).
pub const DEFAULT_TIMESTAMP_EVERY: u32 = 1;

/// Loads of one program tried when the verifier is interrupted (EAGAIN).
const PROG_LOAD_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("reading kernel BTF from /sys/kernel/btf/vmlinux: {0}")]
    Btf(#[from] aya::BtfError),
    #[error("the embedded BPF object is unreadable: {0}")]
    Object(String),
    #[error("BPF object ABI version {found} does not match the agent's {expected}")]
    AbiMismatch { found: u32, expected: u32 },
    #[error("ring buffer size {0} must be a power of two and a multiple of the page size (4096)")]
    RingSize(u32),
    #[error("loading BPF maps and globals: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {name}: {source}{log}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
        log: String,
    },
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("map {0} is missing from the BPF object")]
    MissingMap(&'static str),
    #[error("program {0} is missing from the BPF object")]
    MissingProgram(&'static str),
    #[error("counting CPUs: {0}")]
    Cpus(String),
    #[error("enabling BPF run-time statistics: {0}")]
    Stats(String),
}

impl ProbeError {
    /// The kernel refused with EPERM or EACCES somewhere in the cause chain
    /// (a missing capability, or a policy that forbids bpf()).
    pub fn permission_denied(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>()
                && matches!(io.raw_os_error(), Some(libc::EPERM | libc::EACCES))
            {
                return true;
            }
            cause = c.source();
        }
        false
    }
}

/// How the probe is set up.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Ring buffer size in bytes (power of two, multiple of 4096).
    pub ring_bytes: u32,
    /// Wake the reader when this many bytes are waiting.
    pub wakeup_bytes: u64,
    /// Process whose events are never reported (the agent itself).
    pub self_tgid: u32,
    /// Enable kernel BPF run-time statistics (run time and count per program).
    /// Costs two clock reads per program run; see docs/metrics.md.
    pub bpf_stats: bool,
    /// Syscall records per CPU that share one clock reading (1: every record
    /// reads the clock). Process events always read it.
    pub timestamp_every: u32,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            ring_bytes: DEFAULT_RING_BYTES,
            wakeup_bytes: DEFAULT_WAKEUP_BYTES,
            self_tgid: std::process::id(),
            bpf_stats: false,
            timestamp_every: DEFAULT_TIMESTAMP_EVERY,
        }
    }
}

/// Kernel-side counters, summed over CPUs and per CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelCounters {
    pub total: Counters,
    pub per_cpu: Vec<Counters>,
    /// Records lost per event type, summed over CPUs: index = interest slot
    /// (syscall number, or `abi::INTEREST_EXEC`/`FORK`/`EXIT`). Empty when
    /// not read.
    pub dropped_by_slot: Vec<u64>,
    /// Records the rule-derived filter left out, per interest slot (only
    /// the open family's slots are read). Empty when not read.
    pub filtered_by_slot: Vec<u64>,
}

impl KernelCounters {
    /// Records the kernel could not deliver (ring full or no scratch buffer).
    pub fn dropped(&self) -> u64 {
        self.total.dropped_full + self.total.scratch_busy
    }

    /// Lost records by event type (non-zero only). Exec records stand for
    /// `execve`, fork records for `clone`, exit records for `procexit`.
    /// Records the open filter left out, per event type, largest first.
    pub fn filtered_by_type(&self) -> Vec<(crate::event::EventType, u64)> {
        by_event_type(
            self.filtered_by_slot
                .iter()
                .enumerate()
                .map(|(slot, n)| (slot as u32, *n)),
        )
    }

    pub fn dropped_by_type(&self) -> Vec<(crate::event::EventType, u64)> {
        by_event_type(
            self.dropped_by_slot
                .iter()
                .enumerate()
                .map(|(slot, n)| (slot as u32, *n)),
        )
    }
}

/// Per-slot counts summed per event type (several slots stand for one type:
/// exec records and the execve call are both `execve`, fork records and the
/// clone call `clone`), largest first, zeros left out.
pub fn by_event_type(
    slots: impl IntoIterator<Item = (u32, u64)>,
) -> Vec<(crate::event::EventType, u64)> {
    let mut out: Vec<(crate::event::EventType, u64)> = Vec::new();
    for (slot, n) in slots {
        let Some(t) = slot_event_type(slot).filter(|_| n > 0) else {
            continue;
        };
        match out.iter_mut().find(|(u, _)| *u == t) {
            Some((_, m)) => *m += n,
            None => out.push((t, n)),
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.index().cmp(&b.0.index())));
    out
}

/// The event type a record of interest slot `slot` stands for.
pub fn slot_event_type(slot: u32) -> Option<crate::event::EventType> {
    use crate::event::EventType;
    match slot {
        abi::INTEREST_EXEC => EventType::from_name("execve"),
        abi::INTEREST_FORK => EventType::from_name("clone"),
        abi::INTEREST_EXIT => Some(EventType::PROCEXIT),
        nr => EventType::from_syscall(nr),
    }
}

/// The event types whose records a lost record of `slot` can be: an exec
/// record is what execve and execveat rules see, a fork record what the
/// clone family's rules see.
pub fn slot_event_types(slot: u32) -> Vec<crate::event::EventType> {
    use crate::event::EventType;
    let names: &[&str] = match slot {
        abi::INTEREST_EXEC => &["execve", "execveat"],
        abi::INTEREST_FORK => &["clone", "clone3", "fork", "vfork"],
        _ => return slot_event_type(slot).into_iter().collect(),
    };
    names
        .iter()
        .filter_map(|n| EventType::from_name(n))
        .collect()
}

/// Run time and count of one BPF program, from the kernel's bpf stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramStats {
    pub name: &'static str,
    pub run_time_ns: u64,
    pub run_count: u64,
}

/// The loaded eBPF programs and their maps.
#[derive(Debug)]
pub struct Probe {
    ebpf: Ebpf,
    attached: bool,
    stats: Option<OwnedFd>,
    /// The drop total and per-type figures of the last per-type read.
    drops_by_slot: std::sync::Mutex<(u64, Vec<u64>)>,
}

/// The `saker_abi_version` global stored in the object's .rodata.
pub fn object_abi_version(object: &[u8]) -> Result<u32, ProbeError> {
    let file = object::File::parse(object).map_err(|e| ProbeError::Object(e.to_string()))?;
    let sym = file
        .symbols()
        .find(|s| s.name() == Ok(saker_ebpf::globals::ABI_VERSION))
        .ok_or_else(|| ProbeError::Object("no saker_abi_version symbol".into()))?;
    let section = sym
        .section_index()
        .and_then(|i| file.section_by_index(i).ok())
        .ok_or_else(|| ProbeError::Object("saker_abi_version has no section".into()))?;
    let data = section
        .data()
        .map_err(|e| ProbeError::Object(e.to_string()))?;
    let start = usize::try_from(sym.address().saturating_sub(section.address()))
        .map_err(|e| ProbeError::Object(e.to_string()))?;
    let bytes = data
        .get(start..start + 4)
        .ok_or_else(|| ProbeError::Object("saker_abi_version outside its section".into()))?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// `bpf_enable_stats failed: Operation not permitted (os error 1)`: aya's
/// text names the call only, its cause is the errno.
fn syscall_text(e: &aya::sys::SyscallError) -> String {
    format!("{} failed: {}", e.call, e.io_error)
}

/// eBPF needs locked memory on kernels before 5.11; newer kernels charge
/// BPF memory to the cgroup. Raising the limit needs CAP_SYS_RESOURCE, which
/// a least-privilege agent may not have: failure is logged, not fatal.
fn raise_memlock() {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid pointer to an initialized rlimit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) };
    if rc != 0 {
        log::debug!(
            "could not raise RLIMIT_MEMLOCK ({}); fine on Linux >= 5.11",
            std::io::Error::last_os_error()
        );
    }
}

/// Nanoseconds to add to CLOCK_BOOTTIME to get CLOCK_REALTIME.
pub fn boot_to_wall_offset_ns() -> i64 {
    fn now(clock: libc::clockid_t) -> i128 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into a valid timespec.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    }
    let boot = now(libc::CLOCK_BOOTTIME);
    let wall = now(libc::CLOCK_REALTIME);
    let boot2 = now(libc::CLOCK_BOOTTIME);
    (wall - (boot + boot2) / 2) as i64
}

impl Probe {
    /// Loads and verifies every program; nothing is attached yet.
    pub fn load(opts: &ProbeOptions) -> Result<Probe, ProbeError> {
        let found = object_abi_version(saker_ebpf::OBJECT)?;
        if found != abi::ABI_VERSION {
            return Err(ProbeError::AbiMismatch {
                found,
                expected: abi::ABI_VERSION,
            });
        }
        if !opts.ring_bytes.is_power_of_two() || opts.ring_bytes < 4096 {
            return Err(ProbeError::RingSize(opts.ring_bytes));
        }
        raise_memlock();
        let btf = Btf::from_sys_fs()?;
        let ncpus =
            aya::util::nr_cpus().map_err(|(what, e)| ProbeError::Cpus(format!("{what}: {e}")))?;
        let scratch_entries = u32::try_from(ncpus)
            .unwrap_or(u32::MAX / saker_ebpf::SCRATCH_SLOTS_PER_CPU)
            .saturating_mul(saker_ebpf::SCRATCH_SLOTS_PER_CPU);
        // Statistics are optional: BPF_ENABLE_STATS needs CAP_SYS_ADMIN, which
        // a least-privilege DaemonSet does not have (kernel/bpf/syscall.c
        // bpf_enable_stats). Without it the agent runs, and still reads the
        // figures when the node keeps kernel.bpf_stats_enabled=1.
        let stats = if opts.bpf_stats {
            match aya::sys::enable_stats(aya::sys::Stats::RunTime) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    // The privileges were checked before (probe::privileges);
                    // this is the kernel refusing anyway (a seccomp or LSM policy).
                    log::warn!(
                        "BPF run-time statistics unavailable ({}): running without them; saker_node_overhead_bpf_ratio reads 0 unless the node sets kernel.bpf_stats_enabled=1 (metrics.libbpf_stats_enabled=false silences this)",
                        syscall_text(&e)
                    );
                    None
                }
            }
        } else {
            None
        };

        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global(saker_ebpf::globals::SELF_TGID, &opts.self_tgid, true)
            .override_global(saker_ebpf::globals::WAKEUP_BYTES, &opts.wakeup_bytes, true)
            .override_global(saker_ebpf::globals::TS_EVERY, &opts.timestamp_every, true)
            .map_max_entries(saker_ebpf::maps::EVENTS, opts.ring_bytes)
            .map_max_entries(saker_ebpf::maps::SCRATCH, scratch_entries)
            // `untracked` is task storage, which aya cannot read or write
            // (nor needs to: only the probe uses it).
            .allow_unsupported_maps()
            .load(saker_ebpf::OBJECT)?;

        for (name, tracepoint) in saker_ebpf::PROGRAMS {
            let prog: &mut BtfTracePoint = ebpf
                .program_mut(name)
                .ok_or(ProbeError::MissingProgram(name))?
                .try_into()
                .map_err(|source| ProbeError::Program {
                    name,
                    source,
                    log: String::new(),
                })?;
            let mut attempt = 1;
            let loaded = loop {
                match prog.load(tracepoint, &btf) {
                    // The verifier gives up with EAGAIN when a signal
                    // arrives while it works (a child's SIGCHLD, say):
                    // libbpf retries such loads up to 5 times
                    // (libbpf/src/bpf.c, PROG_LOAD_ATTEMPTS), and so do we.
                    Err(aya::programs::ProgramError::LoadError { io_error, .. })
                        if io_error.raw_os_error() == Some(libc::EAGAIN)
                            && attempt < PROG_LOAD_ATTEMPTS =>
                    {
                        attempt += 1;
                    }
                    other => break other,
                }
            };
            loaded.map_err(|source| {
                let log = match &source {
                    aya::programs::ProgramError::LoadError { verifier_log, .. } => {
                        let text = verifier_log.to_string();
                        let tail: Vec<&str> = text.lines().rev().take(20).collect();
                        format!(
                            "\nverifier log (last lines):\n{}",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        )
                    }
                    _ => String::new(),
                };
                ProbeError::Program { name, source, log }
            })?;
        }
        let mut probe = Probe {
            ebpf,
            attached: false,
            stats,
            drops_by_slot: std::sync::Mutex::new((0, Vec::new())),
        };
        probe.update_clock()?;
        Ok(probe)
    }

    /// Starts capture. Dropping the probe detaches.
    pub fn attach(&mut self) -> Result<(), ProbeError> {
        for (name, _) in saker_ebpf::PROGRAMS {
            let prog: &mut BtfTracePoint = self
                .ebpf
                .program_mut(name)
                .ok_or(ProbeError::MissingProgram(name))?
                .try_into()
                .map_err(|source| ProbeError::Program {
                    name,
                    source,
                    log: String::new(),
                })?;
            prog.attach().map_err(|source| ProbeError::Program {
                name,
                source,
                log: String::new(),
            })?;
        }
        self.attached = true;
        Ok(())
    }

    /// Stops capture: unloads the programs (which detaches them) and keeps
    /// the maps, so the ring can still be drained and counters read.
    pub fn detach(&mut self) {
        for (name, _) in saker_ebpf::PROGRAMS {
            if let Some(prog) = self.ebpf.program_mut(name) {
                let tp: Result<&mut BtfTracePoint, _> = prog.try_into();
                if let Ok(tp) = tp
                    && let Err(e) = tp.unload()
                {
                    log::warn!("unloading {name}: {e}");
                }
            }
        }
        self.attached = false;
    }

    pub fn is_attached(&self) -> bool {
        self.attached
    }

    /// Replaces the set of events the kernel emits.
    pub fn set_interest(&mut self, set: &InterestSet) -> Result<(), ProbeError> {
        let name = saker_ebpf::maps::INTEREST;
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(ProbeError::MissingMap(name))?;
        let mut arr: Array<&mut MapData, u8> =
            Array::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        for slot in 0..abi::INTEREST_SLOTS {
            arr.set(slot, u8::from(set.slot_enabled(slot)), 0)
                .map_err(|source| ProbeError::Map { name, source })?;
        }
        Ok(())
    }

    /// Loads the rule-derived open filter (`rules::pushdown`): the patterns
    /// go into the tries first, then the filter is switched on, then the
    /// entries no longer wanted are removed, so that no moment filters what
    /// the new patterns or the old ones want. `None` switches it off and
    /// empties the tries. Errors: a map missing or a
    /// write refused (more than [`abi::FILTER_ENTRIES`] patterns).
    pub fn set_open_filter(
        &mut self,
        patterns: Option<&[crate::rules::pushdown::PathPattern]>,
    ) -> Result<(), ProbeError> {
        use crate::rules::pushdown::PathPattern;
        use aya::maps::lpm_trie::Key;
        type PathKey = Key<[u8; abi::FILTER_PATH]>;
        let key = |text: &[u8], nul: bool| -> Option<PathKey> {
            let len = text.len() + usize::from(nul);
            if len > abi::FILTER_PATH || text.is_empty() {
                return None;
            }
            let mut data = [0u8; abi::FILTER_PATH];
            data[..text.len()].copy_from_slice(text);
            Some(Key::new((len * 8) as u32, data))
        };
        let mut prefixes: Vec<PathKey> = Vec::new();
        let mut suffixes: Vec<PathKey> = Vec::new();
        for p in patterns.unwrap_or_default() {
            // A pattern longer than the probe tests cannot be met by a path
            // it tests: those paths are always emitted.
            match p {
                PathPattern::Prefix(s) => prefixes.extend(key(s.as_bytes(), false)),
                PathPattern::Exact(s) => prefixes.extend(key(s.as_bytes(), true)),
                PathPattern::Suffix(s) => {
                    let rev: Vec<u8> = s.bytes().rev().collect();
                    suffixes.extend(key(&rev, false));
                }
            }
        }
        let same =
            |a: &PathKey, b: &PathKey| a.prefix_len() == b.prefix_len() && a.data() == b.data();
        for (name, wanted) in [
            (saker_ebpf::maps::OPEN_PREFIXES, &prefixes),
            (saker_ebpf::maps::OPEN_SUFFIXES, &suffixes),
        ] {
            let mut trie = self.path_trie(name)?;
            for k in wanted.iter() {
                trie.insert(k, 1, 0)
                    .map_err(|source| ProbeError::Map { name, source })?;
            }
        }
        let name = saker_ebpf::maps::FILTER_CONFIG;
        let cfg = abi::FilterConfig {
            open: u32::from(patterns.is_some()),
            suffixes: u32::from(!suffixes.is_empty()),
        };
        {
            let map = self
                .ebpf
                .map_mut(name)
                .ok_or(ProbeError::MissingMap(name))?;
            let mut arr: Array<&mut MapData, [u32; 2]> =
                Array::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
            arr.set(0, [cfg.open, cfg.suffixes], 0)
                .map_err(|source| ProbeError::Map { name, source })?;
        }
        for (name, wanted) in [
            (saker_ebpf::maps::OPEN_PREFIXES, &prefixes),
            (saker_ebpf::maps::OPEN_SUFFIXES, &suffixes),
        ] {
            let mut trie = self.path_trie(name)?;
            let stale: Vec<PathKey> = trie
                .keys()
                .filter_map(Result::ok)
                .filter(|k| !wanted.iter().any(|w| same(w, k)))
                .collect();
            for k in &stale {
                trie.remove(k)
                    .map_err(|source| ProbeError::Map { name, source })?;
            }
        }
        Ok(())
    }

    /// One of the open filter's tries (`open_prefixes`, `open_suffixes`).
    fn path_trie(
        &mut self,
        name: &'static str,
    ) -> Result<aya::maps::lpm_trie::LpmTrie<&mut MapData, [u8; abi::FILTER_PATH], u8>, ProbeError>
    {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(ProbeError::MissingMap(name))?;
        aya::maps::lpm_trie::LpmTrie::try_from(map)
            .map_err(|source| ProbeError::Map { name, source })
    }

    /// Records the open filter left out, per interest slot, summed over CPUs.
    pub fn filtered_by_slot(&self) -> Result<Vec<u64>, ProbeError> {
        let name = saker_ebpf::maps::FILTERED_BY_TYPE;
        let map = self.ebpf.map(name).ok_or(ProbeError::MissingMap(name))?;
        let arr: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        let mut out = vec![0u64; abi::DROP_SLOTS as usize];
        // Only the open family and close are filtered: 5 reads, not 515.
        for name in crate::rules::pushdown::OPEN_FAMILY.iter().chain(&["close"]) {
            let Some(nr) = crate::event::EventType::from_name(name).and_then(|t| t.syscall_nr())
            else {
                continue;
            };
            let values = arr.get(&nr, 0).map_err(|source| ProbeError::Map {
                name: saker_ebpf::maps::FILTERED_BY_TYPE,
                source,
            })?;
            if let Some(slot) = out.get_mut(nr as usize) {
                *slot = values.iter().sum();
            }
        }
        Ok(out)
    }

    /// Writes the current boot-to-wall clock offset for event timestamps.
    /// Call periodically so that wall times follow clock adjustments.
    pub fn update_clock(&mut self) -> Result<(), ProbeError> {
        let name = saker_ebpf::maps::CLOCK;
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(ProbeError::MissingMap(name))?;
        let mut arr: Array<&mut MapData, u64> =
            Array::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        arr.set(0, boot_to_wall_offset_ns() as u64, 0)
            .map_err(|source| ProbeError::Map { name, source })
    }

    /// Takes the ring buffer for a reader. Can be done once.
    pub fn take_ring(&mut self) -> Result<RingMap, ProbeError> {
        let name = saker_ebpf::maps::EVENTS;
        let map = self
            .ebpf
            .take_map(name)
            .ok_or(ProbeError::MissingMap(name))?;
        let aya::maps::Map::RingBuf(data) = map else {
            return Err(ProbeError::MissingMap(name));
        };
        let bytes = data
            .info()
            .map_err(|source| ProbeError::Map { name, source })?
            .max_entries();
        Ok(RingMap::new(data, bytes))
    }

    /// Reads the per-CPU counters.
    pub fn counters(&self) -> Result<KernelCounters, ProbeError> {
        let name = saker_ebpf::maps::COUNTERS;
        let map = self.ebpf.map(name).ok_or(ProbeError::MissingMap(name))?;
        let arr: PerCpuArray<&MapData, [u64; 6]> =
            PerCpuArray::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        let values = arr
            .get(&0, 0)
            .map_err(|source| ProbeError::Map { name, source })?;
        let mut out = KernelCounters::default();
        for v in values.iter() {
            let c = Counters {
                emitted: v[0],
                dropped_full: v[1],
                read_failures: v[2],
                truncated: v[3],
                scratch_busy: v[4],
                compat_skipped: v[5],
            };
            out.total.add(&c);
            out.per_cpu.push(c);
        }
        // An object without the map (older ABI) cannot load: the version
        // check refuses it first. Still, per-type figures are optional.
        // 515 map reads: only when the drop total moved since the last read.
        let mut cache = self
            .drops_by_slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.0 == out.dropped() && !cache.1.is_empty() {
            out.dropped_by_slot = cache.1.clone();
        } else if out.dropped() > 0
            && let Some(map) = self.ebpf.map(saker_ebpf::maps::DROPS_BY_TYPE)
        {
            let name = saker_ebpf::maps::DROPS_BY_TYPE;
            let arr: PerCpuArray<&MapData, u64> =
                PerCpuArray::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
            out.dropped_by_slot = vec![0; abi::DROP_SLOTS as usize];
            for (slot, total) in out.dropped_by_slot.iter_mut().enumerate() {
                let values = arr
                    .get(&(slot as u32), 0)
                    .map_err(|source| ProbeError::Map { name, source })?;
                *total = values.iter().sum();
            }
            *cache = (out.dropped(), out.dropped_by_slot.clone());
        }
        out.filtered_by_slot = self.filtered_by_slot()?;
        Ok(out)
    }

    /// Turns kernel BPF run-time statistics on or off (a `BPF_ENABLE_STATS`
    /// descriptor held or closed; another holder, or the
    /// kernel.bpf_stats_enabled sysctl, keeps them on regardless).
    pub fn set_bpf_stats(&mut self, on: bool) -> Result<(), ProbeError> {
        if on && self.stats.is_none() {
            self.stats = Some(
                aya::sys::enable_stats(aya::sys::Stats::RunTime)
                    .map_err(|e| ProbeError::Stats(syscall_text(&e)))?,
            );
        } else if !on {
            self.stats = None;
        }
        Ok(())
    }

    /// Whether this probe holds BPF statistics on.
    pub fn bpf_stats_on(&self) -> bool {
        self.stats.is_some()
    }

    /// Run time and count per program (zero unless bpf stats are enabled,
    /// here or by another tool through kernel.bpf_stats_enabled).
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        let mut out = Vec::new();
        for (name, _) in saker_ebpf::PROGRAMS {
            let Some(prog) = self.ebpf.program(name) else {
                continue;
            };
            let Ok(info) = prog.info() else { continue };
            out.push(ProgramStats {
                name,
                run_time_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                run_count: info.run_count(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_object_carries_the_agent_abi_version() {
        assert_eq!(
            object_abi_version(saker_ebpf::OBJECT).unwrap(),
            abi::ABI_VERSION
        );
    }

    #[test]
    fn garbage_object_is_an_error_not_a_panic() {
        assert!(object_abi_version(b"not an elf").is_err());
    }

    #[test]
    fn wall_offset_is_plausible() {
        // Realtime minus boottime is after 2020 for any machine running this.
        assert!(
            boot_to_wall_offset_ns() > 1_577_836_800_000_000_000 - 100 * 86_400 * 1_000_000_000
        );
    }
}
