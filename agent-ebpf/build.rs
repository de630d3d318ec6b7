//! Compiles `bpf/*.bpf.c` with clang (CO-RE, BTF) and links the objects into
//! one ELF with `bpftool gen object`; `src/lib.rs` embeds the result.
//! Sources named in [`STANDALONE`] are not linked in: each becomes its own
//! `<stem>.bpf.o`, embedded separately.
//!
//! Tools: `clang-19` (or `$CLANG`) and `bpftool` (or `$BPFTOOL`); `cargo xtask
//! setup` installs both on Debian.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Objects built on their own, never part of the agent's object: the
/// benchmark floor (`bpf/floor.bpf.c`, loaded by `saker bench-floor`).
const STANDALONE: &[&str] = &["floor"];

fn main() -> Result<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let arch = match env::var("CARGO_CFG_TARGET_ARCH")?.as_str() {
        "x86_64" => "x86_64",
        other => bail!("no vendored vmlinux.h for target arch {other} (only x86_64 is supported)"),
    };
    let bpf_dir = manifest.join("bpf");
    let include = manifest.join("include");
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    println!("cargo:rerun-if-changed={}", include.display());
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=BPFTOOL");

    let clang = tool("CLANG", &["clang-19", "clang"])?;
    let bpftool = tool("BPFTOOL", &["bpftool", "/usr/sbin/bpftool"])?;

    let mut sources: Vec<PathBuf> = std::fs::read_dir(&bpf_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    for entry in walk(&bpf_dir)? {
        println!("cargo:rerun-if-changed={}", entry.display());
    }
    for entry in walk(&include)? {
        println!("cargo:rerun-if-changed={}", entry.display());
    }

    let mut objects = Vec::new();
    let mut standalone = Vec::new();
    for src in &sources {
        let stem = src
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".bpf.c"))
            .context("source name")?;
        let obj = out.join(format!("{stem}.o"));
        let status = Command::new(&clang)
            .args([
                "-target", "bpf", "-mcpu=v3", "-O2", "-g", "-Wall", "-Werror",
            ])
            .arg("-D__TARGET_ARCH_x86")
            .arg("-I")
            .arg(&include)
            .arg("-I")
            .arg(include.join(arch))
            .arg("-I")
            .arg(&bpf_dir)
            .arg("-c")
            .arg(src)
            .arg("-o")
            .arg(&obj)
            .status()
            .with_context(|| format!("running {}", clang.display()))?;
        if !status.success() {
            bail!("clang failed on {}", src.display());
        }
        if STANDALONE.contains(&stem) {
            standalone.push((stem, obj));
        } else {
            objects.push(obj);
        }
    }

    let linked = out.join("saker.bpf.o");
    let status = Command::new(&bpftool)
        .args(["gen", "object"])
        .arg(&linked)
        .args(&objects)
        .status()
        .with_context(|| format!("running {}", bpftool.display()))?;
    if !status.success() {
        bail!("bpftool gen object failed");
    }
    // The same linking step for standalone objects, so that they get the
    // same BTF sanitizing and DWARF stripping as the agent's.
    for (stem, obj) in standalone {
        let linked = out.join(format!("{stem}.bpf.o"));
        let status = Command::new(&bpftool)
            .args(["gen", "object"])
            .arg(&linked)
            .arg(&obj)
            .status()
            .with_context(|| format!("running {}", bpftool.display()))?;
        if !status.success() {
            bail!("bpftool gen object failed for {stem}");
        }
    }
    Ok(())
}

fn tool(var: &str, candidates: &[&str]) -> Result<PathBuf> {
    if let Ok(path) = env::var(var) {
        return Ok(PathBuf::from(path));
    }
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.exists() {
                return Ok(p.to_path_buf());
            }
            continue;
        }
        let path = env::var_os("PATH").unwrap_or_default();
        for dir in env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]) {
            let full = dir.join(c);
            if full.exists() {
                return Ok(full);
            }
        }
    }
    bail!(
        "none of {candidates:?} found (set ${var}); run `cargo xtask setup` to install clang-19, llvm-19, libbpf-dev and bpftool"
    )
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}
