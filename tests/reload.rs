//! Hot reload on the real kernel: a continuous stream of marked actions
//! (opens of `marker-<i>` files) while the agent is reloaded 20 times,
//! alternating SIGHUP and edits of the rules file, one edit leaving the file
//! invalid. Every action must alert exactly once, each reload must take
//! effect (the alert text carries the generation of the rules that matched),
//! and the invalid file must leave the previous rules running and raise the
//! reload failure alert.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

fn rules_text(dir: &Path, generation: usize) -> String {
    format!(
        "- rule: Reload marker\n  desc: opens of marker files\n  \
         condition: evt.type in (open, openat) and fd.name startswith {}/marker-\n  \
         output: marker file=%fd.name gen={generation}\n  priority: WARNING\n",
        dir.display()
    )
}

/// Replaces the file the way editors and ConfigMap updates do: write a new
/// file, rename it over the old one.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write rules");
    std::fs::rename(&tmp, path).expect("rename rules");
}

#[test]
fn twenty_reloads_lose_and_duplicate_no_alert() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let d = dir.path().join("watched");
    std::fs::create_dir(&d).expect("mkdir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, rules_text(&d, 0)).expect("rules");
    let config = dir.path().join("saker.yaml");
    std::fs::write(
        &config,
        format!(
            "rules_files: [{}]\njson_output: true\nwatch_config_files: true\nwebserver: {{enabled: false}}\n",
            rules.display()
        ),
    )
    .expect("config");
    let run = SakerRun::start(&["run", "-c", config.to_str().expect("utf-8")]);
    let pid = run.pid() as i32;

    // The actions: one open every 10 ms until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let actor = {
        let (stop, done, d) = (stop.clone(), done.clone(), d.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                std::fs::write(d.join(format!("marker-{i}")), b"x").expect("marker");
                i += 1;
                done.store(i, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let invalid_at = 9;
    let mut generation = 0;
    for r in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        if r % 2 == 0 {
            if r == invalid_at - 1 {
                // Left invalid until the next edit: the old rules must stay.
                replace(&rules, "- rule: Reload marker\n  condition: (unbalanced\n");
            } else {
                generation += 1;
                replace(&rules, &rules_text(&d, generation));
            }
        } else {
            // At invalid_at the file is still invalid: this SIGHUP fails too.
            // SAFETY: signal to our own child.
            unsafe { libc::kill(pid, libc::SIGHUP) };
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    actor.join().expect("actor");
    let actions = done.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    let (stdout, stderr) = run.stop();
    let alerts = parse_alerts(&stdout);

    let mut per_action: BTreeMap<usize, usize> = BTreeMap::new();
    let mut gens = Vec::new();
    for a in alerts.iter().filter(|a| a["rule"] == "Reload marker") {
        let name = a["output_fields"]["fd.name"].as_str().unwrap_or_default();
        let i: usize = name
            .rsplit("marker-")
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected fd.name {name}"));
        *per_action.entry(i).or_default() += 1;
        let out = a["output"].as_str().unwrap_or_default();
        if let Some(g) = out
            .rsplit("gen=")
            .next()
            .and_then(|g| g.split_whitespace().next())
        {
            gens.push(g.parse::<usize>().unwrap_or(usize::MAX));
        }
    }
    let missing: Vec<usize> = (0..actions)
        .filter(|i| !per_action.contains_key(i))
        .collect();
    let doubled: Vec<(&usize, &usize)> = per_action.iter().filter(|(_, n)| **n > 1).collect();
    let distinct_gens: std::collections::BTreeSet<&usize> = gens.iter().collect();
    eprintln!(
        "reloads: 20 (alternating SIGHUP and edits, one invalid file); {actions} marked actions, {} alerted once, {} missing, {} more than once; {} rule generations seen in alerts",
        per_action.len() - doubled.len(),
        missing.len(),
        doubled.len(),
        distinct_gens.len()
    );
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{actions} actions: missing {missing:?}, more than once {doubled:?}\n{stderr}"
    );
    assert!(actions > 300, "the actions kept running: {actions}");
    // Generations only move forward, and the last edit took effect.
    assert!(
        gens.windows(2).all(|w| w[0] <= w[1]),
        "generations: {gens:?}"
    );
    assert_eq!(
        gens.last().copied(),
        Some(generation),
        "last generation applied\n{stderr}"
    );
    let distinct: std::collections::BTreeSet<usize> = gens.iter().copied().collect();
    assert!(
        distinct.len() >= 8,
        "most reloads took effect: {distinct:?}"
    );
    let failures: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|a| a["rule"] == "Saker internal: hot reload failure")
        .collect();
    assert!(
        !failures.is_empty(),
        "the invalid file raised the reload failure alert:\n{stderr}"
    );
    assert!(
        failures.iter().all(|a| a["output"]
            .as_str()
            .is_some_and(|o| o.contains("rules.yaml"))),
        "the failure names the file: {failures:?}"
    );
}

/// A rule on opens of `dir/marker-*` whose output carries `rev=TAG`.
fn marker_rule(dir: &Path, tag: &str) -> String {
    format!(
        "- rule: Reload marker\n  desc: opens of marker files\n  \
         condition: evt.type in (open, openat) and fd.name startswith {}/marker-\n  \
         output: marker file=%fd.name rev={tag}\n  priority: WARNING\n",
        dir.display()
    )
}

/// The `rev=` tags of the marker alerts in `stdout`, in order.
fn marker_tags(stdout: &str) -> Vec<String> {
    parse_alerts(stdout)
        .iter()
        .filter(|a| a["rule"] == "Reload marker")
        .filter_map(|a| {
            a["output"]
                .as_str()
                .and_then(|o| o.split("rev=").nth(1))
                .and_then(|t| t.split_whitespace().next())
                .map(str::to_string)
        })
        .collect()
}

/// A rules file that a reloaded configuration names for the first time is
/// watched from then on: its edits reload too.
#[test]
fn a_rules_file_added_by_a_reload_is_watched() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let d = dir.path().join("watched");
    std::fs::create_dir(&d).expect("mkdir");
    let rule = |tag: &str| marker_rule(&d, tag);
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(&a, rule("a1")).expect("a");
    std::fs::write(&b, rule("b1")).expect("b");
    let config = dir.path().join("saker.yaml");
    let cfg = |rules: &Path| {
        format!(
            "rules_files: [{}]\njson_output: true\nwebserver: {{enabled: false}}\n",
            rules.display()
        )
    };
    std::fs::write(&config, cfg(&a)).expect("config");
    let run = SakerRun::start(&["run", "-c", config.to_str().expect("utf-8")]);
    let act = |i: u32| {
        std::fs::write(d.join(format!("marker-{i}")), b"x").expect("marker");
        std::thread::sleep(Duration::from_millis(1500));
    };
    act(0);
    replace(&config, &cfg(&b));
    std::thread::sleep(Duration::from_millis(1500));
    act(1);
    replace(&b, &rule("b2"));
    std::thread::sleep(Duration::from_millis(1500));
    act(2);
    let (stdout, stderr) = run.stop();
    let tags = marker_tags(&stdout);
    assert_eq!(tags, ["a1", "b1", "b2"], "{stderr}");
}

/// A rules file given with `-r` (which replaces `rules_files`) is watched
/// like one the configuration names: an edit reloads without a signal.
#[test]
fn a_rules_file_given_with_dash_r_is_watched() {
    if !bpf_available() {
        return;
    }
    let dir = unique_dir();
    let d = dir.path().join("watched");
    std::fs::create_dir(&d).expect("mkdir");
    let rule = |tag: &str| marker_rule(&d, tag);
    let r = dir.path().join("rules.yaml");
    std::fs::write(&r, rule("r1")).expect("rules");
    let run = SakerRun::start(&[
        "run",
        "-r",
        r.to_str().expect("utf-8"),
        "--json",
        "-o",
        "webserver.enabled=false",
    ]);
    let act = |i: u32| {
        std::fs::write(d.join(format!("marker-{i}")), b"x").expect("marker");
        std::thread::sleep(Duration::from_millis(1500));
    };
    act(0);
    // Edited in place, as an editor without a rename would.
    std::fs::write(&r, rule("r2")).expect("edit");
    std::thread::sleep(Duration::from_millis(1500));
    act(1);
    let (stdout, stderr) = run.stop();
    assert!(
        stderr.contains("for changes (watch_config_files)"),
        "the -r file is announced as watched:\n{stderr}"
    );
    let tags = marker_tags(&stdout);
    assert_eq!(tags, ["r1", "r2"], "{stderr}");
}
