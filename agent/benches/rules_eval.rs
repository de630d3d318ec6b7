//! Events per second per core evaluating Falco's whole stable ruleset
//! (`falco_rules.yaml`, found as README.md says: `$SAKER_FALCO_RULES`,
//! `/etc/falco`, `../shared/falco`) on a synthetic mixed stream of execs,
//! opens and connects with realistic values.
//!
//! `cargo bench -p saker --bench rules_eval`; criterion prints the throughput
//! in elements (events) per second. Time is the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so the figure is events per second per core
//! even when other work shares the machine; the `wall` group measures wall
//! time for comparison.

use std::borrow::Cow;
use std::hint::black_box;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group};
use saker::event::EventType;
use saker::fields::extract::{EventContext, RunInfo};
use saker::fields::{FieldArg, FieldId, FieldProvider, FieldRef, Value};
use saker::rules::{RuleMatching, RuleSet, load_paths};

/// A decoded event as the live state would present it: the event's own
/// values, plus references into process and fd state that many events share.
struct BenchEvent {
    ty: EventType,
    ts: i64,
    res: &'static str,
    rawres: i64,
    proc: &'static Proc,
    fd: Option<Fd>,
    open_read: bool,
    open_write: bool,
    flags: &'static str,
}

#[derive(Clone, Copy)]
struct Fd {
    num: i64,
    name: &'static str,
    directory: &'static str,
    filename: &'static str,
    typechar: &'static str,
    ty: &'static str,
    l4proto: Option<&'static str>,
    sip: Option<IpAddr>,
    cip: Option<IpAddr>,
    sport: u64,
    cport: u64,
}

impl FieldProvider for BenchEvent {
    fn event_type(&self) -> EventType {
        self.ty
    }

    fn timestamp_ns(&self) -> i64 {
        self.ts
    }

    fn extract(&self, f: &FieldRef) -> Option<Value<'_>> {
        let p = self.proc;
        let fd = self.fd.as_ref();
        Some(match (f.id, &f.arg) {
            (FieldId::EvtDir, _) => s("<"),
            (FieldId::EvtNum, _) => Value::UInt(self.ts as u64),
            (FieldId::EvtRes, _) => s(self.res),
            (FieldId::EvtRawres, _) => Value::Int(self.rawres),
            (FieldId::EvtIsOpenRead, _) => Value::Bool(self.open_read),
            (FieldId::EvtIsOpenWrite, _) => Value::Bool(self.open_write),
            (FieldId::EvtIsOpenExec, _) => Value::Bool(false),
            (FieldId::EvtArg, FieldArg::Key(k)) if &**k == "flags" => s(self.flags),
            (FieldId::EvtArg, FieldArg::Key(k)) if &**k == "name" => s(fd?.name),
            (FieldId::ProcName, _) => s(p.name),
            (FieldId::ProcExe | FieldId::ProcExepath, _) => s(p.exe),
            (FieldId::ProcCmdline, _) => s(p.cmdline),
            (FieldId::ProcArgs, _) => s(p.args),
            (FieldId::ProcPname | FieldId::ProcSname, _) => s(p.parent),
            (FieldId::ProcPcmdline, _) => s(p.pcmdline),
            (FieldId::ProcPexe | FieldId::ProcPexepath, _) => s("/usr/bin/parent"),
            (FieldId::ProcAname, FieldArg::Index(0)) => s(p.name),
            (FieldId::ProcAname, FieldArg::Index(i)) => s(p.ancestors.get(*i as usize - 1)?),
            (FieldId::ProcAname, FieldArg::None) => {
                Value::List(p.ancestors.iter().map(|a| s(a)).collect())
            }
            (FieldId::ProcCwd, _) => s("/"),
            (FieldId::ProcTty, _) => Value::UInt(p.tty),
            (FieldId::ProcPid | FieldId::ProcVpid, _) => Value::Int(4242),
            (FieldId::ProcDuration, _) => Value::UInt(5_000_000_000),
            (
                FieldId::ProcIsExeUpperLayer
                | FieldId::ProcIsExeFromMemfd
                | FieldId::ProcIsExeWritable
                | FieldId::ContainerPrivileged,
                _,
            ) => Value::Bool(false),
            (FieldId::UserName | FieldId::UserLoginname | FieldId::GroupName, _) => s(p.user),
            (FieldId::UserUid | FieldId::GroupGid, _) => Value::UInt(p.uid),
            (FieldId::UserLoginuid, _) => Value::Int(if p.tty != 0 { 1000 } else { -1 }),
            (FieldId::ContainerId, _) => s(p.container),
            (FieldId::ContainerImageRepository, _) => s(p.image),
            (FieldId::ThreadCapPermitted, _) => {
                s("CAP_CHOWN CAP_DAC_OVERRIDE CAP_NET_BIND_SERVICE")
            }
            (FieldId::ThreadCapEffective, _) => s("CAP_NET_BIND_SERVICE"),
            (FieldId::K8sNsName, _) => s("default"),
            (FieldId::FdNum, _) => Value::Int(fd?.num),
            (FieldId::FdName | FieldId::FdNameraw, _) => s(fd?.name),
            (FieldId::FdDirectory, _) => s(fd?.directory),
            (FieldId::FdFilename, _) => s(fd?.filename),
            (FieldId::FdTypechar, _) => s(fd?.typechar),
            (FieldId::FdType, _) => s(fd?.ty),
            (FieldId::FdL4proto, _) => s(fd?.l4proto?),
            (FieldId::FdSip | FieldId::FdRip | FieldId::FdSnet | FieldId::FdRnet, _) => {
                Value::Ip(fd?.sip?)
            }
            (FieldId::FdCip | FieldId::FdLip | FieldId::FdCnet | FieldId::FdLnet, _) => {
                Value::Ip(fd?.cip?)
            }
            (FieldId::FdSport | FieldId::FdRport, _) if fd?.sport != 0 => Value::UInt(fd?.sport),
            (FieldId::FdCport | FieldId::FdLport, _) if fd?.cport != 0 => Value::UInt(fd?.cport),
            _ => return None,
        })
    }
}

fn s(v: &'static str) -> Value<'static> {
    Value::Str(Cow::Borrowed(v))
}

struct Proc {
    name: &'static str,
    exe: &'static str,
    cmdline: &'static str,
    args: &'static str,
    parent: &'static str,
    pcmdline: &'static str,
    ancestors: &'static [&'static str],
    user: &'static str,
    uid: u64,
    container: &'static str,
    image: &'static str,
    tty: u64,
}

const PROCS: &[Proc] = &[
    Proc {
        name: "bash",
        exe: "/usr/bin/bash",
        cmdline: "bash -c ls -la /var/log",
        args: "-c ls -la /var/log",
        parent: "sshd",
        pcmdline: "sshd: admin@pts/0",
        ancestors: &["sshd", "sshd", "systemd"],
        user: "admin",
        uid: 1000,
        container: "host",
        image: "",
        tty: 34816,
    },
    Proc {
        name: "nginx",
        exe: "/usr/sbin/nginx",
        cmdline: "nginx -g daemon off;",
        args: "-g daemon off;",
        parent: "containerd-shim",
        pcmdline: "containerd-shim -namespace k8s.io -id 3f2a",
        ancestors: &["containerd-shim", "systemd"],
        user: "www-data",
        uid: 33,
        container: "3f2a9c1b7d0e",
        image: "docker.io/library/nginx",
        tty: 0,
    },
    Proc {
        name: "python3",
        exe: "/usr/bin/python3",
        cmdline: "python3 /app/server.py --port 8080",
        args: "/app/server.py --port 8080",
        parent: "sh",
        pcmdline: "sh -c python3 /app/server.py --port 8080",
        ancestors: &["sh", "containerd-shim", "systemd"],
        user: "app",
        uid: 10001,
        container: "9e8d7c6b5a41",
        image: "ghcr.io/acme/api",
        tty: 0,
    },
    Proc {
        name: "curl",
        exe: "/usr/bin/curl",
        cmdline: "curl -sS https://example.com/health",
        args: "-sS https://example.com/health",
        parent: "cron",
        pcmdline: "/usr/sbin/cron -f",
        ancestors: &["cron", "systemd"],
        user: "root",
        uid: 0,
        container: "host",
        image: "",
        tty: 0,
    },
    Proc {
        name: "java",
        exe: "/usr/lib/jvm/java-17/bin/java",
        cmdline: "java -Xmx2g -jar /opt/kafka/libs/kafka.jar",
        args: "-Xmx2g -jar /opt/kafka/libs/kafka.jar",
        parent: "runc",
        pcmdline: "runc init",
        ancestors: &["runc", "containerd-shim", "systemd"],
        user: "kafka",
        uid: 1001,
        container: "51c0ffee2b3a",
        image: "docker.io/bitnami/kafka",
        tty: 0,
    },
];

const FILES: &[&str] = &[
    "/etc/passwd",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/proc/self/stat",
    "/tmp/tmp.k2J9sd/data.json",
    "/var/log/nginx/access.log",
    "/etc/ld.so.cache",
    "/app/config/settings.yaml",
    "/etc/shadow",
];

const PEERS: &[(&str, u64, &str)] = &[
    ("93.184.216.34", 443, "10.0.0.5:45678->93.184.216.34:443"),
    ("10.96.0.1", 443, "10.0.0.5:51234->10.96.0.1:443"),
    ("10.0.0.9", 5432, "10.0.0.5:40022->10.0.0.9:5432"),
    ("192.168.1.20", 2222, "10.0.0.5:40100->192.168.1.20:2222"),
];

fn base(ty: &str, p: &'static Proc, ts: i64) -> BenchEvent {
    BenchEvent {
        ty: EventType::from_name(ty).unwrap_or(EventType::PROCEXIT),
        ts,
        res: "SUCCESS",
        rawres: 0,
        proc: p,
        fd: None,
        open_read: false,
        open_write: false,
        flags: "0",
    }
}

/// 40% opens, 35% execs, 25% connects.
fn stream(n: usize) -> Vec<BenchEvent> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let p = &PROCS[i % PROCS.len()];
        let ts = 1_700_000_000_000_000_000 + i as i64 * 1_000;
        let e = match i % 20 {
            0..=7 => {
                let file = FILES[(i / 3) % FILES.len()];
                let mut e = base(if i % 2 == 0 { "openat" } else { "open" }, p, ts);
                let (directory, filename) = file.rsplit_once('/').unwrap_or(("/", file));
                e.fd = Some(Fd {
                    num: 7,
                    name: file,
                    directory,
                    filename,
                    typechar: "f",
                    ty: "file",
                    l4proto: None,
                    sip: None,
                    cip: None,
                    sport: 0,
                    cport: 0,
                });
                e.open_read = true;
                e.open_write = i % 5 == 0;
                e.flags = if e.open_write {
                    "O_RDWR|O_CLOEXEC"
                } else {
                    "O_RDONLY|O_CLOEXEC"
                };
                e
            }
            8..=14 => base(if i % 7 == 0 { "execveat" } else { "execve" }, p, ts),
            _ => {
                let (ip, port, name) = PEERS[i % PEERS.len()];
                let mut e = base("connect", p, ts);
                e.res = "EINPROGRESS";
                e.rawres = -115;
                e.fd = Some(Fd {
                    num: 5,
                    name,
                    directory: "",
                    filename: "",
                    typechar: "4",
                    ty: "ipv4",
                    l4proto: Some("tcp"),
                    sip: ip.parse().ok(),
                    cip: Some(IpAddr::from([10, 0, 0, 5])),
                    sport: port,
                    cport: 45678,
                });
                e
            }
        };
        out.push(e);
    }
    out
}

/// CPU time consumed by the calling thread, in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is
    // supported on every Linux the agent runs on.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, as wall time's are.
        WALL.formatter()
    }
}

/// The directory of Falco's rules holding `needs` (`saker_upstream`'s
/// lookup: $SAKER_FALCO_RULES, /etc/falco, ../shared/falco).
#[expect(clippy::panic, reason = "a benchmark without its input cannot run")]
fn upstream(needs: &[&str]) -> PathBuf {
    saker_upstream::find(needs).unwrap_or_else(|e| panic!("{e}"))
}

fn stable_rules() -> RuleSet {
    let path = upstream(&[saker_upstream::STABLE]).join(saker_upstream::STABLE);
    let out = load_paths(std::slice::from_ref(&path));
    assert!(
        !out.has_errors(),
        "{} does not load: {:?}",
        path.display(),
        out.diagnostics
    );
    assert_eq!(out.ruleset.rules().len(), 25);
    out.ruleset
}

fn run<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let events = stream(10_000);
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(events.len() as u64));
    for (label, matching) in [("first", RuleMatching::First), ("all", RuleMatching::All)] {
        let mut rules = stable_rules();
        rules.set_rule_matching(matching);
        let mut warm = 0;
        for e in &events {
            warm += rules.evaluate(e, |_| {});
        }
        eprintln!(
            "rule_matching={label}: {warm} matches in {} events",
            events.len()
        );
        group.bench_function(format!("mixed_stream_{label}"), |b| {
            b.iter(|| {
                let mut n = 0usize;
                for e in &events {
                    n += rules.evaluate(black_box(e), |_| {});
                }
                black_box(n)
            })
        });
    }
    group.finish();
}

fn bench_cpu(c: &mut Criterion<ThreadCpuTime>) {
    run(c, "falco_stable_ruleset");
}

fn bench_wall(c: &mut Criterion) {
    run(c, "falco_stable_ruleset_wall");
}

/// Falco's stable and incubating rules on real [`EventContext`]s: events
/// decoded from the syscalls Saker captures, over a live-like process and fd
/// state. Unlike the mixed stream above, every field (`evt.arg.*`, `fd.*`,
/// `user.*`) goes through the agent's own extractors, so this is the figure
/// that moves when argument rendering changes. `with_output` also renders the
/// alert of every match (output fields such as `%evt.args`).
fn bench_live(c: &mut Criterion<ThreadCpuTime>) {
    let (state, events) = live::scenario();
    let run = RunInfo {
        hostname: Arc::from("node-1"),
        start_ns: 1_700_000_000_000_000_000,
    };
    let (stable, incubating) = (saker_upstream::STABLE, saker_upstream::INCUBATING);
    let dir = upstream(&[stable, incubating]);
    let paths = [dir.join(stable), dir.join(incubating)];
    let out = load_paths(&paths);
    assert!(
        !out.has_errors(),
        "rules do not load: {:?}",
        out.diagnostics
    );
    let rules = out.ruleset;
    let hostname = Arc::clone(&run.hostname);
    let mut warm = 0;
    for (i, e) in events.iter().enumerate() {
        let ctx = EventContext::new(e, &state, i as u64, 0, &run);
        warm += rules.evaluate(&ctx, |_| {});
    }
    eprintln!("live context: {warm} matches in {} events", events.len());
    let mut group = c.benchmark_group("falco_rules_live_context");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("eval", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for (i, e) in events.iter().enumerate() {
                let ctx = EventContext::new(black_box(e), &state, i as u64, 0, &run);
                n += rules.evaluate(&ctx, |_| {});
            }
            black_box(n)
        })
    });
    group.bench_function("eval_with_output", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for (i, e) in events.iter().enumerate() {
                let ctx = EventContext::new(black_box(e), &state, i as u64, 0, &run);
                rules.evaluate(&ctx, |r| bytes += r.alert(&ctx, &hostname).output.len());
            }
            black_box(bytes)
        })
    });
    // Every argument of every event: `%evt.args`, and each `evt.arg[N]`.
    let Ok(args) = saker::fields::resolve("evt.args", None) else {
        return;
    };
    let by_index: Vec<_> = (0..8)
        .filter_map(|i| saker::fields::resolve("evt.arg", Some(&i.to_string())).ok())
        .collect();
    group.bench_function("render_all_args", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for (i, e) in events.iter().enumerate() {
                let ctx = EventContext::new(black_box(e), &state, i as u64, 0, &run);
                bytes += ctx.extract(&args).map_or(0, |v| v.to_text().len());
                for f in &by_index {
                    bytes += ctx.extract(f).map_or(0, |v| v.to_text().len());
                }
            }
            black_box(bytes)
        })
    });
    group.finish();
}

#[expect(
    clippy::expect_used,
    reason = "fixture literals: a bad one is a bug in the benchmark"
)]
mod live {
    use std::sync::Arc;

    use saker::event::{AT_FDCWD, Detail, Event, EventType, SockAddr, SockTuple};
    use saker::state::State;
    use saker::state::process::Process;
    use saker::state::users::UserDb;

    fn proc(tgid: u32, ppid: u32, comm: &str, args: &[&str], cwd: &str, uid: u32) -> Process {
        let mut p = Process::minimal(tgid, ppid, comm, &Arc::from("host"));
        p.exe = comm.to_string();
        p.exepath = format!("/usr/bin/{comm}");
        p.args = args.iter().map(|s| s.to_string()).collect();
        p.cwd = cwd.to_string();
        p.uid = uid;
        p.gid = uid;
        p.tty = 34816;
        p.start_ns = 1_700_000_000_000_000_000;
        p
    }

    fn ev(tgid: u32, etype: &str, ret: i64, uid: u32, detail: Detail) -> Event {
        Event {
            etype: EventType::from_name(etype).expect("known event type"),
            ts_boot_ns: 10_000_000_000,
            ts_wall_ns: 1_700_000_010_000_000_000,
            tgid,
            tid: tgid,
            ppid: 20,
            uid,
            gid: uid,
            loginuid: 1000,
            cgroup_id: 0,
            cpu: 1,
            comm: "x".into(),
            ret,
            truncated: false,
            read_failed: false,
            detail,
        }
    }

    /// A shell session's worth of the syscalls Saker decodes, each applied to
    /// the state as the engine does before rules see it.
    pub fn scenario() -> (State, Vec<Event>) {
        let mut state = State::detached(UserDb::from_text(
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/sbin/nologin\n\
             admin:x:1000:1000::/home/admin:/bin/bash\n",
            "root:x:0:\nnobody:x:65534:\nadmin:x:1000:\n",
        ));
        state.insert_seed(proc(1, 0, "systemd", &[], "/", 0));
        state.insert_seed(proc(10, 1, "sshd", &[], "/", 0));
        state.insert_seed(proc(20, 10, "bash", &["-l"], "/home/admin", 1000));
        state.insert_seed(proc(30, 20, "cat", &["/etc/hostname"], "/home/admin", 1000));
        state.insert_seed(proc(31, 20, "chmod", &["u+s", "tool"], "/tmp", 0));
        state.insert_seed(proc(32, 20, "ln", &["../etc/shadow", "x"], "/tmp", 0));
        state.insert_seed(proc(33, 20, "python3", &["srv.py"], "/srv", 1000));
        state.insert_seed(proc(34, 20, "worker", &[], "/var/lib/w", 0));
        let tuple = SockTuple {
            family: 2,
            sock_type: 1,
            protocol: 6,
            state: 1,
            local: Some(("10.0.0.5".parse().expect("ip"), 51000)),
            remote: Some(("93.184.216.34".parse().expect("ip"), 443)),
            unix_path: None,
        };
        let open = |tgid, path: &str, flags, ret| {
            ev(
                tgid,
                "openat",
                ret,
                1000,
                Detail::Open {
                    dirfd: AT_FDCWD,
                    path: path.into(),
                    flags,
                    mode: 0,
                    resolve: 0,
                },
            )
        };
        let mut events = vec![
            open(30, "/etc/hostname", 0o2000000, 3),
            open(30, "../../etc/passwd", 0, 4),
            open(30, "/var/log/app.log", 0o1101, 5),
            open(30, "missing.txt", 0, -2),
            ev(
                33,
                "socket",
                3,
                1000,
                Detail::Socket {
                    domain: 2,
                    sock_type: 1 | 0o2000000,
                    protocol: 0,
                },
            ),
            ev(
                33,
                "connect",
                0,
                1000,
                Detail::SocketIo {
                    fd: 3,
                    addr: Some(SockAddr::Inet {
                        ip: "93.184.216.34".parse().expect("ip"),
                        port: 443,
                    }),
                    tuple: Some(tuple),
                    size: 0,
                    flags: 0,
                },
            ),
            ev(
                33,
                "dup3",
                10,
                1000,
                Detail::Dup {
                    oldfd: 3,
                    newfd: Some(10),
                    flags: 0o2000000,
                },
            ),
            ev(
                31,
                "fchmodat",
                0,
                0,
                Detail::PathOp {
                    dirfd: AT_FDCWD,
                    path: "tool".into(),
                    mode: 0o4755,
                    flags: 0,
                },
            ),
            ev(
                31,
                "chmod",
                0,
                0,
                Detail::PathOp {
                    dirfd: AT_FDCWD,
                    path: "/tmp/tool".into(),
                    mode: 0o644,
                    flags: 0,
                },
            ),
            ev(
                32,
                "linkat",
                -18,
                0,
                Detail::TwoPaths {
                    olddirfd: AT_FDCWD,
                    oldpath: "../etc/shadow".into(),
                    newdirfd: AT_FDCWD,
                    newpath: "x".into(),
                    flags: 0,
                },
            ),
            ev(34, "setuid", 0, 65534, Detail::SetId { ids: vec![65534] }),
            ev(34, "setuid", 0, 1000, Detail::SetId { ids: vec![1000] }),
            ev(
                34,
                "unlinkat",
                0,
                0,
                Detail::PathOp {
                    dirfd: AT_FDCWD,
                    path: "old.log".into(),
                    mode: 0,
                    flags: 0,
                },
            ),
            ev(
                34,
                "ptrace",
                0,
                0,
                Detail::Ptrace {
                    request: 16,
                    pid: 30,
                    addr: 0,
                    data: 0,
                },
            ),
            ev(30, "close", 0, 1000, Detail::Close { fd: 5 }),
        ];
        // Several passes over the session, as a busy node repeats its work.
        let one = events.clone();
        for _ in 0..15 {
            events.extend(one.iter().cloned());
        }
        for e in &events {
            state.apply(e);
        }
        (state, events)
    }
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_cpu, bench_live
}
criterion_group!(wall, bench_wall);

fn main() {
    // `SAKER_BENCH_PASSES=N`: evaluate the stream N times and exit, for
    // counting instructions with `perf stat` (deterministic, unlike time on a
    // shared machine).
    if let Some(passes) = std::env::var("SAKER_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let events = stream(10_000);
        let rules = stable_rules();
        let mut n = 0usize;
        for _ in 0..passes {
            for e in &events {
                n += rules.evaluate(black_box(e), |_| {});
            }
        }
        println!("{} events, {n} matches", passes * events.len());
        return;
    }
    cpu();
    wall();
    Criterion::default().configure_from_args().final_summary();
}
