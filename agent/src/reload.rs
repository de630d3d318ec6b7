//! Hot reload: what triggers it and what a new configuration may change
//! while the agent runs.
//!
//! Falco restarts itself on SIGHUP and, with `watch_config_files: true`
//! (its default), when a loaded configuration or rules file or folder
//! changes (`userspace/falco/app/actions/create_signal_handlers.cpp`,
//! `restart_handler.cpp`); a failed dry run keeps the old instance and emits
//! the alert `Falco internal: hot restart failure`. Saker does the same
//! without restarting: the new configuration and rules are loaded and
//! compiled off the hot path, the kernel's interest set is widened to the new
//! rules' event types, and only then is the ruleset swapped between two
//! events, so every event is evaluated by exactly one ruleset and no
//! process, fd or container state is lost.
//!
//! [`FileWatch`] turns file changes into [`Trigger`]s; [`restart_keys`] names
//! the configuration keys whose change only takes effect at the next start
//! (probe, web server, outputs, runtimes): a reload applies the rest and
//! reports those.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use serde_yaml::Value;
use tokio::sync::mpsc::UnboundedSender;

/// How long file changes must settle before a reload starts (an editor's
/// save or a ConfigMap update is several writes and renames).
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// Why a reload was requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP.
    Signal,
    /// A watched configuration or rules file (or a file in a watched rules
    /// folder) was written, created, renamed or removed.
    FileChanged(PathBuf),
}

/// A file watch failed to start.
#[derive(Debug, thiserror::Error)]
#[error("watching {path} for changes (watch_config_files): {source}")]
pub struct WatchError {
    pub path: PathBuf,
    #[source]
    pub source: notify::Error,
}

/// Watches configuration and rules files for changes (inotify, through the
/// `notify` crate). Files are watched through their directories, so that an
/// editor's or a ConfigMap's replace-by-rename is seen; folders are watched
/// recursively. Dropping it stops the watch.
#[derive(Debug)]
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
    /// What is watched (for the log line).
    pub watched: Vec<PathBuf>,
}

/// True for events that change what a path holds (not mere reads).
fn changes_content(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    )
}

impl FileWatch {
    /// Starts watching `paths` (files or folders; missing ones are skipped).
    /// Every change sends one [`Trigger::FileChanged`]; callers debounce.
    pub fn start(paths: &[PathBuf], tx: UnboundedSender<Trigger>) -> Result<Self, WatchError> {
        let mut files: BTreeSet<PathBuf> = BTreeSet::new();
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for p in paths {
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            if abs.is_dir() {
                dirs.insert(abs);
            } else if abs.parent().is_some() {
                files.insert(abs);
            }
        }
        let watch_files = files.clone();
        let watch_dirs = dirs.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            if !changes_content(&ev.kind) {
                return;
            }
            for p in &ev.paths {
                let hit = watch_files.contains(p) || watch_dirs.iter().any(|d| p.starts_with(d));
                if hit {
                    let _ = tx.send(Trigger::FileChanged(p.clone()));
                    return;
                }
            }
        })
        .map_err(|source| WatchError {
            path: PathBuf::new(),
            source,
        })?;
        let mut watched = Vec::new();
        let parents: BTreeSet<&Path> = files.iter().filter_map(|f| f.parent()).collect();
        for dir in parents {
            watcher
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        watched.extend(files.iter().cloned());
        for dir in &dirs {
            watcher
                .watch(dir, RecursiveMode::Recursive)
                .map_err(|source| WatchError {
                    path: dir.clone(),
                    source,
                })?;
            watched.push(dir.clone());
        }
        Ok(FileWatch {
            _watcher: watcher,
            watched,
        })
    }
}

/// Top-level configuration keys a reload applies while running: the rules
/// and how they are selected, compiled and printed, and the event types they
/// make the kernel send.
pub const LIVE_KEYS: &[&str] = &[
    "rules_files",
    "rules_file",
    "rules",
    "priority",
    "append_output",
    "base_syscalls",
    "rule_matching",
    "watch_config_files",
    "load_plugins",
    "config_files",
];

/// The top-level keys whose values differ between two merged configurations
/// and that a reload cannot apply (they take effect at the next start), in
/// key order.
pub fn restart_keys(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_yaml::Mapping::new();
    let old_map = old.as_mapping().unwrap_or(&empty);
    let new_map = new.as_mapping().unwrap_or(&empty);
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for k in old_map.keys().chain(new_map.keys()) {
        let Some(name) = k.as_str() else { continue };
        if LIVE_KEYS.contains(&name) {
            continue;
        }
        if old_map.get(k) != new_map.get(k) {
            keys.insert(name.to_string());
        }
    }
    keys.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap_or(Value::Null)
    }

    #[test]
    fn only_keys_a_reload_cannot_apply_are_reported() {
        let old = yaml(
            "rules_files: [a.yaml]\npriority: debug\nwebserver: {listen_port: 8765}\njson_output: false\n",
        );
        let new = yaml(
            "rules_files: [a.yaml, b.yaml]\npriority: warning\nwebserver: {listen_port: 9000}\njson_output: false\nhttp_output: {enabled: true}\n",
        );
        assert_eq!(restart_keys(&old, &new), ["http_output", "webserver"]);
        assert!(restart_keys(&old, &old).is_empty());
    }

    #[test]
    fn a_rules_file_replaced_by_rename_triggers_once_seen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let rules = dir.path().join("rules.yaml");
        std::fs::write(&rules, "- list: a\n  items: []\n").unwrap_or_else(|e| panic!("{e}"));
        let other = dir.path().join("unrelated.txt");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _w =
            FileWatch::start(std::slice::from_ref(&rules), tx).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&other, "x").unwrap_or_else(|e| panic!("{e}"));
        let tmp = dir.path().join(".rules.yaml.tmp");
        std::fs::write(&tmp, "- list: b\n  items: []\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&tmp, &rules).unwrap_or_else(|e| panic!("{e}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut got = Vec::new();
        while std::time::Instant::now() < deadline {
            while let Ok(t) = rx.try_recv() {
                got.push(t);
            }
            if !got.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            got.iter()
                .all(|t| *t == Trigger::FileChanged(rules.clone())),
            "only the rules file counts: {got:?}"
        );
        assert!(!got.is_empty(), "the rename was seen");
    }
}
