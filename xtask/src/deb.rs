//! `cargo xtask deb`: the Debian package for hosts without Kubernetes
//! (docs/install.md), made by cargo-deb from `[package.metadata.deb]` of
//! agent/Cargo.toml: the stripped release binary, /etc/saker (configuration,
//! default rules, rules.d), the hardened saker.service and the user docs.
//! cargo-deb is a well-kept cargo plugin, installed from crates.io at a
//! pinned version when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::{build_release, cargo, status, supply, workspace_root};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// (crate, version, subcommand) of the packager.
const CARGO_DEB: (&str, &str, &str) = ("cargo-deb", "3.8.0", "deb");

#[derive(Debug, Args, Default)]
pub struct DebArgs {
    /// Where to write the package [default: target/debian/saker_VERSION-1_ARCH.deb].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

/// The package `run` writes by default (cargo-deb's name for it).
pub fn default_package() -> Result<PathBuf> {
    Ok(workspace_root()
        .join("target/debian")
        .join(format!("saker_{VERSION}-1_{}.deb", architecture()?)))
}

/// The Debian architecture of this machine (`amd64`, ...).
fn architecture() -> Result<String> {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .context("running dpkg --print-architecture (a Debian machine is needed)")?;
    if !out.status.success() {
        bail!("dpkg --print-architecture failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds the package; returns its path.
pub fn run(args: &DebArgs) -> Result<PathBuf> {
    let root = workspace_root();
    build_release()?;
    // The files the package installs in /etc must load as `saker run`
    // would load them there.
    let saker = root.join("target/release/saker");
    validate(&saker, &root)?;
    supply::ensure(CARGO_DEB)?;
    let out = match &args.out {
        Some(p) => p.clone(),
        None => default_package()?,
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    eprintln!("xtask deb: packaging target/release/saker with cargo-deb");
    status(
        cargo()
            .current_dir(&root)
            .args(["deb", "-p", "saker", "--no-build", "--strip", "--output"])
            .arg(&out),
    )?;
    describe(&out)?;
    Ok(out)
}

/// `saker config validate` of the packaged configuration (its rules paths
/// pointed at the source files) and `saker rules validate` of the rules.
fn validate(saker: &Path, root: &Path) -> Result<()> {
    let packaging = root.join("deploy/packaging");
    let default_rules = root.join("agent/rules/saker_rules.yaml");
    let local_rules = packaging.join("local_rules.yaml");
    let config = packaging.join("saker.yaml");
    let rules_override = format!(
        "rules_files=[{}, {}]",
        default_rules.display(),
        local_rules.display()
    );
    status(
        Command::new(saker)
            .args(["config", "validate", "-c"])
            .arg(&config)
            .args(["-o", &rules_override]),
    )?;
    status(
        Command::new(saker)
            .args(["rules", "validate", "-r"])
            .arg(&default_rules)
            .arg("-r")
            .arg(&local_rules),
    )
}

/// Prints the package's size, control fields and files.
fn describe(deb: &Path) -> Result<()> {
    let bytes = std::fs::metadata(deb)
        .with_context(|| format!("{} was not written", deb.display()))?
        .len();
    let info = Command::new("dpkg-deb").arg("--info").arg(deb).output()?;
    let contents = Command::new("dpkg-deb")
        .arg("--contents")
        .arg(deb)
        .output()?;
    if !info.status.success() || !contents.status.success() {
        bail!("dpkg-deb cannot read {}", deb.display());
    }
    println!("{}", String::from_utf8_lossy(&contents.stdout).trim_end());
    let control = String::from_utf8_lossy(&info.stdout);
    for field in [
        "Package:",
        "Version:",
        "Architecture:",
        "Depends:",
        "Installed-Size:",
    ] {
        if let Some(line) = control.lines().find(|l| l.trim_start().starts_with(field)) {
            println!("  {}", line.trim());
        }
    }
    println!(
        "\npackage {} ({bytes} bytes, {:.1} MiB)",
        deb.display(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!("install it with: apt install {}", deb.display());
    Ok(())
}
