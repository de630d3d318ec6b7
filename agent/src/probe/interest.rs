//! Which events the kernel emits: the `interest` map's contents.

use saker_ebpf::abi;

use crate::event::EventType;
use crate::event::decode::DECODED_SYSCALLS;

/// A set of syscalls plus the process lifecycle events (exec, fork, exit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterestSet {
    syscalls: Vec<bool>,
    pub exec: bool,
    pub fork: bool,
    pub exit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterestError {
    #[error("unknown syscall or event type {0:?}")]
    Unknown(String),
}

impl Default for InterestSet {
    fn default() -> Self {
        Self::empty()
    }
}

impl InterestSet {
    pub fn empty() -> Self {
        InterestSet {
            syscalls: vec![false; abi::SYSCALL_SLOTS as usize],
            exec: false,
            fork: false,
            exit: false,
        }
    }

    /// Every syscall whose arguments the probe decodes, plus process events.
    pub fn all_decoded() -> Self {
        let mut s = Self::empty();
        for name in DECODED_SYSCALLS {
            if let Some(t) = EventType::from_name(name) {
                s.add(t);
            }
        }
        s.exec = true;
        s.fork = true;
        s.exit = true;
        s
    }

    /// Adds an event type. `execve`/`execveat` also enable the exec
    /// tracepoint (successful execs), clone-family types the fork tracepoint,
    /// `procexit` the exit tracepoint.
    pub fn add(&mut self, t: EventType) {
        if t == EventType::PROCEXIT {
            self.exit = true;
            return;
        }
        let Some(nr) = t.syscall_nr() else { return };
        match t.name() {
            "execve" | "execveat" => self.exec = true,
            "clone" | "clone3" | "fork" | "vfork" => {
                // New tasks are reported by the sched_process_fork tracepoint,
                // which also sees what the syscall exit cannot (the child).
                self.fork = true;
                return;
            }
            _ => {}
        }
        if let Some(slot) = self.syscalls.get_mut(nr as usize) {
            *slot = true;
        }
    }

    /// Parses a comma-separated list of event type names (`openat,connect,procexit`).
    pub fn parse_list(list: &str) -> Result<Self, InterestError> {
        let mut s = Self::empty();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let t =
                EventType::from_name(name).ok_or_else(|| InterestError::Unknown(name.into()))?;
            s.add(t);
        }
        Ok(s)
    }

    pub fn union(&mut self, other: &InterestSet) {
        for (a, b) in self.syscalls.iter_mut().zip(&other.syscalls) {
            *a |= *b;
        }
        self.exec |= other.exec;
        self.fork |= other.fork;
        self.exit |= other.exit;
    }

    pub fn contains_syscall(&self, nr: u32) -> bool {
        self.syscalls.get(nr as usize).copied().unwrap_or(false)
    }

    /// Whether slot `i` of the kernel `interest` map is enabled.
    pub fn slot_enabled(&self, slot: u32) -> bool {
        match slot {
            abi::INTEREST_EXEC => self.exec,
            abi::INTEREST_FORK => self.fork,
            abi::INTEREST_EXIT => self.exit,
            s => self.contains_syscall(s),
        }
    }

    /// Names of the enabled event types, for logs and `--help` output.
    pub fn names(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = (0..abi::SYSCALL_SLOTS)
            .filter(|nr| self.contains_syscall(*nr))
            .filter_map(EventType::from_syscall)
            .map(EventType::name)
            .collect();
        if self.fork {
            out.extend(["clone", "clone3", "fork", "vfork"]);
        }
        if self.exit {
            out.push("procexit");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parsing_and_slots() {
        let s = InterestSet::parse_list("openat, execve,procexit,clone").unwrap();
        assert!(s.slot_enabled(257));
        assert!(s.slot_enabled(59), "failed execs come from sys_exit");
        assert!(s.exec && s.exit && s.fork);
        assert!(!s.slot_enabled(2));
        assert!(
            !s.slot_enabled(56),
            "clone is reported by the fork tracepoint"
        );
        assert_eq!(
            InterestSet::parse_list("openat,nope"),
            Err(InterestError::Unknown("nope".into()))
        );
    }

    #[test]
    fn all_decoded_covers_the_issue_list() {
        let s = InterestSet::all_decoded();
        for name in [
            "open",
            "openat2",
            "ptrace",
            "memfd_create",
            "renameat2",
            "fchdir",
            "fcntl",
        ] {
            let nr = EventType::from_name(name).unwrap().syscall_nr().unwrap();
            assert!(s.contains_syscall(nr), "{name}");
        }
        assert!(!s.contains_syscall(0), "read is not captured by default");
    }
}
