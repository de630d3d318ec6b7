//! Supply chain: the license, ban and source policy (`deny.toml`, checked
//! with cargo-deny) and the CycloneDX SBOM of the agent's crates (made with
//! cargo-cyclonedx), published beside the image archive with its digest.
//! Both tools are well-kept cargo plugins, installed from crates.io at a
//! pinned version when missing; both work offline once installed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{cargo, status, workspace_root};

/// Workspace member directories (the root Cargo.toml's `members`).
const WORKSPACE_MEMBERS: [&str; 7] = [
    "agent",
    "agent-ebpf",
    "xtask",
    "xtask/e2e",
    "xtask/upstream",
    "tests",
    "bench/workloads",
];

/// (crate, version, subcommand) of each plugin.
const CARGO_DENY: (&str, &str, &str) = ("cargo-deny", "0.20.2", "deny");
const CARGO_CYCLONEDX: (&str, &str, &str) = ("cargo-cyclonedx", "0.5.9", "cyclonedx");

/// Installs a cargo plugin at its pinned version unless that version is there.
pub(crate) fn ensure(tool: (&str, &str, &str)) -> Result<()> {
    let (krate, version, sub) = tool;
    let out = cargo().args([sub, "--version"]).output();
    if let Ok(o) = &out
        && o.status.success()
        && String::from_utf8_lossy(&o.stdout).contains(version)
    {
        return Ok(());
    }
    eprintln!("xtask: installing {krate} {version} (cargo install --locked)");
    status(cargo().args(["install", "--locked", &format!("{krate}@{version}")]))
}

/// `cargo deny check licenses bans sources` against deny.toml.
pub fn check() -> Result<()> {
    ensure(CARGO_DENY)?;
    status(cargo().current_dir(workspace_root()).args([
        "deny",
        "--workspace",
        "check",
        "licenses",
        "bans",
        "sources",
    ]))
}

/// The CycloneDX SBOM (JSON) of the `saker` crate and everything it links,
/// written to `out`.
pub fn sbom(out: &Path) -> Result<()> {
    ensure(CARGO_CYCLONEDX)?;
    let root = workspace_root();
    let agent = root.join("agent");
    status(cargo().current_dir(&agent).args([
        "cyclonedx",
        "--format",
        "json",
        "--spec-version",
        "1.5",
        "--override-filename",
        "saker.cdx",
    ]))?;
    let made: PathBuf = agent.join("saker.cdx.json");
    std::fs::rename(&made, out)
        .or_else(|_| std::fs::copy(&made, out).map(|_| ()))
        .with_context(|| format!("moving {} to {}", made.display(), out.display()))?;
    // The plugin describes every workspace member it is run in; only the
    // agent's is the product. Leave no file behind in the source tree.
    for member in WORKSPACE_MEMBERS {
        let _ = std::fs::remove_file(root.join(member).join("saker.cdx.json"));
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out)?)
        .with_context(|| format!("{}: not JSON", out.display()))?;
    let components = v["components"].as_array().map_or(0, Vec::len);
    if v["bomFormat"] != "CycloneDX" || components == 0 {
        bail!("{}: not a CycloneDX SBOM with components", out.display());
    }
    println!(
        "  SBOM          {} ({components} components)",
        out.display()
    );
    Ok(())
}

/// `cargo xtask supply-chain`: the policy check and the SBOM.
pub fn run() -> Result<()> {
    check()?;
    let out = workspace_root().join("target/image");
    std::fs::create_dir_all(&out)?;
    sbom(&out.join(format!("saker-{}.cdx.json", env!("CARGO_PKG_VERSION"))))
}
