//! What `cargo xtask bench` runs: the configurations (what is attached while
//! a workload runs) and the workloads (`saker-workload` subcommands).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// How the saker configurations start the agent.
///
/// `saker run` (rule evaluation) is not in the tree yet; until it is,
/// `saker capture -q` stands in: the same probe, ring buffer and decoder with
/// the default event set, but no state and no rules, so both saker
/// configurations run the same program. Switching to the real agent is this
/// one line: `SakerLaunch::Run`.
pub const SAKER_LAUNCH: SakerLaunch = SakerLaunch::CaptureStandIn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    dead_code,
    reason = "Run is selected by SAKER_LAUNCH once `saker run` exists"
)]
pub enum SakerLaunch {
    /// `saker capture -q`: kernel capture and decoding only; rules ignored.
    CaptureStandIn,
    /// `saker run [-r RULES]`: the agent with rules (embedded default without `-r`).
    Run,
}

/// The Falco rules file of the saker-stable and falco configurations,
/// relative to the workspace root.
pub const STABLE_RULES: &str = "../shared/falco/falco_rules.yaml";

/// What is attached while a workload runs.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub name: &'static str,
    pub description: String,
    /// Agent command line; empty for `none`.
    pub command: Vec<String>,
    /// The configuration runs a stand-in, not the real agent (see [`SAKER_LAUNCH`]).
    pub stand_in: bool,
}

impl Config {
    pub fn has_agent(&self) -> bool {
        !self.command.is_empty()
    }

    pub fn is_saker(&self) -> bool {
        self.name.starts_with("saker")
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
        (SakerLaunch::CaptureStandIn, _) => vec![bin, "capture".into(), "-q".into()],
        (SakerLaunch::Run, None) => vec![bin, "run".into()],
        (SakerLaunch::Run, Some(r)) => {
            vec![bin, "run".into(), "-r".into(), r.display().to_string()]
        }
    }
}

/// Every configuration this machine can run, baseline first.
pub fn all_configs(root: &Path, saker: &Path, falco: Option<PathBuf>) -> Vec<Config> {
    let rules = root.join(STABLE_RULES);
    let stand_in = SAKER_LAUNCH == SakerLaunch::CaptureStandIn;
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
        },
        Config {
            name: "floor",
            description: "sys_enter + sys_exit programs that only count".into(),
            command: vec![saker.display().to_string(), "bench-floor".into()],
            stand_in: false,
        },
        Config {
            name: "saker-default",
            description: format!("saker with its embedded default rules{note}"),
            command: saker_command(saker, None),
            stand_in,
        },
        Config {
            name: "saker-stable",
            description: format!("saker with {STABLE_RULES}{note}"),
            command: saker_command(saker, Some(&rules)),
            stand_in,
        },
    ];
    if let Some(falco) = falco {
        configs.push(Config {
            name: "falco-stable",
            description: format!("Falco (modern eBPF) with {STABLE_RULES}"),
            command: vec![
                falco.display().to_string(),
                "-r".into(),
                rules.display().to_string(),
                "-o".into(),
                "engine.kind=modern_ebpf".into(),
            ],
            stand_in: false,
        });
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
