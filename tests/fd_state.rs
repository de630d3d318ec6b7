//! File descriptor and network state on the real kernel, through `saker run`
//! and JSON alerts, as Falco tracks it:
//! - an IPv6 socket connected to `::ffff:127.0.0.1` is an IPv4 loopback
//!   connection (`fd.type=ipv4`, `fd.sip=127.0.0.1`), so a loopback exclusion
//!   written for IPv4 covers it (libsinsp parsers.cpp,
//!   `set_ipv4_mapped_ipv6_addresses_and_ports`);
//! - `fcntl(fd, F_DUPFD, 10)` makes a copy that the fd table knows: a read on
//!   the copy of an /etc/shadow fd has `fd.name=/etc/shadow` (parsers.cpp,
//!   `parse_fcntl_exit`);
//! - `fd.sip.name = localhost` holds for a connection to 127.0.0.1 (Falco's
//!   dns_manager resolves the rule's name forward), and outputs name the
//!   loopback peer `localhost` once its reverse lookup (from /etc/hosts)
//!   has been answered.
//!
//! The workloads run in a child of this test binary (the `helper` test,
//! selected by an environment variable), so rules pick their events by
//! `proc.exepath`. No address but loopback is contacted, and every name
//! looked up is in /etc/hosts.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const HELPER_ENV: &str = "SAKER_FD_STATE_HELPER";

/// The workload side: runs only in the child started by [`helper_run`].
#[test]
fn helper() {
    let Ok(action) = std::env::var(HELPER_ENV) else {
        return;
    };
    let args: Vec<&str> = action.split_whitespace().collect();
    match args.as_slice() {
        // An AF_INET6 socket connecting to ::ffff:127.0.0.1:PORT.
        ["mapped-connect", port] => {
            let port: u16 = port.parse().unwrap();
            let addr = SocketAddrV6::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port, 0, 0);
            let mut s = TcpStream::connect(SocketAddr::V6(addr)).expect("mapped connect");
            s.write_all(b"x").unwrap();
        }
        // N IPv4 connects to 127.0.0.1:PORT, GAP_MS apart.
        ["connect4", port, n, gap_ms] => {
            let port: u16 = port.parse().unwrap();
            for i in 0..n.parse::<u32>().unwrap() {
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(gap_ms.parse().unwrap()));
                }
                let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
                s.write_all(b"x").unwrap();
            }
        }
        // open(PATH, O_WRONLY|O_CREAT, 0755) twice: the first creates it.
        ["create-twice", path] => {
            for _ in 0..2 {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o755)
                    .open(path)
                    .expect("open O_CREAT");
            }
        }
        // open /etc/shadow, fcntl(fd, F_DUPFD, 10), read the copy; print it.
        ["fcntl-dup"] => {
            let path = c"/etc/shadow";
            // SAFETY: a valid NUL-terminated path; the descriptors are ours.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
            assert!(
                fd >= 0,
                "open /etc/shadow: {}",
                std::io::Error::last_os_error()
            );
            // SAFETY: fcntl on our own descriptor.
            let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD, 10) };
            assert!(copy >= 10, "fcntl: {}", std::io::Error::last_os_error());
            let mut buf = [0u8; 64];
            // SAFETY: reading into a buffer of the length given.
            let n = unsafe { libc::read(copy, buf.as_mut_ptr().cast(), buf.len()) };
            assert!(n >= 0, "read: {}", std::io::Error::last_os_error());
            // SAFETY: closing our own descriptors.
            unsafe {
                libc::close(copy);
                libc::close(fd);
            }
            println!("FD_STATE_COPY={copy}");
        }
        other => panic!("unknown helper action {other:?}"),
    }
}

/// Runs `action` in a child of this test binary; returns its stdout.
fn helper_run(action: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, action)
        .output()
        .expect("spawn helper");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helper {action:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Accepts and drains connections until the test ends.
fn serve(listener: TcpListener) {
    std::thread::spawn(move || {
        for c in listener.incoming() {
            let Ok(mut c) = c else { continue };
            let mut b = [0u8; 16];
            let _ = c.read(&mut b);
        }
    });
}

fn field<'a>(a: &'a Value, name: &str) -> &'a Value {
    &a["output_fields"][name]
}

fn alerts_of<'a>(alerts: &'a [Value], rule: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["rule"] == rule).collect()
}

#[test]
fn fd_and_network_state_on_the_real_kernel() {
    if std::env::var(HELPER_ENV).is_ok() || !bpf_available() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    // Two loopback servers: one for the IPv4-mapped connect, one for names.
    let mapped_srv = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let names_srv = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let (mapped_port, names_port) = (
        mapped_srv.local_addr().unwrap().port(),
        names_srv.local_addr().unwrap().port(),
    );
    serve(mapped_srv);
    serve(names_srv);

    let dir = unique_dir();
    let rules = dir.path().join("fd_state.yaml");
    let created = dir.path().join("created.sh");
    let created = created.to_str().unwrap();
    std::fs::write(
        &rules,
        format!(
            r#"
- macro: helper
  condition: proc.exepath = "{exe}"
# The way Falco's rules exclude loopback traffic: IPv4 conditions.
- macro: loopback_server
  condition: (fd.sip = 127.0.0.1 or fd.snet = "127.0.0.0/8")
- rule: Mapped connect outside loopback
  desc: must not fire; the mapped loopback peer is IPv4 loopback
  condition: evt.type = connect and helper and fd.sport = {mapped_port} and (fd.typechar = 4 or fd.typechar = 6) and not loopback_server
  output: "outside loopback %fd.name"
  priority: WARNING
- rule: Mapped connect is IPv4 loopback
  desc: the connect of an IPv6 socket to ::ffff:127.0.0.1
  condition: evt.type = connect and helper and fd.sport = {mapped_port} and fd.type = ipv4 and fd.typechar = 4 and loopback_server and fd.net = "127.0.0.0/8"
  output: "mapped %fd.type %fd.typechar %fd.sip %fd.cip %fd.lip %fd.rip %fd.name %fd.is_server"
  priority: WARNING
- rule: Read on an fcntl copy
  desc: read on the F_DUPFD copy of an /etc/shadow fd
  condition: evt.type = read and helper and fd.num >= 10 and fd.name = /etc/shadow
  output: "copy %fd.num %fd.name %fd.typechar"
  priority: WARNING
- rule: Open that created the file
  desc: evt.is_open_create from the kernel's FMODE_CREATED
  condition: evt.type in (open, openat) and helper and fd.name = "{created}" and evt.is_open_create = true
  output: "created %fd.name %evt.is_open_write %evt.is_open_exec"
  priority: WARNING
- rule: Open of the existing file
  desc: O_CREAT on an existing file creates nothing
  condition: evt.type in (open, openat) and helper and fd.name = "{created}" and evt.is_open_create = false
  output: "existing %fd.name %evt.is_open_exec"
  priority: WARNING
- rule: Connect naming the peer
  desc: outputs name the peer once its reverse lookup is answered
  condition: evt.type = connect and helper and fd.sport = {names_port}
  output: "peer %fd.rip.name %fd.sip.name %fd.lip.name %fd.cip.name"
  priority: WARNING
"#
        ),
    )
    .unwrap();
    let run = start(&rules);

    helper_run(&format!("mapped-connect {mapped_port}"));
    let out = helper_run("fcntl-dup");
    let copy: i64 = out
        .lines()
        .find_map(|l| l.split("FD_STATE_COPY=").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no copy fd in helper output: {out}"));
    helper_run(&format!("connect4 {names_port} 8 250"));
    helper_run(&format!("create-twice {created}"));

    let (stdout, stderr) = run.stop();
    let alerts = parse_alerts(&stdout);
    let report = || format!("alerts:\n{stdout}\nsaker stderr:\n{stderr}");

    // 1. IPv4-mapped IPv6 loopback: IPv4 fields, the exclusion holds.
    assert!(
        alerts_of(&alerts, "Mapped connect outside loopback").is_empty(),
        "the loopback exclusion must cover ::ffff:127.0.0.1; {}",
        report()
    );
    let mapped = alerts_of(&alerts, "Mapped connect is IPv4 loopback");
    assert_eq!(mapped.len(), 1, "{}", report());
    let m = mapped[0];
    for (f, want) in [
        ("fd.type", "ipv4"),
        ("fd.typechar", "4"),
        ("fd.sip", "127.0.0.1"),
        ("fd.cip", "127.0.0.1"),
        ("fd.lip", "127.0.0.1"),
        ("fd.rip", "127.0.0.1"),
    ] {
        assert_eq!(field(m, f), want, "{f}; {}", report());
    }
    assert_eq!(field(m, "fd.is_server"), false, "{}", report());
    let name = field(m, "fd.name").as_str().unwrap_or("");
    assert!(
        name.starts_with("127.0.0.1:") && name.ends_with(&format!("->127.0.0.1:{mapped_port}")),
        "fd.name {name:?}; {}",
        report()
    );

    // 2. The fcntl(F_DUPFD) copy names /etc/shadow.
    let reads = alerts_of(&alerts, "Read on an fcntl copy");
    assert!(!reads.is_empty(), "no read on the copy; {}", report());
    assert!(
        reads.iter().all(|a| field(a, "fd.num") == copy
            && field(a, "fd.name") == "/etc/shadow"
            && field(a, "fd.typechar") == "f"),
        "copy fd {copy}; {}",
        report()
    );

    // 3. evt.is_open_create: the first O_CREAT open created the file (the
    // kernel's FMODE_CREATED), the second found it; both ask for an
    // executable mode with O_CREAT, so both are is_open_exec (Falco's test
    // is on the flags and mode, not on the creation).
    let made = alerts_of(&alerts, "Open that created the file");
    let found = alerts_of(&alerts, "Open of the existing file");
    assert_eq!((made.len(), found.len()), (1, 1), "{}", report());
    assert_eq!(field(made[0], "evt.is_open_write"), true, "{}", report());
    assert_eq!(field(made[0], "evt.is_open_exec"), true, "{}", report());
    assert_eq!(field(found[0], "evt.is_open_exec"), true, "{}", report());

    // 4. Reverse names, for outputs: the first alert may see the lookup
    // pending (null, Falco's <NA>); later ones name the peer from the cache.
    // (No rule names a host here, so no forward name covers 127.0.0.1.)
    let peer = alerts_of(&alerts, "Connect naming the peer");
    assert_eq!(peer.len(), 8, "{}", report());
    assert!(
        peer[1..]
            .iter()
            .any(|a| field(a, "fd.rip.name") == "localhost"
                && field(a, "fd.lip.name") == "localhost"),
        "fd.rip.name never became localhost; {}",
        report()
    );
    assert!(
        peer.iter()
            .all(|a| field(a, "fd.rip.name").is_null() || field(a, "fd.rip.name") == "localhost"),
        "{}",
        report()
    );
}

/// `saker run` with `rules`, JSON alerts, no web server.
fn start(rules: &std::path::Path) -> SakerRun {
    SakerRun::start(&[
        "run",
        "-r",
        rules.to_str().unwrap(),
        "--json",
        "-o",
        "webserver.enabled=false",
    ])
}

/// Falco's semantics of `fd.sip.name = NAME` (dns_manager: the rule's name
/// is resolved forward and the connection's server address looked for among
/// the answers): it holds for every connect to 127.0.0.1, the first one
/// included (Saker resolves rule-named hosts at start), and the output
/// prints the rule's name. (Only names in /etc/hosts are used: the test
/// sends no DNS query.)
#[test]
fn rule_named_hosts_match_by_address_as_in_falco() {
    if std::env::var(HELPER_ENV).is_ok() || !bpf_available() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    let srv = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = srv.local_addr().unwrap().port();
    serve(srv);
    let dir = unique_dir();
    let rules = dir.path().join("names.yaml");
    std::fs::write(
        &rules,
        format!(
            r#"
- rule: Connect to localhost by name
  desc: fd.sip.name compared with a host name
  condition: evt.type = connect and proc.exepath = "{exe}" and fd.sport = {port} and fd.sip.name = localhost
  output: "by name %fd.sip.name %fd.rip.name"
  priority: WARNING
"#
        ),
    )
    .unwrap();
    let run = start(&rules);
    helper_run(&format!("connect4 {port} 3 100"));
    let (stdout, stderr) = run.stop();
    let alerts = parse_alerts(&stdout);
    let report = || format!("alerts:\n{stdout}\nsaker stderr:\n{stderr}");
    let by_name = alerts_of(&alerts, "Connect to localhost by name");
    assert_eq!(by_name.len(), 3, "{}", report());
    assert!(
        by_name
            .iter()
            .all(|a| field(a, "fd.sip.name") == "localhost"
                && field(a, "fd.rip.name") == "localhost"),
        "{}",
        report()
    );
}
