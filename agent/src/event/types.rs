//! Event types: the values of Falco's `evt.type`.
//!
//! A system call event has the type of its system call (`openat`, `execve`,
//! ...), numbered by the x86_64 system call number. Events that are not system
//! calls (`procexit`, ...) are numbered from [`EventType::META_BASE`]. The
//! numbering is internal to the agent: rules name event types, never numbers.

use std::fmt;

use super::syscalls_x86_64::SYSCALL_NAMES_X86_64;

/// One `evt.type` value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(u16);

/// Falco's non-syscall event types that rules may name. `procexit` is produced
/// by the agent; the others are accepted so that rules naming them load (they
/// never match until something produces them).
const META_NAMES: [&str; 9] = [
    "procexit",
    "container",
    "switch",
    "signaldeliver",
    "page_fault",
    "drop",
    "notification",
    "asyncevent",
    "pluginevent",
];

/// System calls whose `evt.type` is not their kernel name: Falco names an
/// event after its event-table entry (falcosecurity/libs
/// `driver/syscall_table.c` maps `__NR_pread64` to `PPME_SYSCALL_PREAD_*`,
/// named "pread" in `driver/event_table.c`). (kernel name, Falco name), for
/// x86_64.
const FALCO_NAMES: [(&str, &str); 3] = [
    ("pread64", "pread"),
    ("pwrite64", "pwrite"),
    ("prlimit64", "prlimit"),
];

/// Other names rules may use for an event type: kernel spellings and older
/// names (`evt.type=pread64` and `evt.type=pread` name the same events).
const ALIASES: [(&str, &str); 6] = [
    ("pread", "pread64"),
    ("pwrite", "pwrite64"),
    ("prlimit", "prlimit64"),
    ("fstatat", "newfstatat"),
    ("stat64", "stat"),
    ("pagefault", "page_fault"),
];

impl EventType {
    /// First number used for non-syscall event types; all syscall numbers are below it.
    pub const META_BASE: u16 = 512;
    /// Upper bound (exclusive) of event type numbers: the size of a bitmap over all types.
    pub const COUNT: usize = Self::META_BASE as usize + META_NAMES.len();

    pub const PROCEXIT: EventType = EventType(Self::META_BASE);

    /// The event type of system call `nr`, if the number is a known syscall.
    pub fn from_syscall(nr: u32) -> Option<Self> {
        let name = SYSCALL_NAMES_X86_64.get(nr as usize)?;
        if name.is_empty() {
            return None;
        }
        Some(EventType(nr as u16))
    }

    /// The system call number, for syscall event types.
    pub fn syscall_nr(self) -> Option<u32> {
        (self.0 < Self::META_BASE).then_some(u32::from(self.0))
    }

    /// Dense index in `0..COUNT`, for bitmaps and per-type tables.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Inverse of [`EventType::index`].
    pub fn from_index(i: usize) -> Option<Self> {
        if i < Self::META_BASE as usize {
            Self::from_syscall(i as u32)
        } else if i < Self::COUNT {
            Some(EventType(i as u16))
        } else {
            None
        }
    }

    /// The `evt.type` spelling (Falco's: `pread`, not `pread64`).
    pub fn name(self) -> &'static str {
        if self.0 < Self::META_BASE {
            let kernel = self.kernel_name();
            FALCO_NAMES
                .iter()
                .find(|(k, _)| *k == kernel)
                .map_or(kernel, |(_, falco)| falco)
        } else {
            self.kernel_name()
        }
    }

    /// The system call's kernel name (`pread64`); for other events, their name.
    pub fn kernel_name(self) -> &'static str {
        if self.0 < Self::META_BASE {
            SYSCALL_NAMES_X86_64
                .get(usize::from(self.0))
                .copied()
                .unwrap_or("unknown")
        } else {
            META_NAMES
                .get(usize::from(self.0 - Self::META_BASE))
                .copied()
                .unwrap_or("unknown")
        }
    }

    /// Looks up an `evt.type` name (kernel syscall names, Falco's aliases and meta events).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, real)| *real);
        if let Some(i) = META_NAMES.iter().position(|n| *n == name) {
            return Some(EventType(Self::META_BASE + i as u16));
        }
        SYSCALL_NAMES_X86_64
            .iter()
            .position(|n| !n.is_empty() && *n == name)
            .map(|nr| EventType(nr as u16))
    }

    /// Every known event type, syscalls first.
    pub fn all() -> impl Iterator<Item = EventType> {
        (0..Self::COUNT).filter_map(Self::from_index)
    }
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventType({})", self.name())
    }
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_names_round_trip() {
        let openat = EventType::from_name("openat").unwrap();
        assert_eq!(openat.syscall_nr(), Some(257));
        assert_eq!(openat.name(), "openat");
        assert_eq!(EventType::from_syscall(59).unwrap().name(), "execve");
        assert_eq!(
            EventType::from_name("execveat").unwrap().syscall_nr(),
            Some(322)
        );
        assert_eq!(
            EventType::from_name("openat2").unwrap().syscall_nr(),
            Some(437)
        );
    }

    #[test]
    fn meta_events_and_aliases_resolve() {
        assert_eq!(EventType::from_name("procexit"), Some(EventType::PROCEXIT));
        assert_eq!(EventType::PROCEXIT.syscall_nr(), None);
        assert_eq!(
            EventType::from_name("pread"),
            EventType::from_name("pread64")
        );
        // evt.type is Falco's name (driver/event_table.c PPME_SYSCALL_PREAD_X,
        // PPME_SYSCALL_PRLIMIT_X, PPME_PAGE_FAULT_E).
        assert_eq!(EventType::from_name("pread64").unwrap().name(), "pread");
        assert_eq!(EventType::from_name("pwrite64").unwrap().name(), "pwrite");
        assert_eq!(EventType::from_name("prlimit64").unwrap().name(), "prlimit");
        assert_eq!(
            EventType::from_name("prlimit").unwrap().kernel_name(),
            "prlimit64"
        );
        assert_eq!(
            EventType::from_name("pagefault").unwrap().name(),
            "page_fault"
        );
        assert_eq!(EventType::from_name("no_such_call"), None);
        assert_eq!(EventType::from_syscall(400), None);
    }

    #[test]
    fn every_type_has_a_unique_name_and_index() {
        let all: Vec<EventType> = EventType::all().collect();
        assert!(all.len() > 370);
        for t in &all {
            assert_eq!(EventType::from_name(t.name()), Some(*t), "{t}");
            assert_eq!(EventType::from_index(t.index()), Some(*t));
            assert!(t.index() < EventType::COUNT);
        }
    }
}
