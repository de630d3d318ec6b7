//! Developer tasks: `cargo xtask <task>`.
//!
//! - `setup`: installs what building and running the agent need (Debian packages).
//! - `test`: setup, the test-only packages (their services left stopped and
//!   disabled), the image and the .deb, then every test of the workspace.
//! - `run [-- ARGS]`: setup, release build, then `saker ARGS` (default: `run`).
//! - `deb [--out PATH]`: the Debian package for hosts without Kubernetes (docs/install.md).
//! - `codegen`: regenerates the vendored vmlinux.h and the syscall table.
//! - `monitoring`: regenerates the PrometheusRule from the plain rules file.
//! - `bench [--quick]`: overhead benchmark (docs/benchmarks.md).
//! - `image [--out PATH] [--context-only DIR]`: the container image as an OCI archive (docs/image.md).
//! - `e2e [-r RULES]... [SPEC]...`: Falco's end-to-end rule tests against `saker run` (docs/rules.md).
//! - `fuzz [--time SECS] [TARGET]...`: every cargo-fuzz target, one at a time (docs/fuzzing.md).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod bench;
mod deb;
mod e2e;
mod fuzz;
mod image;
mod supply;

#[derive(Debug, Parser)]
#[command(about = "Saker developer tasks")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install what building and running need if missing: clang-19, llvm-19, libbpf-dev, bpftool, protobuf-compiler (Debian, root).
    Setup,
    /// Set up, install the test-only packages (services not started), build the image and the .deb, then run every test of the workspace.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_args: Vec<String>,
    },
    /// Set up, build in release mode and run `saker` with ARGS (default: `run`).
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        saker_args: Vec<String>,
    },
    /// Regenerate agent-ebpf/include/x86_64/vmlinux.h (bpftool) and the syscall table.
    Codegen,
    /// Regenerate deploy/monitoring/prometheusrule.yaml from deploy/monitoring/saker.rules.yml.
    Monitoring,
    /// Overhead benchmark: workloads under none / floor / saker / falco, side by side (root).
    Bench(bench::BenchArgs),
    /// Build the container image (deploy/Containerfile) with buildah into target/image/saker-VERSION.oci.tar.
    Image(image::ImageArgs),
    /// Build the Debian package (cargo-deb): binary, /etc/saker, hardened systemd unit.
    Deb(deb::DebArgs),
    /// Supply chain: license/ban/source policy (deny.toml, cargo-deny) and the CycloneDX SBOM.
    SupplyChain,
    /// Falco's end-to-end rule tests (event-generator's format) against `saker run` (root).
    E2e(e2e::E2eArgs),
    /// Run every cargo-fuzz target of fuzz/ for --time seconds each, one at a time (nightly).
    Fuzz(fuzz::FuzzArgs),
    /// The hardening scenarios at full size on the real kernel (root): churn of 200,000 processes and 1,000,000 fds, overload at 0.2 CPU, 20 reloads, shutdown; prints their figures.
    Hardening,
}

/// Packages building the agent needs (and so `cargo xtask run`), and a file
/// that proves each is installed: clang and the libbpf headers compile the
/// eBPF programs, llvm and bpftool handle their objects and BTF;
/// `protobuf-compiler`: the CRI and containerd API crates compile their
/// protos at build time. Nothing here runs a service.
const PACKAGES: &[(&str, &str)] = &[
    ("clang-19", "/usr/bin/clang-19"),
    ("llvm-19", "/usr/bin/llvm-strip-19"),
    ("libbpf-dev", "/usr/include/bpf/bpf_helpers.h"),
    ("bpftool", "/usr/sbin/bpftool"),
    ("protobuf-compiler", "/usr/bin/protoc"),
];

/// What only the tests run, installed by `cargo xtask test` (never by
/// `setup` or `run`), with their services left stopped and disabled (see
/// [`install_test_packages`]): `prometheus` provides prometheus and
/// promtool for the monitoring tests (a real Prometheus scraping the agent;
/// alert rule unit tests); `systemd` provides systemd-analyze, which checks
/// the .deb's unit (tests/package.rs); the container tests
/// (tests/containers.rs, tests/runtimes.rs, tests/daemonset.rs, whose image
/// `buildah` builds) run a real containerd with its CRI plugin and runc,
/// podman (the Docker API case) with conmon, the tools that build the local
/// test image (umoci, skopeo, a static busybox) and the CNI plugins for pod
/// networks. The tests start private instances of what they need.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("prometheus", "/usr/bin/promtool"),
    ("systemd", "/usr/bin/systemd-analyze"),
    ("containerd", "/usr/bin/containerd"),
    ("runc", "/usr/sbin/runc"),
    ("podman", "/usr/bin/podman"),
    ("conmon", "/usr/bin/conmon"),
    ("umoci", "/usr/bin/umoci"),
    ("skopeo", "/usr/bin/skopeo"),
    ("busybox-static", "/bin/busybox"),
    ("containernetworking-plugins", "/usr/lib/cni/bridge"),
    ("buildah", "/usr/bin/buildah"),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn status(cmd: &mut Command) -> Result<()> {
    let st = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed with {st}");
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn setup() -> Result<()> {
    install(missing(PACKAGES))?;
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!(
            "xtask setup: warning: /sys/kernel/btf/vmlinux is missing; the agent needs a kernel with BTF"
        );
    }
    Ok(())
}

/// The packages of `packages` whose probe file is missing.
fn missing<'a>(packages: &[(&'a str, &str)]) -> Vec<&'a str> {
    packages
        .iter()
        .filter(|(_, probe)| !Path::new(probe).exists())
        .map(|(pkg, _)| *pkg)
        .collect()
}

/// Installs `missing` Debian packages (root), without recommends.
fn install(missing: Vec<&str>) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        bail!("missing packages: {list}; run as root: apt-get install -y {list}");
    }
    eprintln!("xtask: installing {list}");
    status(Command::new("apt-get").args(["update", "-q"]))?;
    status(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )
}

/// Where Debian's maintainer scripts ask whether they may start a service
/// (invoke-rc.d and deb-systemd-invoke both run it first; exit status 101
/// means "forbidden": /usr/share/doc/init-system-helpers/README.policy-rc.d.gz).
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// The [`TEST_PACKAGES`] that ship daemons, whose postinst enables their
/// units and, on a systemd host, starts them (prometheus.service,
/// containerd.service, podman's service, socket and timers).
const DAEMON_TEST_PACKAGES: &[&str] = &["prometheus", "containerd", "podman"];

/// [`TEST_PACKAGES`] that are missing, installed without starting or
/// enabling their services: the tests need only the programs (they start
/// private instances). A policy-rc.d that forbids every start is in place
/// during the install (unless the machine has its own), and the units of
/// the newly installed [`DAEMON_TEST_PACKAGES`] are disabled afterwards.
pub(crate) fn install_test_packages() -> Result<()> {
    let missing = missing(TEST_PACKAGES);
    if missing.is_empty() || !is_root() {
        return install(missing);
    }
    let policy = NoServiceStarts::install()?;
    let installed = install(missing.clone());
    drop(policy);
    installed?;
    let daemons: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|p| DAEMON_TEST_PACKAGES.contains(p))
        .collect();
    for unit in units_of(&daemons) {
        // Recorded as disabled by the admin, so an upgrade of the package
        // does not enable it again.
        let st = Command::new("deb-systemd-helper")
            .args(["disable", &unit])
            .status();
        match st {
            Ok(s) if s.success() => eprintln!("xtask: {unit} left disabled (test-only package)"),
            _ => {
                eprintln!("xtask: warning: could not disable {unit}; run: systemctl disable {unit}")
            }
        }
    }
    Ok(())
}

/// The systemd units (service, socket, timer) the Debian packages ship.
fn units_of(packages: &[&str]) -> Vec<String> {
    if packages.is_empty() {
        return Vec::new();
    }
    let Ok(out) = Command::new("dpkg").arg("-L").args(packages).output() else {
        return Vec::new();
    };
    let mut units: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.starts_with("/lib/systemd/system/") || l.starts_with("/usr/lib/systemd/system/")
        })
        .filter_map(|l| Path::new(l).file_name()?.to_str().map(str::to_string))
        .filter(|u| {
            !u.contains('@')
                && [".service", ".socket", ".timer"]
                    .iter()
                    .any(|s| u.ends_with(s))
        })
        .collect();
    units.sort();
    units.dedup();
    units
}

/// A policy-rc.d forbidding service starts, removed on drop; none is
/// written if the machine has one (it is the admin's).
struct NoServiceStarts {
    written: bool,
}

impl NoServiceStarts {
    fn install() -> Result<NoServiceStarts> {
        if Path::new(POLICY_RC_D).exists() {
            return Ok(NoServiceStarts { written: false });
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(
            POLICY_RC_D,
            "#!/bin/sh\n# Written by `cargo xtask test` while it installs test-only packages,\n\
             # so that their services are not started; removed afterwards.\nexit 101\n",
        )
        .with_context(|| format!("writing {POLICY_RC_D}"))?;
        std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))?;
        Ok(NoServiceStarts { written: true })
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if self.written
            && let Err(e) = std::fs::remove_file(POLICY_RC_D)
        {
            eprintln!("xtask: warning: could not remove {POLICY_RC_D}: {e}; remove it by hand");
        }
    }
}

fn cargo_path() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

fn cargo() -> Command {
    Command::new(cargo_path())
}

fn test(extra: &[String]) -> Result<()> {
    setup()?;
    install_test_packages()?;
    // The crates' licenses, bans and sources (deny.toml); then the agent
    // image (with its SBOM), which tests/daemonset.rs runs from the rendered
    // production DaemonSet, and the .deb, which tests/package.rs installs.
    // Both ship the release build, so CI builds the profile users run.
    supply::check()?;
    image::run(&image::ImageArgs::default())?;
    let deb = deb::run(&deb::DebArgs::default())?;
    status(
        cargo()
            .current_dir(workspace_root())
            .env("SAKER_IMAGE_ARCHIVE", image::default_archive())
            .env("SAKER_DEB", deb)
            .args(["test", "--workspace"])
            .args(extra),
    )
}

/// The integration tests of issue 14's scenarios, one at a time, with the
/// churn at its full size (`SAKER_CHURN_FULL=1`: tests/churn.rs), BPF
/// required; each prints a figures line (`churn:`, `overload:`, `SIGTERM to
/// exit:`, `reloads:`), repeated at the end.
fn hardening() -> Result<()> {
    setup()?;
    let root = workspace_root();
    status(cargo().current_dir(&root).args(["build", "-p", "saker"]))?;
    let mut child = cargo()
        .current_dir(&root)
        .env("SAKER_CHURN_FULL", "1")
        .env("SAKER_REQUIRE_BPF", "1")
        .args(["test", "-p", "saker-integration"])
        .args(["--test", "churn", "--test", "overload", "--test", "reload"])
        .args(["--test", "lifecycle", "--test", "hostile"])
        .args(["--", "--nocapture", "--test-threads=1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cargo test")?;
    let mut figures = Vec::new();
    let stderr = child.stderr.take().context("stderr")?;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line?;
        eprintln!("{line}");
        if ["churn:", "overload:", "SIGTERM to exit:", "reloads:"]
            .iter()
            .any(|k| line.starts_with(k))
        {
            figures.push(line);
        }
    }
    let st = child.wait()?;
    println!("\nhardening figures ({}):", bench::report::git_revision());
    for f in &figures {
        println!("  {f}");
    }
    if !st.success() {
        bail!("a hardening scenario failed ({st})");
    }
    Ok(())
}

/// `cargo build --release -p saker` (what `run` starts and `image` and
/// `deb` ship), with cargo's progress on the terminal.
fn build_release() -> Result<()> {
    eprintln!("xtask: building saker (release profile; the first build takes a few minutes)");
    status(
        cargo()
            .current_dir(workspace_root())
            .args(["build", "--release", "-p", "saker"]),
    )
}

fn run(args: &[String]) -> Result<()> {
    eprintln!("xtask run: checking the build packages");
    setup()?;
    let root = workspace_root();
    build_release()?;
    let args: Vec<String> = if args.is_empty() {
        vec!["run".into()]
    } else {
        args.to_vec()
    };
    let bin = root.join("target/release/saker");
    eprintln!(
        "xtask run: starting target/release/saker {}{}",
        args.join(" "),
        if args.first().is_some_and(|a| a == "run" || a == "capture") {
            " (Ctrl-C stops it)"
        } else {
            ""
        }
    );
    let st = Command::new(&bin)
        .args(&args)
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    if !st.success() {
        bail!("saker exited with {st}");
    }
    Ok(())
}

/// Syscalls newer than the Debian kernel headers' table (Linux 6.1), by number.
const NEWER_SYSCALLS: &[(usize, &str)] = &[
    (335, "uretprobe"),
    (451, "cachestat"),
    (452, "fchmodat2"),
    (453, "map_shadow_stack"),
    (454, "futex_wake"),
    (455, "futex_wait"),
    (456, "futex_requeue"),
    (457, "statmount"),
    (458, "listmount"),
    (459, "lsm_get_self_attr"),
    (460, "lsm_set_self_attr"),
    (461, "lsm_list_modules"),
    (462, "mseal"),
    (463, "setxattrat"),
    (464, "getxattrat"),
    (465, "listxattrat"),
    (466, "removexattrat"),
    (467, "open_tree_attr"),
    (468, "file_getattr"),
    (469, "file_setattr"),
];

fn codegen() -> Result<()> {
    setup()?;
    let root = workspace_root();
    let vmlinux = root.join("agent-ebpf/include/x86_64/vmlinux.h");
    let out = Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output()
        .context("running bpftool")?;
    if !out.status.success() {
        bail!("bpftool failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::write(&vmlinux, &out.stdout)?;
    eprintln!("wrote {}", vmlinux.display());

    let header = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
        .context("reading the x86_64 syscall numbers (linux-libc-dev)")?;
    let mut names: Vec<String> = Vec::new();
    let mut put = |nr: usize, name: &str| {
        if names.len() <= nr {
            names.resize(nr + 1, String::new());
        }
        if names[nr].is_empty() {
            names[nr] = name.to_string();
        }
    };
    for line in header.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(nr)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let (Some(name), Ok(nr)) = (name.strip_prefix("__NR_"), nr.parse::<usize>()) {
            put(nr, name);
        }
    }
    for (nr, name) in NEWER_SYSCALLS {
        put(*nr, name);
    }
    let mut rs = String::from(
        "// x86_64 system call numbers and names, from the kernel's\n\
         // arch/x86/entry/syscalls/syscall_64.tbl (Linux 6.18). Regenerate with `cargo xtask codegen`.\n\n\
         /// `SYSCALL_NAMES_X86_64[nr]` is the name of system call `nr`, or `\"\"` for unused numbers.\n",
    );
    rs.push_str(&format!(
        "pub const SYSCALL_NAMES_X86_64: [&str; {}] = [\n",
        names.len()
    ));
    for n in &names {
        rs.push_str(&format!("    \"{n}\",\n"));
    }
    rs.push_str("];\n");
    let table = root.join("agent/src/event/syscalls_x86_64.rs");
    std::fs::write(&table, rs)?;
    eprintln!("wrote {}", table.display());
    Ok(())
}

const PROMETHEUS_RULE_HEADER: &[&str] = &[
    "# Generated from saker.rules.yml by `cargo xtask monitoring`: edit that file,",
    "# not this one. The PrometheusRule for the Prometheus Operator; add the labels",
    "# your Prometheus' ruleSelector expects (e.g. `release: kube-prometheus-stack`).",
    "apiVersion: monitoring.coreos.com/v1",
    "kind: PrometheusRule",
    "metadata:",
    "  name: saker",
    "  labels:",
    "    app.kubernetes.io/name: saker",
    "    app.kubernetes.io/component: monitoring",
    "spec:",
];

/// The PrometheusRule wrapping the plain rules file: its `groups:` become
/// `spec.groups`, text unchanged but indented, so the two cannot drift apart
/// (agent/tests/monitoring.rs checks that they parse to the same rules).
fn monitoring() -> Result<()> {
    let dir = workspace_root().join("deploy/monitoring");
    let plain = std::fs::read_to_string(dir.join("saker.rules.yml"))
        .context("reading deploy/monitoring/saker.rules.yml")?;
    let mut out: String = PROMETHEUS_RULE_HEADER
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    // The plain file's header comment is about the plain file; skip it.
    let body = plain
        .lines()
        .skip_while(|l| l.starts_with('#') || l.is_empty());
    for line in body {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.join("prometheusrule.yaml");
    std::fs::write(&path, out)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let r = match &args.task {
        Task::Setup => setup(),
        Task::Test { cargo_args } => test(cargo_args),
        Task::Run { saker_args } => run(saker_args),
        Task::Codegen => codegen(),
        Task::Monitoring => monitoring(),
        Task::Bench(a) => bench::run(a),
        Task::Image(a) => image::run(a),
        Task::Deb(a) => deb::run(a).map(|_| ()),
        Task::SupplyChain => supply::run(),
        Task::E2e(a) => e2e::run(a),
        Task::Fuzz(a) => fuzz::run(a),
        Task::Hardening => hardening(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
