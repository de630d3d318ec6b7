//! What a new user meets first, through the `saker` binary, without root:
//! `-o key[]=value` appends to the default rules, `validate` rejects what
//! `run` rejects (with the same messages and exit status 2), errors name
//! their key and place once, missing privileges are named, no enabled rule
//! is a warning, one alert is one line on every output, and the start line
//! says what runs. The parts that need the real probe are in
//! tests/first_run.rs.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure should fail the test, with its context"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use saker::event::decode::build::record;
use saker::recording::{RecordingMeta, RecordingWriter};
use saker_ebpf::abi::{self, EventHeader};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

fn saker_cmd(cmd: &mut Command) -> Out {
    let out = cmd.output().expect("run saker");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn saker(args: &[&str]) -> Out {
    let out = saker_cmd(Command::new(env!("CARGO_BIN_EXE_saker")).args(args));
    assert_no_repeated_cause(&out.all());
    out
}

/// No line says the same thing twice (`X: X`), as chained errors did.
fn assert_no_repeated_cause(text: &str) {
    for line in text.lines() {
        let parts: Vec<&str> = line.split(": ").map(str::trim).collect();
        for (i, p) in parts.iter().enumerate() {
            if p.len() >= 12 {
                assert!(!parts[i + 1..].contains(p), "{p:?} is repeated in: {line}");
            }
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

const EXTRA_RULE: &str = "- rule: Extra rule\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/extra\n  output: extra (file=%fd.name)\n  priority: INFO\n";

/// The number in `OK: N rules compiled`.
fn rules_compiled(out: &str) -> usize {
    out.lines()
        .find_map(|l| l.strip_prefix("OK: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no OK line in:\n{out}"))
}

/// One `openat(AT_FDCWD, path, O_RDONLY) = 3` by `comm`, as the kernel side
/// writes it.
fn openat(path: &str, comm: &str, tgid: u32, n: u64) -> Vec<u8> {
    let mut c = [0u8; 16];
    c[..comm.len()].copy_from_slice(comm.as_bytes());
    let h = EventHeader {
        kind: abi::EV_SYSCALL,
        syscall_nr: libc::SYS_openat as i32,
        tgid,
        tid: tgid,
        ppid: 1,
        ts_boot_ns: 1_000 + n,
        ts_wall_ns: 1_700_000_000_000_000_000 + n * 1_000_000,
        comm: c,
        args: [(-100i64) as u64, 0, 0, 0, 0, 0],
        ret: 3,
        ..Default::default()
    };
    record(h, &[path.as_bytes()])
}

/// A recording of `records`, for `saker run --replay` (no root needed).
fn recording(dir: &Path, records: &[Vec<u8>]) -> PathBuf {
    let path = dir.join("events.sakerrec");
    let meta = RecordingMeta {
        hostname: "test-host".into(),
        kernel: "6.1.0".into(),
        saker_version: env!("CARGO_PKG_VERSION").into(),
        started_at_ns: 1_700_000_000_000_000_000,
        boot_to_wall_offset_ns: 0,
        event_types: vec!["openat".into()],
    };
    let mut w = RecordingWriter::create(&path, &meta).expect("recording");
    for r in records {
        w.write_event(r).expect("event");
    }
    w.finish(&serde_json::json!({})).expect("finish");
    path
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn appending_a_rules_file_keeps_the_default_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = p(&write(dir.path(), "extra.yaml", EXTRA_RULE));
    let defaults = saker(&["rules", "validate"]);
    assert_eq!(defaults.code, 0, "{}", defaults.all());
    let n = rules_compiled(&defaults.stdout);
    assert!(n > 1, "the embedded rules: {}", defaults.stdout);

    // `[]=` appends to the default list: the embedded rules plus one.
    let append = format!("rules_files[]={extra}");
    let out = saker(&["rules", "validate", "-o", &append]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "OK: {} rules compiled ({} enabled), 0 errors",
            n + 1,
            n + 1
        )),
        "{}",
        out.stdout
    );
    let out = saker(&["config", "validate", "-o", &append]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "OK: {} rules enabled of {} from <builtin>/saker_rules.yaml, {extra}",
            n + 1,
            n + 1
        )),
        "{}",
        out.stdout
    );
    // And `saker run` counts the same rules.
    let rec = p(&recording(
        dir.path(),
        &[openat("/etc/extra", "cat", 4242, 1)],
    ));
    let out = saker(&["run", "--replay", &rec, "-o", &append]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "replaying {rec} with {} rules enabled from <builtin>/saker_rules.yaml, {extra}",
            n + 1
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("extra (file=/etc/extra)"),
        "{}",
        out.stdout
    );

    // Replacing is another form: `KEY=[...]`, `KEY=VALUE`, or -r.
    for args in [
        vec!["rules", "validate", "-o", &format!("rules_files=[{extra}]")],
        vec!["rules", "validate", "-o", &format!("rules_files={extra}")],
        vec!["rules", "validate", "-r", &extra],
    ] {
        let out = saker(&args);
        assert_eq!(rules_compiled(&out.stdout), 1, "{args:?}: {}", out.stdout);
    }
    // The help shows the example and what it does.
    let help = saker(&["run", "--help"]);
    assert!(
        help.stdout
            .contains("`-o rules_files[]=extra.yaml` adds a rules file"),
        "{}",
        help.stdout
    );
}

#[test]
fn validate_rejects_what_run_rejects_with_the_same_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let config = write(
        d,
        "saker.yaml",
        &format!(
            "rules_files:\n  - {}/missing_rules.yaml\nfile_output:\n  enabled: true\n  filename: {}/no/such/folder/events.txt\n",
            d.display(),
            d.display()
        ),
    );
    let c = p(&config);
    let args = ["-c", c.as_str(), "-o", "webserver.ssl_enabled=true"];
    let expected = [
        format!(
            "{c}:2:5: error: rules_files[0]: cannot read {}/missing_rules.yaml: No such file or directory (os error 2)",
            d.display()
        ),
        format!(
            "{c}:5:13: error: file_output.filename: {}/no/such/folder: No such file or directory (os error 2)",
            d.display()
        ),
        "-o webserver.ssl_enabled=true: error: webserver.ssl_certificate: /etc/falco/falco.pem: I/O error: No such file or directory (os error 2)".to_string(),
    ];
    let validate = saker(&[&["config", "validate"][..], &args].concat());
    assert_eq!(validate.code, 2, "{}", validate.all());
    let run = saker(&[&["run"][..], &args].concat());
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("nothing started"),
        "run stops before anything starts: {}",
        run.stderr
    );
    for e in &expected {
        assert!(
            validate.stdout.contains(e),
            "validate lacks {e:?}:\n{}",
            validate.stdout
        );
        assert!(run.stderr.contains(e), "run lacks {e:?}:\n{}", run.stderr);
        assert_eq!(validate.stdout.matches(e.as_str()).count(), 1, "once: {e}");
    }
    assert!(
        validate.stdout.contains("FAILED: 3 error(s)"),
        "{}",
        validate.stdout
    );
    // Hints say what to do.
    assert!(
        validate
            .stdout
            .contains("    hint: alerts are appended to this file")
    );
    assert!(
        validate
            .stdout
            .contains("    hint: with webserver.ssl_enabled")
    );
    // The rules command reads the same configuration's rules.
    let rules = saker(&["rules", "validate", "-c", &c]);
    assert_eq!(rules.code, 2, "{}", rules.all());
    assert!(rules.stdout.contains(&expected[0]), "{}", rules.stdout);

    // An output file that is a folder, and (as a user who may not write
    // there) one in a folder of root's.
    let out = saker(&[
        "config",
        "validate",
        "-o",
        "file_output.enabled=true",
        "-o",
        &format!("file_output.filename={}", d.display()),
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("is a folder, not a file"),
        "{}",
        out.stdout
    );
    let locked = d.join("locked");
    std::fs::create_dir(&locked).expect("mkdir");
    let locked_file = format!("file_output.filename={}/events.txt", locked.display());
    if let Some(out) = as_nobody(&[
        "config",
        "validate",
        "-o",
        "file_output.enabled=true",
        "-o",
        &locked_file,
    ]) {
        assert_eq!(out.code, 2, "{}", out.all());
        assert!(
            out.stdout.contains(&format!(
                "-o {locked_file}: error: cannot create files in {}: Permission denied (os error 13)",
                locked.display()
            )),
            "{}",
            out.stdout
        );
        // `saker run` finds it at start too, not at the first alert.
        let run = as_nobody(&["run", "-o", "file_output.enabled=true", "-o", &locked_file])
            .expect("as nobody");
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(
            run.stderr.contains(&format!(
                "-o {locked_file}: error: cannot create files in {}: Permission denied (os error 13)",
                locked.display()
            )),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn errors_name_their_key_and_place_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // -o names the key.
    let out = saker(&["config", "validate", "-o", "webserver.listen_port=abc"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stdout.lines().next(),
        Some(
            "-o webserver.listen_port=abc: error: invalid type: string \"abc\", expected a whole number from 0 to 65535"
        )
    );
    let run = saker(&["run", "-o", "webserver.listen_port=abc"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("-o webserver.listen_port=abc: error:"),
        "{}",
        run.stderr
    );

    // Three bad values: three errors, each with file:line:column.
    let c = p(&write(
        d,
        "saker.yaml",
        "priority: loud\nwebserver:\n  listen_port: abc\nsyscall_event_drops:\n  actions: [log, panic]\n",
    ));
    let out = saker(&["config", "validate", "-c", &c]);
    assert_eq!(out.code, 2);
    let errors: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(": error: "))
        .collect();
    assert_eq!(
        errors,
        [
            format!("{c}:1:11: error: priority: unknown priority \"loud\" (expected one of emergency, alert, critical, error, warning, notice, informational/info, debug)").as_str(),
            format!("{c}:3:16: error: webserver.listen_port: invalid type: string \"abc\", expected a whole number from 0 to 65535").as_str(),
            format!("{c}:5:18: error: syscall_event_drops.actions[1]: \"panic\" is not one of ignore, log, alert, exit").as_str(),
        ],
        "{}",
        out.stdout
    );

    // A rule's bad priority has its file and line.
    let bad = p(&write(
        d,
        "bad.yaml",
        "- rule: Loud\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: loud\n",
    ));
    let out = saker(&["rules", "validate", "-r", &bad]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains(&format!(
            "{bad}:5:13: error[YAML_VALIDATE]: unknown priority \"loud\""
        )),
        "{}",
        out.stdout
    );

    // IO errors: a file name, never `file:0:0:`.
    let rules_d = d.join("rules.d");
    std::fs::create_dir(&rules_d).expect("mkdir");
    std::fs::write(rules_d.join("binary.yaml"), [0xff, 0xfe, 0x00]).expect("write");
    let out = saker(&["rules", "validate", "-r", &p(&rules_d)]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains(&format!(
            "{}/binary.yaml: error[IO]: cannot read: stream did not contain valid UTF-8",
            rules_d.display()
        )),
        "{}",
        out.stdout
    );
    let out = saker(&["config", "validate", "-c", "/nonexistent/saker.yaml"]);
    assert_eq!(
        out.stdout.lines().next(),
        Some(
            "/nonexistent/saker.yaml: error: cannot read the configuration file: No such file or directory (os error 2)"
        )
    );
    let out = saker(&["run", "-r", "/nonexistent/rules.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("-r /nonexistent/rules.yaml: error: cannot read /nonexistent/rules.yaml: No such file or directory (os error 2)"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(":0:0:"), "{}", out.all());
}

/// `saker ARGS` as user nobody, when this test runs as root and util-linux's
/// setpriv is there (the test runs it directly when not root). `None`: the
/// part of the test that needs a user other than root is not run.
fn as_nobody(args: &[&str]) -> Option<Out> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(saker(args));
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(setpriv) = setpriv else {
        eprintln!("not run: setpriv (util-linux) is missing, and this test runs as root");
        return None;
    };
    let out = saker_cmd(
        Command::new(setpriv)
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(env!("CARGO_BIN_EXE_saker"))
            .args(args),
    );
    assert_no_repeated_cause(&out.all());
    Some(out)
}

#[test]
fn missing_privileges_are_named() {
    let Some(out) = as_nobody(&["run", "-o", "webserver.enabled=false"]) else {
        return;
    };
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains(
            "error: loading eBPF programs needs CAP_BPF and CAP_PERFMON (or root); this process runs as uid 65534 without CAP_BPF and CAP_PERFMON"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: run as root, or grant the capabilities"),
        "{}",
        out.stderr
    );
    // What the privileges are, in one line; no kernel error codes.
    assert!(
        out.stderr
            .contains("privileges: uid 65534; capabilities: none;"),
        "{}",
        out.stderr
    );
    for raw in [
        "bpf_enable_stats failed",
        "map error",
        "failed to create map",
    ] {
        assert!(!out.stderr.contains(raw), "{raw}: {}", out.stderr);
    }
}

#[test]
fn no_enabled_rule_is_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = p(&write(dir.path(), "empty.yaml", "# rules go here\n"));
    let folder = dir.path().join("rules.d");
    std::fs::create_dir(&folder).expect("mkdir");
    let folder = p(&folder);
    let out = saker(&["rules", "validate", "-r", &empty, "-r", &folder]);
    assert_eq!(out.code, 0, "an empty rules file is valid: {}", out.all());
    assert!(
        out.stdout
            .contains(&format!("-r {empty}: warning: rules file {empty} is empty")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "-r {folder}: warning: rules folder {folder} holds no .yaml or .yml file"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "warning: no rules enabled (0 loaded from {empty}, {folder}): Saker will detect nothing"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("/readyz reports not ready"),
        "{}",
        out.stdout
    );
    // Every rule below the minimum priority: the same warning.
    let n = rules_compiled(&saker(&["rules", "validate"]).stdout);
    let out = saker(&["config", "validate", "-o", "priority=emergency"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.starts_with(&format!(
            "warning: rules_files: no rules enabled ({n} loaded from <builtin>/saker_rules.yaml): Saker will detect nothing"
        )),
        "{}",
        out.stdout
    );
    let out = saker(&["config", "validate", "-o", "rules_files=[]"]);
    assert!(
        out.stdout.starts_with(
            "-o rules_files=[]: warning: no rules enabled (0 loaded from an empty rules_files)"
        ),
        "{}",
        out.stdout
    );
    // `saker run` logs it at WARN, not INFO.
    let rec = p(&recording(dir.path(), &[]));
    let out = saker(&["run", "--replay", &rec, "-r", &empty]);
    assert_eq!(out.code, 0, "{}", out.all());
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("no rules enabled"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stderr));
    assert!(line.contains(" WARN "), "{line}");
}

/// A rule written as Falco writes them: a folded `output: >` block over
/// several lines (YAML keeps its final newline).
const FOLDED_RULE: &str = "- rule: Folded output
  desc: d
  condition: evt.type = openat and fd.name startswith /etc/sh
  output: >
    Sensitive file opened (file=%fd.name
    process=%proc.name)
  priority: WARNING
";

/// Every line of `text` is one alert: none empty, `n` in all.
fn assert_one_alert_per_line(what: &str, text: &str, n: usize) {
    assert!(!text.contains("\n\n"), "{what}: a blank line:\n{text:?}");
    assert!(text.ends_with('\n') || text.is_empty(), "{what}: {text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), n, "{what}: {text:?}");
    assert!(
        lines.iter().all(|l| !l.trim().is_empty()),
        "{what}: {text:?}"
    );
}

#[test]
fn one_alert_is_one_line_on_every_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rules = p(&write(d, "folded.yaml", FOLDED_RULE));
    let rec = p(&recording(
        d,
        &[
            openat("/etc/shadow", "cat", 4242, 1),
            openat("/etc/shells", "cat", 4242, 2),
        ],
    ));
    for json in [false, true] {
        let file = d.join(format!("alerts-{json}.txt"));
        let piped = d.join(format!("program-{json}.txt"));
        let piped_each = d.join(format!("program-each-{json}.txt"));
        let mut args: Vec<String> = [
            "run",
            "--replay",
            &rec,
            "-r",
            &rules,
            "-o",
            "file_output.enabled=true",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend([
            "-o".into(),
            format!("file_output.filename={}", file.display()),
            "-o".into(),
            "program_output.enabled=true".into(),
            "-o".into(),
            "program_output.keep_alive=true".into(),
            "-o".into(),
            format!("program_output.program=cat >> {}", piped.display()),
            "-o".into(),
            format!("json_output={json}"),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = saker(&args);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_one_alert_per_line("stdout", &out.stdout, 2);
        let file_text = std::fs::read_to_string(&file).expect("file output");
        assert_one_alert_per_line("file_output", &file_text, 2);
        let program_text = std::fs::read_to_string(&piped).expect("program output");
        assert_one_alert_per_line("program_output", &program_text, 2);
        // A program started for each alert gets one line too.
        let each = format!("program_output.program=cat >> {}", piped_each.display());
        let out = saker(&[
            "run",
            "--replay",
            &rec,
            "-r",
            &rules,
            "-o",
            "program_output.enabled=true",
            "-o",
            &each,
            "-o",
            "stdout_output.enabled=false",
            "-o",
            &format!("json_output={json}"),
        ]);
        assert_eq!(out.code, 0, "{}", out.all());
        let each_text = std::fs::read_to_string(&piped_each).expect("program output");
        assert_one_alert_per_line("program_output, keep_alive: false", &each_text, 2);
        for line in file_text.lines() {
            if json {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON alert");
                let output = v["output"].as_str().expect("output");
                assert!(
                    !output.ends_with('\n'),
                    "JSON output ends with a newline: {output:?}"
                );
                assert!(
                    output.contains("Warning Sensitive file opened (file=/etc/sh")
                        && output.ends_with("k8s_ns_name=<NA>"),
                    "{output:?}"
                );
            } else {
                assert!(
                    line.contains("Sensitive file opened (file=/etc/sh"),
                    "{line}"
                );
            }
        }
    }
    // The default rules, and the output without append_output's suffix.
    let rec = p(&recording(d, &[openat("/etc/shadow", "cat", 4343, 1)]));
    for extra in [None, Some("append_output=[]")] {
        let mut args = vec!["run", "--replay", rec.as_str(), "--json"];
        if let Some(e) = extra {
            args.extend(["-o", e]);
        }
        let out = saker(&args);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_one_alert_per_line("default rules", &out.stdout, 1);
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim_end()).expect("JSON alert");
        let output = v["output"].as_str().expect("output");
        assert!(
            !output.ends_with('\n') && !output.ends_with(' '),
            "{output:?}"
        );
        assert_eq!(v["rule"], "Sensitive credential file opened for reading");
    }
}

#[test]
fn falcos_rules_give_one_alert_per_line() {
    let Some(dir) = saker_upstream::for_test(&[saker_upstream::STABLE]) else {
        return;
    };
    let stable = p(&dir.join(saker_upstream::STABLE));
    let tmp = tempfile::tempdir().expect("tempdir");
    let rec = p(&recording(
        tmp.path(),
        &[openat("/etc/shadow", "cat", 4444, 1)],
    ));
    for json in ["false", "true"] {
        let out = saker(&[
            "run",
            "--replay",
            &rec,
            "-r",
            &stable,
            "-o",
            &format!("json_output={json}"),
        ]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_one_alert_per_line("Falco's rules", &out.stdout, 1);
        assert!(
            out.stdout
                .contains("Sensitive file opened for reading by non-trusted program"),
            "{}",
            out.stdout
        );
        if json == "true" {
            let v: serde_json::Value =
                serde_json::from_str(out.stdout.trim_end()).expect("JSON alert");
            let output = v["output"].as_str().expect("output");
            assert!(!output.ends_with('\n'), "{output:?}");
        }
    }
}

#[test]
fn the_replay_start_line_says_what_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = p(&recording(dir.path(), &[]));
    let n = rules_compiled(&saker(&["rules", "validate"]).stdout);
    let out = saker(&["run", "--replay", &rec]);
    assert_eq!(out.code, 0, "{}", out.all());
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        out.stderr.contains(&format!(
            "saker {version}: replaying {rec} with {n} rules enabled from <builtin>/saker_rules.yaml"
        )),
        "{}",
        out.stderr
    );
}
