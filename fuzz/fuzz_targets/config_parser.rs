//! The agent's configuration: a YAML file plus `-o KEY=VALUE` overrides
//! (`config::load_checked`, which `config::load`, `saker run -c FILE -o
//! ...` and `saker config validate` go through).
//!
//! Input: `<config file> (\0 <override>)*`; seeds are real configurations
//! (fuzz/corpus/config_parser).
//!
//! Invariants, beyond "no panic" (a bad config is an error with a message):
//! - an accepted configuration (no issue) exists and is within the
//!   documented bounds, whichever way (file or overrides) the values came
//!   in;
//! - every issue has a message;
//! - a file's top-level keys given instead as `-o KEY=<the same value as
//!   JSON>` overrides give the same result: the same `Config`, and issues
//!   under the same keys.
//!
//! Inputs naming `http_output.headers_file` are skipped: validation reads
//! the file it names, and a configuration may name any file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use saker::config::{Config, ConfigErrors, load_checked};
use serde_yaml::Value;

/// One scratch file per fuzzing process, on tmpfs when there is one.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("saker-fuzz-config-{}.yaml", std::process::id()))
    })
}

fn check_bounds(c: &Config) {
    assert!(c.ring_bytes.is_power_of_two() && c.ring_bytes >= 4096);
    assert!((1..=1024).contains(&c.timestamp_every));
    assert!((1..=3600).contains(&c.bpf_stats_every));
    let drain_ms = c.drain_interval.as_millis();
    assert!(
        (1..=10_000).contains(&drain_ms),
        "drain interval {drain_ms} ms"
    );
    assert!(!c.metrics_interval.is_zero());
    assert!(c.overhead_budget > 0.0 && c.overhead_budget <= 1.0);
    assert!((0.0..=1.0).contains(&c.drops.threshold));
    assert!(c.drops.rate.is_finite() && c.drops.rate > 0.0);
    assert!(c.drops.max_burst >= 1);
    assert!(c.containers.max_entries >= 1);
    assert!(c.hold.max_wait.as_millis() <= 60_000);
    assert!(c.hostnames.resolvers >= 1 && c.hostnames.resolvers <= 64);
    assert!(c.webserver.healthz_path.starts_with('/'));
}

/// The file's top-level keys as `-o` overrides, when every key and value
/// can be written so: a plain key and a value that JSON holds exactly.
fn as_overrides(text: &str) -> Option<Vec<String>> {
    let Value::Mapping(map) = serde_yaml::from_str::<Value>(text).ok()? else {
        return None;
    };
    // Both names of the rules list: a file keeps rules_files and ignores
    // rules_file, as Falco does; -o applies them in order. Not the same by
    // design.
    if map.contains_key("rules_file") && map.contains_key("rules_files") {
        return None;
    }
    let mut out = Vec::new();
    for (k, v) in map {
        // A plain key: `as_str` would also take a tagged one (`! key:`),
        // which -o cannot write.
        let Value::String(k) = k else {
            return None;
        };
        if k.is_empty() || k.trim() != k || k.contains(['.', '=', '[', ']', '\\', '\0']) {
            return None;
        }
        let json = serde_json::to_string(&v).ok()?;
        if serde_yaml::from_str::<Value>(&json).ok()? != v {
            return None;
        }
        out.push(format!("{k}={json}"));
    }
    Some(out)
}

/// The keys the issues name, in order.
fn keys(e: &ConfigErrors) -> Vec<&str> {
    let mut k: Vec<&str> = e.0.iter().map(|i| i.key.as_str()).collect();
    k.sort_unstable();
    k
}

fuzz_target!(|data: &[u8]| {
    if data.windows(12).any(|w| w == b"headers_file") {
        return;
    }
    let mut parts = data.split(|b| *b == 0);
    let file = parts.next().unwrap_or_default();
    let Ok(overrides) = parts
        .map(|p| std::str::from_utf8(p).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    let path = scratch();
    std::fs::write(path, file).expect("writing the scratch config");
    let (config, errors) = load_checked(Some(path), &overrides);
    if errors.0.is_empty() {
        // What `load` accepts: no issue, so a configuration (else `load`
        // would fail with an empty message).
        check_bounds(config.as_ref().expect("no issue but no configuration"));
    }
    for issue in &errors.0 {
        assert!(!issue.to_string().is_empty());
    }
    if !overrides.is_empty() {
        return;
    }
    let Some(as_o) = std::str::from_utf8(file).ok().and_then(as_overrides) else {
        return;
    };
    let (via_o, via_o_errors) = load_checked(None, &as_o);
    assert_eq!(
        format!("{config:?}"),
        format!("{via_o:?}"),
        "the file and the same keys as -o overrides differ: {as_o:?}\n{errors}\n--\n{via_o_errors}"
    );
    assert_eq!(
        keys(&errors),
        keys(&via_o_errors),
        "the file and -o {as_o:?} report different keys:\n{errors}\n--\n{via_o_errors}"
    );
});
