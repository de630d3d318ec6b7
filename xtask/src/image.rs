//! `cargo xtask image`: the agent's container image (deploy/Containerfile),
//! built without a daemon by buildah into an OCI archive (docs/image.md).
//!
//! The build context is a directory staged here, not the repository: the
//! stripped release binary, the shared libraries `ldd` reports (at their
//! paths, with the dynamic loader), the CA bundle, the default config and
//! rules. So the image needs no base image and no registry, and the same
//! Containerfile builds with `docker build` or `podman build` elsewhere
//! (`--context-only DIR`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

use crate::{build_release, status, workspace_root};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The image's name inside the archive: the fully qualified form of
/// `saker:VERSION`. containerd's CRI plugin resolves a pod's `image:
/// saker:0.1.0` as `docker.io/library/saker:0.1.0` and `ctr images import`
/// keeps the archive's name as it is, so only this name lets the
/// DaemonSet's unqualified `image: saker` find the imported image.
const ARCHIVE_REPOSITORY: &str = "docker.io/library/saker";

/// Uncompressed image size the issue sets as the goal.
const SIZE_GOAL_BYTES: u64 = 30_000_000;

/// Marks a directory as a staged context, so `--context-only DIR` only ever
/// empties a directory it made.
const CONTEXT_MARKER: &str = ".saker-image-context";

/// The CA bundle copied into the image (Debian's `ca-certificates`; the path
/// rustls-native-certs reads).
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, Args, Default)]
pub struct ImageArgs {
    /// Where to write the OCI archive [default: target/image/saker-VERSION.oci.tar].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Build the binary and stage the build context into DIR, then stop:
    /// for `docker build` / `podman build` elsewhere (docs/image.md).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    context_only: Option<PathBuf>,
}

/// The archive `run` writes by default.
pub fn default_archive() -> PathBuf {
    workspace_root()
        .join("target/image")
        .join(format!("saker-{VERSION}.oci.tar"))
}

pub fn run(args: &ImageArgs) -> Result<()> {
    let root = workspace_root();
    build_release()?;
    let labels = Labels::from_workspace(&root)?;
    if let Some(dir) = &args.context_only {
        let files = stage_context(&root, dir)?;
        print_contents(&files);
        let dir = dir.display();
        println!("\nbuild context staged in {dir}; build it with:\n");
        println!(
            "  docker build -f {} {} -t saker:{VERSION} {dir}",
            root.join("deploy/Containerfile").display(),
            labels.build_args().join(" "),
        );
        return Ok(());
    }

    let image_dir = root.join("target/image");
    let context = image_dir.join("context");
    let files = stage_context(&root, &context)?;
    let out = args.out.clone().unwrap_or_else(default_archive);
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent)?;
    }
    let tag = format!("saker:{VERSION}");
    let store = build(&root, &image_dir, &context, &tag, &labels)?;

    let _ = fs::remove_file(&out);
    let buildah_digest = image_dir.join(".push.digest");
    status(
        store.buildah().args([
            "push".as_ref(),
            "--quiet".as_ref(),
            "--digestfile".as_ref(),
            buildah_digest.as_os_str(),
            tag.as_ref(),
            format!(
                "oci-archive:{}:{ARCHIVE_REPOSITORY}:{VERSION}",
                out.display()
            )
            .as_ref(),
        ]),
    )?;
    let facts = inspect_archive(&out)?;
    let pushed = fs::read_to_string(&buildah_digest).unwrap_or_default();
    let _ = fs::remove_file(&buildah_digest);
    if pushed.trim() != facts.manifest_digest {
        bail!(
            "buildah pushed manifest {} but the archive's index names {}",
            pushed.trim(),
            facts.manifest_digest
        );
    }
    let digest_file = out.with_file_name(format!("saker-{VERSION}.digest"));
    fs::write(&digest_file, format!("{}\n", facts.manifest_digest))?;
    // The SBOM of the binary's crates, published with the archive and digest.
    crate::supply::sbom(&out.with_file_name(format!("saker-{VERSION}.cdx.json")))?;
    // The archive is the product: keep the private store small.
    let _ = store
        .buildah()
        .args(["rmi", "--all", "--force"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();

    print_contents(&files);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "\nimage {tag} (named {ARCHIVE_REPOSITORY}:{VERSION} in the archive), storage driver {}",
        store.driver
    );
    println!("  archive       {}", out.display());
    println!(
        "  archive size  {} bytes ({:.1} MiB)",
        facts.archive_bytes,
        mib(facts.archive_bytes)
    );
    println!(
        "  layers        {} ({}), {} bytes compressed, {} bytes uncompressed ({:.1} MiB)",
        facts.layers,
        facts.layer_media_type,
        facts.compressed_bytes,
        facts.uncompressed_bytes,
        mib(facts.uncompressed_bytes)
    );
    println!("  digest        {}", facts.manifest_digest);
    println!("  digest file   {}", digest_file.display());
    println!(
        "  labels        revision {}, version {}",
        labels.revision, labels.version
    );
    if facts.uncompressed_bytes > SIZE_GOAL_BYTES {
        eprintln!(
            "xtask image: warning: {} bytes uncompressed is over the {SIZE_GOAL_BYTES}-byte goal",
            facts.uncompressed_bytes
        );
    }
    println!("\nimport: ctr -n k8s.io images import {}", out.display());
    Ok(())
}

/// The `org.opencontainers.image.*` values passed as build arguments.
#[derive(Debug)]
struct Labels {
    version: String,
    revision: String,
    source: Option<String>,
    /// Image creation time and file times in the layer: the commit's time
    /// (or `SOURCE_DATE_EPOCH`), so an unchanged tree gives the same digest.
    epoch: u64,
}

impl Labels {
    fn from_workspace(root: &Path) -> Result<Self> {
        let git = |args: &[&str]| -> Option<String> {
            let out = Command::new("git")
                .current_dir(root)
                .args(args)
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let mut revision = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
        if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) {
            revision.push_str("-dirty");
        }
        let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v.parse().context("SOURCE_DATE_EPOCH is not a number")?,
            Err(_) => git(&["log", "-1", "--format=%ct", "HEAD"])
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        };
        // `repository` of [workspace.package]: the one place the project
        // names its source.
        let manifest = fs::read_to_string(root.join("Cargo.toml"))?;
        let source = manifest.lines().find_map(|l| {
            let v = l.trim().strip_prefix("repository")?.trim_start();
            Some(v.strip_prefix('=')?.trim().trim_matches('"').to_string())
        });
        Ok(Labels {
            version: VERSION.to_string(),
            revision,
            source,
            epoch,
        })
    }

    fn build_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--build-arg VERSION={}", self.version),
            format!("--build-arg REVISION={}", self.revision),
        ];
        if let Some(s) = &self.source {
            args.push(format!("--build-arg SOURCE={s}"));
        }
        args
    }
}

/// Stages the build context in `dir` (emptied first if an earlier run
/// staged it); returns each file's path in the image and size.
fn stage_context(root: &Path, dir: &Path) -> Result<Vec<(String, u64)>> {
    if dir.exists() {
        let empty = fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(CONTEXT_MARKER).exists() {
            bail!(
                "{} is not empty and was not staged by `cargo xtask image`; choose another directory",
                dir.display()
            );
        }
        fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    fs::write(dir.join(CONTEXT_MARKER), "staged by `cargo xtask image`\n")?;
    let mut files = Vec::new();

    let bin = root.join("target/release/saker");
    strip(&bin, &dir.join("saker"))?;
    files.push(("/usr/bin/saker".to_string(), size(&dir.join("saker"))?));

    for lib in shared_libraries(&bin)? {
        let rel = lib.strip_prefix("/").unwrap_or(&lib);
        let dst = dir.join("libs").join(rel);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)?;
        }
        // fs::copy follows symlinks: the image gets the file itself at the
        // path the binary asks for (Debian's /lib64/ld-linux-x86-64.so.2 is
        // a link into /lib/x86_64-linux-gnu).
        fs::copy(&lib, &dst).with_context(|| format!("copying {}", lib.display()))?;
        files.push((lib.display().to_string(), size(&dst)?));
    }

    let certs = dir.join("certs/ca-certificates.crt");
    fs::create_dir_all(dir.join("certs"))?;
    fs::copy(CA_BUNDLE, &certs)
        .with_context(|| format!("copying {CA_BUNDLE} (install ca-certificates)"))?;
    files.push((CA_BUNDLE.to_string(), size(&certs)?));

    let config = dir.join("config");
    fs::create_dir_all(config.join("rules.d"))?;
    for (src, name) in [
        ("deploy/image/saker.yaml", "saker.yaml"),
        ("agent/rules/saker_rules.yaml", "saker_rules.yaml"),
    ] {
        fs::copy(root.join(src), config.join(name)).with_context(|| format!("copying {src}"))?;
        files.push((format!("/etc/saker/{name}"), size(&config.join(name))?));
    }
    validate_config(&bin, &config)?;
    Ok(files)
}

fn size(p: &Path) -> Result<u64> {
    Ok(fs::metadata(p)
        .with_context(|| format!("reading {}", p.display()))?
        .len())
}

/// The release profile keeps line tables for backtraces; the image does not
/// need them (about 46 of 58 MB).
fn strip(src: &Path, dst: &Path) -> Result<()> {
    let tool = if Path::new("/usr/bin/llvm-strip-19").exists() {
        "llvm-strip-19"
    } else {
        "strip"
    };
    status(
        Command::new(tool)
            .arg("--strip-all")
            .arg("-o")
            .arg(dst)
            .arg(src),
    )
}

/// The shared objects the dynamic loader maps for `bin`, the loader itself
/// included, as `ldd` reports them (empty for a static binary).
fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .context("running ldd (libc-bin)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if text.contains("not a dynamic executable") || text.contains("statically linked") {
            return Ok(Vec::new());
        }
        bail!("ldd {} failed: {}", bin.display(), text.trim());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    bail!("ldd: {} not found", name.trim());
                }
                target.split_whitespace().next()
            }
            // The loader (an absolute path) or the vDSO (no file: skip).
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// The config and rules the image ships pass the agent's own checks. The
/// config names in-image paths, so its rules files are replaced by the
/// context's (`saker config validate` reads the files a config names).
fn validate_config(bin: &Path, config: &Path) -> Result<()> {
    let mut config_check = Command::new(bin);
    config_check
        .args(["config", "validate", "-c"])
        .arg(config.join("saker.yaml"))
        .arg("-o")
        .arg(format!(
            "rules_files=[{}, {}]",
            config.join("saker_rules.yaml").display(),
            config.join("rules.d").display()
        ));
    let mut rules_check = Command::new(bin);
    rules_check
        .args(["rules", "validate", "-r"])
        .arg(config.join("saker_rules.yaml"))
        .arg("-r")
        .arg(config.join("rules.d"));
    for mut check in [config_check, rules_check] {
        let out = check
            .output()
            .with_context(|| format!("running {}", bin.display()))?;
        if !out.status.success() {
            bail!(
                "{check:?} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// A private buildah store under target/image, so builds depend on no
/// global state (`/var/lib/containers`, its configured driver).
#[derive(Debug)]
struct Store {
    root: PathBuf,
    runroot: PathBuf,
    driver: &'static str,
}

impl Store {
    fn new(image_dir: &Path, driver: &'static str) -> Self {
        Store {
            root: image_dir.join("storage").join(driver),
            runroot: image_dir.join("run").join(driver),
            driver,
        }
    }

    fn buildah(&self) -> Command {
        let mut c = Command::new("buildah");
        // No container runtime is needed (the Containerfile only copies),
        // but buildah asks for an isolation; chroot needs no daemon or
        // user namespace set-up.
        c.env("BUILDAH_ISOLATION", "chroot")
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .arg("--storage-driver")
            .arg(self.driver);
        c
    }
}

/// `buildah build` with overlay, or vfs where overlay cannot mount (an
/// overlay root filesystem without native overlay-on-overlay support).
fn build(
    root: &Path,
    image_dir: &Path,
    context: &Path,
    tag: &str,
    labels: &Labels,
) -> Result<Store> {
    let mut last = None;
    for driver in ["overlay", "vfs"] {
        let store = Store::new(image_dir, driver);
        let mut cmd = store.buildah();
        cmd.args(["build", "--format", "oci", "--quiet"])
            .args(["--identity-label=false", "--timestamp"])
            .arg(labels.epoch.to_string())
            .args(["--build-arg", &format!("VERSION={}", labels.version)])
            .args(["--build-arg", &format!("REVISION={}", labels.revision)]);
        if let Some(s) = &labels.source {
            cmd.args(["--build-arg", &format!("SOURCE={s}")]);
        }
        cmd.arg("-f")
            .arg(root.join("deploy/Containerfile"))
            .args(["-t", tag])
            .arg(context)
            .stdout(Stdio::null());
        match status(&mut cmd) {
            Ok(()) => return Ok(store),
            Err(e) => {
                eprintln!("xtask image: buildah with the {driver} driver failed: {e:#}");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("buildah build failed")))
}

/// What the archive holds, read back from its OCI layout.
#[derive(Debug)]
struct ArchiveFacts {
    archive_bytes: u64,
    manifest_digest: String,
    layers: usize,
    layer_media_type: String,
    compressed_bytes: u64,
    uncompressed_bytes: u64,
}

fn inspect_archive(archive: &Path) -> Result<ArchiveFacts> {
    let member = |name: &str| -> Result<Vec<u8>> {
        let out = Command::new("tar")
            .arg("-xOf")
            .arg(archive)
            .arg(name)
            .output()
            .context("running tar")?;
        if !out.status.success() {
            bail!(
                "{name} missing from {}: {}",
                archive.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    };
    let blob = |digest: &str| format!("blobs/{}", digest.replacen(':', "/", 1));
    let index: Value = serde_json::from_slice(&member("index.json")?)?;
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .context("index.json names no manifest")?
        .to_string();
    let manifest: Value = serde_json::from_slice(&member(&blob(&manifest_digest))?)?;
    let layers = manifest["layers"]
        .as_array()
        .context("the manifest has no layers")?;
    let mut facts = ArchiveFacts {
        archive_bytes: size(archive)?,
        manifest_digest,
        layers: layers.len(),
        layer_media_type: String::new(),
        compressed_bytes: 0,
        uncompressed_bytes: 0,
    };
    for layer in layers {
        let digest = layer["digest"].as_str().context("layer without digest")?;
        let media = layer["mediaType"].as_str().unwrap_or_default();
        facts.layer_media_type = media.to_string();
        facts.compressed_bytes += layer["size"].as_u64().unwrap_or(0);
        facts.uncompressed_bytes += uncompressed_size(archive, &blob(digest), media)?;
    }
    Ok(facts)
}

/// Bytes of a layer once decompressed: tar piped into the decompressor,
/// counted, never written to disk.
fn uncompressed_size(archive: &Path, member: &str, media_type: &str) -> Result<u64> {
    let mut tar = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(member)
        .stdout(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let tar_out = tar.stdout.take().context("tar stdout")?;
    let decompressor = if media_type.ends_with("+gzip") {
        Some("gzip")
    } else if media_type.ends_with("+zstd") {
        Some("zstd")
    } else {
        None
    };
    let bytes = match decompressor {
        Some(tool) => {
            let mut child = Command::new(tool)
                .arg("-dc")
                .stdin(tar_out)
                .stdout(Stdio::piped())
                .spawn()
                .with_context(|| format!("running {tool}"))?;
            let mut out = child.stdout.take().context("decompressor stdout")?;
            let n = io::copy(&mut out, &mut io::sink())?;
            if !child.wait()?.success() {
                bail!("{tool} -dc {member} failed");
            }
            n
        }
        None => {
            let mut out = tar_out;
            io::copy(&mut out, &mut io::sink())?
        }
    };
    if !tar.wait()?.success() {
        bail!("tar -xOf {} {member} failed", archive.display());
    }
    Ok(bytes)
}

fn print_contents(files: &[(String, u64)]) {
    println!("image contents:");
    for (path, bytes) in files {
        println!("  {bytes:>10}  {path}");
    }
    let total: u64 = files.iter().map(|(_, b)| b).sum();
    println!("  {total:>10}  total");
}
