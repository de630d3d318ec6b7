//! `cargo xtask fuzz [--time SECS] [TARGET]...`: runs the cargo-fuzz
//! targets of `fuzz/` (docs/fuzzing.md) one after the other, each for SECS
//! seconds at the lowest CPU priority with one libFuzzer job, and prints the
//! figures docs/fuzzing.md records: executions, coverage, corpus, crashes.
//!
//! New inputs go to `fuzz/target/corpus/<target>` (not committed); the
//! committed seeds in `fuzz/corpus/<target>` are only read. cargo-fuzz is
//! installed at a pinned version when missing; the targets need nightly
//! (`-Zsanitizer=address`).

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::{status, supply, workspace_root};

const CARGO_FUZZ: (&str, &str, &str) = ("cargo-fuzz", "0.13.1", "fuzz");

/// Every target of fuzz/Cargo.toml.
const TARGETS: [&str; 6] = [
    "record_decoder",
    "yaml_loader",
    "condition_parser",
    "config_parser",
    "recording_reader",
    "alert_formatter",
];

#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Seconds per target (docs/fuzzing.md records runs of 900).
    #[arg(long, default_value_t = 900)]
    time: u64,
    /// Targets to run; default: every target.
    targets: Vec<String>,
}

/// What one run reported (libFuzzer's last `DONE` and `Done` lines).
#[derive(Debug, Default)]
struct RunFigures {
    execs: String,
    seconds: String,
    cov: String,
    ft: String,
    corpus: String,
    crashes: Vec<String>,
}

/// `#123 DONE cov: 1 ft: 2 corp: 3/4b ...` and `Done 123 runs in 900 second(s)`.
fn figures(log: &str) -> RunFigures {
    let mut f = RunFigures::default();
    for line in log.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(1) == Some(&"DONE") {
            let after = |key: &str| {
                words
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| words.get(i + 1))
                    .map_or_else(String::new, |v| (*v).to_string())
            };
            f.cov = after("cov:");
            f.ft = after("ft:");
            f.corpus = after("corp:");
        } else if words.first() == Some(&"Done") && words.get(2) == Some(&"runs") {
            f.execs = words.get(1).map_or_else(String::new, |v| (*v).to_string());
            f.seconds = words.get(4).map_or_else(String::new, |v| (*v).to_string());
        }
    }
    f
}

/// Files libFuzzer wrote to `dir` (crash-, leak-, timeout-, oom-) since `since`.
fn new_artifacts(dir: &Path, since: SystemTime) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .map(|e| e.path().display().to_string())
        .collect();
    out.sort();
    out
}

fn run_one(fuzz_dir: &Path, target: &str, secs: u64) -> Result<RunFigures> {
    let work = fuzz_dir.join("target/corpus").join(target);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let seeds = fuzz_dir.join("corpus").join(target);
    let log = fuzz_dir.join("fuzz-0.log");
    let _ = std::fs::remove_file(&log);
    let started = SystemTime::now();
    eprintln!("xtask fuzz: {target} for {secs} s");
    // `cargo +nightly` needs rustup's proxy, not the cargo running xtask.
    let mut cmd = Command::new("nice");
    cmd.current_dir(fuzz_dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .args(["-n", "19", "cargo", "+nightly", "fuzz", "run", target])
        .arg(&work)
        .arg(&seeds)
        .args([
            "--",
            &format!("-max_total_time={secs}"),
            // One job in a child process: its output goes to fuzz-0.log.
            "-jobs=1",
            "-workers=1",
        ]);
    // A crash makes cargo fuzz fail; the artifact and the log say which input.
    let ran = status(&mut cmd);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut f = figures(&text);
    f.crashes = new_artifacts(&fuzz_dir.join("artifacts").join(target), started);
    if let Err(e) = ran
        && f.crashes.is_empty()
    {
        return Err(e);
    }
    Ok(f)
}

pub fn run(a: &FuzzArgs) -> Result<()> {
    for t in &a.targets {
        if !TARGETS.contains(&t.as_str()) {
            bail!("unknown target {t:?}; targets: {}", TARGETS.join(", "));
        }
    }
    let targets: Vec<&str> = if a.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        a.targets.iter().map(String::as_str).collect()
    };
    supply::ensure(CARGO_FUZZ)?;
    let fuzz_dir = workspace_root().join("fuzz");
    let mut rows = Vec::new();
    for t in targets {
        rows.push((t, run_one(&fuzz_dir, t, a.time)?));
    }
    println!("| target | seconds | execs | cov | ft | corpus | crashes |");
    println!("|---|---|---|---|---|---|---|");
    let mut crashed = Vec::new();
    for (t, f) in &rows {
        println!(
            "| {t} | {} | {} | {} | {} | {} | {} |",
            f.seconds,
            f.execs,
            f.cov,
            f.ft,
            f.corpus,
            f.crashes.len()
        );
        crashed.extend(f.crashes.iter().cloned());
    }
    if !crashed.is_empty() {
        bail!(
            "crashes (reproduce with cargo +nightly fuzz run TARGET FILE, docs/fuzzing.md):\n{}",
            crashed.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::figures;

    #[test]
    fn libfuzzer_final_lines_give_the_figures() {
        let log = "#55\tINITED cov: 987 ft: 1447 corp: 38/7151b exec/s: 0 rss: 40Mb\n\
                   #843965\tDONE   cov: 1100 ft: 2100 corp: 120/20Kb lim: 485 exec/s: 27224 rss: 60Mb\n\
                   Done 843965 runs in 31 second(s)\n";
        let f = figures(log);
        assert_eq!(
            (&*f.execs, &*f.seconds, &*f.cov, &*f.ft, &*f.corpus),
            ("843965", "31", "1100", "2100", "120/20Kb")
        );
    }
}
