//! Process, fd, user and container state rebuilt from events.
//!
//! Each event is applied in two steps around rule evaluation, as Falco's
//! parser does: [`State::apply`] before (a new process, exec, a new fd, a
//! changed working directory must be visible to the rules that see this
//! event), [`State::finish`] after (a closed fd or an exited process must
//! still be visible to rules on the close or exit event itself).

pub mod container;
pub mod fd;
pub mod hostnames;
pub mod path;
pub mod process;
pub mod procfs;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::flags::{AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, O_CLOEXEC_BIT, O_DIRECTORY};
use crate::event::{AT_FDCWD, Detail, Event, ExecInfo, SockAddr, SockTuple, fcntl};
use container::ContainerTable;
use fd::{FdInfo, FdKind, Role};
use process::{FastMap, MAX_ENV_ENTRIES, Process, ProcessTable};
use procfs::{ProcFs, SocketTables};
use users::UserDb;

const EINPROGRESS: i64 = -115;

/// Counters the metrics module reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateStats {
    /// Processes read from /proc because an event named an unknown one.
    pub proc_lookups: u64,
    /// Unknown processes that could not be read (gone, or lookups rate-limited).
    pub proc_lookup_misses: u64,
    /// Processes removed by the sweep because their exit was never seen.
    pub swept: u64,
    /// Processes evicted because the process table was full.
    pub processes_evicted: u64,
    /// Thread entries evicted because the thread table was full.
    pub threads_evicted: u64,
    /// File descriptors evicted: a process's table or all of them were full.
    pub fds_evicted: u64,
    /// Users and groups of the host's files not kept (over the cap).
    pub users_evicted: u64,
    /// Full /proc rescans (after kernel drops).
    pub proc_rescans: u64,
    /// File descriptors read back from /proc: opens or closes that drops
    /// hid (rescans), and evicted fds an event used again.
    pub fds_recovered: u64,
}

/// What one [`State::rescan`] recovered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rescan {
    /// Processes /proc has that the table lacked (their fork was lost).
    pub added: usize,
    /// Known processes whose exec was lost, read again from /proc.
    pub refreshed: usize,
    /// File descriptors added or corrected from `/proc/PID/fd`.
    pub fds: u64,
}

/// Bounds of the state tables (`saker.state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLimits {
    pub max_processes: usize,
    pub max_threads: usize,
    pub max_fds_per_process: usize,
    pub max_fds: usize,
    pub max_users: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            max_processes: process::DEFAULT_MAX_PROCESSES,
            max_threads: process::DEFAULT_MAX_THREADS,
            max_fds_per_process: 16_384,
            max_fds: 262_144,
            max_users: 65_536,
        }
    }
}

#[derive(Debug)]
pub struct State {
    pub procs: ProcessTable,
    pub users: UserDb,
    /// Containers of the processes (ids from cgroups, runtime metadata).
    pub containers: ContainerTable,
    /// Host names of socket addresses (`fd.*ip.name`); disabled unless started.
    pub hostnames: hostnames::HostNames,
    procfs: Option<ProcFs>,
    host: Arc<str>,
    pub stats: StateStats,
    lookup_budget: LookupBudget,
    last_sweep: Option<Instant>,
    limits: StateLimits,
}

/// Lazy /proc lookups allowed per second: a burst of unknown pids (after
/// drops) must not turn the agent into a /proc scanner.
#[derive(Debug)]
struct LookupBudget {
    window: Option<Instant>,
    used: u32,
}

const LOOKUPS_PER_SEC: u32 = 200;
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

impl LookupBudget {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        match self.window {
            Some(w) if now.duration_since(w) < Duration::from_secs(1) => {}
            _ => {
                self.window = Some(now);
                self.used = 0;
            }
        }
        self.used += 1;
        self.used <= LOOKUPS_PER_SEC
    }
}

impl State {
    /// Live state: seeded from `<host_root>/proc`, users from `<host_root>/etc`;
    /// containers of the seeded processes go into `containers` (and its lookup queue).
    pub fn live(host_root: &Path, boot_to_wall_ns: i64, containers: ContainerTable) -> Self {
        let host: Arc<str> = Arc::from(container::HOST);
        let procfs = ProcFs::new(host_root.join("proc"), boot_to_wall_ns, host.clone());
        let mut s = State {
            procs: ProcessTable::default(),
            users: UserDb::load(host_root),
            containers,
            hostnames: hostnames::HostNames::disabled(),
            procfs: Some(procfs),
            host,
            stats: StateStats::default(),
            lookup_budget: LookupBudget {
                window: None,
                used: 0,
            },
            last_sweep: None,
            limits: StateLimits::default(),
        };
        s.seed();
        s
    }

    /// State without /proc (replays, tests): only what events and seeds tell.
    pub fn detached(users: UserDb) -> Self {
        State {
            procs: ProcessTable::default(),
            users,
            containers: ContainerTable::default(),
            hostnames: hostnames::HostNames::disabled(),
            procfs: None,
            host: Arc::from(container::HOST),
            stats: StateStats::default(),
            lookup_budget: LookupBudget {
                window: None,
                used: 0,
            },
            last_sweep: None,
            limits: StateLimits::default(),
        }
    }

    /// Sets the table bounds (applied from the next insert on, and by
    /// [`State::enforce_limits`] to what is already there).
    pub fn set_limits(&mut self, limits: StateLimits) {
        self.procs
            .set_limits(limits.max_processes, limits.max_threads);
        self.users.set_max_entries(limits.max_users);
        self.limits = limits;
        self.enforce_limits();
    }

    /// Brings the fd tables within `max_fds` (the per-process bound is kept
    /// as events arrive; the total is checked here, once a second, taking
    /// from the processes with the most fds), gives back the memory of
    /// emptied tables, and copies the eviction counts into the stats.
    pub fn enforce_limits(&mut self) {
        let mut total = self.procs.fd_count();
        while total > self.limits.max_fds {
            let Some(p) = self.procs.iter_mut().max_by_key(|p| p.fds.len()) else {
                break;
            };
            let excess = total - self.limits.max_fds;
            // At least a quarter of the largest table, so a node with
            // many processes near the bound does not loop per fd.
            let n = excess.max(p.fds.len() / 4).min(p.fds.len()).max(1);
            let victims: Vec<i64> = p.fds.keys().copied().take(n).collect();
            for fd in &victims {
                p.fds.remove(fd);
            }
            p.fds_evicted = true;
            self.stats.fds_evicted += victims.len() as u64;
            total -= victims.len();
        }
        for p in self.procs.iter_mut() {
            if p.fds.capacity() > 64 && p.fds.len() * 4 < p.fds.capacity() {
                p.fds.shrink_to_fit();
            }
        }
        self.procs.shrink();
        self.stats.processes_evicted = self.procs.evicted_processes;
        self.stats.threads_evicted = self.procs.evicted_threads;
        self.stats.users_evicted = self.users.evicted;
    }

    /// Reads every process of /proc that the table lacks (after kernel
    /// drops lost forks or execs: Falco rescans /proc for the same reason),
    /// replaces those whose exec was lost (their comm, executable or
    /// arguments differ from /proc's) and brings every fd table in line
    /// with `/proc/PID/fd` (opens and closes the drops hid); the sweep
    /// removes the processes whose exit was lost.
    pub fn rescan(&mut self) -> Rescan {
        let Some(procfs) = self.procfs.clone() else {
            return Rescan::default();
        };
        self.stats.proc_rescans += 1;
        let mut sockets = SocketTables::default();
        let now = Instant::now();
        let mut done = Rescan::default();
        let fds_before = self.stats.fds_recovered;
        for pid in procfs.pids() {
            let Some(mut fresh) = procfs.read_process(pid, &mut sockets) else {
                continue;
            };
            if let Some(p) = self.procs.get_mut(pid) {
                let exec_lost =
                    p.comm != fresh.comm || p.exepath != fresh.exepath || p.args != fresh.args;
                self.stats.fds_recovered += reconcile_fds(p, std::mem::take(&mut fresh.fds)) as u64;
                if !exec_lost {
                    continue;
                }
                // An exec the drops hid: the process is what /proc says
                // now, with the fds just reconciled.
                fresh.fds = std::mem::take(&mut p.fds);
                fresh.fds_evicted = p.fds_evicted;
                done.refreshed += 1;
            } else {
                for tid in procfs.tids(pid) {
                    self.procs.add_thread(tid, pid);
                }
                self.cap_fds_of(&mut fresh);
                done.added += 1;
            }
            self.set_container(&mut fresh, now);
            self.procs.insert(fresh);
        }
        done.fds = self.stats.fds_recovered - fds_before;
        // The exits lost with the same drops: let the next tick sweep.
        self.last_sweep = None;
        done
    }

    /// Keeps `p`'s fd table within `max_fds_per_process`.
    fn cap_fds_of(&mut self, p: &mut Process) {
        cap_fds(p, &[], self.limits.max_fds_per_process, &mut self.stats);
    }

    pub fn host_id(&self) -> &Arc<str> {
        &self.host
    }

    /// Reads every process and thread from /proc.
    pub fn seed(&mut self) {
        let Some(procfs) = self.procfs.clone() else {
            return;
        };
        let mut sockets = SocketTables::default();
        let now = Instant::now();
        for pid in procfs.pids() {
            if let Some(mut p) = procfs.read_process(pid, &mut sockets) {
                for tid in procfs.tids(pid) {
                    self.procs.add_thread(tid, pid);
                }
                self.set_container(&mut p, now);
                self.cap_fds_of(&mut p);
                self.procs.insert(p);
            }
        }
    }

    /// Sets `p.container_id` from `p.cgroup` (registering a new container).
    fn set_container(&mut self, p: &mut Process, now: Instant) {
        p.container_id = match self.containers.identify(&p.cgroup, p.start_ns, now) {
            Some(id) => id,
            None => self.host.clone(),
        };
    }

    /// Adds a process that existed before a recording began (its container
    /// id as recorded).
    pub fn insert_seed(&mut self, p: Process) {
        self.procs.insert(p);
    }

    /// Forgets containers without processes (after the grace period); at most
    /// once per call site tick. Returns the ids removed.
    pub fn sweep_containers(&mut self, now: Instant) -> Vec<Arc<str>> {
        let procs = &self.procs;
        self.containers
            .sweep(procs.iter().map(|p| &*p.container_id), now)
    }

    /// The process of an event, created if unknown (from /proc when live,
    /// else from the event header).
    fn process_for(&mut self, ev: &Event) -> &mut Process {
        if self.procs.get(ev.tgid).is_none() {
            let mut found = None;
            if let Some(procfs) = &self.procfs {
                if self.lookup_budget.take() {
                    found = procfs.read_process(ev.tgid, &mut SocketTables::default());
                }
                match found {
                    Some(_) => self.stats.proc_lookups += 1,
                    None => self.stats.proc_lookup_misses += 1,
                }
            }
            if let Some(p) = &mut found {
                self.set_container(p, Instant::now());
                cap_fds(p, &[], self.limits.max_fds_per_process, &mut self.stats);
            }
            let p = found.unwrap_or_else(|| {
                let mut p = Process::minimal(ev.tgid, ev.ppid, &ev.comm, &self.host);
                p.uid = ev.uid;
                p.gid = ev.gid;
                p.loginuid = ev.loginuid;
                p
            });
            self.procs.insert(p);
        }
        self.procs.add_thread(ev.tid, ev.tgid);
        let p = self
            .procs
            .get_mut(ev.tgid)
            .unwrap_or_else(|| unreachable!("inserted above"));
        // Every record carries the current credentials and parent: keep them fresh
        // (setuid family, reparenting after a parent exits).
        if !matches!(ev.detail, Detail::Fork { .. }) || ev.tid == ev.tgid {
            p.uid = ev.uid;
            p.gid = ev.gid;
            p.loginuid = ev.loginuid;
            if ev.ppid != 0 {
                p.ppid = ev.ppid;
            }
        }
        p
    }

    /// Updates state with `ev` before rules see it.
    pub fn apply(&mut self, ev: &Event) {
        match &ev.detail {
            Detail::Fork {
                child_tid,
                child_tgid,
                child_ppid,
                child_vpid,
                ..
            } => self.on_fork(ev, *child_tid, *child_tgid, *child_ppid, *child_vpid),
            Detail::Exec(x) => self.on_exec(ev, x),
            _ => {
                let host = self.host.clone();
                let max = self.limits.max_fds_per_process;
                self.recover_evicted_fd(ev);
                let p = self.process_for(ev);
                apply_fd_event(p, ev, &host);
                if p.fds.len() > max {
                    // Spared: the fd the event made (the return value of an
                    // open, socket, accept or dup) and the fd it used.
                    let made = (ev.ret >= 0 && event_makes_fd(ev)).then_some(ev.ret);
                    let keep: Vec<i64> = made.into_iter().chain(used_fd(ev)).collect();
                    let mut evicted = StateStats::default();
                    cap_fds(p, &keep, max, &mut evicted);
                    self.stats.fds_evicted += evicted.fds_evicted;
                }
            }
        }
    }

    /// An event on an fd that the table evicted (the process had evictions
    /// and lacks the fd): reads it back from `/proc/PID/fd/N` while the
    /// lookup budget allows, so rules see its name instead of nothing.
    /// Events that make or end the fd (open, socket, close) need no lookup.
    fn recover_evicted_fd(&mut self, ev: &Event) {
        let Some(procfs) = &self.procfs else {
            return;
        };
        let Some(fd) = used_fd(ev) else {
            return;
        };
        let Some(p) = self.procs.get_mut(ev.tgid) else {
            return;
        };
        if !p.fds_evicted || fd < 0 || p.fds.contains_key(&fd) || !self.lookup_budget.take() {
            return;
        }
        if let Some(info) = procfs.read_fd(ev.tgid, fd) {
            p.fds.insert(fd, info);
            self.stats.fds_recovered += 1;
        }
    }

    /// Removes what `ev` ended, after rules have seen it.
    pub fn finish(&mut self, ev: &Event) {
        match &ev.detail {
            Detail::Close { fd } if ev.ret == 0 => {
                if let Some(p) = self.procs.get_mut(ev.tgid) {
                    p.fds.remove(fd);
                }
            }
            Detail::Exit { group_dead, .. } => {
                if ev.tid != ev.tgid {
                    self.procs.remove_thread(ev.tid);
                    if let Some(p) = self.procs.get_mut(ev.tgid) {
                        p.threads = p.threads.saturating_sub(1);
                    }
                }
                if *group_dead {
                    self.procs.drop_threads_of(ev.tgid);
                    self.procs.remove(ev.tgid);
                }
            }
            _ => {}
        }
    }

    fn on_fork(
        &mut self,
        ev: &Event,
        child_tid: u32,
        child_tgid: u32,
        child_ppid: u32,
        child_vpid: u32,
    ) {
        let host = self.host.clone();
        let parent = self.process_for(ev);
        if child_tgid == ev.tgid {
            parent.threads += 1;
            self.procs.add_thread(child_tid, child_tgid);
            return;
        }
        let mut child = parent.clone();
        child.tgid = child_tgid;
        child.ppid = if child_ppid != 0 { child_ppid } else { ev.tgid };
        child.threads = 1;
        child.start_ns = ev.ts_wall_ns;
        child.vpid = child_vpid;
        child.from_proc = false;
        if child.container_id.is_empty() {
            child.container_id = host;
        }
        self.procs.insert(child);
        self.procs.add_thread(child_tid, child_tgid);
    }

    fn on_exec(&mut self, ev: &Event, x: &ExecInfo) {
        if x.old_tid != ev.tid {
            // A non-leader thread exec'd: the kernel killed the other threads.
            self.procs.remove_thread(x.old_tid);
            self.procs.drop_threads_of(ev.tgid);
        }
        let host = self.host.clone();
        // Wrapping: a record's times are whatever the kernel (or a
        // recording) says; nonsense gives a nonsense start, never a panic.
        let boot_to_wall = ev.ts_wall_ns.wrapping_sub(ev.ts_boot_ns as i64);
        // The exec record's cgroup is the container identity of this process
        // (and of its future children), however briefly it lives.
        let container = (!x.cgroup.is_empty() && x.cgroup != "/").then(|| {
            let start = if x.start_boot_ns != 0 {
                (x.start_boot_ns as i64).wrapping_add(boot_to_wall)
            } else {
                ev.ts_wall_ns
            };
            self.containers
                .identify(&x.cgroup, start, Instant::now())
                .unwrap_or_else(|| host.clone())
        });
        let p = self.process_for(ev);
        p.comm = ev.comm.to_string();
        let mut args = x.args.clone();
        p.exe = if args.is_empty() {
            x.filename.clone()
        } else {
            args.remove(0)
        };
        p.args = args;
        p.env = x.env.iter().take(MAX_ENV_ENTRIES).cloned().collect();
        p.exepath = x.exe_path.clone();
        p.cwd = x.cwd.clone();
        p.ruid = x.ruid;
        p.rgid = x.rgid;
        p.tty = x.tty;
        p.sid = x.sid;
        p.vpgid = x.vpgid;
        p.vpid = x.vpid;
        p.pidns_level = x.pidns_level;
        p.cap_inheritable = x.cap_inheritable;
        p.cap_permitted = x.cap_permitted;
        p.cap_effective = x.cap_effective;
        if x.start_boot_ns != 0 {
            p.start_ns = (x.start_boot_ns as i64).wrapping_add(boot_to_wall);
        }
        p.exe_ino = x.exe_ino;
        p.exe_ctime_ns = x.exe_ctime_ns;
        p.exe_mtime_ns = x.exe_mtime_ns;
        p.exe_writable = x.exe_writable;
        p.exe_upper_layer = x.exe_upper_layer;
        p.exe_lower_layer = x.exe_lower_layer;
        p.exe_from_memfd = x.exe_from_memfd;
        if let Some(id) = container {
            p.cgroup = x.cgroup.clone();
            p.container_id = id;
        }
        p.threads = 1;
        // exec closes close-on-exec descriptors.
        p.fds.retain(|_, f| f.flags & O_CLOEXEC_BIT == 0);
    }

    /// Drops processes whose exit was never seen (lost events): those whose
    /// /proc entry is gone. Live state only; at most every 30 seconds.
    pub fn sweep(&mut self) {
        let Some(procfs) = &self.procfs else { return };
        let now = Instant::now();
        if self
            .last_sweep
            .is_some_and(|t| now.duration_since(t) < SWEEP_INTERVAL)
        {
            return;
        }
        self.last_sweep = Some(now);
        let dead: Vec<u32> = self
            .procs
            .iter()
            .map(|p| p.tgid)
            .filter(|pid| !procfs.root.join(pid.to_string()).exists())
            .collect();
        for pid in dead {
            self.procs.drop_threads_of(pid);
            self.procs.remove(pid);
            self.stats.swept += 1;
        }
        self.users.refresh();
    }

    /// The directory an *at() call's dirfd refers to.
    pub fn dir_of(p: &Process, dirfd: i64) -> Option<&str> {
        if dirfd == AT_FDCWD {
            Some(p.cwd.as_str())
        } else {
            p.fds.get(&dirfd).map(|f| f.name.as_str())
        }
    }

    /// Resolves a path argument the way Falco builds `fd.name`.
    pub fn resolve_path(p: &Process, dirfd: i64, raw: &str) -> String {
        if raw.starts_with('/') {
            return path::normalize(raw);
        }
        match Self::dir_of(p, dirfd) {
            Some(base) if !base.is_empty() => path::resolve(base, raw),
            _ => raw.to_string(),
        }
    }

    /// Where this state reads /proc from (None when detached).
    pub fn proc_root(&self) -> Option<PathBuf> {
        self.procfs.as_ref().map(|p| p.root.clone())
    }
}

/// Evicts fds of `p` above `max` (any but those in `keep`), counting them.
fn cap_fds(p: &mut Process, keep: &[i64], max: usize, stats: &mut StateStats) {
    if p.fds.len() <= max {
        return;
    }
    let n = p.fds.len() - max;
    let victims: Vec<i64> = p
        .fds
        .keys()
        .copied()
        .filter(|fd| !keep.contains(fd))
        .take(n)
        .collect();
    for fd in &victims {
        p.fds.remove(fd);
    }
    p.fds_evicted = true;
    stats.fds_evicted += victims.len() as u64;
}

/// Whether a successful `ev` returns a new fd (open family, socket,
/// accept, dup family, memfd_create, userfaultfd, fcntl(F_DUPFD*)).
fn event_makes_fd(ev: &Event) -> bool {
    match &ev.detail {
        Detail::Open { .. }
        | Detail::Socket { .. }
        | Detail::MemfdCreate { .. }
        | Detail::Userfaultfd { .. }
        | Detail::Dup { .. } => true,
        Detail::SocketIo { .. } => matches!(ev.etype.name(), "accept" | "accept4"),
        Detail::Fcntl { cmd, .. } => matches!(*cmd, fcntl::F_DUPFD | fcntl::F_DUPFD_CLOEXEC),
        _ => false,
    }
}

/// The fd an event uses without making or ending it (its entry must
/// already be in the table): reads, writes, sends, fchmod, dup's old fd ...
fn used_fd(ev: &Event) -> Option<i64> {
    match &ev.detail {
        Detail::Listen { fd, .. }
        | Detail::Fchmod { fd, .. }
        | Detail::Setns { fd, .. }
        | Detail::Fcntl { fd, .. } => Some(*fd),
        Detail::Dup { oldfd, .. } => Some(*oldfd),
        Detail::SocketIo { fd, .. } if !matches!(ev.etype.name(), "accept" | "accept4") => {
            Some(*fd)
        }
        Detail::Module { fd, .. } | Detail::Chdir { fd, .. } => *fd,
        _ => None,
    }
}

/// Makes `p`'s fd table what `/proc` says is open now (`now_open`): fds it
/// lacks are added, fds /proc no longer has are removed (their close was
/// lost), and an fd whose /proc target differs in kind or, for files, in
/// name (closed and reused while events were lost) is replaced. Entries
/// that agree are kept, with what events told beyond /proc (open flags).
/// Returns how many entries were added or replaced.
fn reconcile_fds(p: &mut Process, now_open: FastMap<i64, FdInfo>) -> usize {
    p.fds.retain(|fd, _| now_open.contains_key(fd));
    let mut changed = 0;
    for (fd, info) in now_open {
        let stale = match p.fds.get(&fd) {
            None => true,
            // /proc could not tell what this socket is: what events told stays.
            Some(_) if info.kind == FdKind::Unknown => false,
            Some(old) => {
                old.kind != info.kind
                    || (matches!(info.kind, FdKind::File | FdKind::Directory)
                        && old.name != info.name)
            }
        };
        if stale {
            p.fds.insert(fd, info);
            changed += 1;
        }
    }
    changed
}

fn inet_kind(family: u16) -> FdKind {
    match family {
        AF_INET => FdKind::Ipv4,
        AF_INET6 => FdKind::Ipv6,
        AF_UNIX => FdKind::Unix,
        AF_NETLINK => FdKind::Netlink,
        _ => FdKind::Unknown,
    }
}

/// Fills socket endpoints from the kernel's tuple.
fn update_from_tuple(f: &mut FdInfo, t: &SockTuple) {
    let kind = inet_kind(t.family);
    if kind != FdKind::Unknown {
        f.kind = kind;
    }
    if t.protocol != 0 {
        f.l4proto = t.protocol;
    }
    if t.local.is_some() {
        f.local = t.local;
    }
    if t.remote
        .is_some_and(|(ip, port)| !ip.is_unspecified() || port != 0)
    {
        f.remote = t.remote;
    }
    if let Some(p) = &t.unix_path {
        f.name = p.clone();
    }
}

fn sockaddr_endpoint(a: &Option<SockAddr>) -> Option<fd::Endpoint> {
    match a {
        Some(SockAddr::Inet { ip, port }) => Some((*ip, *port)),
        _ => None,
    }
}

/// Makes `newfd` a copy of `oldfd` (dup family, fcntl F_DUPFD): same name,
/// kind and endpoints; close-on-exec only when `cloexec`. An unknown `oldfd`
/// leaves `newfd` unknown too (whatever it was before was closed).
fn copy_fd(p: &mut Process, oldfd: i64, newfd: i64, cloexec: bool) {
    match p.fds.get(&oldfd).cloned() {
        Some(mut f) => {
            f.flags &= !O_CLOEXEC_BIT;
            if cloexec {
                f.flags |= O_CLOEXEC_BIT;
            }
            f.name_changed = false;
            p.fds.insert(newfd, f);
        }
        None => {
            p.fds.remove(&newfd);
        }
    }
}

fn apply_fd_event(p: &mut Process, ev: &Event, _host: &Arc<str>) {
    let ok = ev.ret >= 0;
    match &ev.detail {
        Detail::Open {
            dirfd, path, flags, ..
        } if ok => {
            let name = State::resolve_path(p, *dirfd, path);
            let kind = if flags & O_DIRECTORY != 0 {
                FdKind::Directory
            } else {
                FdKind::File
            };
            let mut f = FdInfo::new(kind, name);
            f.flags = *flags;
            p.fds.insert(ev.ret, f);
        }
        Detail::Dup {
            oldfd,
            flags: dflags,
            ..
        } if ok => {
            // As Falco's parse_dup_exit: the copy drops close-on-exec, which
            // dup3(O_CLOEXEC) sets again.
            let cloexec = ev.etype.name() == "dup3" && dflags & O_CLOEXEC_BIT != 0;
            copy_fd(p, *oldfd, ev.ret, cloexec);
        }
        Detail::Fcntl { fd, cmd, arg } if ok => match *cmd {
            // fcntl(F_DUPFD[_CLOEXEC]) is a dup to the lowest free fd >= arg
            // (Python's os.dup uses it); F_SETFD sets or clears close-on-exec
            // (Falco's parse_fcntl_exit; F_SETFL cannot change O_CLOEXEC and
            // Falco does not track it either).
            fcntl::F_DUPFD | fcntl::F_DUPFD_CLOEXEC => {
                copy_fd(p, *fd, ev.ret, *cmd == fcntl::F_DUPFD_CLOEXEC);
            }
            fcntl::F_SETFD => {
                if let Some(f) = p.fds.get_mut(fd) {
                    if arg & fcntl::FD_CLOEXEC != 0 {
                        f.flags |= O_CLOEXEC_BIT;
                    } else {
                        f.flags &= !O_CLOEXEC_BIT;
                    }
                }
            }
            _ => {}
        },
        Detail::Socket {
            domain,
            sock_type,
            protocol,
        } if ok => {
            let kind = inet_kind(*domain as u16);
            let mut f = FdInfo::new(kind, String::new());
            f.l4proto = match (*sock_type & 0xf, *protocol) {
                (_, p) if p != 0 => p as u16,
                (1, _) => 6,
                (2, _) => 17,
                _ => 0,
            };
            p.fds.insert(ev.ret, f);
        }
        Detail::SocketIo {
            fd, addr, tuple, ..
        } => {
            let name = ev.etype.name();
            let accepted = matches!(name, "accept" | "accept4");
            if accepted {
                if !ok {
                    return;
                }
                let mut f = FdInfo::new(FdKind::Unknown, String::new());
                if let Some(t) = tuple {
                    update_from_tuple(&mut f, t);
                }
                f.role = Role::Server;
                f.connected = true;
                if f.kind.is_inet() {
                    f.set_inet_name();
                }
                f.name_changed = false;
                p.fds.insert(ev.ret, f);
                return;
            }
            let f = p
                .fds
                .entry(*fd)
                .or_insert_with(|| FdInfo::new(FdKind::Unknown, String::new()));
            if let Some(t) = tuple {
                update_from_tuple(f, t);
            }
            match name {
                "connect" => {
                    if ok || ev.ret == EINPROGRESS {
                        f.role = Role::Client;
                        f.connected = true;
                        if let Some(r) = sockaddr_endpoint(addr) {
                            f.remote = Some(r);
                        }
                    }
                    if let Some(SockAddr::Unix { path }) = addr {
                        f.name = path.clone();
                        f.kind = FdKind::Unix;
                    }
                }
                "bind" if ok && f.local.is_none() => {
                    f.local = sockaddr_endpoint(addr);
                }
                "sendto" | "sendmsg" => {
                    if let Some(r) = sockaddr_endpoint(addr) {
                        if f.role == Role::Unknown {
                            f.role = Role::Client;
                        }
                        f.remote = Some(r);
                    }
                }
                "recvfrom" | "recvmsg" => {
                    if let Some(r) = sockaddr_endpoint(addr) {
                        if f.role == Role::Unknown {
                            f.role = Role::Server;
                        }
                        f.remote = Some(r);
                    }
                }
                _ => {}
            }
            if f.kind.is_inet() {
                f.set_inet_name();
            } else {
                f.name_changed = false;
            }
        }
        Detail::Listen { fd, .. } if ok => {
            if let Some(f) = p.fds.get_mut(fd) {
                f.role = Role::Server;
            }
        }
        Detail::MemfdCreate { name, flags } if ok => {
            let mut f = FdInfo::new(FdKind::Memfd, format!("memfd:{name}"));
            // MFD_CLOEXEC (1) maps to O_CLOEXEC for our exec-time cleanup.
            if flags & 1 != 0 {
                f.flags = O_CLOEXEC_BIT;
            }
            p.fds.insert(ev.ret, f);
        }
        Detail::Userfaultfd { .. } if ok => {
            p.fds.insert(
                ev.ret,
                FdInfo::new(FdKind::Userfaultfd, "userfaultfd".into()),
            );
        }
        Detail::Chdir { cwd, .. } if ok => {
            p.cwd = cwd.clone();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
