//! Processes and threads, rebuilt from fork/exec/exit events and seeded from /proc.

/// Fast hashing for pid and fd keys (SipHash showed up at ~14% of the hot path).
pub type FastMap<K, V> = foldhash::HashMap<K, V>;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::fd::FdInfo;

/// Bound on the environment kept per process (entries); the kernel already
/// bounds the bytes.
pub const MAX_ENV_ENTRIES: usize = 256;

/// One process (thread group). Threads share it, as they share the fd table,
/// working directory and credentials in practice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub tgid: u32,
    pub ppid: u32,
    /// `proc.name`: the task comm after exec (at most 15 bytes).
    pub comm: String,
    /// `proc.exe`: argv[0] as the process was started.
    pub exe: String,
    /// `proc.exepath`: the executable's full path.
    pub exepath: String,
    /// argv[1..].
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// Effective uid/gid (`user.uid`, `group.gid`) and real ones.
    pub uid: u32,
    pub gid: u32,
    pub ruid: u32,
    pub rgid: u32,
    pub loginuid: u32,
    pub tty: u32,
    pub sid: u32,
    pub vpgid: u32,
    pub vpid: u32,
    pub pidns_level: u32,
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    /// Process start, ns since the Unix epoch.
    pub start_ns: i64,
    pub exe_ino: u64,
    pub exe_ctime_ns: u64,
    pub exe_mtime_ns: u64,
    pub exe_writable: bool,
    pub exe_upper_layer: bool,
    pub exe_lower_layer: bool,
    pub exe_from_memfd: bool,
    pub cgroup: String,
    /// `container.id`: 12 hex digits, or `host`.
    #[serde(with = "arc_str")]
    pub container_id: Arc<str>,
    /// Open file descriptors.
    pub fds: FastMap<i64, FdInfo>,
    /// Live threads in the group (at least 1 while the process lives).
    pub threads: u32,
    /// The process came from /proc or a lazy lookup rather than events.
    pub from_proc: bool,
    /// Some of its fds were evicted (`saker.state.max_fds*`): an event on an
    /// fd the table lacks reads it back from `/proc/PID/fd` (within the
    /// lookup budget). Not recorded.
    #[serde(skip)]
    pub fds_evicted: bool,
}

mod arc_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Arc::from(s))
    }
}

impl Process {
    /// A process known only by its pid and comm (its parent state is unknown).
    pub fn minimal(tgid: u32, ppid: u32, comm: &str, host: &Arc<str>) -> Self {
        Process {
            tgid,
            ppid,
            comm: comm.to_string(),
            exe: comm.to_string(),
            exepath: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: String::new(),
            uid: u32::MAX,
            gid: u32::MAX,
            ruid: u32::MAX,
            rgid: u32::MAX,
            loginuid: u32::MAX,
            tty: 0,
            sid: 0,
            vpgid: 0,
            vpid: tgid,
            pidns_level: 0,
            cap_inheritable: 0,
            cap_permitted: 0,
            cap_effective: 0,
            start_ns: 0,
            exe_ino: 0,
            exe_ctime_ns: 0,
            exe_mtime_ns: 0,
            exe_writable: false,
            exe_upper_layer: false,
            exe_lower_layer: false,
            exe_from_memfd: false,
            cgroup: String::new(),
            container_id: host.clone(),
            fds: FastMap::default(),
            threads: 1,
            from_proc: false,
            fds_evicted: false,
        }
    }

    /// `proc.cmdline`: the name followed by the arguments.
    pub fn cmdline(&self) -> String {
        let mut s = String::with_capacity(self.comm.len() + 64);
        s.push_str(&self.comm);
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// `proc.args`: the arguments, space separated.
    pub fn args_joined(&self) -> String {
        self.args.join(" ")
    }

    /// `proc.env[NAME]`.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| {
            kv.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
        })
    }
}

/// Processes by tgid, and the process each thread belongs to, both bounded.
/// A full table evicts an entry to make room (counted); an evicted process
/// that is still alive comes back from /proc the next time an event names it.
#[derive(Debug)]
pub struct ProcessTable {
    procs: FastMap<u32, Process>,
    /// tid -> tgid for threads that are not the group leader.
    threads: FastMap<u32, u32>,
    max_processes: usize,
    max_threads: usize,
    /// Processes evicted because the table was full.
    pub evicted_processes: u64,
    /// Thread entries evicted because the table was full.
    pub evicted_threads: u64,
}

/// `saker.state.max_processes` default: room for a busy node's processes
/// (a few thousand) many times over.
pub const DEFAULT_MAX_PROCESSES: usize = 131_072;
/// `saker.state.max_threads` default (non-leader threads).
pub const DEFAULT_MAX_THREADS: usize = 262_144;

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable::with_limits(DEFAULT_MAX_PROCESSES, DEFAULT_MAX_THREADS)
    }
}

impl ProcessTable {
    pub fn with_limits(max_processes: usize, max_threads: usize) -> Self {
        ProcessTable {
            procs: FastMap::default(),
            threads: FastMap::default(),
            max_processes: max_processes.max(1),
            max_threads: max_threads.max(1),
            evicted_processes: 0,
            evicted_threads: 0,
        }
    }

    /// Changes the bounds (entries above a lowered bound go at the next inserts).
    pub fn set_limits(&mut self, max_processes: usize, max_threads: usize) {
        self.max_processes = max_processes.max(1);
        self.max_threads = max_threads.max(1);
    }

    /// Gives back the memory of emptied tables: a hash map keeps its peak
    /// capacity, so after a burst of processes or threads it is shrunk once
    /// it is mostly empty.
    pub fn shrink(&mut self) {
        if self.procs.capacity() > 1024 && self.procs.len() * 4 < self.procs.capacity() {
            self.procs.shrink_to_fit();
        }
        if self.threads.capacity() > 1024 && self.threads.len() * 4 < self.threads.capacity() {
            self.threads.shrink_to_fit();
        }
    }

    pub fn get(&self, tgid: u32) -> Option<&Process> {
        self.procs.get(&tgid)
    }

    pub fn get_mut(&mut self, tgid: u32) -> Option<&mut Process> {
        self.procs.get_mut(&tgid)
    }

    pub fn insert(&mut self, p: Process) {
        if self.procs.len() >= self.max_processes && !self.procs.contains_key(&p.tgid) {
            // Any other entry: the table has no notion of age, and a live
            // victim is read back from /proc when it shows up again. pid 1
            // stays, as the root of every ancestry.
            let victim = self.procs.keys().copied().find(|k| *k != 1 && *k != p.tgid);
            if let Some(v) = victim {
                self.procs.remove(&v);
                self.evicted_processes += 1;
            }
        }
        self.procs.insert(p.tgid, p);
    }

    pub fn add_thread(&mut self, tid: u32, tgid: u32) {
        if tid != tgid {
            if self.threads.len() >= self.max_threads && !self.threads.contains_key(&tid) {
                let victim = self.threads.keys().copied().next();
                if let Some(v) = victim {
                    self.threads.remove(&v);
                    self.evicted_threads += 1;
                }
            }
            self.threads.insert(tid, tgid);
        }
    }

    /// The process of thread `tid`, if known.
    pub fn tgid_of(&self, tid: u32) -> Option<u32> {
        if self.procs.contains_key(&tid) {
            return Some(tid);
        }
        self.threads.get(&tid).copied()
    }

    pub fn remove_thread(&mut self, tid: u32) {
        self.threads.remove(&tid);
    }

    pub fn remove(&mut self, tgid: u32) -> Option<Process> {
        self.procs.remove(&tgid)
    }

    /// Removes the other threads of a process (exec from a non-leader thread
    /// kills every other thread, and the caller takes the leader's pid).
    pub fn drop_threads_of(&mut self, tgid: u32) {
        self.threads.retain(|_, g| *g != tgid);
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn thread_count(&self) -> usize {
        self.procs.len() + self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    pub fn fd_count(&self) -> usize {
        self.procs.values().map(|p| p.fds.len()).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Process> {
        self.procs.values_mut()
    }

    /// The `n`th ancestor (1 = parent), following ppid links; stops at pid 0,
    /// at unknown processes and at loops.
    pub fn ancestor<'a>(&'a self, p: &'a Process, n: u32) -> Option<&'a Process> {
        let mut cur = p;
        for _ in 0..n {
            if cur.ppid == 0 || cur.ppid == cur.tgid {
                return None;
            }
            cur = self.procs.get(&cur.ppid)?;
        }
        Some(cur)
    }

    /// Every known ancestor, parent first (bounded against ppid loops).
    pub fn ancestors<'a>(&'a self, p: &'a Process) -> impl Iterator<Item = &'a Process> + 'a {
        let mut cur = Some(p);
        let mut steps = 0;
        std::iter::from_fn(move || {
            let c = cur?;
            steps += 1;
            if steps > 64 || c.ppid == 0 || c.ppid == c.tgid {
                cur = None;
                return None;
            }
            cur = self.procs.get(&c.ppid);
            cur
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(tgid: u32, ppid: u32, comm: &str) -> Process {
        Process::minimal(tgid, ppid, comm, &Arc::from("host"))
    }

    #[test]
    fn ancestors_follow_ppid_and_stop_at_unknown_or_loops() {
        let mut t = ProcessTable::default();
        t.insert(p(1, 0, "systemd"));
        t.insert(p(10, 1, "sshd"));
        t.insert(p(20, 10, "bash"));
        t.insert(p(30, 20, "cat"));
        let cat = t.get(30).unwrap();
        assert_eq!(t.ancestor(cat, 1).unwrap().comm, "bash");
        assert_eq!(t.ancestor(cat, 3).unwrap().comm, "systemd");
        assert!(t.ancestor(cat, 4).is_none());
        let names: Vec<&str> = t.ancestors(cat).map(|a| a.comm.as_str()).collect();
        assert_eq!(names, vec!["bash", "sshd", "systemd"]);

        t.insert(p(40, 41, "a"));
        t.insert(p(41, 40, "b"));
        assert!(t.ancestors(t.get(40).unwrap()).count() <= 64);
    }

    #[test]
    fn cmdline_env_and_threads() {
        let mut x = p(5, 1, "grep");
        x.args = vec!["-r".into(), "BEGIN RSA PRIVATE".into()];
        x.env = vec!["HOME=/root".into(), "HOMER=x".into()];
        assert_eq!(x.cmdline(), "grep -r BEGIN RSA PRIVATE");
        assert_eq!(x.args_joined(), "-r BEGIN RSA PRIVATE");
        assert_eq!(x.env_var("HOME"), Some("/root"));
        assert_eq!(x.env_var("HOM"), None);
        let mut t = ProcessTable::default();
        t.insert(x);
        t.add_thread(6, 5);
        assert_eq!(t.tgid_of(6), Some(5));
        assert_eq!(t.tgid_of(5), Some(5));
        t.drop_threads_of(5);
        assert_eq!(t.tgid_of(6), None);
    }

    #[test]
    fn full_tables_evict_and_count_but_keep_pid_1_and_the_newcomer() {
        let mut t = ProcessTable::with_limits(3, 2);
        for pid in [1, 2, 3, 4, 5] {
            t.insert(p(pid, 1, "x"));
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.evicted_processes, 2);
        assert!(t.get(1).is_some() && t.get(5).is_some());
        // Updating a known process evicts nothing.
        t.insert(p(5, 1, "y"));
        assert_eq!(t.evicted_processes, 2);
        for tid in [10, 11, 12] {
            t.add_thread(tid, 5);
        }
        assert_eq!(t.thread_count(), 3 + 2);
        assert_eq!(t.evicted_threads, 1);
        assert_eq!(t.tgid_of(12), Some(5));
    }
}
