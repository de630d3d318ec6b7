//! Host names of socket addresses: `fd.cip.name`, `fd.sip.name`,
//! `fd.lip.name`, `fd.rip.name`.
//!
//! Falco's `sinsp_dns_manager` (falcosecurity/libs
//! userspace/libsinsp/dns_manager.cpp, used by sinsp_filtercheck_fd.cpp) is a
//! *forward* cache: a condition `fd.sip.name = "kubernetes.default.svc"`
//! resolves that name with getaddrinfo and holds when the socket's address is
//! among the answers; extracting the field (`name_of`) gives a name only if
//! some name already in the cache resolves to the address, else nothing
//! (`<NA>`). Names are refreshed every 10 s, the interval doubling up to
//! 320 s while the answer does not change.
//!
//! Saker keeps those semantics for conditions: the names that enabled rules
//! compare these fields with are registered at start ([`HostNames::watch`])
//! and resolved and refreshed on Falco's schedule by resolver threads, never
//! on the hot path (Falco resolves a name synchronously the first time a
//! condition needs it). For output fields it also looks addresses up in
//! reverse (getnameinfo: /etc/hosts, then PTR records), so that an alert
//! names the peer where Falco prints `<NA>`; such a lookup is asked for when
//! an alert first prints the address and answered from the cache after
//! (until then the field is missing, as in Falco). The reverse cache is
//! bounded (`saker.hostnames.max_entries`, least recently used out first),
//! entries expire (`ttl_s`, `failed_ttl_s`), and pending lookups are bounded
//! too (`max_pending`): beyond, a lookup is dropped and counted.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Falco's first refresh interval of a resolved name (dns_manager.h).
pub const FORWARD_BASE_REFRESH: Duration = Duration::from_secs(10);
/// Falco's longest refresh interval, reached by doubling while unchanged.
pub const FORWARD_MAX_REFRESH: Duration = Duration::from_secs(320);

/// Limits of the cache and its resolvers (`saker.hostnames.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNameLimits {
    /// Look addresses printed in alerts up in reverse (off: Falco's
    /// behaviour, names only for addresses of rule-named hosts).
    pub reverse_lookups: bool,
    /// Reverse entries kept at most.
    pub max_entries: usize,
    /// How long a reverse answer is used before it is asked again.
    pub ttl: Duration,
    /// The same for "no name" answers.
    pub failed_ttl: Duration,
    /// Resolver threads.
    pub resolvers: usize,
    /// Lookups waiting for a resolver at most.
    pub max_pending: usize,
}

impl Default for HostNameLimits {
    fn default() -> Self {
        HostNameLimits {
            reverse_lookups: true,
            max_entries: 4096,
            ttl: Duration::from_secs(300),
            failed_ttl: Duration::from_secs(60),
            resolvers: 2,
            max_pending: 1024,
        }
    }
}

/// Where answers come from: the system resolver, or a fake in tests.
pub trait Resolve: Send + Sync + std::fmt::Debug {
    /// The name of `ip`, or `None` when it has none.
    fn reverse(&self, ip: IpAddr) -> Option<String>;
    /// The addresses `name` resolves to (empty when it does not resolve).
    fn forward(&self, name: &str) -> Vec<IpAddr>;
}

/// The C library's resolver (nsswitch: /etc/hosts, DNS, ...).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn reverse(&self, ip: IpAddr) -> Option<String> {
        getnameinfo(ip)
    }

    /// getaddrinfo(name, AF_UNSPEC), as dns_manager's `resolve`.
    fn forward(&self, name: &str) -> Vec<IpAddr> {
        let mut addrs: Vec<IpAddr> = match (name, 0u16).to_socket_addrs() {
            Ok(it) => it.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        };
        addrs.sort_unstable();
        addrs.dedup();
        addrs
    }
}

/// getnameinfo(NI_NAMEREQD): the host name of `ip`, `None` when it has none.
/// std has no reverse lookup; this is the one libc call that does it.
fn getnameinfo(ip: IpAddr) -> Option<String> {
    let mut host = [0 as libc::c_char; libc::NI_MAXHOST as usize];
    let rc = match ip {
        IpAddr::V4(v4) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sa` is a valid sockaddr_in of the length given; `host`
            // is writable for its length; no service buffer is passed.
            unsafe {
                libc::getnameinfo(
                    (&raw const sa).cast::<libc::sockaddr>(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
        IpAddr::V6(v6) => {
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: as above, for a sockaddr_in6.
            unsafe {
                libc::getnameinfo(
                    (&raw const sa).cast::<libc::sockaddr>(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
    };
    if rc != 0 {
        return None;
    }
    let bytes: Vec<u8> = host
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    let name = String::from_utf8(bytes).ok()?;
    (!name.is_empty()).then_some(name)
}

/// Counters for the metrics (`saker_hostname_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostNameStats {
    /// Reverse look-ups answered from the cache.
    pub hits: u64,
    /// Reverse look-ups not (yet) in the cache: a lookup was asked for.
    pub misses: u64,
    /// Reverse entries evicted because the cache was full.
    pub evictions: u64,
    /// Reverse lookups done, by answer.
    pub reverse_found: u64,
    pub reverse_not_found: u64,
    /// Forward lookups (rule-named hosts) done, by answer.
    pub forward_found: u64,
    pub forward_not_found: u64,
    /// Lookups dropped because `max_pending` were waiting.
    pub dropped: u64,
    /// Reverse entries now.
    pub entries: u64,
    /// Rule-named hosts resolved and refreshed.
    pub watched: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    reverse_found: AtomicU64,
    reverse_not_found: AtomicU64,
    forward_found: AtomicU64,
    forward_not_found: AtomicU64,
    dropped: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug)]
struct Reverse {
    name: Option<Arc<str>>,
    /// When the answer must be asked again; `None` while a lookup is pending.
    expires: Option<Instant>,
    last_used: Instant,
}

#[derive(Debug)]
struct Forward {
    name: Arc<str>,
    addrs: Vec<IpAddr>,
    resolved: bool,
    due: Instant,
    interval: Duration,
    queued: bool,
}

#[derive(Debug, Default)]
struct Table {
    reverse: HashMap<IpAddr, Reverse>,
    forward: Vec<Forward>,
}

#[derive(Debug)]
enum Job {
    Reverse(IpAddr),
    Forward(Arc<str>),
}

#[derive(Debug)]
struct Shared {
    table: Mutex<Table>,
    jobs: Mutex<VecDeque<Job>>,
    wake: Condvar,
    stop: AtomicBool,
    limits: HostNameLimits,
    resolver: Arc<dyn Resolve>,
    counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A resolver thread that panicked leaves consistent data behind (every
    // update is one assignment); keep going with it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Queues a job; false (and counted) when `max_pending` are waiting.
    fn push(&self, job: Job) -> bool {
        let mut q = lock(&self.jobs);
        if q.len() >= self.limits.max_pending {
            bump(&self.counters.dropped);
            return false;
        }
        q.push_back(job);
        self.wake.notify_one();
        true
    }

    /// Queues the forward names whose refresh is due.
    fn schedule_due(&self, now: Instant) {
        let mut t = lock(&self.table);
        for f in t.forward.iter_mut().filter(|f| !f.queued && f.due <= now) {
            f.queued = self.push(Job::Forward(f.name.clone()));
        }
    }

    fn run(&self, job: Job) {
        match job {
            Job::Reverse(ip) => {
                let name = self.resolver.reverse(ip).map(Arc::<str>::from);
                let found = name.is_some();
                let now = Instant::now();
                let ttl = if found {
                    self.limits.ttl
                } else {
                    self.limits.failed_ttl
                };
                if let Some(e) = lock(&self.table).reverse.get_mut(&ip) {
                    e.name = name;
                    e.expires = Some(now + ttl);
                }
                // Counted once the answer is in the table: whoever reads the
                // counters then finds the answer cached.
                bump(if found {
                    &self.counters.reverse_found
                } else {
                    &self.counters.reverse_not_found
                });
            }
            Job::Forward(name) => {
                let addrs = self.resolver.forward(&name);
                let counter = if addrs.is_empty() {
                    &self.counters.forward_not_found
                } else {
                    &self.counters.forward_found
                };
                let now = Instant::now();
                let mut t = lock(&self.table);
                if let Some(f) = t.forward.iter_mut().find(|f| f.name == name) {
                    // dns_manager's refresh: an unchanged answer doubles the
                    // interval up to 320 s, a changed one resets it to 10 s.
                    f.interval = if f.resolved && f.addrs == addrs {
                        (f.interval * 2).min(FORWARD_MAX_REFRESH)
                    } else {
                        FORWARD_BASE_REFRESH
                    };
                    f.addrs = addrs;
                    f.resolved = true;
                    f.due = now + f.interval;
                    f.queued = false;
                }
                drop(t);
                // As for reverse answers: counted once in the table.
                bump(counter);
            }
        }
    }

    fn work(&self) {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            self.schedule_due(Instant::now());
            let job = {
                let mut q = lock(&self.jobs);
                match q.pop_front() {
                    Some(j) => Some(j),
                    None => {
                        let (mut q, _) = self
                            .wake
                            .wait_timeout(q, Duration::from_secs(1))
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        q.pop_front()
                    }
                }
            };
            if let Some(j) = job {
                self.run(j);
            }
        }
    }
}

/// Stops the resolver threads when the last [`HostNames`] goes.
#[derive(Debug)]
struct Running {
    shared: Arc<Shared>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
    }
}

/// The host name cache. Cheap to clone; [`HostNames::disabled`] (the
/// default) knows no names and looks nothing up.
#[derive(Debug, Clone, Default)]
pub struct HostNames {
    running: Option<Arc<Running>>,
}

impl HostNames {
    pub fn disabled() -> Self {
        HostNames::default()
    }

    /// Starts `limits.resolvers` resolver threads asking `resolver`.
    pub fn start(limits: HostNameLimits, resolver: Arc<dyn Resolve>) -> Self {
        let shared = Arc::new(Shared {
            table: Mutex::new(Table::default()),
            jobs: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            limits,
            resolver,
            counters: Counters::default(),
        });
        for i in 0..shared.limits.resolvers.max(1) {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("saker-names-{i}"))
                .spawn(move || s.work());
            if let Err(e) = spawned {
                log::warn!("host name resolver thread {i}: {e}");
            }
        }
        HostNames {
            running: Some(Arc::new(Running { shared })),
        }
    }

    fn shared(&self) -> Option<&Shared> {
        self.running.as_deref().map(|r| &*r.shared)
    }

    /// Host names whose addresses conditions compare with (Falco resolves
    /// them when a condition first needs them); resolved now, in the
    /// background, then refreshed on Falco's schedule.
    pub fn watch<I: IntoIterator<Item = String>>(&self, names: I) {
        let Some(sh) = self.shared() else { return };
        let now = Instant::now();
        let mut t = lock(&sh.table);
        for n in names {
            if n.is_empty() || t.forward.iter().any(|f| *f.name == *n) {
                continue;
            }
            t.forward.push(Forward {
                name: Arc::from(n),
                addrs: Vec::new(),
                resolved: false,
                due: now,
                interval: FORWARD_BASE_REFRESH,
                queued: false,
            });
        }
        drop(t);
        sh.schedule_due(now);
    }

    /// Resolves every watched name now, on this thread (a replay, which
    /// must not depend on how fast the resolver threads are).
    pub fn resolve_watched_now(&self) {
        let Some(sh) = self.shared() else { return };
        let names: Vec<Arc<str>> = lock(&sh.table)
            .forward
            .iter()
            .map(|f| f.name.clone())
            .collect();
        for n in names {
            sh.run(Job::Forward(n));
        }
    }

    /// The watched names that resolve to `ip` (Falco's `name_of`), in the
    /// order they were watched.
    pub fn forward_names(&self, ip: IpAddr) -> Vec<Arc<str>> {
        let Some(sh) = self.shared() else {
            return Vec::new();
        };
        lock(&sh.table)
            .forward
            .iter()
            .filter(|f| f.addrs.contains(&ip))
            .map(|f| f.name.clone())
            .collect()
    }

    /// The reverse name of `ip` from the cache; on a miss (or an expired
    /// answer) a lookup is asked for and the answer serves later calls.
    pub fn reverse_name(&self, ip: IpAddr) -> Option<Arc<str>> {
        let sh = self.shared()?;
        if !sh.limits.reverse_lookups {
            return None;
        }
        let now = Instant::now();
        let mut t = lock(&sh.table);
        if let Some(e) = t.reverse.get_mut(&ip) {
            e.last_used = now;
            match e.expires {
                Some(x) if x > now => {
                    bump(&sh.counters.hits);
                    return e.name.clone();
                }
                // Expired: keep serving the old answer while it is asked again.
                Some(_) => {
                    e.expires = None;
                    bump(&sh.counters.hits);
                    let name = e.name.clone();
                    if !sh.push(Job::Reverse(ip)) {
                        e.expires = Some(now + sh.limits.failed_ttl);
                    }
                    return name;
                }
                None => {
                    bump(&sh.counters.misses);
                    return None;
                }
            }
        }
        bump(&sh.counters.misses);
        if t.reverse.len() >= sh.limits.max_entries {
            let oldest = t
                .reverse
                .iter()
                .filter(|(_, e)| e.expires.is_some())
                .min_by_key(|(_, e)| e.last_used)
                .map(|(ip, _)| *ip);
            match oldest {
                Some(old) => {
                    t.reverse.remove(&old);
                    bump(&sh.counters.evictions);
                }
                // Every entry is waiting for its answer: ask nothing more.
                None => {
                    bump(&sh.counters.dropped);
                    return None;
                }
            }
        }
        if sh.push(Job::Reverse(ip)) {
            t.reverse.insert(
                ip,
                Reverse {
                    name: None,
                    expires: None,
                    last_used: now,
                },
            );
        }
        None
    }

    pub fn stats(&self) -> HostNameStats {
        let Some(sh) = self.shared() else {
            return HostNameStats::default();
        };
        let c = &sh.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let t = lock(&sh.table);
        HostNameStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            evictions: get(&c.evictions),
            reverse_found: get(&c.reverse_found),
            reverse_not_found: get(&c.reverse_not_found),
            forward_found: get(&c.forward_found),
            forward_not_found: get(&c.forward_not_found),
            dropped: get(&c.dropped),
            entries: t.reverse.len() as u64,
            watched: t.forward.len() as u64,
        }
    }
}

/// The host names the enabled rules of `rules` compare `fd.*ip.name` with
/// (`=`, `!=`, `in`: the operators Falco's compare_domain resolves).
pub fn names_in_rules(rules: &crate::rules::RuleSet) -> Vec<String> {
    use crate::fields::FieldId;
    use crate::rules::cond::{COperand, Cond};
    use crate::rules::matcher::Matcher;
    fn walk(c: &Cond, out: &mut Vec<String>) {
        match c {
            Cond::And(items) | Cond::Or(items) => items.iter().for_each(|i| walk(i, out)),
            Cond::Not(inner) => walk(inner, out),
            Cond::Check(check) => {
                let COperand::Field(f) = &check.lhs else {
                    return;
                };
                if !matches!(
                    f.id,
                    FieldId::FdCipName
                        | FieldId::FdSipName
                        | FieldId::FdLipName
                        | FieldId::FdRipName
                ) {
                    return;
                }
                match &check.matcher {
                    Matcher::StrEq(v) | Matcher::StrNe(v) => out.push(v.to_string()),
                    Matcher::StrIn(set) => out.extend(set.iter().map(str::to_string)),
                    _ => {}
                }
            }
            Cond::Const(_) | Cond::EvtType(_) | Cond::FieldCmp(_) => {}
        }
    }
    let mut out = Vec::new();
    for r in rules.rules().iter().filter(|r| r.enabled) {
        walk(&r.condition, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolver with fixed answers that counts what it was asked.
    #[derive(Debug, Default)]
    pub(crate) struct FakeResolver {
        pub reverse: HashMap<IpAddr, String>,
        pub forward: HashMap<String, Vec<IpAddr>>,
        pub asked: Mutex<Vec<String>>,
    }

    impl Resolve for FakeResolver {
        fn reverse(&self, ip: IpAddr) -> Option<String> {
            lock(&self.asked).push(format!("rev {ip}"));
            self.reverse.get(&ip).cloned()
        }
        fn forward(&self, name: &str) -> Vec<IpAddr> {
            lock(&self.asked).push(format!("fwd {name}"));
            self.forward.get(name).cloned().unwrap_or_default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Polls `f` until it holds (resolver threads answer asynchronously).
    fn eventually(mut f: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < until, "not within 5 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn reverse_names_are_pending_then_cached() {
        let mut r = FakeResolver::default();
        r.reverse.insert(ip("127.0.0.1"), "localhost".into());
        let r = Arc::new(r);
        let names = HostNames::start(HostNameLimits::default(), r.clone());
        // First ask: pending, the field is missing (Falco's `<NA>`).
        assert_eq!(names.reverse_name(ip("127.0.0.1")), None);
        eventually(|| names.reverse_name(ip("127.0.0.1")).is_some());
        assert_eq!(
            names.reverse_name(ip("127.0.0.1")).as_deref(),
            Some("localhost")
        );
        // No name: cached as such, not asked again within failed_ttl.
        assert_eq!(names.reverse_name(ip("10.9.9.9")), None);
        eventually(|| names.stats().reverse_not_found == 1);
        assert_eq!(names.reverse_name(ip("10.9.9.9")), None);
        let st = names.stats();
        assert_eq!((st.reverse_found, st.reverse_not_found), (1, 1));
        assert!(st.hits >= 2, "{st:?}");
        assert_eq!(st.entries, 2);
        let asked = lock(&r.asked).clone();
        assert_eq!(asked.iter().filter(|a| a.contains("127.0.0.1")).count(), 1);
        assert_eq!(asked.iter().filter(|a| a.contains("10.9.9.9")).count(), 1);
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let r = Arc::new(FakeResolver::default());
        let limits = HostNameLimits {
            max_entries: 2,
            ..HostNameLimits::default()
        };
        let names = HostNames::start(limits, r);
        for a in ["10.0.0.1", "10.0.0.2"] {
            names.reverse_name(ip(a));
        }
        eventually(|| names.stats().reverse_not_found == 2);
        // 10.0.0.1 used again: 10.0.0.2 is the least recently used.
        names.reverse_name(ip("10.0.0.1"));
        names.reverse_name(ip("10.0.0.3"));
        let st = names.stats();
        assert_eq!((st.entries, st.evictions), (2, 1));
        eventually(|| names.stats().reverse_not_found == 3);
        let misses = names.stats().misses;
        names.reverse_name(ip("10.0.0.1"));
        assert_eq!(names.stats().misses, misses, "10.0.0.1 was kept");
    }

    #[test]
    fn expired_answers_are_served_while_asked_again() {
        let mut r = FakeResolver::default();
        r.reverse.insert(ip("10.0.0.1"), "a.example".into());
        let r = Arc::new(r);
        let limits = HostNameLimits {
            ttl: Duration::ZERO,
            ..HostNameLimits::default()
        };
        let names = HostNames::start(limits, r.clone());
        names.reverse_name(ip("10.0.0.1"));
        eventually(|| names.stats().reverse_found == 1);
        assert_eq!(
            names.reverse_name(ip("10.0.0.1")).as_deref(),
            Some("a.example")
        );
        eventually(|| names.stats().reverse_found == 2);
    }

    #[test]
    fn pending_lookups_are_bounded() {
        #[derive(Debug)]
        struct Slow;
        impl Resolve for Slow {
            fn reverse(&self, _: IpAddr) -> Option<String> {
                std::thread::sleep(Duration::from_millis(200));
                None
            }
            fn forward(&self, _: &str) -> Vec<IpAddr> {
                Vec::new()
            }
        }
        let limits = HostNameLimits {
            resolvers: 1,
            max_pending: 2,
            ..HostNameLimits::default()
        };
        let names = HostNames::start(limits, Arc::new(Slow));
        for i in 1..=10u8 {
            names.reverse_name(IpAddr::from([10, 0, 0, i]));
        }
        let st = names.stats();
        assert!(st.dropped >= 7, "{st:?}");
        assert!(st.entries <= 3, "{st:?}");
    }

    #[test]
    fn reverse_lookups_can_be_turned_off() {
        let r = Arc::new(FakeResolver::default());
        let limits = HostNameLimits {
            reverse_lookups: false,
            ..HostNameLimits::default()
        };
        let names = HostNames::start(limits, r.clone());
        assert_eq!(names.reverse_name(ip("127.0.0.1")), None);
        std::thread::sleep(Duration::from_millis(20));
        assert!(lock(&r.asked).is_empty());
        assert_eq!(HostNames::disabled().reverse_name(ip("127.0.0.1")), None);
    }

    /// dns_manager: watched names resolve in the background; an address
    /// maps back to every watched name that resolves to it.
    #[test]
    fn watched_names_resolve_forward() {
        let mut r = FakeResolver::default();
        r.forward
            .insert("kubernetes.default.svc".into(), vec![ip("10.96.0.1")]);
        r.forward
            .insert("api.local".into(), vec![ip("10.96.0.1"), ip("::1")]);
        let names = HostNames::start(HostNameLimits::default(), Arc::new(r));
        names.watch([
            "kubernetes.default.svc".to_string(),
            "api.local".into(),
            "nx.invalid".into(),
        ]);
        eventually(|| names.stats().forward_found == 2 && names.stats().forward_not_found == 1);
        let got: Vec<String> = names
            .forward_names(ip("10.96.0.1"))
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(got, vec!["kubernetes.default.svc", "api.local"]);
        assert!(names.forward_names(ip("10.0.0.1")).is_empty());
        assert_eq!(names.stats().watched, 3);
    }

    /// The schedule of dns_manager's refresh thread.
    #[test]
    fn forward_refresh_doubles_while_unchanged() {
        let mut r = FakeResolver::default();
        r.forward.insert("a".into(), vec![ip("10.0.0.1")]);
        let names = HostNames::start(HostNameLimits::default(), Arc::new(r));
        names.watch(["a".to_string()]);
        names.resolve_watched_now();
        let sh = names.shared().unwrap();
        let interval = || lock(&sh.table).forward[0].interval;
        eventually(|| names.stats().forward_found >= 2);
        let first = interval();
        assert!(first >= FORWARD_BASE_REFRESH * 2, "{first:?}");
        for _ in 0..8 {
            sh.run(Job::Forward("a".into()));
        }
        assert_eq!(interval(), FORWARD_MAX_REFRESH);
    }

    /// The names compared with by `=`, `!=` and `in` in enabled rules, as
    /// Falco's compare_domain resolves them; other rules and operators add none.
    #[test]
    fn names_come_from_enabled_rules() {
        use crate::rules::{RuleSource, load_sources};
        let text = r#"
- list: miners
  items: [pool.example, "xmr.example"]
- macro: k8s_api_server
  condition: (fd.sip.name="kubernetes.default.svc.cluster.local")
- rule: a
  desc: a
  condition: evt.type=connect and (k8s_api_server or fd.rip.name in (miners) or fd.cip.name != "c.example")
  output: x
  priority: WARNING
- rule: b
  desc: b
  condition: evt.type=connect and fd.lip.name = "disabled.example"
  output: x
  priority: WARNING
  enabled: false
- rule: c
  desc: c
  condition: evt.type=connect and fd.sip.name startswith "prefix" and fd.name = "not.a.host"
  output: x
  priority: WARNING
"#;
        let out = load_sources(&[RuleSource {
            name: "t.yaml".into(),
            text: text.into(),
        }]);
        assert!(!out.has_errors(), "{:?}", out.diagnostics);
        assert_eq!(
            names_in_rules(&out.ruleset),
            vec![
                "c.example",
                "kubernetes.default.svc.cluster.local",
                "pool.example",
                "xmr.example"
            ]
        );
    }

    /// The system resolver reads /etc/hosts for loopback (no network needed).
    #[test]
    fn system_resolver_names_loopback() {
        let name = SystemResolver.reverse(ip("127.0.0.1"));
        assert!(name.is_some(), "127.0.0.1 has a name in /etc/hosts");
        assert!(
            SystemResolver
                .forward("localhost")
                .contains(&ip("127.0.0.1"))
        );
    }
}
