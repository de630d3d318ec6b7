//! Real container runtimes for integration tests: a private containerd (CRI
//! and native API), a private podman with its Docker-compatible service, and
//! the small OCI image they run. Nothing here is mocked: the tests start the
//! runtimes installed on the machine (Debian packages `containerd`, `runc`,
//! `podman`, `conmon`, `umoci`, `skopeo`, `busybox-static`,
//! `containernetworking-plugins`).
//!
//! Every runtime lives in its own temp dir (root, state, sockets, logs), so
//! tests can run in parallel and never touch /var/lib/containerd or the
//! host's podman storage. Drop kills what the runtime started (shims,
//! containers, conmon), unmounts what it mounted and removes the cgroups it
//! created.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

/// The test image: busybox applets plus `/bin/saker-testload`. Its default
/// command runs until SIGTERM.
pub const TOOLBOX_IMAGE: &str = "saker.test/toolbox:1.0";
/// The CRI sandbox ("pause") image: same layer, `sleep 2147483647`.
pub const PAUSE_IMAGE: &str = "saker.test/pause:1.0";
/// containerd namespaces the image is imported into: the CRI one and ctr's
/// default.
pub const CRI_NAMESPACE: &str = "k8s.io";
pub const CTR_NAMESPACE: &str = "default";

const BUSYBOX: &str = "/bin/busybox";
const CNI_BIN_DIR: &str = "/usr/lib/cni";
/// Shared by every containerd started with a pod network; left in place
/// (other tests may be using it). Pods get no default route, so their traffic
/// cannot leave the machine.
const CNI_BRIDGE: &str = "saker-cni0";
const CNI_SUBNET: &str = "10.213.0.0/16";
const CNI_GATEWAY: &str = "10.213.0.1";

/// The kubelet's cgroupfs-driver parent for BestEffort pods.
pub const POD_CGROUP_ROOT: &str = "/kubepods/besteffort";

const TOOLS: &[&str] = &[
    "containerd",
    "ctr",
    "containerd-shim-runc-v2",
    "runc",
    "podman",
    "conmon",
    "umoci",
    "skopeo",
];

/// True when this machine can run the container runtime tests: root, the
/// runtimes and image tools installed, a static busybox. Without root they
/// are not run (one line on stderr); with SAKER_REQUIRE_BPF=1 (CI) anything
/// missing is a failure, as in `bpf_available`.
pub fn runtimes_available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut missing: Vec<String> = TOOLS
        .iter()
        .filter(|t| find_in_path(t).is_none())
        .map(|t| (*t).to_string())
        .collect();
    if !Path::new(BUSYBOX).exists() {
        missing.push(format!("{BUSYBOX} (busybox-static)"));
    }
    if !Path::new(CNI_BIN_DIR).join("bridge").exists() {
        missing.push(format!(
            "{CNI_BIN_DIR}/bridge (containernetworking-plugins)"
        ));
    }
    if root && missing.is_empty() {
        return true;
    }
    let why = format!(
        "container runtime tests need root and {TOOLS:?} (root={root}, missing={missing:?})"
    );
    if std::env::var("SAKER_REQUIRE_BPF").is_ok_and(|v| v == "1") {
        panic!("{why}; SAKER_REQUIRE_BPF=1 makes this a failure");
    }
    eprintln!("not run: {why}");
    false
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Runs a command, panics with its output if it fails.
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits up to `timeout` for `cond`; false if it never held.
fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The last `bytes` of a log file, for failure messages.
pub fn tail_file(path: &Path, bytes: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return format!("({} unreadable)", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// A fresh RFC 4122 v4 uid, like the API server gives pods.
pub fn new_uid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .expect("read /proc/sys/kernel/random/uuid")
        .trim()
        .to_string()
}

/// True if `s` contains a 64-hex-digit container id.
pub fn has_container_id(s: &str, id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) && s.contains(id)
}

/// /proc/PID/cgroup, or "" if the process is gone.
pub fn proc_cgroup(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Image

/// OCI archives of the test images, built once per test process (in well
/// under a second) from busybox-static and this build's `saker-testload`.
#[derive(Debug)]
pub struct TestImage {
    /// `saker.test/toolbox:1.0` (oci-archive).
    pub toolbox: PathBuf,
    /// `saker.test/pause:1.0` (oci-archive).
    pub pause: PathBuf,
}

/// Busybox applets linked into the image's /bin (the ones this busybox has).
const APPLETS: &[&str] = &[
    "sh", "cat", "cp", "chmod", "ls", "nc", "sleep", "id", "env", "ps", "script", "echo", "mkdir",
    "rm", "mv", "ln", "touch", "grep", "head", "tail", "true", "false", "kill", "wget", "whoami",
    "uname", "hostname", "stat", "find", "readlink", "test", "[", "dd", "chown", "mount", "tar",
    "sed", "awk", "vi", "base64", "ip", "xargs", "timeout", "nsenter", "unshare", "setsid",
];

impl TestImage {
    /// Builds the archives on first use; later calls return the same ones.
    pub fn get() -> &'static TestImage {
        static IMAGE: OnceLock<TestImage> = OnceLock::new();
        IMAGE.get_or_init(TestImage::build)
    }

    fn build() -> TestImage {
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("saker-images");
        std::fs::create_dir_all(&out_dir).expect("create image dir");
        // Build in a private dir, then rename: another test process may be
        // importing the previous archives right now.
        let work = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&out_dir)
            .expect("image build dir");
        let layout = work.path().join("layout");
        let bundle = work.path().join("bundle");
        let img = |tag: &str| format!("{}:{tag}", layout.display());
        run_ok(
            Command::new("umoci")
                .arg("init")
                .arg("--layout")
                .arg(&layout),
        );
        run_ok(Command::new("umoci").args(["new", "--image", &img("toolbox")]));
        run_ok(
            Command::new("umoci")
                .args(["unpack", "--rootless", "--image", &img("toolbox")])
                .arg(&bundle),
        );
        fill_rootfs(&bundle.join("rootfs"));
        run_ok(
            Command::new("umoci")
                .args(["repack", "--image", &img("toolbox")])
                .arg(&bundle),
        );
        // sh as PID 1 ignores SIGTERM unless it traps it; the trap makes
        // StopContainer with a grace period behave like a real workload.
        run_ok(Command::new("umoci").args([
            "config",
            "--image",
            &img("toolbox"),
            "--config.env=PATH=/bin",
            "--config.workingdir=/",
            "--config.cmd=/bin/sh",
            "--config.cmd=-c",
            "--config.cmd=trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done",
        ]));
        run_ok(Command::new("umoci").args([
            "config",
            "--image",
            &img("toolbox"),
            "--tag",
            "pause",
            "--config.cmd=/bin/sleep",
            "--config.cmd=2147483647",
        ]));
        let mut built = Vec::new();
        for (tag, name, file) in [
            ("toolbox", TOOLBOX_IMAGE, "toolbox.tar"),
            ("pause", PAUSE_IMAGE, "pause.tar"),
        ] {
            let tmp = work.path().join(file);
            run_ok(Command::new("skopeo").args([
                "copy",
                "--quiet",
                &format!("oci:{}", img(tag)),
                &format!("oci-archive:{}:{name}", tmp.display()),
            ]));
            let dst = out_dir.join(file);
            std::fs::rename(&tmp, &dst).expect("move image archive");
            built.push(dst);
        }
        let pause = built.pop().expect("pause archive");
        let toolbox = built.pop().expect("toolbox archive");
        TestImage { toolbox, pause }
    }
}

fn fill_rootfs(rootfs: &Path) {
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "var/tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs");
    }
    for d in ["tmp", "var/tmp"] {
        std::fs::set_permissions(rootfs.join(d), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod tmp");
    }
    let bin = rootfs.join("bin");
    std::fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
    let have = run_ok(Command::new(BUSYBOX).arg("--list"));
    let have: BTreeSet<String> = stdout_of(&have).lines().map(str::to_string).collect();
    for applet in APPLETS.iter().filter(|a| have.contains(**a)) {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet symlink");
    }
    let testload = super::testload();
    std::fs::copy(&testload, bin.join("saker-testload")).expect("copy saker-testload");
    for lib in shared_libraries(&testload) {
        let dst = rootfs.join(lib.strip_prefix("/").expect("absolute library path"));
        std::fs::create_dir_all(dst.parent().expect("library dir")).expect("mkdir library dir");
        // fs::copy follows symlinks: the image gets the real file under the
        // path the binary asks for (e.g. /lib64/ld-linux-x86-64.so.2).
        std::fs::copy(&lib, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", lib.display()));
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write passwd");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("write group");
    std::fs::write(rootfs.join("etc/hostname"), "toolbox\n").expect("write hostname");
}

/// Absolute paths of the shared libraries and loader `ldd` lists for `bin`.
fn shared_libraries(bin: &Path) -> Vec<PathBuf> {
    let out = run_ok(Command::new("ldd").arg(bin));
    stdout_of(&out)
        .lines()
        .filter_map(|l| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
            // "/lib64/ld-linux-x86-64.so.2 (0x...)"; vdso has no path.
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.trim(),
                None => l,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// containerd

/// How to start a private containerd.
#[derive(Debug, Clone, Default)]
pub struct ContainerdOptions {
    /// Give non-host-network pods their own netns and an IP from
    /// 10.213.0.0/16 on the bridge `saker-cni0` (CNI bridge + host-local).
    /// Without it only host-network pods can run.
    pub pod_network: bool,
}

/// A private containerd (CRI plugin included) in its own temp dir, with the
/// test images imported into `k8s.io` and `default`.
#[derive(Debug)]
pub struct Containerd {
    dir: tempfile::TempDir,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Containerd {
    pub fn start() -> Containerd {
        Containerd::start_with(&ContainerdOptions::default())
    }

    pub fn start_with(opts: &ContainerdOptions) -> Containerd {
        let image = TestImage::get();
        let dir = tempfile::Builder::new()
            .prefix("saker-ctd-")
            .tempdir()
            .expect("containerd dir");
        let d = dir.path();
        let cni_conf = d.join("cni");
        std::fs::create_dir_all(&cni_conf).expect("mkdir cni");
        if opts.pod_network {
            write_cni_config(&cni_conf, &d.join("cni-ipam"));
        }
        let socket = d.join("containerd.sock");
        let config = d.join("config.toml");
        // cgroupfs driver (SystemdCgroup = false) as the kubelet's default;
        // stream server on a random port so parallel containerds do not fight
        // over 10010; netns bind mounts under our state dir so cleanup finds
        // them; runc state under our dir, not /run/containerd/runc, so two
        // containerds can hold containers with the same id (ctr names them);
        // AppArmor off so the same config works on hosts with it;
        // restrict_oom_score_adj because the kubelet gives the sandbox -998
        // and lowering it needs CAP_SYS_RESOURCE, which CI may not have (runc
        // then fails with "can't get final child's PID from pipe: EOF").
        let toml = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{sock}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni}"
"#,
            d = d.display(),
            sock = socket.display(),
            cni = cni_conf.display(),
        );
        std::fs::write(&config, toml).expect("write containerd config");
        let mut ctd = Containerd {
            log: d.join("containerd.log"),
            dir,
            config,
            socket,
            child: None,
        };
        ctd.spawn();
        for ns in [CRI_NAMESPACE, CTR_NAMESPACE] {
            for archive in [&image.toolbox, &image.pause] {
                ctd.ctr(ns, &["images", "import", &archive.display().to_string()]);
            }
        }
        ctd
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "containerd already running");
        let booted_before = std::fs::read_to_string(&self.log)
            .map(|l| l.matches("containerd successfully booted").count())
            .unwrap_or(0);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open containerd log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        self.child = Some(child);
        // The gRPC server (and so the socket) is up only after every plugin,
        // CRI included, has loaded; the boot line says it is serving.
        let up = wait_for(Duration::from_secs(30), || {
            std::fs::read_to_string(&self.log)
                .map(|l| l.matches("containerd successfully booted").count() > booted_before)
                .unwrap_or(false)
                && std::os::unix::net::UnixStream::connect(&self.socket).is_ok()
        });
        if !up {
            panic!("containerd did not start:\n{}", self.log_tail());
        }
        // The CRI plugin finishes initialising (state recovery) after the
        // socket is up and until then answers every call with Unknown
        // "server is not initialized yet": wait for a real answer.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut last = String::new();
        let ready = wait_for(Duration::from_secs(30), || {
            match rt.block_on(async {
                let mut cri = Cri::connect(self).await.map_err(|e| e.to_string())?;
                cri.version().await.map_err(|e| e.to_string())
            }) {
                Ok(_) => true,
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        if !ready {
            panic!(
                "containerd's CRI is not ready ({last}):\n{}",
                self.log_tail()
            );
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's own pid, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// runc's state root for this containerd's containers.
    pub fn runc_root(&self) -> PathBuf {
        self.dir.path().join("runc")
    }

    /// Directory where CRI pods' container logs go.
    pub fn pod_log_root(&self) -> PathBuf {
        self.dir.path().join("pods")
    }

    pub fn log_tail(&self) -> String {
        tail_file(&self.log, 8192)
    }

    /// SIGTERM and wait: a runtime outage. Shims and containers keep
    /// running, as they do when a node's containerd restarts.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }

    /// Starts containerd again with the same config and socket.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `ctr -a SOCKET -n NS ARGS`; panics on failure.
    pub fn ctr(&self, namespace: &str, args: &[&str]) -> Output {
        run_ok(
            Command::new("ctr")
                .arg("-a")
                .arg(&self.socket)
                .args(["-n", namespace])
                .args(args),
        )
    }

    /// Kills and deletes every task and container in `namespace` through
    /// containerd, so runc removes their cgroups. Best effort.
    fn remove_all(&self, namespace: &str) {
        let ctr = |args: &[&str]| {
            Command::new("ctr")
                .arg("-a")
                .arg(&self.socket)
                .args(["-n", namespace])
                .args(args)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| stdout_of(&o))
                .unwrap_or_default()
        };
        for id in ctr(&["containers", "ls", "-q"]).lines() {
            ctr(&["tasks", "kill", "-a", "-s", "SIGKILL", id]);
            ctr(&["tasks", "delete", "-f", id]);
            ctr(&["containers", "delete", id]);
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- containerd log tail ({}) ---\n{}\n---",
                self.log.display(),
                self.log_tail()
            );
        }
        if self.child.is_some() {
            for ns in [CRI_NAMESPACE, CTR_NAMESPACE] {
                self.remove_all(ns);
            }
        }
        self.stop();
        // Whatever survived (containerd was stopped, or a delete failed):
        // shims are found by the socket they were started with.
        let marker = format!("-address {}", self.socket.display());
        let shims = pids_matching(|cmd| cmd.contains("containerd-shim") && cmd.contains(&marker));
        // A shim removes its socket (/run/containerd/s/<hash>) only when it
        // exits cleanly; find the ones ours listen on before killing them.
        let sockets = listening_sockets(&shims);
        kill_trees(&shims);
        for s in sockets
            .iter()
            .filter(|s| s.starts_with("/run/containerd/s/"))
        {
            let _ = std::fs::remove_file(s);
        }
        unmount_under(self.dir.path());
        // Pod cgroups are the kubelet's to remove; `Cri::run_pod` made a log
        // directory <namespace>_<name>_<uid> for each pod it asked for.
        if let Ok(pods) = std::fs::read_dir(self.pod_log_root()) {
            for p in pods.filter_map(Result::ok) {
                let name = p.file_name().to_string_lossy().into_owned();
                if let Some((_, uid)) = name.rsplit_once('_') {
                    remove_pod_cgroup(&format!("{POD_CGROUP_ROOT}/pod{uid}"));
                }
            }
        }
    }
}

fn write_cni_config(conf_dir: &Path, ipam_dir: &Path) {
    // A per-instance /24 of the shared /16, so containerds running in
    // parallel never hand out the same address on the shared bridge.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let k = (std::process::id().wrapping_mul(7) + NEXT.fetch_add(1, Ordering::Relaxed)) % 250 + 1;
    let conf = format!(
        r#"{{
  "cniVersion": "0.4.0",
  "name": "saker-test",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{CNI_BRIDGE}",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {{
        "type": "host-local",
        "dataDir": "{ipam}",
        "ranges": [[{{
          "subnet": "{CNI_SUBNET}",
          "rangeStart": "10.213.{k}.2",
          "rangeEnd": "10.213.{k}.254",
          "gateway": "{CNI_GATEWAY}"
        }}]]
      }}
    }}
  ]
}}
"#,
        ipam = ipam_dir.display()
    );
    std::fs::write(conf_dir.join("10-saker-test.conflist"), conf).expect("write cni config");
}

// ---------------------------------------------------------------------------
// Process, mount and cgroup cleanup

fn pids_matching(pred: impl Fn(&str) -> bool) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| pred(&String::from_utf8_lossy(&c).replace('\0', " ")))
                .unwrap_or(false)
        })
        .collect()
}

/// Paths of the unix sockets the processes `pids` hold open.
fn listening_sockets(pids: &[u32]) -> Vec<PathBuf> {
    let inodes: BTreeSet<String> = pids
        .iter()
        .filter_map(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok())
        .flat_map(|rd| rd.filter_map(Result::ok))
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path
    std::fs::read_to_string("/proc/net/unix")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && inodes.contains(f[6])).then(|| PathBuf::from(f[7]))
        })
        .collect()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: ppid is the second field after
    // the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// SIGKILLs `roots` and all their descendants (children first, so the
/// subreaper shim cannot adopt and restart anything), then removes the
/// cgroups the descendants were in once they are empty.
fn kill_trees(roots: &[u32]) {
    if roots.is_empty() {
        return;
    }
    let all: Vec<u32> = pids_matching(|_| true);
    let parents: HashMap<u32, u32> = all
        .iter()
        .filter_map(|&p| Some((p, parent_of(p)?)))
        .collect();
    let mut tree: Vec<u32> = roots.to_vec();
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| **pp == p).map(|(c, _)| *c));
        i += 1;
    }
    let cgroups: BTreeSet<PathBuf> = tree[roots.len()..]
        .iter()
        .flat_map(|&p| cgroup_dirs(&proc_cgroup(p)))
        .collect();
    for &p in tree.iter().rev() {
        // SAFETY: kill has no memory-safety preconditions; these pids are
        // the shims we started and their descendants.
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    wait_for(Duration::from_secs(10), || {
        tree.iter().all(|p| !process_alive(*p))
    });
    remove_cgroups(&cgroups);
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 2..].starts_with('Z')))
        .unwrap_or(true)
}

/// True while `pid` exists and has not exited. A killed container whose
/// shim is gone stays a zombie until PID 1 reaps it, which some inits (this
/// CI's among them) do lazily.
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// Cgroup directories (every hierarchy) named in a /proc/PID/cgroup text,
/// except the root and our own.
fn cgroup_dirs(cgroup: &str) -> Vec<PathBuf> {
    let own = proc_cgroup(std::process::id());
    cgroup
        .lines()
        .filter(|l| !own.lines().any(|o| o == *l))
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
            if path == "/" {
                return None;
            }
            let mount = match controllers {
                "" => "unified".to_string(),
                c => c
                    .strip_prefix("name=")
                    .unwrap_or(c)
                    .split(',')
                    .next()?
                    .to_string(),
            };
            let base = PathBuf::from("/sys/fs/cgroup").join(mount);
            // On a pure v2 host the unified hierarchy is /sys/fs/cgroup.
            let base = if base.exists() {
                base
            } else {
                PathBuf::from("/sys/fs/cgroup")
            };
            Some(base.join(path.trim_start_matches('/')))
        })
        .collect()
}

/// rmdir each cgroup, then its `pod<uid>` parent (the kubelet-style pod
/// cgroup) if that is now empty. Shared levels (/kubepods, /default) stay.
fn remove_cgroups(dirs: &BTreeSet<PathBuf>) {
    for d in dirs {
        let _ = std::fs::remove_dir(d);
        if let Some(parent) = d.parent()
            && parent
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pod"))
        {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Removes the kubelet-style pod cgroup `parent` (e.g.
/// /kubepods/besteffort/pod<uid>) and its empty container cgroups (a failed
/// runc create leaves one behind) from every hierarchy.
fn remove_pod_cgroup(parent: &str) {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let rel = parent.trim_start_matches('/');
    let dirs = rd
        .filter_map(Result::ok)
        .map(|h| h.path().join(rel))
        .chain([Path::new("/sys/fs/cgroup").join(rel)]);
    for dir in dirs {
        if let Ok(children) = std::fs::read_dir(&dir) {
            for c in children.filter_map(Result::ok) {
                if c.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(c.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Lazily unmounts every mount at or below `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(unescape_mount_path)
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let c = std::ffi::CString::new(p).expect("mount path");
        // SAFETY: valid NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

fn unescape_mount_path(p: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let mut out = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let oct: String = chars.by_ref().take(3).collect();
            if let Ok(v) = u8::from_str_radix(&oct, 8) {
                out.push(v as char);
                continue;
            }
            out.push('\\');
            out.push_str(&oct);
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// ctr (containerd native API)

/// `ctr run -d` of `image` as container `id` in `namespace`; returns the
/// task's pid. The task's cgroup is `/<namespace>/<id>`; its output goes to
/// [`ctr_log`].
pub fn ctr_run(ctd: &Containerd, namespace: &str, id: &str, image: &str, cmd: &[&str]) -> u32 {
    let runc_root = ctd.runc_root().display().to_string();
    // A log file instead of ctr's default FIFOs under /run/containerd/fifo,
    // which outlive a task that is never deleted.
    let log = ctr_log(ctd, namespace, id);
    std::fs::create_dir_all(log.parent().expect("log dir")).expect("mkdir ctr logs");
    let log_uri = format!("file://{}", log.display());
    let mut args = vec![
        "run",
        "-d",
        "--runc-root",
        &runc_root,
        "--log-uri",
        &log_uri,
        image,
        id,
    ];
    args.extend_from_slice(cmd);
    ctd.ctr(namespace, &args);
    ctr_task_pid(ctd, namespace, id)
}

/// Where a `ctr_run` container's stdout and stderr go.
pub fn ctr_log(ctd: &Containerd, namespace: &str, id: &str) -> PathBuf {
    ctd.dir()
        .join("ctr-logs")
        .join(format!("{namespace}_{id}.log"))
}

/// The pid of a running ctr task.
pub fn ctr_task_pid(ctd: &Containerd, namespace: &str, id: &str) -> u32 {
    let ls = stdout_of(&ctd.ctr(namespace, &["tasks", "ls"]));
    ls.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next()? == id).then(|| f.next()?.parse().ok())?
        })
        .next()
        .unwrap_or_else(|| panic!("no task {id} in:\n{ls}"))
}

/// Kills (SIGKILL) and deletes the ctr task and container `id`.
pub fn ctr_remove(ctd: &Containerd, namespace: &str, id: &str) {
    let _ = Command::new("ctr")
        .arg("-a")
        .arg(ctd.socket())
        .args(["-n", namespace, "tasks", "kill", "-a", "-s", "SIGKILL", id])
        .output();
    ctd.ctr(namespace, &["tasks", "delete", "-f", id]);
    ctd.ctr(namespace, &["containers", "delete", id]);
}

// ---------------------------------------------------------------------------
// CRI

/// A pod as the kubelet describes it to the runtime.
#[derive(Debug, Clone)]
pub struct PodSpec {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub labels: HashMap<String, String>,
    /// hostNetwork: true (no CNI needed). false needs
    /// `ContainerdOptions::pod_network`.
    pub host_network: bool,
}

impl PodSpec {
    /// A host-network pod `name` in namespace `default` with a fresh uid.
    pub fn new(name: &str) -> PodSpec {
        PodSpec {
            name: name.to_string(),
            namespace: "default".to_string(),
            uid: new_uid(),
            labels: HashMap::new(),
            host_network: true,
        }
    }
}

/// A running pod sandbox and the config it was created with (the kubelet
/// passes it again with every CreateContainer).
#[derive(Debug, Clone)]
pub struct Pod {
    pub id: String,
    pub config: cri::PodSandboxConfig,
    /// The cgroup parent given to the runtime: /kubepods/besteffort/pod<uid>.
    pub cgroup_parent: String,
}

/// A bind mount into a container.
#[derive(Debug, Clone)]
pub struct BindMount {
    pub host_path: String,
    pub container_path: String,
    pub readonly: bool,
}

/// A container as the kubelet describes it to the runtime.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub name: String,
    /// Image reference; the runtime is given its image id, as the kubelet
    /// does, with the reference as `user_specified_image`.
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub tty: bool,
    pub privileged: bool,
    pub mounts: Vec<BindMount>,
}

impl ContainerSpec {
    /// Container `name` of the toolbox image running `command`.
    pub fn new(name: &str, command: &[&str]) -> ContainerSpec {
        ContainerSpec {
            name: name.to_string(),
            image: TOOLBOX_IMAGE.to_string(),
            command: command.iter().map(|s| s.to_string()).collect(),
            args: Vec::new(),
            env: Vec::new(),
            tty: false,
            privileged: false,
            mounts: Vec::new(),
        }
    }
}

/// The result of ExecSync.
#[derive(Debug, Clone)]
pub struct ExecResult {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Paths the kubelet masks / makes read-only in unprivileged containers
/// (k8s.io/kubernetes pkg/securitycontext: defaultMaskedPaths,
/// defaultReadonlyPaths).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Async CRI client (runtime.v1) over containerd's socket, driving pods and
/// containers the way the kubelet does.
#[derive(Debug, Clone)]
pub struct Cri {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    log_root: PathBuf,
}

impl Cri {
    pub async fn connect(ctd: &Containerd) -> Result<Cri, tonic::transport::Error> {
        let channel = containerd_client::connect(ctd.socket()).await?;
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            log_root: ctd.pod_log_root(),
        })
    }

    /// Version RPC: (runtime name, runtime version).
    pub async fn version(&mut self) -> Result<(String, String), tonic::Status> {
        let v = self
            .runtime
            .version(cri::VersionRequest {
                version: "v1".into(),
            })
            .await?
            .into_inner();
        Ok((v.runtime_name, v.runtime_version))
    }

    /// RunPodSandbox with the config the kubelet builds for a BestEffort pod
    /// with the cgroupfs driver.
    pub async fn run_pod(&mut self, spec: &PodSpec) -> Result<Pod, tonic::Status> {
        let cgroup_parent = format!("{POD_CGROUP_ROOT}/pod{}", spec.uid);
        let log_directory = self
            .log_root
            .join(format!("{}_{}_{}", spec.namespace, spec.name, spec.uid));
        std::fs::create_dir_all(&log_directory).map_err(|e| {
            tonic::Status::internal(format!("mkdir {}: {e}", log_directory.display()))
        })?;
        let mut labels = spec.labels.clone();
        labels.insert("io.kubernetes.pod.name".into(), spec.name.clone());
        labels.insert("io.kubernetes.pod.namespace".into(), spec.namespace.clone());
        labels.insert("io.kubernetes.pod.uid".into(), spec.uid.clone());
        let annotations = HashMap::from([
            ("kubernetes.io/config.source".to_string(), "api".to_string()),
            (
                "kubernetes.io/config.seen".to_string(),
                "2026-01-01T00:00:00.000000000Z".to_string(),
            ),
        ]);
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: spec.name.clone(),
                uid: spec.uid.clone(),
                namespace: spec.namespace.clone(),
                attempt: 0,
            }),
            hostname: if spec.host_network {
                String::new()
            } else {
                spec.name.clone()
            },
            log_directory: log_directory.display().to_string(),
            labels,
            annotations,
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: cgroup_parent.clone(),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(namespace_options(spec.host_network)),
                    seccomp: Some(unconfined()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.run_pod_config(config).await
    }

    /// RunPodSandbox with a config built elsewhere (e.g. from a rendered pod
    /// template, `common::kubelet`).
    pub async fn run_pod_config(
        &mut self,
        config: cri::PodSandboxConfig,
    ) -> Result<Pod, tonic::Status> {
        let cgroup_parent = config
            .linux
            .as_ref()
            .map(|l| l.cgroup_parent.clone())
            .unwrap_or_default();
        let id = self
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await?
            .into_inner()
            .pod_sandbox_id;
        Ok(Pod {
            id,
            config,
            cgroup_parent,
        })
    }

    /// Where pod log directories go (`PodSandboxConfig.log_directory`).
    pub fn log_root(&self) -> &Path {
        &self.log_root
    }

    /// CreateContainer with a config built elsewhere; the image is resolved
    /// to its id as the kubelet does (`ImageSpec.image`).
    pub async fn create_container_config(
        &mut self,
        pod: &Pod,
        mut config: cri::ContainerConfig,
    ) -> Result<String, tonic::Status> {
        if let Some(img) = config.image.as_mut()
            && !img.image.starts_with("sha256:")
        {
            img.user_specified_image = img.image.clone();
            img.image = self.image_id(&img.user_specified_image).await?;
        }
        Ok(self
            .runtime
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod.id.clone(),
                config: Some(config),
                sandbox_config: Some(pod.config.clone()),
            })
            .await?
            .into_inner()
            .container_id)
    }

    /// The pod's IP (empty for host-network pods).
    pub async fn pod_ip(&mut self, pod: &Pod) -> Result<String, tonic::Status> {
        let st = self
            .runtime
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: pod.id.clone(),
                verbose: false,
            })
            .await?
            .into_inner();
        Ok(st
            .status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .unwrap_or_default())
    }

    /// The image id (sha256:...) of a local image reference.
    pub async fn image_id(&mut self, image: &str) -> Result<String, tonic::Status> {
        let st = self
            .images
            .image_status(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: image.to_string(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await?
            .into_inner();
        st.image
            .map(|i| i.id)
            .ok_or_else(|| tonic::Status::not_found(format!("image {image} not present")))
    }

    /// CreateContainer as the kubelet does it: the image by id, the kubelet's
    /// labels and annotations, the pod's namespaces, BestEffort resources.
    pub async fn create_container(
        &mut self,
        pod: &Pod,
        spec: &ContainerSpec,
    ) -> Result<String, tonic::Status> {
        let meta = pod.config.metadata.clone().unwrap_or_default();
        let host_network = pod
            .config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.as_ref())
            .is_some_and(|n| n.network == cri::NamespaceMode::Node as i32);
        let image_id = self.image_id(&spec.image).await?;
        let labels = HashMap::from([
            (
                "io.kubernetes.container.name".to_string(),
                spec.name.clone(),
            ),
            ("io.kubernetes.pod.name".to_string(), meta.name.clone()),
            (
                "io.kubernetes.pod.namespace".to_string(),
                meta.namespace.clone(),
            ),
            ("io.kubernetes.pod.uid".to_string(), meta.uid.clone()),
        ]);
        let annotations = HashMap::from([
            ("io.kubernetes.container.hash".to_string(), "0".to_string()),
            (
                "io.kubernetes.container.restartCount".to_string(),
                "0".to_string(),
            ),
            (
                "io.kubernetes.container.terminationMessagePath".to_string(),
                "/dev/termination-log".to_string(),
            ),
            (
                "io.kubernetes.container.terminationMessagePolicy".to_string(),
                "File".to_string(),
            ),
            (
                "io.kubernetes.pod.terminationGracePeriod".to_string(),
                "30".to_string(),
            ),
        ]);
        let (masked, readonly) = if spec.privileged {
            (Vec::new(), Vec::new())
        } else {
            (
                MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
                READONLY_PATHS.iter().map(|s| s.to_string()).collect(),
            )
        };
        let config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: spec.name.clone(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: image_id,
                user_specified_image: spec.image.clone(),
                ..Default::default()
            }),
            command: spec.command.clone(),
            args: spec.args.clone(),
            envs: spec
                .env
                .iter()
                .map(|(k, v)| cri::KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            mounts: spec
                .mounts
                .iter()
                .map(|m| cri::Mount {
                    container_path: m.container_path.clone(),
                    host_path: m.host_path.clone(),
                    readonly: m.readonly,
                    ..Default::default()
                })
                .collect(),
            labels,
            annotations,
            log_path: format!("{}/0.log", spec.name),
            tty: spec.tty,
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(cri::LinuxContainerResources {
                    cpu_period: 100_000,
                    cpu_shares: 2,
                    oom_score_adj: 1000,
                    ..Default::default()
                }),
                security_context: Some(cri::LinuxContainerSecurityContext {
                    privileged: spec.privileged,
                    namespace_options: Some(namespace_options(host_network)),
                    masked_paths: masked,
                    readonly_paths: readonly,
                    seccomp: Some(unconfined()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        self.create_container_config(pod, config).await
    }

    pub async fn start_container(&mut self, id: &str) -> Result<(), tonic::Status> {
        self.runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.to_string(),
            })
            .await?;
        Ok(())
    }

    /// create_container + start_container.
    pub async fn run_container(
        &mut self,
        pod: &Pod,
        spec: &ContainerSpec,
    ) -> Result<String, tonic::Status> {
        let id = self.create_container(pod, spec).await?;
        self.start_container(&id).await?;
        Ok(id)
    }

    pub async fn exec_sync(
        &mut self,
        id: &str,
        cmd: &[&str],
        timeout: Duration,
    ) -> Result<ExecResult, tonic::Status> {
        let r = self
            .runtime
            .exec_sync(cri::ExecSyncRequest {
                container_id: id.to_string(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: timeout.as_secs().max(1) as i64,
            })
            .await?
            .into_inner();
        Ok(ExecResult {
            exit_code: r.exit_code,
            stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
        })
    }

    /// The container's init pid, from the verbose ContainerStatus info
    /// (containerd's `info` JSON, field `pid`).
    pub async fn container_pid(&mut self, id: &str) -> Result<u32, tonic::Status> {
        let st = self
            .runtime
            .container_status(cri::ContainerStatusRequest {
                container_id: id.to_string(),
                verbose: true,
            })
            .await?
            .into_inner();
        let info = st
            .info
            .get("info")
            .ok_or_else(|| tonic::Status::internal("ContainerStatus has no info"))?;
        let v: serde_json::Value = serde_json::from_str(info)
            .map_err(|e| tonic::Status::internal(format!("info JSON: {e}")))?;
        v.get("pid")
            .and_then(serde_json::Value::as_u64)
            .filter(|p| *p > 0)
            .map(|p| p as u32)
            .ok_or_else(|| tonic::Status::internal(format!("no pid in info: {info}")))
    }

    /// StopContainer (SIGTERM, SIGKILL after `timeout`; 0 kills at once).
    pub async fn stop_container(
        &mut self,
        id: &str,
        timeout: Duration,
    ) -> Result<(), tonic::Status> {
        self.runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id.to_string(),
                timeout: timeout.as_secs() as i64,
            })
            .await?;
        Ok(())
    }

    pub async fn remove_container(&mut self, id: &str) -> Result<(), tonic::Status> {
        self.runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: id.to_string(),
            })
            .await?;
        Ok(())
    }

    /// StopContainer with no grace period, then RemoveContainer.
    pub async fn stop_and_remove_container(&mut self, id: &str) -> Result<(), tonic::Status> {
        self.stop_container(id, Duration::ZERO).await?;
        self.remove_container(id).await
    }

    /// StopPodSandbox, RemovePodSandbox, then the pod cgroup (the kubelet's
    /// job with the cgroupfs driver).
    pub async fn stop_and_remove_pod(&mut self, pod: &Pod) -> Result<(), tonic::Status> {
        self.runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await?;
        self.runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await?;
        remove_pod_cgroup(&pod.cgroup_parent);
        Ok(())
    }
}

fn namespace_options(host_network: bool) -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: if host_network {
            cri::NamespaceMode::Node
        } else {
            cri::NamespaceMode::Pod
        } as i32,
        // The kubelet's default without shareProcessNamespace/hostPID.
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// The kubelet's default when a pod names no seccomp profile (and
/// --seccomp-default is off).
fn unconfined() -> cri::SecurityProfile {
    cri::SecurityProfile {
        profile_type: cri::security_profile::ProfileType::Unconfined as i32,
        localhost_ref: String::new(),
    }
}

/// Blocking facade over [`Cri`] for plain `#[test]` functions: owns a
/// current-thread tokio runtime and panics with the RPC error on failure.
#[derive(Debug)]
pub struct BlockingCri {
    rt: tokio::runtime::Runtime,
    cri: Cri,
}

impl BlockingCri {
    pub fn connect(ctd: &Containerd) -> BlockingCri {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let cri = rt
            .block_on(Cri::connect(ctd))
            .unwrap_or_else(|e| panic!("connect CRI at {}: {e}", ctd.socket().display()));
        BlockingCri { rt, cri }
    }

    /// The async client, e.g. to share with code under test.
    pub fn client(&self) -> Cri {
        self.cri.clone()
    }

    pub fn try_version(&mut self) -> Result<(String, String), tonic::Status> {
        self.rt.block_on(self.cri.version())
    }

    pub fn version(&mut self) -> (String, String) {
        self.try_version()
            .unwrap_or_else(|e| panic!("CRI Version: {e}"))
    }

    pub fn run_pod(&mut self, spec: &PodSpec) -> Pod {
        self.rt
            .block_on(self.cri.run_pod(spec))
            .unwrap_or_else(|e| panic!("RunPodSandbox {}: {e}", spec.name))
    }

    pub fn pod_ip(&mut self, pod: &Pod) -> String {
        self.rt
            .block_on(self.cri.pod_ip(pod))
            .unwrap_or_else(|e| panic!("PodSandboxStatus {}: {e}", pod.id))
    }

    pub fn create_container(&mut self, pod: &Pod, spec: &ContainerSpec) -> String {
        self.rt
            .block_on(self.cri.create_container(pod, spec))
            .unwrap_or_else(|e| panic!("CreateContainer {}: {e}", spec.name))
    }

    pub fn start_container(&mut self, id: &str) {
        self.rt
            .block_on(self.cri.start_container(id))
            .unwrap_or_else(|e| panic!("StartContainer {id}: {e}"))
    }

    pub fn run_pod_config(&mut self, config: cri::PodSandboxConfig) -> Pod {
        self.rt
            .block_on(self.cri.run_pod_config(config))
            .unwrap_or_else(|e| panic!("RunPodSandbox: {e}"))
    }

    pub fn create_container_config(&mut self, pod: &Pod, config: cri::ContainerConfig) -> String {
        self.rt
            .block_on(self.cri.create_container_config(pod, config))
            .unwrap_or_else(|e| panic!("CreateContainer: {e}"))
    }

    pub fn log_root(&self) -> PathBuf {
        self.cri.log_root().to_path_buf()
    }

    pub fn run_container(&mut self, pod: &Pod, spec: &ContainerSpec) -> String {
        let id = self.create_container(pod, spec);
        self.start_container(&id);
        id
    }

    pub fn exec_sync(&mut self, id: &str, cmd: &[&str], timeout: Duration) -> ExecResult {
        self.rt
            .block_on(self.cri.exec_sync(id, cmd, timeout))
            .unwrap_or_else(|e| panic!("ExecSync {cmd:?} in {id}: {e}"))
    }

    pub fn container_pid(&mut self, id: &str) -> u32 {
        self.rt
            .block_on(self.cri.container_pid(id))
            .unwrap_or_else(|e| panic!("ContainerStatus {id}: {e}"))
    }

    pub fn stop_container(&mut self, id: &str, timeout: Duration) {
        self.rt
            .block_on(self.cri.stop_container(id, timeout))
            .unwrap_or_else(|e| panic!("StopContainer {id}: {e}"))
    }

    pub fn remove_container(&mut self, id: &str) {
        self.rt
            .block_on(self.cri.remove_container(id))
            .unwrap_or_else(|e| panic!("RemoveContainer {id}: {e}"))
    }

    pub fn stop_and_remove_container(&mut self, id: &str) {
        self.rt
            .block_on(self.cri.stop_and_remove_container(id))
            .unwrap_or_else(|e| panic!("stop/remove container {id}: {e}"))
    }

    pub fn stop_and_remove_pod(&mut self, pod: &Pod) {
        self.rt
            .block_on(self.cri.stop_and_remove_pod(pod))
            .unwrap_or_else(|e| panic!("stop/remove pod {}: {e}", pod.id))
    }
}

// ---------------------------------------------------------------------------
// podman

/// A private podman (own root/runroot/tmpdir, vfs storage, runc, cgroupfs)
/// with `podman system service` serving the Docker-compatible API on
/// `socket()`, and the toolbox image loaded.
#[derive(Debug)]
pub struct Podman {
    dir: tempfile::TempDir,
    socket: PathBuf,
    log: PathBuf,
    service: Option<Child>,
}

impl Podman {
    pub fn start() -> Podman {
        let image = TestImage::get();
        let dir = tempfile::Builder::new()
            .prefix("saker-podman-")
            .tempdir()
            .expect("podman dir");
        let d = dir.path();
        // default_ulimits = []: podman's default nofile ulimit needs
        // CAP_SYS_RESOURCE above the hard limit; runc: crun refuses hybrid
        // cgroup hosts.
        std::fs::write(
            d.join("containers.conf"),
            format!(
                r#"[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{d}/tmp"
volume_path = "{d}/volumes"
"#,
                d = d.display()
            ),
        )
        .expect("write containers.conf");
        std::fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\nrunroot = \"{d}/runroot\"\ngraphroot = \"{d}/root\"\n",
                d = d.display()
            ),
        )
        .expect("write storage.conf");
        let mut podman = Podman {
            socket: d.join("podman.sock"),
            log: d.join("podman-service.log"),
            dir,
            service: None,
        };
        podman.podman(&["load", "-q", "-i", &image.toolbox.display().to_string()]);
        let log = std::fs::File::create(&podman.log).expect("podman log");
        let service = podman
            .command()
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", podman.socket.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn podman system service");
        podman.service = Some(service);
        let up = wait_for(Duration::from_secs(30), || podman.ping());
        if !up {
            panic!(
                "podman service did not start:\n{}",
                tail_file(&podman.log, 8192)
            );
        }
        podman
    }

    /// The Docker-compatible API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// GET /_ping on the service socket answers OK.
    pub fn ping(&self) -> bool {
        use std::io::Write;
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("OK")
    }

    /// `podman` with this instance's configuration.
    pub fn command(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]);
        c
    }

    /// Runs `podman ARGS`; panics on failure.
    pub fn podman(&self, args: &[&str]) -> Output {
        run_ok(self.command().args(args))
    }

    /// `podman run -d --name NAME --network host IMAGE CMD...`; returns the
    /// full 64-hex container id.
    pub fn run(&self, name: &str, image: &str, cmd: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--name", name, "--network", "host", image];
        args.extend_from_slice(cmd);
        stdout_of(&self.podman(&args))
    }

    /// The container's init pid.
    pub fn pid(&self, id: &str) -> u32 {
        let out = stdout_of(&self.podman(&["inspect", "--format", "{{.State.Pid}}", id]));
        out.parse()
            .unwrap_or_else(|e| panic!("podman inspect pid {out:?}: {e}"))
    }

    /// `podman rm -f -t 0 ID`.
    pub fn rm(&self, id: &str) {
        self.podman(&["rm", "-f", "-t", "0", id]);
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- podman service log tail ({}) ---\n{}\n---",
                self.log.display(),
                tail_file(&self.log, 8192)
            );
        }
        let _ = self
            .command()
            .args(["rm", "-a", "-f", "-t", "0"])
            .stdin(Stdio::null())
            .output();
        if let Some(mut child) = self.service.take() {
            // SAFETY: kill on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            if !wait_for(Duration::from_secs(10), || {
                child.try_wait().ok().flatten().is_some()
            }) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // conmon is started with our runroot/tmpdir in its arguments.
        let marker = self.dir.path().display().to_string();
        let conmons =
            pids_matching(|cmd| cmd.starts_with("/usr/bin/conmon") && cmd.contains(&marker));
        kill_trees(&conmons);
        unmount_under(self.dir.path());
    }
}
