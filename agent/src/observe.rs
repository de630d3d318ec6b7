//! Observe mode and baselines: the first phases of a rollout.
//!
//! A rule in observe mode is evaluated and counted like any other, but its
//! matches go to the observe log (JSON lines, Falco's alert JSON plus the
//! fields a baseline groups by) instead of the alert outputs.
//! [`baseline`] turns such a log (or any Falco JSON alert file) into
//! suggested exceptions.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::alert::Alert;
use crate::exceptions::{Category, ExceptionEntry, ExceptionsFile, Observed, format_time};
use crate::rules::{CompiledRule, RuleMode, RuleSet};

/// Fields every observed match records, so that a baseline can tell one
/// behaviour from another: process, parent, executable, file or folder,
/// container image, namespace.
pub const BEHAVIOUR_FIELDS: &[&str] = &[
    "proc.name",
    "proc.pname",
    "proc.exepath",
    "fd.name",
    "fd.directory",
    "container.id",
    "container.image.repository",
    "k8s.ns.name",
];

/// One item of `saker.rule_modes`: exactly one of `rule`, `tag`, `maturity`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleModeItem {
    /// A rule name; `*` matches any characters.
    pub rule: Option<String>,
    pub tag: Option<String>,
    /// Falco's maturity tags: `stable` selects rules tagged `maturity_stable`.
    pub maturity: Option<String>,
    pub mode: String,
}

#[derive(Debug, Clone)]
enum Selector {
    Rule(globset::GlobMatcher),
    Tag(String),
}

/// `saker.default_rule_mode` and `saker.rule_modes`, validated.
#[derive(Debug, Clone, Default)]
pub struct RuleModes {
    pub default: RuleMode,
    items: Vec<(Selector, RuleMode)>,
}

impl RuleModes {
    /// Validates the configuration's items; each problem goes to `issue`
    /// with its key, and the item is left out.
    pub fn validate(
        default: &str,
        items: &[RuleModeItem],
        issue: &mut dyn FnMut(String, String),
    ) -> RuleModes {
        let bad_mode = |m: &str| format!("{m:?}: expected alert or observe");
        let default = RuleMode::parse(default).unwrap_or_else(|| {
            issue("saker.default_rule_mode".into(), bad_mode(default));
            RuleMode::Alert
        });
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let key = format!("saker.rule_modes[{i}]");
            let Some(mode) = RuleMode::parse(&item.mode) else {
                issue(format!("{key}.mode"), bad_mode(&item.mode));
                continue;
            };
            let sel = match (&item.rule, &item.tag, &item.maturity) {
                (Some(r), None, None) => match globset::Glob::new(r) {
                    Ok(g) => Selector::Rule(g.compile_matcher()),
                    Err(e) => {
                        issue(format!("{key}.rule"), format!("{r:?}: {e}"));
                        continue;
                    }
                },
                (None, Some(t), None) => Selector::Tag(t.clone()),
                (None, None, Some(m)) => {
                    let m = m.trim().to_ascii_lowercase();
                    Selector::Tag(if m.starts_with("maturity_") {
                        m
                    } else {
                        format!("maturity_{m}")
                    })
                }
                _ => {
                    issue(
                        key,
                        "give exactly one of `rule`, `tag` or `maturity`".into(),
                    );
                    continue;
                }
            };
            out.push((sel, mode));
        }
        RuleModes {
            default,
            items: out,
        }
    }

    /// Every rule in observe mode (the `observe` overlay, `-o saker.default_rule_mode=observe`).
    pub fn all(mode: RuleMode) -> RuleModes {
        RuleModes {
            default: mode,
            items: Vec::new(),
        }
    }

    /// The mode of a rule: the last item that selects it, else the default.
    pub fn mode_of(&self, rule: &CompiledRule) -> RuleMode {
        let mut mode = self.default;
        for (sel, m) in &self.items {
            let hit = match sel {
                Selector::Rule(g) => g.is_match(&*rule.name),
                Selector::Tag(t) => rule.tags.iter().any(|x| **x == **t),
            };
            if hit {
                mode = *m;
            }
        }
        mode
    }

    /// Sets the rules' modes, and makes observed rules record
    /// [`BEHAVIOUR_FIELDS`].
    pub fn apply(&self, rules: &mut RuleSet) -> Result<(), crate::rules::format::FormatError> {
        rules.set_modes(|r| self.mode_of(r));
        rules.add_observe_fields(BEHAVIOUR_FIELDS)
    }
}

/// The observe log could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("saker.observe_log: cannot open {path}: {source}")]
pub struct ObserveLogError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Lines waiting for the writer at most; beyond, matches are counted as dropped.
const QUEUE: usize = 16_384;

/// The observe log: matches of observed rules, one Falco JSON alert per
/// line, appended by a writer thread so the hot path never waits on disk.
#[derive(Debug)]
pub struct ObserveLog {
    tx: Option<SyncSender<String>>,
    writer: Option<std::thread::JoinHandle<()>>,
    pub written: Arc<AtomicU64>,
    pub dropped: AtomicU64,
}

impl ObserveLog {
    pub fn open(path: &Path) -> Result<Self, ObserveLogError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ObserveLogError {
                path: path.to_path_buf(),
                source,
            })?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        let w = Arc::clone(&written);
        let name = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("saker-observe".into())
            .spawn(move || write_lines(file, &rx, &w, &name))
            .map_err(|source| ObserveLogError {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(ObserveLog {
            tx: Some(tx),
            writer: Some(writer),
            written,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues one observed match; never blocks.
    pub fn record(&self, alert: &Alert) {
        let Some(tx) = &self.tx else { return };
        let line = alert.to_json(true, true);
        match tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Writes what is queued and closes the file.
    pub fn close(&mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for ObserveLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_lines(file: std::fs::File, rx: &Receiver<String>, written: &AtomicU64, name: &str) {
    let mut out = std::io::BufWriter::new(file);
    let mut failed = false;
    while let Ok(line) = rx.recv() {
        let mut batch = vec![line];
        while let Ok(l) = rx.try_recv() {
            batch.push(l);
        }
        for l in &batch {
            let r = out
                .write_all(l.as_bytes())
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = r {
                if !failed {
                    log::error!("observe log {name}: {e}");
                    failed = true;
                }
            } else {
                written.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Err(e) = out.flush()
            && !failed
        {
            log::error!("observe log {name}: {e}");
            failed = true;
        }
    }
    let _ = out.flush();
}

/// One alert of a JSON lines file, as far as baselines and reports read it.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertLine {
    pub rule: String,
    #[serde(default)]
    pub priority: String,
    /// RFC 3339.
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub output_fields: BTreeMap<String, serde_json::Value>,
}

impl AlertLine {
    /// A field's value as text; absent, null, empty and `<NA>` are `None`.
    pub fn field(&self, name: &str) -> Option<String> {
        let v = self.output_fields.get(name)?;
        let s = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => return None,
            other => other.to_string(),
        };
        if s.is_empty() || s == "<NA>" {
            None
        } else {
            Some(s)
        }
    }

    pub fn time(&self) -> Option<OffsetDateTime> {
        crate::exceptions::parse_time(&self.time)
    }
}

/// Reading an alerts file failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertsFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads Falco JSON alerts, one per line; lines that are not alerts (text
/// alerts, log lines) are counted and skipped.
pub fn read_alerts(path: &Path) -> Result<(Vec<AlertLine>, usize), AlertsFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| AlertsFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    let mut skipped = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<AlertLine>(line) {
            Ok(a) => out.push(a),
            Err(_) => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// The fields an exception for a match uses, in order: the executable
/// (else the process name), the file (else its folder), the image and the
/// namespace, whichever the match has.
pub fn identity(a: &AlertLine) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(v) = a.field("proc.exepath") {
        out.push(("proc.exepath", v));
    } else if let Some(v) = a.field("proc.name") {
        out.push(("proc.name", v));
    }
    if let Some(v) = a.field("fd.name") {
        out.push(("fd.name", v));
    } else if let Some(v) = a.field("fd.directory") {
        out.push(("fd.directory", v));
    }
    if let Some(v) = a.field("container.image.repository") {
        out.push(("container.image.repository", v));
    }
    if let Some(v) = a.field("k8s.ns.name") {
        out.push(("k8s.ns.name", v));
    }
    out
}

/// One behaviour of a rule: its identifying values and when it was seen.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub rule: String,
    pub fields: Vec<&'static str>,
    pub values: Vec<String>,
    pub count: u64,
    pub first: Option<OffsetDateTime>,
    pub last: Option<OffsetDateTime>,
}

/// A rule and the identifying (field, value) pairs of a match.
type BehaviourKey = (String, Vec<(&'static str, String)>);

/// Groups matches per rule and behaviour, most frequent first.
pub fn group(alerts: &[AlertLine]) -> Vec<Behaviour> {
    let mut map: BTreeMap<BehaviourKey, Behaviour> = BTreeMap::new();
    for a in alerts {
        let id = identity(a);
        if id.is_empty() {
            continue;
        }
        let t = a.time();
        let b = map
            .entry((a.rule.clone(), id.clone()))
            .or_insert_with(|| Behaviour {
                rule: a.rule.clone(),
                fields: id.iter().map(|(f, _)| *f).collect(),
                values: id.iter().map(|(_, v)| v.clone()).collect(),
                count: 0,
                first: None,
                last: None,
            });
        b.count += 1;
        if let Some(t) = t {
            b.first = Some(b.first.map_or(t, |f| f.min(t)));
            b.last = Some(b.last.map_or(t, |l| l.max(t)));
        }
    }
    let mut v: Vec<Behaviour> = map.into_values().collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.rule.cmp(&b.rule)));
    v
}

/// What to write in the suggested exceptions.
#[derive(Debug, Clone)]
pub struct BaselineOptions {
    pub owner: Option<String>,
    pub ticket: Option<String>,
    pub now: OffsetDateTime,
    /// Expiry of suggested temporary exceptions, from `now`.
    pub temporary_for: time::Duration,
}

/// A behaviour seen over at least this long is suggested as permanent (a
/// daily job, a service); shorter ones as temporary (a migration, a one-off).
const PERMANENT_SPAN: time::Duration = time::Duration::hours(24);

/// Suggested exceptions, one per rule and behaviour.
pub fn baseline(alerts: &[AlertLine], opts: &BaselineOptions) -> ExceptionsFile {
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut exceptions = Vec::new();
    for b in group(alerts) {
        let n = per_rule.entry(b.rule.clone()).or_insert(0);
        *n += 1;
        let span = match (b.first, b.last) {
            (Some(f), Some(l)) => l - f,
            _ => time::Duration::ZERO,
        };
        let category = if span >= PERMANENT_SPAN {
            Category::Permanent
        } else {
            Category::Temporary
        };
        let name = format!(
            "baseline_{}_{}",
            b.values
                .first()
                .and_then(|v| v.rsplit('/').next())
                .unwrap_or("match")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>(),
            n
        );
        exceptions.push(ExceptionEntry {
            rule: b.rule.clone(),
            name,
            fields: b.fields.iter().map(|f| (*f).to_string()).collect(),
            comps: vec!["=".into(); b.fields.len()],
            values: vec![b.values.clone()],
            category: Some(category),
            owner: opts.owner.clone(),
            reason: Some(format!(
                "baseline: seen {} times{}",
                b.count,
                if category == Category::Permanent {
                    " over a day or more"
                } else {
                    ""
                }
            )),
            ticket: opts.ticket.clone(),
            created: Some(format_time(opts.now)),
            expires: (category == Category::Temporary)
                .then(|| format_time(opts.now + opts.temporary_for)),
            observed: Some(Observed {
                count: b.count,
                first_seen: b.first.map(format_time).unwrap_or_default(),
                last_seen: b.last.map(format_time).unwrap_or_default(),
            }),
        });
    }
    ExceptionsFile { exceptions }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(rule: &str, exe: &str, file: &str, time: &str) -> AlertLine {
        serde_json::from_value(serde_json::json!({
            "rule": rule, "priority": "Warning", "time": time, "tags": [],
            "output_fields": {"proc.exepath": exe, "proc.name": "x", "fd.name": file, "container.image.repository": null}
        }))
        .unwrap()
    }

    #[test]
    fn a_baseline_suggests_one_exception_per_behaviour_with_counts() {
        let alerts = vec![
            line(
                "R",
                "/usr/bin/backup",
                "/etc/shadow",
                "2025-01-01T00:00:00Z",
            ),
            line(
                "R",
                "/usr/bin/backup",
                "/etc/shadow",
                "2025-01-03T00:00:00Z",
            ),
            line("R", "/usr/bin/cat", "/etc/shadow", "2025-01-02T00:00:00Z"),
        ];
        let f = baseline(
            &alerts,
            &BaselineOptions {
                owner: Some("team".into()),
                ticket: None,
                now: crate::exceptions::parse_time("2025-01-04T00:00:00Z").unwrap(),
                temporary_for: time::Duration::days(30),
            },
        );
        assert_eq!(f.exceptions.len(), 2);
        let e = &f.exceptions[0];
        assert_eq!(e.fields, ["proc.exepath", "fd.name"]);
        assert_eq!(e.values, [["/usr/bin/backup", "/etc/shadow"]]);
        assert_eq!(e.category, Some(Category::Permanent));
        let o = e.observed.as_ref().unwrap();
        assert_eq!(
            (o.count, o.first_seen.as_str(), o.last_seen.as_str()),
            (2, "2025-01-01T00:00:00Z", "2025-01-03T00:00:00Z")
        );
        let t = &f.exceptions[1];
        assert_eq!(t.category, Some(Category::Temporary));
        assert_eq!(t.expires.as_deref(), Some("2025-02-03T00:00:00Z"));
    }
}
