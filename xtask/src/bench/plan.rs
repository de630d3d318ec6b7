//! What `cargo xtask bench` runs: the configurations (what is attached while
//! a workload runs) and the workloads (`saker-workload` subcommands).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// How the saker configurations start the agent: `saker run`, or the
/// `saker capture -q` stand-in used before `saker run` existed (the same
/// probe, ring buffer and decoder with the default event set, but no state
/// and no rules, so both saker configurations then run the same program).
/// Switching between them is this one line.
pub const SAKER_LAUNCH: SakerLaunch = SakerLaunch::Run;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    dead_code,
    reason = "SAKER_LAUNCH constructs one variant; the other is only matched \
              (compare with matches!, not ==, to keep it so)"
)]
pub enum SakerLaunch {
    /// `saker capture -q`: kernel capture and decoding only; rules ignored.
    CaptureStandIn,
    /// `saker run [-r RULES]`: the agent with rules (embedded default without `-r`).
    Run,
}

/// `saker run` keeps its webserver (/metrics, /healthz), as deployed, but
/// on an ephemeral port, so that a bench run does not fail when another
/// agent on the machine holds the default 8765. The clock setting is spelled
/// out, so every report states it: exact event times (one clock read per
/// record, the default since issue 13) rather than the opt-in shared reading.
const RUN_OPTIONS: [&str; 4] = [
    "-o",
    "webserver.listen_port=0",
    "-o",
    TIMESTAMP_EVERY_OPTION,
];

/// `saker.timestamp_every` of every saker configuration (see [`RUN_OPTIONS`]).
const TIMESTAMP_EVERY_OPTION: &str = "saker.timestamp_every=1";

/// What is attached while a workload runs.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub name: &'static str,
    pub description: String,
    /// Agent command line; empty for `none`.
    pub command: Vec<String>,
    /// The configuration runs a stand-in, not the real agent (see [`SAKER_LAUNCH`]).
    pub stand_in: bool,
    /// Run when `--configs` does not name configurations.
    pub default_on: bool,
}

impl Config {
    pub fn has_agent(&self) -> bool {
        !self.command.is_empty()
    }

    /// Saker as deployed (with rules): what issue 7's targets are about.
    pub fn is_saker(&self) -> bool {
        matches!(self.name, "saker-default" | "saker-stable")
    }

    /// The command line with the program's directory left out.
    pub fn display_command(&self) -> String {
        let mut words: Vec<String> = self.command.clone();
        if let Some(first) = words.first_mut()
            && let Some(name) = Path::new(first.as_str()).file_name()
        {
            *first = name.to_string_lossy().into_owned();
        }
        words.join(" ")
    }
}

fn saker_command(saker: &Path, rules: Option<&Path>) -> Vec<String> {
    let bin = saker.display().to_string();
    match (SAKER_LAUNCH, rules) {
        (SakerLaunch::CaptureStandIn, _) => vec![
            bin,
            "capture".into(),
            "-q".into(),
            "--timestamp-every".into(),
            "1".into(),
        ],
        (SakerLaunch::Run, rules) => {
            let mut c = vec![bin, "run".into()];
            if let Some(r) = rules {
                c.extend(["-r".into(), r.display().to_string()]);
            }
            c.extend(RUN_OPTIONS.map(String::from));
            c
        }
    }
}

/// Every configuration this machine can run, baseline first. saker-stable
/// and falco-stable need Falco's stable rules file (`stable_rules`, found by
/// `saker_upstream`'s lookup).
pub fn all_configs(
    saker: &Path,
    stable_rules: Option<&Path>,
    falco: Option<PathBuf>,
) -> Vec<Config> {
    let stand_in = matches!(SAKER_LAUNCH, SakerLaunch::CaptureStandIn);
    let note = if stand_in {
        " (stand-in: `saker capture -q`, rules not evaluated)"
    } else {
        ""
    };
    let mut configs = vec![
        Config {
            name: "none",
            description: "nothing attached (baseline)".into(),
            command: Vec::new(),
            stand_in: false,
            default_on: true,
        },
        Config {
            name: "floor",
            description: "sys_enter + sys_exit programs that only count".into(),
            command: vec![saker.display().to_string(), "bench-floor".into()],
            stand_in: false,
            default_on: true,
        },
        Config {
            name: "saker-default",
            description: format!("saker with its embedded default rules{note}"),
            command: saker_command(saker, None),
            stand_in,
            default_on: true,
        },
        // Opt-in (`--configs saker-capture,...`): kernel capture and decoding
        // without state and rules, to split Saker's cost between the two.
        Config {
            name: "saker-capture",
            description: "saker capture only: probe, ring buffer, decoder; no state, no rules"
                .into(),
            command: vec![
                saker.display().to_string(),
                "capture".into(),
                "-q".into(),
                "--timestamp-every".into(),
                "1".into(),
            ],
            stand_in: false,
            default_on: false,
        },
    ];
    if let Some(rules) = stable_rules {
        configs.insert(
            3,
            Config {
                name: "saker-stable",
                description: format!("saker with {}{note}", rules.display()),
                command: saker_command(saker, Some(rules)),
                stand_in,
                default_on: true,
            },
        );
        if let Some(falco) = falco {
            configs.push(Config {
                name: "falco-stable",
                description: format!("Falco (modern eBPF) with {}", rules.display()),
                command: vec![
                    falco.display().to_string(),
                    "-r".into(),
                    rules.display().to_string(),
                    "-o".into(),
                    "engine.kind=modern_ebpf".into(),
                ],
                stand_in: false,
                default_on: true,
            });
        }
    }
    configs
}

/// A `saker-workload` subcommand, at the sizes of quick and full runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Workload {
    pub name: &'static str,
    pub description: &'static str,
    pub quick: &'static [&'static str],
    pub full: &'static [&'static str],
}

impl Workload {
    pub fn args(&self, quick: bool) -> &'static [&'static str] {
        if quick { self.quick } else { self.full }
    }
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "open-close",
        description: "openat + read(64 B) + close of one file, in a loop",
        quick: &["open-close", "--iterations", "100000"],
        full: &["open-close", "--iterations", "1000000"],
    },
    Workload {
        name: "exec",
        description: "fork + execve(/bin/true) + waitpid, in a loop",
        quick: &["exec", "--iterations", "200"],
        full: &["exec", "--iterations", "2000"],
    },
    Workload {
        name: "net",
        description: "127.0.0.1 TCP: connect/accept, 8 x 512 B request/response, close",
        quick: &["net", "--connections", "1000"],
        full: &["net", "--connections", "10000"],
    },
    Workload {
        name: "compile",
        description: "gcc -O2 build of a 6-file C program (test data), link, run",
        quick: &["compile", "--builds", "1"],
        full: &["compile", "--builds", "4"],
    },
];

/// The first executable `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
