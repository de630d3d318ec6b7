//! Container contexts: a private containerd (its own root, state and socket
//! under the run's work dir; no CRI plugin) with a local test image, and
//! `ctr run` for each test that asks for a container.
//!
//! The image stands in for event-generator's (`docker.io/falcosecurity/
//! event-generator:latest`, whose entrypoint is the generator itself): a
//! static busybox with its applets, `/etc/passwd` with the usual system
//! users, and the static `saker-e2e-exec` as `/bin/saker-e2e-exec`. It is
//! built with umoci and skopeo (no registry, no daemon) and tagged with the
//! name the test's context asks for. Containers run privileged (as
//! event-generator runs them) in the host's network namespace (this runner
//! sets up no container network; event-generator uses Docker's default
//! bridge).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::spec::ContainerContext;
use crate::{TEST_ENV, TEST_ID_ENV};

/// containerd namespace of the test containers.
pub const NAMESPACE: &str = "saker-e2e";
/// The image event-generator's container context uses by default.
pub const DEFAULT_IMAGE: &str = "docker.io/falcosecurity/event-generator:latest";
const BASE_IMAGE: &str = "saker.test/e2e-exec:1.0";
const BUSYBOX: &str = "/bin/busybox";

/// A running private containerd.
#[derive(Debug)]
pub struct Containerd {
    dir: PathBuf,
    socket: PathBuf,
    child: Child,
    tagged: Mutex<BTreeSet<String>>,
}

fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Containerd {
    /// Starts containerd under `work/containerd` and imports the test image
    /// holding `executor`.
    pub fn start(work: &Path, executor: &Path) -> Result<Containerd, String> {
        for tool in ["containerd", "ctr", "runc", "umoci", "skopeo"] {
            if !crate::exec::on_path(tool) {
                return Err(format!(
                    "container tests need `{tool}` (cargo xtask test installs containerd, runc, umoci, skopeo, busybox-static)"
                ));
            }
        }
        if !Path::new(BUSYBOX).exists() {
            return Err(format!("container tests need {BUSYBOX} (busybox-static)"));
        }
        let dir = work.join("containerd");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        let d = dir.display();
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{}\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n",
                socket.display()
            ),
        )
        .map_err(|e| format!("{}: {e}", config.display()))?;
        let log = std::fs::File::create(dir.join("containerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("containerd: {e}"))?;
        let ctd = Containerd {
            dir,
            socket,
            child,
            tagged: Mutex::new(BTreeSet::new()),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ctd.ctr(&["version"]).is_err() {
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(ctd.dir.join("containerd.log")).unwrap_or_default();
                return Err(format!("containerd did not start:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let archive = build_image(&ctd.dir, executor)?;
        ctd.ctr(&["images", "import", &archive.display().to_string()])?;
        Ok(ctd)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn ctr(&self, args: &[&str]) -> Result<String, String> {
        run_ok(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.socket)
                .args(["--namespace", NAMESPACE])
                .args(args),
        )
    }

    /// The image reference for a context (tagged on first use).
    fn image(&self, ctx: &ContainerContext) -> Result<String, String> {
        let want = ctx
            .image
            .clone()
            .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
        let mut tagged = self.tagged.lock().map_err(|e| e.to_string())?;
        if !tagged.contains(&want) {
            self.ctr(&["images", "tag", "--force", BASE_IMAGE, &want])?;
            tagged.insert(want.clone());
        }
        Ok(want)
    }

    /// Runs the rest of the test in a new container and waits for it.
    pub fn run_test(
        &self,
        ctx: &ContainerContext,
        uid: &str,
        test_id: &str,
        desc: &str,
    ) -> Result<(), String> {
        let image = self.image(ctx)?;
        let name = ctx.name.as_deref().unwrap_or("event-generator");
        // Container ids are unique per containerd: name plus the test's id.
        let id = format!("{name}-{}", &uid[..uid.len().min(8)]);
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args([
                "--namespace",
                NAMESPACE,
                "run",
                "--rm",
                "--privileged",
                "--net-host",
            ])
            .arg("--env")
            .arg(format!("{TEST_ID_ENV}={test_id}"))
            .arg("--env")
            .arg("PATH=/bin:/usr/bin:/usr/local/bin")
            .arg("--env")
            .arg("HOME=/root");
        for (k, v) in &ctx.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        cmd.arg("--env")
            .arg(format!("{TEST_ENV}={desc}"))
            .arg(&image)
            .arg(&id)
            .arg("/bin/saker-e2e-exec")
            .stdin(Stdio::null());
        let out = cmd.output().map_err(|e| format!("ctr run: {e}"))?;
        if !out.status.success() {
            // A failed run may leave the container behind.
            let _ = self.ctr(&["containers", "rm", &id]);
            return Err(format!(
                "container {id} exited with {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        super::stop_child(&mut self.child, libc::SIGTERM, Duration::from_secs(10));
        // Overlay mounts of exited containers are gone; what is left is files.
        let _ = Command::new("umount")
            .arg("--recursive")
            .arg("--lazy")
            .arg(self.dir.join("root"))
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Busybox applets linked in the image (those the suite's scripts and
/// process resources use, and a shell).
const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "cp", "ln", "ls", "mkdir", "rm", "sleep", "echo", "true", "false", "id",
    "env", "kill", "chmod", "chown", "touch", "grep", "find", "nc",
];

/// Builds the OCI archive of the test image; returns its path.
fn build_image(dir: &Path, executor: &Path) -> Result<PathBuf, String> {
    let layout = dir.join("layout");
    let bundle = dir.join("bundle");
    let img = format!("{}:e2e", layout.display());
    run_ok(
        Command::new("umoci")
            .arg("init")
            .arg("--layout")
            .arg(&layout),
    )?;
    run_ok(Command::new("umoci").args(["new", "--image", &img]))?;
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image", &img])
            .arg(&bundle),
    )?;
    let rootfs = bundle.join("rootfs");
    for d in [
        "bin",
        "etc",
        "tmp",
        "root",
        "proc",
        "sys",
        "dev",
        "var/tmp",
        "usr/local/bin",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    use std::os::unix::fs::PermissionsExt;
    for d in ["tmp", "var/tmp"] {
        std::fs::set_permissions(rootfs.join(d), std::fs::Permissions::from_mode(0o1777))
            .map_err(|e| format!("chmod {d}: {e}"))?;
    }
    let bin = rootfs.join("bin");
    std::fs::copy(BUSYBOX, bin.join("busybox")).map_err(|e| format!("copy busybox: {e}"))?;
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(a))
            .map_err(|e| format!("applet {a}: {e}"))?;
    }
    std::fs::copy(executor, bin.join("saker-e2e-exec"))
        .map_err(|e| format!("copy {}: {e}", executor.display()))?;
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
         bin:x:2:2:bin:/bin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .map_err(|e| format!("passwd: {e}"))?;
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ndaemon:x:1:\nbin:x:2:\nnogroup:x:65534:\n",
    )
    .map_err(|e| format!("group: {e}"))?;
    run_ok(
        Command::new("umoci")
            .args(["repack", "--image", &img])
            .arg(&bundle),
    )?;
    run_ok(Command::new("umoci").args([
        "config",
        "--image",
        &img,
        "--config.env=PATH=/bin:/usr/bin:/usr/local/bin",
        "--config.workingdir=/",
        "--config.entrypoint=/bin/saker-e2e-exec",
    ]))?;
    let archive = dir.join("e2e-exec.oci.tar");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{img}"),
        &format!("oci-archive:{}:{BASE_IMAGE}", archive.display()),
    ]))?;
    let _ = std::fs::remove_dir_all(&bundle);
    Ok(archive)
}
