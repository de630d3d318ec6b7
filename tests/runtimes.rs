//! Smoke tests of the container runtime harness (tests/common/runtimes.rs):
//! the real containerd, CRI, ctr and podman start, run the test image, put
//! containers in cgroups named by their ids, and come back after an outage.

mod common;

use std::time::{Duration, Instant};

use common::runtimes::{
    BlockingCri, CTR_NAMESPACE, ContainerSpec, Containerd, ContainerdOptions, PodSpec, Podman,
    TOOLBOX_IMAGE, ctr_remove, ctr_run, has_container_id, proc_cgroup, process_alive,
    runtimes_available,
};

const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn containerd_cri_pod_ctr_container_and_restart() {
    if !runtimes_available() {
        return;
    }
    let t = Instant::now();
    let mut ctd = Containerd::start();
    eprintln!(
        "containerd started and images imported in {:?}",
        t.elapsed()
    );
    let mut cri = BlockingCri::connect(&ctd);
    let (name, version) = cri.version();
    eprintln!("CRI runtime: {name} {version}");

    let mut spec = PodSpec::new("smoke");
    spec.labels.insert("app".into(), "smoke".into());
    let t = Instant::now();
    let pod = cri.run_pod(&spec);
    eprintln!("RunPodSandbox took {:?}", t.elapsed());
    let t = Instant::now();
    let cid = cri.run_container(&pod, &ContainerSpec::new("sleeper", &["sleep", "3600"]));
    eprintln!("CreateContainer + StartContainer took {:?}", t.elapsed());

    let pid = cri.container_pid(&cid);
    let cgroup = proc_cgroup(pid);
    eprintln!("CRI container {cid} pid {pid} /proc/{pid}/cgroup:\n{cgroup}");
    assert!(
        has_container_id(&cgroup, &cid),
        "cgroup of CRI container does not name {cid}:\n{cgroup}"
    );
    assert!(
        cgroup.contains(&pod.cgroup_parent),
        "cgroup of CRI container is not under the pod's {}:\n{cgroup}",
        pod.cgroup_parent
    );

    let exec = cri.exec_sync(&cid, &["cat", "/proc/self/cgroup"], EXEC_TIMEOUT);
    eprintln!("exec cat /proc/self/cgroup:\n{}", exec.stdout);
    assert_eq!(exec.exit_code, 0, "stderr: {}", exec.stderr);
    assert!(has_container_id(&exec.stdout, &cid), "{}", exec.stdout);

    let exec = cri.exec_sync(
        &cid,
        &["/bin/saker-testload", "open", "/tmp/probe"],
        EXEC_TIMEOUT,
    );
    assert_eq!(
        exec.exit_code, 0,
        "saker-testload in the image: {}",
        exec.stderr
    );
    let exec = cri.exec_sync(&cid, &["ls", "-l", "/tmp/probe"], EXEC_TIMEOUT);
    assert_eq!(
        exec.exit_code, 0,
        "file written by saker-testload: {}",
        exec.stderr
    );

    // The rootfs is an overlayfs whose upper layer takes new executables
    // (what "drop and execute new binary" rules look for).
    let exec = cri.exec_sync(&cid, &["cat", "/proc/self/mountinfo"], EXEC_TIMEOUT);
    let root = exec
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"));
    assert!(
        root.is_some_and(|l| l.contains(" - overlay ")),
        "container rootfs is not overlayfs: {root:?}"
    );
    let exec = cri.exec_sync(
        &cid,
        &[
            "sh",
            "-c",
            "cp /bin/saker-testload /dropped && /dropped open /tmp/d2",
        ],
        EXEC_TIMEOUT,
    );
    assert_eq!(exec.exit_code, 0, "dropped binary: {}", exec.stderr);

    // containerd's native API, as `ctr run` uses it.
    let ctr_pid = ctr_run(
        &ctd,
        CTR_NAMESPACE,
        "smoke-ctr",
        TOOLBOX_IMAGE,
        &["sleep", "3600"],
    );
    let ctr_cgroup = proc_cgroup(ctr_pid);
    eprintln!("ctr container smoke-ctr pid {ctr_pid} /proc/{ctr_pid}/cgroup:\n{ctr_cgroup}");
    assert!(ctr_cgroup.contains("/default/smoke-ctr"), "{ctr_cgroup}");

    // A runtime outage: containers keep running, the API comes back.
    let t = Instant::now();
    ctd.stop();
    assert!(
        cri.try_version().is_err(),
        "CRI answered while containerd was stopped"
    );
    assert_eq!(proc_cgroup(pid), cgroup, "container died with containerd");
    ctd.restart();
    eprintln!("containerd stop + restart took {:?}", t.elapsed());
    // The same client (channel) reconnects, as the agent's would.
    let (name2, _) = cri.version();
    assert_eq!(name2, name);
    assert_eq!(
        cri.container_pid(&cid),
        pid,
        "container lost across restart"
    );
    let exec = cri.exec_sync(&cid, &["id", "-u"], EXEC_TIMEOUT);
    assert_eq!((exec.exit_code, exec.stdout.trim()), (0, "0"));

    ctr_remove(&ctd, CTR_NAMESPACE, "smoke-ctr");
    let t = Instant::now();
    cri.stop_and_remove_container(&cid);
    cri.stop_and_remove_pod(&pod);
    eprintln!("stop/remove container + pod took {:?}", t.elapsed());
    assert!(
        !process_alive(pid),
        "container process outlived its removal"
    );
}

#[test]
fn containerd_pod_network_gives_pod_an_ip() {
    if !runtimes_available() {
        return;
    }
    let ctd = Containerd::start_with(&ContainerdOptions { pod_network: true });
    let mut cri = BlockingCri::connect(&ctd);
    let mut spec = PodSpec::new("netpod");
    spec.host_network = false;
    let t = Instant::now();
    let pod = cri.run_pod(&spec);
    eprintln!("RunPodSandbox with CNI took {:?}", t.elapsed());
    let ip = cri.pod_ip(&pod);
    assert!(ip.starts_with("10.213."), "pod IP {ip:?}");
    let cid = cri.run_container(&pod, &ContainerSpec::new("net", &["sleep", "3600"]));
    let exec = cri.exec_sync(&cid, &["ip", "-4", "addr", "show", "eth0"], EXEC_TIMEOUT);
    eprintln!("pod ip {ip}; in the container:\n{}", exec.stdout);
    assert!(exec.stdout.contains(&ip), "{}", exec.stdout);
    cri.stop_and_remove_container(&cid);
    cri.stop_and_remove_pod(&pod);
}

#[test]
fn podman_container_and_docker_api() {
    if !runtimes_available() {
        return;
    }
    let t = Instant::now();
    let podman = Podman::start();
    eprintln!(
        "podman service started and image loaded in {:?}",
        t.elapsed()
    );
    assert!(podman.ping(), "podman Docker API does not answer /_ping");
    let t = Instant::now();
    let id = podman.run("smoke-podman", TOOLBOX_IMAGE, &["sleep", "3600"]);
    eprintln!("podman run took {:?}", t.elapsed());
    assert!(id.len() == 64, "podman run gave {id:?}");
    let pid = podman.pid(&id);
    let cgroup = proc_cgroup(pid);
    eprintln!("podman container {id} pid {pid} /proc/{pid}/cgroup:\n{cgroup}");
    assert!(has_container_id(&cgroup, &id), "{cgroup}");
    let out = podman.podman(&["exec", &id, "/bin/saker-testload", "open", "/tmp/probe"]);
    assert!(out.status.success());
    podman.rm(&id);
    assert!(!process_alive(pid), "podman container outlived rm");
}

/// A test that fails while containerd is down must not leave containers,
/// shims or cgroups behind for the next one.
#[test]
fn containerd_drop_during_outage_kills_everything() {
    if !runtimes_available() {
        return;
    }
    let mut ctd = Containerd::start();
    let mut cri = BlockingCri::connect(&ctd);
    let pod = cri.run_pod(&PodSpec::new("orphan"));
    let cid = cri.run_container(&pod, &ContainerSpec::new("orphan", &["sleep", "3600"]));
    let pid = cri.container_pid(&cid);
    let ctr_pid = ctr_run(
        &ctd,
        CTR_NAMESPACE,
        "orphan-ctr",
        TOOLBOX_IMAGE,
        &["sleep", "3600"],
    );
    let socket = ctd.socket().display().to_string();
    ctd.stop();
    drop(ctd);
    for p in [pid, ctr_pid] {
        assert!(!process_alive(p), "container process {p} survived Drop");
    }
    let shims = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("containerd-shim") && c.contains(&socket))
        .collect::<Vec<_>>();
    assert!(shims.is_empty(), "shims survived Drop: {shims:?}");
    let pod_cgroup = format!("/sys/fs/cgroup/memory{}", pod.cgroup_parent);
    assert!(
        !std::path::Path::new(&pod_cgroup).exists(),
        "{pod_cgroup} survived Drop"
    );
}
