//! Seeding state from /proc: processes that started before the agent, and
//! lazy lookups of processes whose creation the agent did not see.
//!
//! Every read tolerates the process vanishing mid-way (short-lived
//! processes): a missing file gives a default, never an error.

use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fd::{FdInfo, FdKind, Role};
use super::process::{FastMap, MAX_ENV_ENTRIES, Process};

/// Where /proc is (under the host root in a container) and how to turn
/// boot-clock ticks into wall time.
#[derive(Debug, Clone)]
pub struct ProcFs {
    pub root: PathBuf,
    pub boot_to_wall_ns: i64,
    pub host: Arc<str>,
    ticks_per_sec: i64,
}

impl ProcFs {
    pub fn new(proc_root: PathBuf, boot_to_wall_ns: i64, host: Arc<str>) -> Self {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ProcFs {
            root: proc_root,
            boot_to_wall_ns,
            host,
            ticks_per_sec: if ticks > 0 { ticks } else { 100 },
        }
    }

    fn path(&self, pid: u32, rest: &str) -> PathBuf {
        self.root.join(pid.to_string()).join(rest)
    }

    /// Pids of every process now.
    pub fn pids(&self) -> Vec<u32> {
        let Ok(dir) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut pids: Vec<u32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Thread ids of a process (its own pid included).
    pub fn tids(&self, pid: u32) -> Vec<u32> {
        let Ok(dir) = fs::read_dir(self.path(pid, "task")) else {
            return vec![pid];
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// Reads one process, with its fds (sockets resolved via `sockets`).
    pub fn read_process(&self, pid: u32, sockets: &mut SocketTables) -> Option<Process> {
        let stat = fs::read_to_string(self.path(pid, "stat")).ok()?;
        let (comm, fields) = parse_stat(&stat)?;
        // Fields after the comm: state(0) ppid(1) pgrp(2) session(3) tty_nr(4) ... starttime(19)
        let num = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let mut p = Process::minimal(pid, num(1) as u32, &comm, &self.host);
        p.from_proc = true;
        p.tty = num(4) as u32;
        let start_ticks = num(19);
        p.start_ns = start_ticks * (1_000_000_000 / self.ticks_per_sec) + self.boot_to_wall_ns;
        p.sid = num(3) as u32;
        p.vpgid = num(2) as u32;

        if let Ok(status) = fs::read_to_string(self.path(pid, "status")) {
            apply_status(&mut p, &status);
        }
        let cmdline = fs::read(self.path(pid, "cmdline")).unwrap_or_default();
        let mut argv = split_nul(&cmdline);
        if !argv.is_empty() {
            p.exe = argv.remove(0);
            p.args = argv;
        }
        let environ = fs::read(self.path(pid, "environ")).unwrap_or_default();
        p.env = split_nul(&environ);
        p.env.truncate(MAX_ENV_ENTRIES);
        if let Ok(exe) = fs::read_link(self.path(pid, "exe")) {
            p.exepath = exe.to_string_lossy().into_owned();
            p.exe_from_memfd = p.exepath.starts_with("/memfd:");
            if let Ok(m) = fs::metadata(self.path(pid, "exe")) {
                p.exe_ino = m.ino();
                p.exe_ctime_ns = (m.ctime() * 1_000_000_000 + m.ctime_nsec()) as u64;
                p.exe_mtime_ns = (m.mtime() * 1_000_000_000 + m.mtime_nsec()) as u64;
            }
        }
        if let Ok(cwd) = fs::read_link(self.path(pid, "cwd")) {
            p.cwd = cwd.to_string_lossy().into_owned();
        }
        if let Ok(l) = fs::read_to_string(self.path(pid, "loginuid")) {
            p.loginuid = l.trim().parse().unwrap_or(u32::MAX);
        }
        if let Ok(cg) = fs::read_to_string(self.path(pid, "cgroup")) {
            // container_id is set by the caller (State), which owns the container table.
            p.cgroup = cgroup_path(&cg);
        }
        p.threads = self.tids(pid).len().max(1) as u32;
        self.read_fds(pid, &mut p.fds, sockets);
        Some(p)
    }

    /// Reads `/proc/PID/fd` into `fds` (sockets resolved via `sockets`):
    /// what a process has open now, as far as /proc tells (no open flags).
    pub fn read_fds(&self, pid: u32, fds: &mut FastMap<i64, FdInfo>, sockets: &mut SocketTables) {
        let Ok(dir) = fs::read_dir(self.path(pid, "fd")) else {
            return;
        };
        let netns = self.netns(pid);
        for entry in dir.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i64>().ok())
            else {
                continue;
            };
            if let Some(info) = self.fd_info(pid, &entry.path(), &netns, sockets) {
                fds.insert(fd, info);
            }
        }
    }

    /// One fd of a process from `/proc/PID/fd/FD`, `None` when it is not
    /// open (or the process is gone). Used to get back an fd that the state
    /// evicted (`saker.state.max_fds*`) when an event uses it again.
    pub fn read_fd(&self, pid: u32, fd: i64) -> Option<FdInfo> {
        let path = self.path(pid, &format!("fd/{fd}"));
        let netns = self.netns(pid);
        self.fd_info(pid, &path, &netns, &mut SocketTables::default())
    }

    fn netns(&self, pid: u32) -> String {
        fs::read_link(self.path(pid, "ns/net"))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// What the fd link at `link` (`/proc/PID/fd/N`) points to.
    fn fd_info(
        &self,
        pid: u32,
        link: &Path,
        netns: &str,
        sockets: &mut SocketTables,
    ) -> Option<FdInfo> {
        let target = fs::read_link(link).ok()?;
        let target = target.to_string_lossy().into_owned();
        Some(if let Some(ino) = bracket_num(&target, "socket:[") {
            let table = sockets.for_netns(netns, || self.root.join(pid.to_string()).join("net"));
            match table.get(&ino) {
                Some(info) => info.clone(),
                None => FdInfo::new(FdKind::Unknown, target),
            }
        } else if target.starts_with("pipe:[") {
            FdInfo::new(FdKind::Pipe, target)
        } else if let Some(kind) = target.strip_prefix("anon_inode:") {
            let k = match kind.trim_matches(['[', ']']) {
                "eventfd" => FdKind::Event,
                "eventpoll" => FdKind::Eventpoll,
                "signalfd" => FdKind::Signalfd,
                "timerfd" => FdKind::Timerfd,
                "inotify" => FdKind::Inotify,
                "userfaultfd" => FdKind::Userfaultfd,
                "io_uring" => FdKind::IoUring,
                "pidfd" => FdKind::Pidfd,
                k if k.starts_with("bpf") => FdKind::Bpf,
                _ => FdKind::Unknown,
            };
            FdInfo::new(k, target)
        } else if target.starts_with("/memfd:") {
            FdInfo::new(FdKind::Memfd, target.trim_start_matches('/').to_string())
        } else if target.starts_with('/') {
            let is_dir = fs::metadata(link).map(|m| m.is_dir()).unwrap_or(false);
            FdInfo::new(
                if is_dir {
                    FdKind::Directory
                } else {
                    FdKind::File
                },
                target,
            )
        } else {
            FdInfo::new(FdKind::Unknown, target)
        })
    }
}

/// `(comm, fields after the comm)` of a /proc/PID/stat line. The comm may
/// contain spaces and parentheses, so it is cut at the last `)`.
fn parse_stat(stat: &str) -> Option<(String, Vec<&str>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = stat[open + 1..close].to_string();
    let fields = stat[close + 1..].split_whitespace().collect();
    Some((comm, fields))
}

fn apply_status(p: &mut Process, status: &str) {
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let nums: Vec<&str> = value.split_whitespace().collect();
        let n = |i: usize| nums.get(i).and_then(|v| v.parse::<u32>().ok());
        let hex = || {
            nums.first()
                .and_then(|v| u64::from_str_radix(v, 16).ok())
                .unwrap_or(0)
        };
        match key {
            "Uid" => {
                p.ruid = n(0).unwrap_or(u32::MAX);
                p.uid = n(1).unwrap_or(u32::MAX);
            }
            "Gid" => {
                p.rgid = n(0).unwrap_or(u32::MAX);
                p.gid = n(1).unwrap_or(u32::MAX);
            }
            "CapInh" => p.cap_inheritable = hex(),
            "CapPrm" => p.cap_permitted = hex(),
            "CapEff" => p.cap_effective = hex(),
            // The last value is the id in the process's own pid namespace.
            "NSpid" => {
                if let Some(v) = nums.last().and_then(|v| v.parse().ok()) {
                    p.vpid = v;
                }
                p.pidns_level = nums.len().saturating_sub(1) as u32;
            }
            "NSpgid" => {
                if let Some(v) = nums.last().and_then(|v| v.parse().ok()) {
                    p.vpgid = v;
                }
            }
            "NSsid" => {
                if let Some(v) = nums.last().and_then(|v| v.parse().ok()) {
                    p.sid = v;
                }
            }
            _ => {}
        }
    }
}

fn split_nul(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|c| *c == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// v1 controllers consulted when the v2 path is the root, in the probe's order.
const V1_CONTROLLERS: [&str; 4] = ["memory", "pids", "cpuset", "cpu"];

/// The cgroup path the kernel side also reports (`push_cgroup_walk` in
/// agent-ebpf/bpf/lib/path.h): the v2 path when not the root, else the first
/// v1 controller of memory, pids, cpuset, cpu whose path is not the root.
pub fn cgroup_path(text: &str) -> String {
    let mut v2 = None;
    let mut v1: [Option<&str>; 4] = [None; 4];
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrl.is_empty() {
            v2 = Some(path);
            continue;
        }
        for c in ctrl.split(',') {
            if let Some(i) = V1_CONTROLLERS.iter().position(|x| *x == c) {
                v1[i] = Some(path);
            }
        }
    }
    if let Some(p) = v2.filter(|p| *p != "/") {
        return p.to_string();
    }
    if let Some(p) = v1.iter().flatten().find(|p| **p != "/") {
        return (*p).to_string();
    }
    v2.or(v1.iter().flatten().next().copied())
        .unwrap_or_default()
        .to_string()
}

fn bracket_num(s: &str, prefix: &str) -> Option<u64> {
    s.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()
}

/// Socket inode -> fd info, per network namespace (read once per namespace).
#[derive(Debug, Default)]
pub struct SocketTables {
    by_netns: HashMap<String, HashMap<u64, FdInfo>>,
}

impl SocketTables {
    fn for_netns(
        &mut self,
        netns: &str,
        net_dir: impl FnOnce() -> PathBuf,
    ) -> &HashMap<u64, FdInfo> {
        self.by_netns
            .entry(netns.to_string())
            .or_insert_with(|| read_socket_tables(&net_dir()))
    }
}

fn read_socket_tables(net: &Path) -> HashMap<u64, FdInfo> {
    let mut out = HashMap::new();
    for (file, v6, proto) in [
        ("tcp", false, 6u16),
        ("tcp6", true, 6),
        ("udp", false, 17),
        ("udp6", true, 17),
        ("raw", false, 255),
        ("raw6", true, 255),
    ] {
        let Ok(text) = fs::read_to_string(net.join(file)) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let (Some(local), Some(remote), Ok(inode)) = (
                parse_hex_endpoint(f[1], v6),
                parse_hex_endpoint(f[2], v6),
                f[9].parse::<u64>(),
            ) else {
                continue;
            };
            // TCP state 0A is LISTEN: the process is the server.
            let listening = f[3] == "0A";
            let mut info = FdInfo::new(if v6 { FdKind::Ipv6 } else { FdKind::Ipv4 }, String::new());
            info.l4proto = proto;
            info.local = Some(local);
            let remote_set = !remote.0.is_unspecified() || remote.1 != 0;
            info.remote = remote_set.then_some(remote);
            info.connected = remote_set;
            info.role = if listening {
                Role::Server
            } else {
                Role::Unknown
            };
            info.set_inet_name();
            info.name_changed = false;
            out.insert(inode, info);
        }
    }
    if let Ok(text) = fs::read_to_string(net.join("unix")) {
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 7 {
                continue;
            }
            let Ok(inode) = f[6].parse::<u64>() else {
                continue;
            };
            let path = f.get(7).copied().unwrap_or("").to_string();
            out.insert(inode, FdInfo::new(FdKind::Unix, path));
        }
    }
    out
}

/// `0100007F:1F90` (IPv4, host byte order words) or 32 hex digits for IPv6.
fn parse_hex_endpoint(s: &str, v6: bool) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = if v6 {
        if addr.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, chunk) in bytes.chunks_mut(4).enumerate() {
            let word = u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok()?;
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        let word = u32::from_str_radix(addr, 16).ok()?;
        IpAddr::V4(Ipv4Addr::from(word.to_le_bytes()))
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let (comm, f) = parse_stat(
            "42 (my (weird) cmd) S 1 42 42 34816 42 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0",
        )
        .unwrap();
        assert_eq!(comm, "my (weird) cmd");
        assert_eq!(f[1], "1");
        assert_eq!(f[4], "34816");
        assert_eq!(f[19], "12345");
    }

    #[test]
    fn endpoints_and_cgroups() {
        assert_eq!(
            parse_hex_endpoint("0100007F:1F90", false),
            Some(("127.0.0.1".parse().unwrap(), 8080))
        );
        assert_eq!(
            parse_hex_endpoint("00000000000000000000000001000000:0016", true),
            Some(("::1".parse().unwrap(), 22))
        );
        assert_eq!(
            cgroup_path("0::/\n4:memory:/process_api/abc\n"),
            "/process_api/abc"
        );
        assert_eq!(
            cgroup_path("0::/system.slice/x.service\n"),
            "/system.slice/x.service"
        );
        // v1 only, memory controller at the root (disabled or shared): the
        // next controller that places the task tells.
        assert_eq!(
            cgroup_path("4:memory:/\n3:cpuset,cpu:/docker/abc\n8:pids:/docker/abc\n"),
            "/docker/abc"
        );
        assert_eq!(cgroup_path("0::/\n4:memory:/\n"), "/");
    }

    /// A tcp6 socket connected to an IPv4 peer (`::ffff:127.0.0.1` on both
    /// ends) is seeded as IPv4, as Falco's threadinfo.cpp converts it.
    #[test]
    fn mapped_tcp6_sockets_are_seeded_as_ipv4() {
        let dir = tempfile::tempdir().unwrap();
        let mapped = "0000000000000000FFFF00000100007F";
        std::fs::write(
            dir.path().join("tcp6"),
            format!(
                "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode\n   0: {mapped}:9C40 {mapped}:1F90 01 00000000:00000000 00:00000000 00000000 0 0 4242 1\n"
            ),
        )
        .unwrap();
        let t = read_socket_tables(dir.path());
        let f = &t[&4242];
        assert_eq!(f.kind, FdKind::Ipv4);
        assert_eq!(f.name, "127.0.0.1:40000->127.0.0.1:8080");
    }

    #[test]
    fn reads_this_process_from_proc() {
        let procfs = ProcFs::new(PathBuf::from("/proc"), 0, Arc::from("host"));
        let me = std::process::id();
        let f = std::fs::File::open("/proc/self/status").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut sockets = SocketTables::default();
        let p = procfs.read_process(me, &mut sockets).unwrap();
        assert_eq!(p.tgid, me);
        assert_eq!(
            p.exepath,
            std::env::current_exe().unwrap().to_str().unwrap()
        );
        assert!(!p.cwd.is_empty());
        assert!(p.threads >= 1);
        assert!(
            p.fds
                .values()
                .any(|fd| fd.kind == FdKind::File && fd.name == format!("/proc/{me}/status")),
            "the open file is seeded: {:?}",
            p.fds.values().map(|f| &f.name).collect::<Vec<_>>()
        );
        assert!(
            p.fds.values().any(|fd| fd.kind == FdKind::Ipv4
                && fd.local == Some(("127.0.0.1".parse().unwrap(), port))
                && fd.role == Role::Server),
            "the listening socket is seeded"
        );
        drop((f, listener));
    }
}
