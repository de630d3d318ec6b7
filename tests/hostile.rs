//! Hostile input in alerts (issue: log injection through file names and
//! command lines, falco#3895): a file name carrying a newline and a forged
//! alert line, terminal escapes, invalid UTF-8, and a 64 KiB command line
//! reach `saker run` from the real kernel; every text output (stdout, file,
//! program) must print one escaped line per alert, with no raw control
//! character, while JSON `output_fields` keep the raw value.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use common::*;

const FORGED: &str = "12:00:00.000000000: Critical fake_alert";

fn rules(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("hostile_rules.yaml");
    std::fs::write(
        &p,
        format!(
            "- rule: Hostile open\n  desc: opens under the test directory\n  \
             condition: evt.type in (open, openat) and fd.name startswith {}/\n  \
             output: hostile file=%fd.name cmd=%proc.cmdline\n  priority: WARNING\n",
            dir.display()
        ),
    )
    .expect("write rules");
    p
}

/// Names the attacker controls: newline + forged line, escapes, bad UTF-8.
fn hostile_names(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut raw_utf8 = b"bad-\xff\xfe-utf8".to_vec();
    raw_utf8.extend_from_slice(b"\x1b]0;title\x07");
    vec![
        dir.join(format!("evt\n{FORGED}")),
        dir.join("esc-\x1b[31mred\x1b[0m\r\t\x7f"),
        dir.join(OsStr::from_bytes(&raw_utf8)),
    ]
}

fn assert_one_escaped_line_per_alert(what: &str, text: &str, expected: usize) {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let alerts: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("hostile file="))
        .collect();
    assert_eq!(
        alerts.len(),
        expected,
        "{what}: one line per alert expected:\n{text}"
    );
    for l in &lines {
        assert!(
            !l.starts_with(FORGED),
            "{what}: a forged line reached the output:\n{text}"
        );
        assert!(
            !l.chars().any(|c| c.is_control() && c != '\t'),
            "{what}: raw control character in {l:?}"
        );
        assert!(!l.contains('\t'), "{what}: raw tab in {l:?}");
    }
    assert!(
        text.contains("evt\\n12:00:00.000000000: Critical fake_alert"),
        "{what}: the newline is escaped in place:\n{text}"
    );
    assert!(
        text.contains("esc-\\x1b[31mred\\x1b[0m\\r\\t\\x7f"),
        "{what}:\n{text}"
    );
}

#[test]
fn hostile_names_and_command_lines_give_one_escaped_line_per_alert() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    // The rule watches `watched/`; the outputs write beside it.
    let d = &dir.path().join("watched");
    std::fs::create_dir(d).expect("mkdir watched");
    let rules = rules(d);
    let file_out = dir.path().join("alerts.txt");
    let prog_out = dir.path().join("program.txt");
    let run = SakerRun::start(&[
        "run",
        "-r",
        rules.to_str().expect("utf-8 path"),
        "-o",
        "file_output.enabled=true",
        "-o",
        &format!("file_output.filename={}", file_out.display()),
        "-o",
        "program_output.enabled=true",
        "-o",
        "program_output.keep_alive=true",
        "-o",
        &format!("program_output.program=cat >> {}", prog_out.display()),
    ]);
    let names = hostile_names(d);
    for n in &names {
        std::fs::write(n, b"x").expect("create hostile file");
    }
    // A 64 KiB argument with newlines and escapes in the opener's command line.
    let big: String = (0..4096)
        .map(|i| format!("\n{i:04}\x1b[0m\x07ab"))
        .collect::<String>()
        .chars()
        .take(64 * 1024)
        .collect();
    let target = d.join("big-cmdline");
    let st = Command::new("sh")
        .arg("-c")
        .arg("exec 3>\"$0\"")
        .arg(&target)
        .arg(&big)
        .status()
        .expect("sh");
    assert!(st.success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (stdout, stderr) = run.stop();
    let expected = names.len() + 1;
    assert_one_escaped_line_per_alert("stdout", &stdout, expected);
    let file = std::fs::read_to_string(&file_out).expect("file output");
    assert_one_escaped_line_per_alert("file_output", &file, expected);
    let prog = std::fs::read_to_string(&prog_out).expect("program output");
    assert_one_escaped_line_per_alert("program_output", &prog, expected);
    assert!(
        stdout.contains("\\x1b[0m\\x07ab"),
        "the command line's escapes are escaped:\n{stderr}"
    );

    // JSON keeps the raw value in output_fields.
    let run = SakerRun::start(&["run", "-r", rules.to_str().expect("utf-8"), "--json"]);
    std::fs::write(&names[0], b"y").expect("rewrite");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (stdout, _) = run.stop();
    let alerts = parse_alerts(&stdout);
    assert!(
        alerts
            .iter()
            .any(|a| a["output_fields"]["fd.name"].as_str() == names[0].to_str()),
        "raw fd.name in JSON output_fields:\n{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| !l.is_empty()).count(),
        alerts.len()
    );
}
