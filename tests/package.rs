//! The Debian package for hosts without Kubernetes, as an administrator
//! installs it (root): `dpkg -i` of the .deb that `cargo xtask deb` builds
//! (`cargo xtask test` builds it first and passes it in SAKER_DEB), its
//! files and conffiles, the systemd unit checked with `systemd-analyze
//! verify` and `systemd-analyze security --offline` (no systemd runs as PID 1
//! on the test machines), then the installed agent started by the unit's
//! ExecStart with the installed configuration, under the unit's capability
//! bounding set and no_new_privs (setpriv), raising an alert for
//! `cat /etc/shadow`; `dpkg --purge` leaves nothing behind.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// Where dpkg puts the unit (cargo-deb installs under /usr/lib; merged-/usr
/// systems see the same file under /lib).
const UNITS: [&str; 2] = [
    "/usr/lib/systemd/system/saker.service",
    "/lib/systemd/system/saker.service",
];

const CONFFILES: [&str; 3] = [
    "/etc/saker/saker.yaml",
    "/etc/saker/saker_rules.yaml",
    "/etc/saker/rules.d/local_rules.yaml",
];

/// The .deb to install: SAKER_DEB, else the newest in target/debian.
fn package() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SAKER_DEB") {
        return Some(PathBuf::from(p));
    }
    let dir = workspace().join("target/debian");
    let found = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    if found.is_none() {
        let why = format!(
            "no .deb in {} (run `cargo xtask deb`, or `cargo xtask test`, which builds it)",
            dir.display()
        );
        assert!(
            std::env::var("SAKER_REQUIRE_BPF").is_err(),
            "{why}; SAKER_REQUIRE_BPF=1 makes this a failure"
        );
        eprintln!("not run: {why}");
    }
    found
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// The package's dpkg status, if dpkg knows it.
fn package_status() -> Option<String> {
    let out = run(Command::new("dpkg-query").args(["-W", "-f", "${Status}", "saker"]));
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Purges the package on drop, so a failing test leaves the machine clean.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "saker"]).output();
    }
}

/// The value of `key=` in the unit's [Service] section.
fn directive<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .next_back()
}

/// The capabilities of the table in docs/deploy.md's "Capabilities"
/// section: the least-privilege set of the production DaemonSet.
fn documented_capabilities() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(workspace().join("docs/deploy.md")).expect("docs/deploy.md");
    let section = doc
        .split("### Capabilities")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("a Capabilities section in docs/deploy.md");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `CAP_"))
        .filter_map(|l| l.split('`').next())
        .map(|c| format!("CAP_{c}"))
        .collect()
}

#[test]
fn the_deb_installs_a_hardened_service_whose_agent_detects_and_purges_cleanly() {
    if !bpf_available() {
        return;
    }
    let Some(deb) = package() else {
        return;
    };
    if let Some(status) = package_status() {
        assert!(
            !status.contains("installed") || status.contains("not-installed"),
            "the saker package is already installed here ({status}); this test installs and \
             purges it, so remove it first: dpkg --purge saker"
        );
    }
    let installed = Installed;
    let out = run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    assert_eq!(
        package_status().as_deref(),
        Some("install ok installed"),
        "{out}"
    );

    // The files, and the configuration kept as conffiles across upgrades.
    let bin = Path::new("/usr/bin/saker");
    let version = run_ok(Command::new(bin).arg("--version"));
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")),
        "saker --version: {version}"
    );
    assert_eq!(
        std::fs::read_to_string("/etc/saker/saker_rules.yaml").expect("installed rules"),
        std::fs::read_to_string(workspace().join("agent/rules/saker_rules.yaml"))
            .expect("agent/rules/saker_rules.yaml"),
        "/etc/saker/saker_rules.yaml is the ruleset the binary embeds"
    );
    let conffiles = run_ok(Command::new("dpkg-query").args(["-W", "-f", "${Conffiles}", "saker"]));
    for f in CONFFILES {
        assert!(conffiles.contains(f), "{f} is not a conffile:\n{conffiles}");
    }
    // The shipped configuration and rules load as they are, without a
    // warning at every start.
    let validated =
        run_ok(Command::new(bin).args(["config", "validate", "-c", "/etc/saker/saker.yaml"]));
    assert!(
        !validated.to_lowercase().contains("warning"),
        "the installed configuration warns:\n{validated}"
    );
    assert!(
        Path::new("/usr/share/doc/saker/copyright").is_file(),
        "the license is installed"
    );

    // The unit: valid, hardened, with the documented least privileges.
    let unit_path = UNITS
        .iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| panic!("no saker.service in {UNITS:?}"));
    let verify = run(Command::new("systemd-analyze").args(["verify", unit_path]));
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !said.contains("saker.service"),
        "systemd-analyze verify {unit_path}: {}\n{said}",
        verify.status
    );
    let security = run_ok(Command::new("systemd-analyze").args([
        "security",
        "--offline=true",
        "--no-pager",
        unit_path,
    ]));
    let overall = security
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure level:\n{security}"));
    eprintln!(
        "{}",
        overall.trim_start_matches(|c: char| !c.is_alphanumeric())
    );
    let score: f64 = overall
        .split(": ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unreadable: {overall}"));
    assert!(
        score < 5.0,
        "saker.service is exposed ({overall}); systemd calls below 5.0 OK"
    );
    let unit = std::fs::read_to_string(unit_path).expect("unit");
    let bounding: BTreeSet<String> = directive(&unit, "CapabilityBoundingSet")
        .expect("CapabilityBoundingSet=")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        bounding,
        documented_capabilities(),
        "the unit grants the capabilities docs/deploy.md documents, no other"
    );
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(directive(&unit, key), Some(value), "{key}= in {unit_path}");
    }

    // The installed agent, started as the unit starts it, under its
    // capability bounding set and no_new_privs: `cat /etc/shadow` raises the
    // default ruleset's alert.
    let exec_start = directive(&unit, "ExecStart").expect("ExecStart=");
    let words: Vec<&str> = exec_start.split_whitespace().collect();
    assert_eq!(words[0], "/usr/bin/saker", "{exec_start}");
    let bounding_arg = std::iter::once("-all".to_string())
        .chain(
            bounding
                .iter()
                .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_ascii_lowercase())),
        )
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--bounding-set={bounding_arg}"))
        .arg("--no-new-privs")
        .args(&words)
        // Another agent on this machine may hold port 8765; JSON to read
        // the alert's fields.
        .args(["-o", "webserver.listen_port=0", "-o", "json_output=true"]);
    let agent = SakerRun::start_command(cmd);
    for _ in 0..3 {
        let out = run(Command::new("cat").arg("/etc/shadow"));
        assert!(out.status.success(), "cat /etc/shadow as root");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (stdout, stderr) = agent.stop();
    let alerts = parse_alerts(&stdout);
    let shadow: Vec<_> = alerts
        .iter()
        .filter(|a| {
            a["rule"] == "Sensitive credential file opened for reading"
                && a["output_fields"]["fd.name"] == "/etc/shadow"
                && a["output_fields"]["proc.name"] == "cat"
        })
        .collect();
    assert!(
        !shadow.is_empty(),
        "no alert for cat /etc/shadow from the installed agent; {} alerts:\n{stdout}\n{stderr}",
        alerts.len()
    );
    assert_eq!(shadow[0]["priority"], "Warning");

    // Purge: binary, configuration, unit, state and logs are gone.
    drop(installed);
    assert_eq!(package_status(), None, "dpkg still knows saker after purge");
    for p in [
        "/usr/bin/saker",
        "/etc/saker",
        "/var/lib/saker",
        "/var/log/saker",
    ]
    .into_iter()
    .chain(UNITS)
    {
        assert!(!Path::new(p).exists(), "{p} is left after dpkg --purge");
    }
}
