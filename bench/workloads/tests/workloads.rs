//! Every workload runs to completion at a small size and reports what it
//! did, as `cargo xtask bench` expects (it parses `wall_ns` from the line).

use std::process::Command;

fn run(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_saker-workload"))
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "saker-workload {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn each_workload_reports_its_operations_and_wall_time() {
    for (args, name, ops) in [
        (
            &["open-close", "--iterations", "1000"][..],
            "open-close",
            1000,
        ),
        (&["exec", "--iterations", "3"][..], "exec", 3),
        (
            &["net", "--connections", "20", "--messages", "2"][..],
            "net",
            20,
        ),
        // Builds the shipped C project with gcc and checks what it prints.
        (&["compile", "--builds", "1"][..], "compile", 1),
    ] {
        let r = run(args).unwrap();
        assert_eq!(r["workload"], name);
        assert_eq!(r["ops"], ops);
        assert!(r["wall_ns"].as_u64().unwrap() > 0);
    }
}

#[test]
fn a_failing_program_fails_the_exec_workload() {
    let out = Command::new(env!("CARGO_BIN_EXE_saker-workload"))
        .args(["exec", "--iterations", "1", "--program", "/bin/false"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
