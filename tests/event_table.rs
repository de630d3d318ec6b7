//! Event arguments on the real kernel, rendered as Falco's event table and
//! libsinsp render them, through `saker run` with Falco's own rules (stable
//! and incubating, used in place) and JSON alerts:
//! - "Set Setuid or Setgid bit" (`evt.arg.mode contains "S_ISUID"`) fires on
//!   `chmod u+s FILE`: chmod's mode is a `PT_MODE` named from
//!   `chmod_mode` (driver/event_table.c, driver/flags_table.c), and a
//!   relative file name is joined to the working directory;
//! - "Non sudo setuid" fires for a setuid to a user outside its allow-list
//!   and not for `nobody` becoming `nobody` (`evt.arg.uid` is `PT_UID`,
//!   rendered as the user name);
//! - "Create Hardlink Over Sensitive Files" fires for `ln ../etc/shadow ...`
//!   issued from /tmp: the relative `PT_FSRELPATH` resolves against the
//!   working directory to /etc/shadow.
//!
//! A witness rule of this test prints `evt.args` and `evt.rawarg.*` of the
//! same events, so the controls (calls that must not alert) are shown to
//! have been seen and rendered.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const HELPER_ENV: &str = "SAKER_EVENT_TABLE_HELPER";

/// The workload side: runs only in the child started by [`helper_run`].
#[test]
fn helper() {
    let Ok(action) = std::env::var(HELPER_ENV) else {
        return;
    };
    let args: Vec<&str> = action.split_whitespace().collect();
    match args.as_slice() {
        // One setuid(UID) system call from this thread (libc's setuid would
        // make every thread of the process call it).
        ["setuid", uid] => {
            let uid: libc::uid_t = uid.parse().unwrap();
            // SAFETY: a plain system call with an integer argument.
            let rc = unsafe { libc::syscall(libc::SYS_setuid, libc::c_long::from(uid)) };
            println!("SETUID_RC={rc}");
        }
        other => panic!("unknown helper action {other:?}"),
    }
}

/// Runs `action` in a child of this test binary.
fn helper_run(action: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, action)
        .output()
        .expect("spawn helper");
    assert!(
        out.status.success(),
        "helper {action:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command for its system calls; its exit status does not matter
/// (the hard links are meant to fail).
fn run_in(dir: &Path, program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let _ = status;
}

fn field<'a>(a: &'a Value, name: &str) -> &'a str {
    a["output_fields"][name].as_str().unwrap_or("")
}

fn of_rule<'a>(alerts: &'a [Value], rule: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["rule"] == rule).collect()
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').next() == Some(name))
}

#[test]
fn falco_rules_see_arguments_as_falco_renders_them() {
    if std::env::var(HELPER_ENV).is_ok() || !bpf_available() {
        return;
    }
    let upstream = [saker_upstream::STABLE, saker_upstream::INCUBATING];
    let Some(falco) = falco_rules_dir(&upstream) else {
        return;
    };
    for user in ["daemon", "nobody"] {
        assert!(
            user_exists(user),
            "this test needs the user {user} in /etc/passwd"
        );
    }
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    let dir = unique_dir();
    let d = dir.path();
    // Paths named relative to the working directory: the rules must see
    // them joined to it.
    let work = d.join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("tool"), "#!/bin/sh\n").unwrap();
    std::fs::write(work.join("plain"), "x\n").unwrap();
    let work_s = work.to_str().unwrap();
    // The hard links are made from /tmp (a directory right under /) into a
    // directory that does not exist: the calls fail, nothing is linked, and
    // the rule still sees the attempt (it does not test the result).
    let missing = format!("saker-it-missing-{}", std::process::id());
    assert!(!Path::new("/tmp").join(&missing).exists());

    let witness = d.join("witness.yaml");
    std::fs::write(
        &witness,
        format!(
            r#"
- rule: Witness chmod
  desc: every chmod-family call of this test, with its arguments
  condition: evt.type in (chmod, fchmod, fchmodat, fchmodat2) and evt.arg.filename startswith "{work_s}/"
  output: "chmod %evt.args raw_mode=%evt.rawarg.mode raw_filename=%evt.rawarg.filename"
  priority: DEBUG
- rule: Witness setuid
  desc: every setuid of this test's helper
  condition: evt.type = setuid and proc.exepath = "{exe}"
  output: "setuid %evt.args raw_uid=%evt.rawarg.uid"
  priority: DEBUG
- rule: Witness link
  desc: every hard link this test tries
  condition: evt.type in (link, linkat) and evt.arg.newpath contains "{missing}"
  output: "link %evt.args"
  priority: DEBUG
"#
        ),
    )
    .unwrap();
    let stable = falco.join(saker_upstream::STABLE);
    let incubating = falco.join(saker_upstream::INCUBATING);
    let run = SakerRun::start(&[
        "run",
        "-r",
        stable.to_str().unwrap(),
        "-r",
        incubating.to_str().unwrap(),
        "-r",
        witness.to_str().unwrap(),
        "--json",
        "-o",
        "webserver.enabled=false",
        // The witness rules see the events Falco's rules alert on too.
        "-o",
        "rule_matching=all",
    ]);

    // 1. chmod u+s on a file named relative to the cwd; control: chmod 0644.
    run_in(&work, "chmod", &["u+s", "tool"]);
    run_in(&work, "chmod", &["0644", "plain"]);
    // 2. setuid: to daemon (not allowed), and nobody (uid 65534) to nobody
    // (allowed: "somebody_becoming_themselves"). The helpers run as root;
    // after the call the thread's user is the new one, as Falco updates it
    // on the exit event.
    helper_run("setuid 1");
    helper_run("setuid 65534");
    // 3. ln ../etc/shadow from /tmp; control: ../etc/hostname.
    let tmp = Path::new("/tmp");
    run_in(tmp, "ln", &["../etc/shadow", &format!("{missing}/shadow")]);
    run_in(
        tmp,
        "ln",
        &["../etc/hostname", &format!("{missing}/hostname")],
    );

    let (stdout, stderr) = run.stop();
    let alerts = parse_alerts(&stdout);
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };

    // 1. Set Setuid or Setgid bit.
    let tool = format!("{work_s}/tool");
    let plain = format!("{work_s}/plain");
    let suid: Vec<_> = of_rule(&alerts, "Set Setuid or Setgid bit")
        .into_iter()
        .filter(|a| field(a, "evt.arg.filename") == tool)
        .collect();
    check(
        suid.len() == 1,
        format!(
            "one 'Set Setuid or Setgid bit' for {tool}, got {}",
            suid.len()
        ),
    );
    if let Some(a) = suid.first() {
        // chmod u+s on 0644: 04644, every bit named in chmod_mode's order.
        check(
            field(a, "evt.arg.mode") == "S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR|S_ISUID",
            format!("mode of the setuid chmod: {}", field(a, "evt.arg.mode")),
        );
        check(
            a["priority"] == "Notice",
            format!("priority {}", a["priority"]),
        );
    }
    check(
        of_rule(&alerts, "Set Setuid or Setgid bit")
            .iter()
            .all(|a| field(a, "evt.arg.filename") != plain),
        "chmod 0644 must not alert".into(),
    );
    let chmods = of_rule(&alerts, "Witness chmod");
    let seen = |name: &str| {
        chmods
            .iter()
            .find(|a| field(a, "evt.rawarg.filename") == name)
            .map(|a| a["output"].as_str().unwrap_or("").to_string())
    };
    match seen("tool") {
        Some(out) => check(
            out.contains(&format!(
                "filename=tool({tool}) mode=04644(S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR|S_ISUID)"
            )) && out.contains("raw_mode=2468 raw_filename=tool"),
            format!("evt.args of chmod u+s: {out}"),
        ),
        None => check(false, "the chmod u+s call was not seen".into()),
    }
    match seen("plain") {
        Some(out) => check(
            out.contains(&format!(
                "filename=plain({plain}) mode=0644(S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR)"
            )),
            format!("evt.args of chmod 0644: {out}"),
        ),
        None => check(false, "the chmod 0644 call was not seen".into()),
    }

    // 2. Non sudo setuid.
    let setuid: Vec<_> = of_rule(&alerts, "Non sudo setuid")
        .into_iter()
        .filter(|a| field(a, "proc.exepath") == exe)
        .collect();
    check(
        setuid
            .iter()
            .any(|a| field(a, "evt.arg.uid") == "daemon" && field(a, "user.name") == "daemon"),
        format!(
            "'Non sudo setuid' with arg_uid=daemon user=daemon, got {:?}",
            setuid
                .iter()
                .map(|a| (field(a, "evt.arg.uid"), field(a, "user.name")))
                .collect::<Vec<_>>()
        ),
    );
    check(
        setuid.iter().all(|a| field(a, "evt.arg.uid") != "nobody"),
        "nobody becoming nobody is allowed".into(),
    );
    let witnessed: Vec<String> = of_rule(&alerts, "Witness setuid")
        .iter()
        .map(|a| a["output"].as_str().unwrap_or("").to_string())
        .collect();
    for want in [
        "setuid res=0 uid=1(daemon) raw_uid=1",
        "setuid res=0 uid=65534(nobody) raw_uid=65534",
    ] {
        check(
            witnessed.iter().any(|o| o.contains(want)),
            format!("witness {want:?} in {witnessed:?}"),
        );
    }

    // 3. Create Hardlink Over Sensitive Files.
    let links = of_rule(&alerts, "Create Hardlink Over Sensitive Files");
    let shadow_link = format!("/tmp/{missing}/shadow");
    check(
        links.iter().any(|a| {
            field(a, "evt.arg.oldpath") == "/etc/shadow"
                && field(a, "evt.arg.newpath") == shadow_link
        }),
        format!(
            "hardlink alert for ../etc/shadow from /tmp, got {:?}",
            links
                .iter()
                .map(|a| (field(a, "evt.arg.oldpath"), field(a, "evt.arg.newpath")))
                .collect::<Vec<_>>()
        ),
    );
    check(
        links
            .iter()
            .all(|a| !field(a, "evt.arg.newpath").ends_with(&format!("{missing}/hostname"))),
        "a hard link to /etc/hostname must not alert".into(),
    );
    let link_args: Vec<String> = of_rule(&alerts, "Witness link")
        .iter()
        .map(|a| a["output"].as_str().unwrap_or("").to_string())
        .collect();
    check(
        link_args.iter().any(|o| {
            o.contains(&format!(
                "olddir=-100(AT_FDCWD) oldpath=../etc/shadow(/etc/shadow) newdir=-100(AT_FDCWD) \
                 newpath={missing}/shadow({shadow_link})"
            ))
        }),
        format!("evt.args of the shadow linkat: {link_args:?}"),
    );
    check(
        link_args
            .iter()
            .any(|o| o.contains("oldpath=../etc/hostname(/etc/hostname)")),
        format!("the control link was seen: {link_args:?}"),
    );

    assert!(
        failures.is_empty(),
        "{} failure(s):\n  {}\nalerts of this test:\n{}\nsaker stderr:\n{stderr}",
        failures.len(),
        failures.join("\n  "),
        alerts
            .iter()
            .filter(
                |a| a["rule"].as_str().is_some_and(|r| r.starts_with("Witness")
                    || [
                        "Set Setuid or Setgid bit",
                        "Non sudo setuid",
                        "Create Hardlink Over Sensitive Files"
                    ]
                    .contains(&r))
            )
            .map(|a| a["output"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
