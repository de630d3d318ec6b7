//! Which privileges the agent runs with, what they allow, and what is
//! missing, found before the probe is loaded so that a missing privilege is
//! named instead of surfacing as a kernel error code.
//!
//! Mandatory: kernel BTF (the probe is CO-RE), `CAP_BPF` and `CAP_PERFMON`
//! (or `CAP_SYS_ADMIN`; the kernel's `bpf_capable()` and `perfmon_capable()`
//! accept either) to load tracing programs and create their maps, and a
//! kernel lockdown that lets BPF read kernel memory (the `confidentiality`
//! mode removes `bpf_probe_read_kernel`, kernel/trace/bpf_trace.c).
//! Optional, each a [`Feature`] that degrades with a warning: BPF run-time
//! statistics (`BPF_ENABLE_STATS` needs `CAP_SYS_ADMIN`, kernel/bpf/syscall.c)
//! and reading the open files, executable and working directory of other
//! users' processes in /proc (`CAP_SYS_PTRACE` for the ptrace access check of
//! /proc/PID/fd, /proc/PID/exe and /proc/PID/cwd, and `CAP_DAC_READ_SEARCH`
//! to open their directories).

use std::path::Path;

/// Capability numbers (include/uapi/linux/capability.h).
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_RESOURCE: u32 = 24;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// The capabilities that matter to Saker, in the order they are reported.
const REPORTED: [(u32, &str); 8] = [
    (CAP_BPF, "CAP_BPF"),
    (CAP_PERFMON, "CAP_PERFMON"),
    (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    (CAP_SYS_PTRACE, "CAP_SYS_PTRACE"),
    (CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"),
    (CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"),
    (CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"),
    (CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"),
];

/// The optional features, the bounded `feature` label of
/// `saker_feature_enabled`.
pub const FEATURES: [&str; 2] = [FEATURE_BPF_STATS, FEATURE_PROC_OTHER_USERS];
pub const FEATURE_BPF_STATS: &str = "bpf_stats";
pub const FEATURE_PROC_OTHER_USERS: &str = "proc_other_users";

/// What the agent runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileges {
    /// Effective user id.
    pub uid: u32,
    /// Effective capability set (`CapEff` of /proc/self/status).
    pub effective: u64,
    /// The kernel lockdown mode (`none`, `integrity`, `confidentiality`);
    /// `None` when the kernel has no lockdown LSM.
    pub lockdown: Option<String>,
    /// /sys/kernel/btf/vmlinux is there.
    pub btf: bool,
    /// Kernel release (major, minor).
    pub kernel: (u32, u32),
    /// kernel.bpf_stats_enabled=1: statistics are on node-wide whatever Saker holds.
    pub bpf_stats_sysctl: bool,
}

/// One optional feature: whether the privileges allow it, and if not, what
/// it needs and what is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub enabled: bool,
    /// The warning when it is not: what is lost and what enables it.
    pub warning: String,
}

/// A mandatory requirement that is not met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Missing {
    pub message: String,
    pub hint: String,
}

/// `CapEff` and the effective uid from /proc/self/status text.
pub fn parse_status(status: &str) -> (Option<u32>, Option<u64>) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let uid = field("Uid:")
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok());
    let caps = field("CapEff:").and_then(|v| u64::from_str_radix(v, 16).ok());
    (uid, caps)
}

/// The selected mode of /sys/kernel/security/lockdown: `none [integrity]
/// confidentiality` -> `integrity`.
pub fn parse_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')?;
    let end = text[start..].find(']')? + start;
    Some(text[start + 1..end].to_string())
}

/// `6.18.44-fc` -> (6, 18).
pub fn parse_release(release: &str) -> (u32, u32) {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

impl Privileges {
    /// Reads this process's privileges and the kernel's settings.
    pub fn detect() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let (uid, caps) = parse_status(&status);
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        Privileges {
            uid: uid.unwrap_or(euid),
            effective: caps.unwrap_or(0),
            lockdown: std::fs::read_to_string("/sys/kernel/security/lockdown")
                .ok()
                .and_then(|t| parse_lockdown(&t)),
            btf: Path::new("/sys/kernel/btf/vmlinux").exists(),
            kernel: parse_release(
                &std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default(),
            ),
            bpf_stats_sysctl: std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
                .is_ok_and(|v| v.trim() == "1"),
        }
    }

    pub fn has(&self, cap: u32) -> bool {
        cap < 64 && self.effective & (1u64 << cap) != 0
    }

    /// The reported capabilities this process has, by name.
    pub fn capability_names(&self) -> Vec<&'static str> {
        REPORTED
            .iter()
            .filter(|(c, _)| self.has(*c))
            .map(|(_, n)| *n)
            .collect()
    }

    /// One line saying what the agent runs with.
    pub fn summary(&self) -> String {
        let caps = self.capability_names();
        format!(
            "uid {}{}; capabilities: {}; Linux {}.{}; BTF {}; lockdown {}",
            self.uid,
            if self.uid == 0 { " (root)" } else { "" },
            if caps.is_empty() {
                "none".to_string()
            } else {
                caps.join(", ")
            },
            self.kernel.0,
            self.kernel.1,
            if self.btf { "present" } else { "missing" },
            self.lockdown.as_deref().unwrap_or("not supported"),
        )
    }

    /// Every mandatory requirement that is not met, each naming what is
    /// needed and how to get it.
    pub fn missing_mandatory(&self) -> Vec<Missing> {
        let mut out = Vec::new();
        if !self.btf {
            out.push(Missing {
                message: "kernel BTF (/sys/kernel/btf/vmlinux) is missing: Saker's CO-RE eBPF probe needs it".into(),
                hint: "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions since Linux 5.8); in a container, mount /sys/kernel/btf from the host".into(),
            });
        }
        let grant = "run as root, or grant the capabilities: systemd AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH; Kubernetes securityContext.capabilities.add: [BPF, PERFMON, SYS_PTRACE, DAC_READ_SEARCH]";
        let admin = self.has(CAP_SYS_ADMIN);
        if self.kernel < (5, 8) && self.kernel != (0, 0) {
            // CAP_BPF and CAP_PERFMON came with Linux 5.8.
            if !admin {
                out.push(Missing {
                    message: format!(
                        "loading eBPF programs needs CAP_SYS_ADMIN (or root) on Linux {}.{}, which predates CAP_BPF and CAP_PERFMON",
                        self.kernel.0, self.kernel.1
                    ),
                    hint: "run as root, or grant CAP_SYS_ADMIN".into(),
                });
            }
        } else {
            let mut lacking = Vec::new();
            if !self.has(CAP_BPF) && !admin {
                lacking.push("CAP_BPF");
            }
            if !self.has(CAP_PERFMON) && !admin {
                lacking.push("CAP_PERFMON");
            }
            if !lacking.is_empty() {
                out.push(Missing {
                    message: format!(
                        "loading eBPF programs needs CAP_BPF and CAP_PERFMON (or root); this process runs as uid {} without {}",
                        self.uid,
                        lacking.join(" and ")
                    ),
                    hint: grant.into(),
                });
            }
        }
        if self.lockdown.as_deref() == Some("confidentiality") {
            out.push(Missing {
                message: "kernel lockdown is in confidentiality mode, which forbids eBPF programs to read kernel memory".into(),
                hint: "boot with lockdown=integrity (or none); Falco's eBPF probes have the same requirement".into(),
            });
        }
        out
    }

    /// The optional features: whether each is available.
    /// `bpf_stats_wanted`: `metrics.libbpf_stats_enabled` (a feature not
    /// wanted is off without a warning).
    pub fn features(&self, bpf_stats_wanted: bool) -> Vec<Feature> {
        let bpf_stats = bpf_stats_wanted && (self.has(CAP_SYS_ADMIN) || self.bpf_stats_sysctl);
        let proc_other = self.has(CAP_SYS_PTRACE)
            && (self.has(CAP_DAC_READ_SEARCH) || self.has(CAP_DAC_OVERRIDE));
        let mut proc_missing = Vec::new();
        if !self.has(CAP_SYS_PTRACE) {
            proc_missing.push("CAP_SYS_PTRACE");
        }
        if !self.has(CAP_DAC_READ_SEARCH) && !self.has(CAP_DAC_OVERRIDE) {
            proc_missing.push("CAP_DAC_READ_SEARCH");
        }
        vec![
            Feature {
                name: FEATURE_BPF_STATS,
                enabled: bpf_stats,
                warning: if bpf_stats_wanted {
                    "BPF run-time statistics are off: BPF_ENABLE_STATS needs CAP_SYS_ADMIN; \
                     saker_node_overhead_bpf_ratio and saker_bpf_program_run_time_ns_total read 0 \
                     (grant CAP_SYS_ADMIN, set sysctl kernel.bpf_stats_enabled=1, \
                     or metrics.libbpf_stats_enabled=false to silence this)"
                        .into()
                } else {
                    String::new()
                },
            },
            Feature {
                name: FEATURE_PROC_OTHER_USERS,
                enabled: proc_other,
                warning: format!(
                    "other users' processes in /proc cannot be read fully without {}: \
                     the open files, executable and working directory of processes started \
                     before Saker are unknown until they act, so rules on fd.name, \
                     proc.exepath or proc.cwd may miss them (grant {}, or run as root)",
                    proc_missing.join(" and "),
                    proc_missing.join(" and ")
                ),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(caps: &[u32], uid: u32) -> Privileges {
        Privileges {
            uid,
            effective: caps.iter().fold(0, |m, c| m | (1u64 << c)),
            lockdown: Some("none".into()),
            btf: true,
            kernel: (6, 8),
            bpf_stats_sysctl: false,
        }
    }

    #[test]
    fn status_lockdown_and_release_are_parsed() {
        let status = "Name:\tsaker\nUid:\t1000\t65534\t65534\t65534\nCapEff:\t000000c000080004\n";
        let (uid, caps) = parse_status(status);
        assert_eq!(uid, Some(65534));
        let p = Privileges {
            effective: caps.unwrap(),
            ..with(&[], 65534)
        };
        assert_eq!(
            p.capability_names(),
            [
                "CAP_BPF",
                "CAP_PERFMON",
                "CAP_SYS_PTRACE",
                "CAP_DAC_READ_SEARCH"
            ]
        );
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(parse_release("6.18.44-fc-v657\n"), (6, 18));
        assert_eq!(parse_release("5.4.0"), (5, 4));
    }

    #[test]
    fn without_bpf_capabilities_the_message_names_them() {
        let m = with(&[], 65534).missing_mandatory();
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(
            m[0].message,
            "loading eBPF programs needs CAP_BPF and CAP_PERFMON (or root); this process runs as uid 65534 without CAP_BPF and CAP_PERFMON"
        );
        let m = with(&[CAP_BPF], 65534).missing_mandatory();
        assert!(m[0].message.ends_with("without CAP_PERFMON"), "{m:?}");
        // CAP_SYS_ADMIN covers both; so does the least-privilege set.
        assert!(with(&[CAP_SYS_ADMIN], 0).missing_mandatory().is_empty());
        assert!(
            with(&[CAP_BPF, CAP_PERFMON], 65534)
                .missing_mandatory()
                .is_empty()
        );
        // Before 5.8 only CAP_SYS_ADMIN will do.
        let old = Privileges {
            kernel: (5, 4),
            ..with(&[CAP_BPF, CAP_PERFMON], 0)
        };
        assert!(old.missing_mandatory()[0].message.contains("CAP_SYS_ADMIN"));
    }

    #[test]
    fn btf_and_lockdown_are_mandatory() {
        let p = Privileges {
            btf: false,
            lockdown: Some("confidentiality".into()),
            ..with(&[CAP_SYS_ADMIN], 0)
        };
        let m = p.missing_mandatory();
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].message.contains("/sys/kernel/btf/vmlinux"));
        assert!(m[1].message.contains("confidentiality"));
    }

    #[test]
    fn optional_features_follow_their_capabilities() {
        let least = with(
            &[CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH],
            65534,
        );
        let f = least.features(true);
        assert_eq!(f[0].name, "bpf_stats");
        assert!(!f[0].enabled);
        assert!(f[0].warning.contains("CAP_SYS_ADMIN"));
        assert_eq!(f[1].name, "proc_other_users");
        assert!(f[1].enabled);
        // The node-wide sysctl keeps statistics on without CAP_SYS_ADMIN.
        let sysctl = Privileges {
            bpf_stats_sysctl: true,
            ..least.clone()
        };
        assert!(sysctl.features(true)[0].enabled);
        // Not wanted: off, and nothing to warn about.
        assert!(least.features(false)[0].warning.is_empty());
        let bare = with(&[CAP_BPF, CAP_PERFMON], 65534).features(true);
        assert!(!bare[1].enabled);
        assert!(
            bare[1]
                .warning
                .contains("without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"),
            "{}",
            bare[1].warning
        );
        let root = with(&[CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_OVERRIDE], 0).features(true);
        assert!(root.iter().all(|f| f.enabled));
    }
}
