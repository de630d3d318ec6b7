//! Where Falco's upstream rules are on this machine: the one lookup that
//! tests, benchmarks and `cargo xtask` tasks use.
//!
//! Saker ships its own default rules; Falco's (falcosecurity/rules:
//! `falco_rules.yaml`, `falco-incubating_rules.yaml`,
//! `falco-sandbox_rules.yaml`) and Falco's end-to-end specs (`e2e/`) are test
//! data it does not ship. They are looked for in this order:
//!
//! 1. `$SAKER_FALCO_RULES`, a directory holding them. When it is set it is
//!    the only place looked at, so that a wrong path is reported rather than
//!    replaced by another copy.
//! 2. `/etc/falco`, where the Falco package installs `falco_rules.yaml`.
//! 3. `../shared/falco` beside the checkout (the project's own machines).
//!
//! A directory counts only if it holds every file the caller needs (the
//! e2e test needs `e2e/` too, which the Falco package does not install).
//!
//! Without them, tests are skipped with one line saying how to get them
//! ([`for_test`]), except under CI (`SAKER_REQUIRE_BPF=1`), where that is a
//! failure: a conformance test that does not run in CI hides a regression.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable naming the directory that holds Falco's rules.
pub const RULES_ENV: &str = "SAKER_FALCO_RULES";

/// Falco's stable ruleset (falcosecurity/rules `rules/falco_rules.yaml`).
pub const STABLE: &str = "falco_rules.yaml";
/// Falco's incubating ruleset (falcosecurity/rules `rules/`).
pub const INCUBATING: &str = "falco-incubating_rules.yaml";
/// Falco's sandbox ruleset (falcosecurity/rules `rules/`).
pub const SANDBOX: &str = "falco-sandbox_rules.yaml";
/// Falco's end-to-end specs (falcosecurity/falco `e2e_tests/evtgen_suite/`).
pub const E2E: &str = "e2e";

/// Where the Falco package installs its rules.
pub const FALCO_ETC: &str = "/etc/falco";

/// The directory of Falco's upstream files holding every name of `needs`,
/// or why there is none.
pub fn find(needs: &[&str]) -> Result<PathBuf, NotFound> {
    let env = std::env::var_os(RULES_ENV).filter(|v| !v.is_empty());
    let candidates: Vec<PathBuf> = match &env {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![PathBuf::from(FALCO_ETC), beside_checkout()],
    };
    candidates
        .iter()
        .find(|dir| needs.iter().all(|n| dir.join(n).exists()))
        .cloned()
        .ok_or_else(|| NotFound {
            needs: needs.iter().map(|n| (*n).to_string()).collect(),
            env_set: env.is_some(),
            tried: candidates,
        })
}

/// [`find`] for a test: `None` (with one line on stderr naming the test and
/// how to get the files) when they are missing, so the caller returns early.
/// Under CI (`SAKER_REQUIRE_BPF=1`) a missing file fails the test instead.
pub fn for_test(needs: &[&str]) -> Option<PathBuf> {
    match find(needs) {
        Ok(dir) => Some(dir),
        Err(e) => {
            if required() {
                fail(&e);
            }
            let current = std::thread::current();
            let test = current.name().unwrap_or("test");
            // Through the stderr handle, not eprintln!: the test harness
            // swallows the macros' output of passing tests, and a skip that
            // says nothing looks like a pass.
            let _ = writeln!(std::io::stderr(), "skipped {test}: {e}");
            None
        }
    }
}

#[expect(
    clippy::panic,
    reason = "under CI a missing upstream ruleset is a test failure"
)]
fn fail(e: &NotFound) -> ! {
    panic!("{e}; SAKER_REQUIRE_BPF=1 (CI) makes this a failure")
}

/// True under CI, where tests must run, not skip.
fn required() -> bool {
    std::env::var("SAKER_REQUIRE_BPF").is_ok_and(|v| v == "1")
}

/// `../shared/falco` from the workspace root (this crate is `xtask/upstream`).
fn beside_checkout() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent);
    match workspace.and_then(Path::parent) {
        Some(above) => above.join("shared/falco"),
        None => PathBuf::from("../shared/falco"),
    }
}

/// Falco's upstream files are not on this machine.
#[derive(Debug, Clone)]
pub struct NotFound {
    needs: Vec<String>,
    env_set: bool,
    tried: Vec<PathBuf>,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let needs = self.needs.join(", ");
        let tried: Vec<String> = self.tried.iter().map(|p| p.display().to_string()).collect();
        if self.env_set {
            write!(f, "{RULES_ENV}={} does not hold {needs}", tried.join(""))?;
        } else {
            write!(
                f,
                "Falco's upstream rules ({needs}) are not in {RULES_ENV} (unset), {}",
                tried.join(", ")
            )?;
        }
        write!(
            f,
            "; get rules/*.yaml from https://github.com/falcosecurity/rules (or install the Falco package, which puts {STABLE} in {FALCO_ETC})"
        )?;
        if self.needs.iter().any(|n| n == E2E) {
            write!(
                f,
                ", and e2e/ from https://github.com/falcosecurity/falco (e2e_tests/evtgen_suite)"
            )?;
        }
        write!(f, ", then set {RULES_ENV}=DIR")
    }
}

impl std::error::Error for NotFound {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_every_place_and_how_to_get_the_files() {
        let e = NotFound {
            needs: vec![STABLE.into(), E2E.into()],
            env_set: false,
            tried: vec![PathBuf::from(FALCO_ETC), PathBuf::from("/src/shared/falco")],
        };
        let text = e.to_string();
        assert_eq!(
            text,
            "Falco's upstream rules (falco_rules.yaml, e2e) are not in SAKER_FALCO_RULES (unset), \
             /etc/falco, /src/shared/falco; get rules/*.yaml from https://github.com/falcosecurity/rules \
             (or install the Falco package, which puts falco_rules.yaml in /etc/falco), and e2e/ from \
             https://github.com/falcosecurity/falco (e2e_tests/evtgen_suite), then set SAKER_FALCO_RULES=DIR"
        );
        assert!(!text.contains('\n'), "one line");
    }

    #[test]
    fn a_set_variable_is_the_only_place_looked_at() {
        let e = NotFound {
            needs: vec![STABLE.into()],
            env_set: true,
            tried: vec![PathBuf::from("/nowhere")],
        };
        assert!(
            e.to_string()
                .starts_with("SAKER_FALCO_RULES=/nowhere does not hold falco_rules.yaml; get ")
        );
    }

    #[test]
    fn the_checkout_fallback_is_beside_the_workspace() {
        let p = beside_checkout();
        assert!(p.ends_with("shared/falco"), "{}", p.display());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert!(
            workspace.join("Cargo.toml").is_file() && workspace.join("xtask").is_dir(),
            "xtask/upstream is two levels below the workspace root"
        );
    }
}
