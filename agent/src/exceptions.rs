//! Exceptions files: Falco rule exceptions with the metadata an approval
//! process needs (category, owner, reason, ticket, created, expires).
//!
//! An exceptions file is compiled into the rules as plain Falco syntax
//! (`override: {exceptions: append}` items, [`falco_yaml`]), the same text
//! `saker exceptions export` writes, so what Saker applies is what Falco
//! would apply. Expired exceptions are left out of that text: a running
//! agent reloads its rules at the next expiry ([`next_expiry`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The longest an emergency exception may stay (incident response).
pub const EMERGENCY_MAX: Duration = Duration::from_secs(72 * 3600);

/// Comparison operators Falco accepts in exceptions (`rule_loader.cpp`
/// `is_operator_defined`).
const COMPS: &[&str] = &[
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "glob",
    "iglob",
    "pmatch",
    "in",
    "intersects",
    "regex",
];

/// An exceptions file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsFile {
    pub exceptions: Vec<ExceptionEntry>,
}

/// One exception, as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionEntry {
    /// The rule the exception applies to.
    pub rule: String,
    /// The exception's name (unique per rule).
    pub name: String,
    /// Field names (one per column of `values`).
    pub fields: Vec<String>,
    /// Comparisons, one per field; default `=` for every field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comps: Vec<String>,
    /// Rows of values, one per field each.
    pub values: Vec<Vec<String>>,
    #[serde(default)]
    pub category: Option<Category>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub ticket: Option<String>,
    /// RFC 3339 time.
    #[serde(default)]
    pub created: Option<String>,
    /// RFC 3339 time; required for temporary and emergency exceptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// What a baseline saw (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
}

/// Counts a baseline recorded for an exception.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// The architecture needs it.
    Permanent,
    /// A migration window.
    Temporary,
    /// Incident response, at most 72 h.
    Emergency,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Permanent => "permanent",
            Category::Temporary => "temporary",
            Category::Emergency => "emergency",
        }
    }
}

/// Reading an exceptions file failed.
#[derive(Debug, thiserror::Error)]
pub enum ExceptionsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// One problem of an exceptions file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `rule / name` of the exception, or empty for the file.
    pub exception: String,
    pub message: String,
    /// Errors fail `saker exceptions check`; warnings do not.
    pub error: bool,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = if self.error { "error" } else { "warning" };
        if self.exception.is_empty() {
            write!(f, "{sev}: {}", self.message)
        } else {
            write!(f, "{sev}: {}: {}", self.exception, self.message)
        }
    }
}

/// An exceptions file, read and parsed.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub file: ExceptionsFile,
}

/// Reads and parses an exceptions file (schema only: see [`check`]).
pub fn read(path: &Path) -> Result<Loaded, ExceptionsError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExceptionsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses an exceptions file's text.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ExceptionsError> {
    let file: ExceptionsFile = serde_yaml::from_str(text).map_err(|e| ExceptionsError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        file,
    })
}

/// Parses an RFC 3339 time (`2025-01-31T00:00:00Z`) or a date (midnight UTC).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s.trim(), &Rfc3339) {
        return Some(t);
    }
    let d = time::Date::parse(
        s.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(d.midnight().assume_utc())
}

/// RFC 3339, seconds precision.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

impl ExceptionEntry {
    /// `rule / name`, how findings and logs name it.
    pub fn label(&self) -> String {
        format!("{} / {}", self.rule, self.name)
    }

    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires.as_deref().and_then(parse_time)
    }

    /// True when the exception applies at `now` (no expiry, or not yet reached).
    pub fn active_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at().is_none_or(|e| now < e)
    }

    fn comps_or_default(&self) -> Vec<String> {
        if self.comps.is_empty() {
            vec!["=".to_string(); self.fields.len()]
        } else {
            self.comps.clone()
        }
    }
}

/// True when `comp value` holds for every value a field can take, so an
/// exception row made only of such cells silences the whole rule.
fn matches_everything(comp: &str, value: &str) -> bool {
    match comp {
        "contains" | "icontains" | "bcontains" | "startswith" | "bstartswith" | "endswith" => {
            value.is_empty()
        }
        "glob" | "iglob" => !value.is_empty() && value.chars().all(|c| c == '*'),
        "pmatch" => value.trim() == "/" || value.trim() == "(/)",
        "regex" => matches!(value, "" | ".*" | "^.*$" | ".*$" | "^.*"),
        // `!= x` holds for everything but x.
        "!=" => true,
        _ => false,
    }
}

/// Checks an exceptions file: required metadata, expiry limits, rules that
/// exist (when `known_rules` is given), no exception that silences a whole
/// rule. Findings in file order.
pub fn check(loaded: &Loaded, known_rules: Option<&[String]>, now: OffsetDateTime) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    if loaded.file.exceptions.is_empty() {
        out.push(Finding {
            exception: String::new(),
            message: "no exceptions in the file".into(),
            error: false,
        });
    }
    for e in &loaded.file.exceptions {
        let label = e.label();
        let mut err = |message: String| {
            out.push(Finding {
                exception: label.clone(),
                message,
                error: true,
            });
        };
        if e.rule.trim().is_empty() {
            err("'rule' is empty".into());
        }
        if e.name.trim().is_empty() {
            err("'name' is empty".into());
        }
        let key = (e.rule.clone(), e.name.clone());
        if seen.contains(&key) {
            err("another exception of this rule has the same name".into());
        }
        seen.push(key);
        if e.fields.is_empty() {
            err("'fields' is empty".into());
        }
        for f in &e.fields {
            if crate::fields::lookup(f).is_none() {
                err(format!("unknown field {f:?}"));
            }
        }
        let comps = e.comps_or_default();
        if comps.len() != e.fields.len() {
            err(format!(
                "{} comps for {} fields (one per field)",
                comps.len(),
                e.fields.len()
            ));
        }
        for c in &comps {
            if !COMPS.contains(&c.as_str()) {
                err(format!("unknown comparison {c:?}"));
            }
        }
        if e.values.is_empty() {
            err("'values' is empty: the exception would apply to nothing; list the values it allows".into());
        }
        for (i, row) in e.values.iter().enumerate() {
            if row.len() != e.fields.len() {
                err(format!(
                    "values row {} has {} values for {} fields",
                    i + 1,
                    row.len(),
                    e.fields.len()
                ));
                continue;
            }
            if row
                .iter()
                .zip(&comps)
                .all(|(v, c)| matches_everything(c, v))
            {
                err(format!(
                    "values row {} ({}) matches every event: the exception would silence the whole rule (disable the rule instead, or name what is allowed)",
                    i + 1,
                    row.iter()
                        .zip(&comps)
                        .zip(&e.fields)
                        .map(|((v, c), f)| format!("{f} {c} {v:?}"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
        }
        let missing = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        if e.category.is_none() {
            err("'category' is missing (permanent, temporary or emergency)".into());
        }
        if missing(&e.owner) {
            err("'owner' is missing: every exception needs someone who answers for it".into());
        }
        if missing(&e.reason) {
            err("'reason' is missing".into());
        }
        if missing(&e.ticket) {
            err("'ticket' is missing".into());
        }
        let created = match e.created.as_deref() {
            None => {
                err("'created' is missing".into());
                None
            }
            Some(c) => {
                let t = parse_time(c);
                if t.is_none() {
                    err(format!("'created' {c:?} is not an RFC 3339 time or a date"));
                }
                t
            }
        };
        let expires = match e.expires.as_deref() {
            None => None,
            Some(x) => {
                let t = parse_time(x);
                if t.is_none() {
                    err(format!("'expires' {x:?} is not an RFC 3339 time or a date"));
                }
                t
            }
        };
        match (e.category, expires) {
            (Some(c @ (Category::Temporary | Category::Emergency)), None)
                if e.expires.is_none() =>
            {
                err(format!("a {} exception needs 'expires'", c.as_str()));
            }
            (Some(Category::Emergency), Some(x)) => {
                let from = created.unwrap_or(now);
                if x - from > EMERGENCY_MAX {
                    err(format!(
                        "an emergency exception lasts at most 72 h; this one lasts {} h from {}",
                        (x - from).whole_hours(),
                        if created.is_some() {
                            "'created'"
                        } else {
                            "now"
                        }
                    ));
                }
            }
            _ => {}
        }
        if let (Some(c), Some(x)) = (created, expires)
            && x <= c
        {
            err("'expires' is not after 'created'".into());
        }
        if let Some(x) = expires
            && x <= now
        {
            out.push(Finding {
                exception: label.clone(),
                message: format!(
                    "expired at {}: it no longer applies; remove or renew it",
                    format_time(x)
                ),
                error: false,
            });
        }
        if let Some(rules) = known_rules
            && !e.rule.is_empty()
            && !rules.contains(&e.rule)
        {
            out.push(Finding {
                exception: label.clone(),
                message: format!("rule {:?} is not in the loaded rules", e.rule),
                error: true,
            });
        }
    }
    out
}

/// Quotes a string for YAML (JSON strings are valid YAML flow scalars).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Falco syntax for the exceptions that apply at `now` (all of them with
/// `None`): one `override: {exceptions: append}` item per rule, exceptions
/// in file order, metadata kept as comments.
pub fn falco_yaml(files: &[Loaded], now: Option<OffsetDateTime>) -> String {
    let mut out = String::new();
    let mut rules: Vec<&str> = Vec::new();
    let all: Vec<&ExceptionEntry> = files
        .iter()
        .flat_map(|f| f.file.exceptions.iter())
        .filter(|e| now.is_none_or(|n| e.active_at(n)))
        .collect();
    for e in &all {
        if !rules.contains(&e.rule.as_str()) {
            rules.push(&e.rule);
        }
    }
    for rule in rules {
        out.push_str(&format!("- rule: {}\n  exceptions:\n", q(rule)));
        for e in all.iter().filter(|e| e.rule == rule) {
            let meta = [
                e.category.map(|c| format!("category={}", c.as_str())),
                e.owner.as_ref().map(|o| format!("owner={o}")),
                e.ticket.as_ref().map(|t| format!("ticket={t}")),
                e.expires.as_ref().map(|x| format!("expires={x}")),
            ];
            let meta: Vec<String> = meta.into_iter().flatten().collect();
            if !meta.is_empty() {
                out.push_str(&format!(
                    "    # {}\n",
                    meta.join(" ").replace(['\n', '\r'], " ")
                ));
            }
            out.push_str(&format!("    - name: {}\n", q(&e.name)));
            let list = |v: &[String]| v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
            out.push_str(&format!("      fields: [{}]\n", list(&e.fields)));
            out.push_str(&format!("      comps: [{}]\n", list(&e.comps_or_default())));
            out.push_str("      values:\n");
            for row in &e.values {
                out.push_str(&format!("        - [{}]\n", list(row)));
            }
        }
        out.push_str("  override:\n    exceptions: append\n");
    }
    out
}

/// The earliest expiry after `now` among the exceptions, if any: when a
/// running agent must reload its rules.
pub fn next_expiry(files: &[Loaded], now: OffsetDateTime) -> Option<OffsetDateTime> {
    files
        .iter()
        .flat_map(|f| f.file.exceptions.iter())
        .filter_map(ExceptionEntry::expires_at)
        .filter(|x| *x > now)
        .min()
}

/// The exceptions whose expiry is in `(after, until]`: those that stopped
/// applying between two checks.
pub fn expired_between(
    files: &[Loaded],
    after: OffsetDateTime,
    until: OffsetDateTime,
) -> Vec<&ExceptionEntry> {
    files
        .iter()
        .flat_map(|f| f.file.exceptions.iter())
        .filter(|e| e.expires_at().is_some_and(|x| x > after && x <= until))
        .collect()
}

/// Where an exception stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    /// Active, expiring within the warning window.
    Expiring,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Expiring => "expiring",
            State::Expired => "expired",
        }
    }
}

/// The state of an exception at `now`, with `soon` as the warning window.
pub fn state_of(e: &ExceptionEntry, now: OffsetDateTime, soon: Duration) -> State {
    match e.expires_at() {
        Some(x) if x <= now => State::Expired,
        Some(x) if x - now <= soon => State::Expiring,
        _ => State::Active,
    }
}

/// A clock for expiry: the wall clock in the agent, a settable one in tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The wall clock shifted by a fixed offset (`saker run --clock-offset`,
/// hidden: tests move the agent's notion of time without waiting).
#[derive(Debug, Clone, Copy, Default)]
pub struct OffsetClock(pub time::Duration);

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.0
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::Mutex<Option<OffsetDateTime>>);

impl ManualClock {
    pub fn new(t: OffsetDateTime) -> Self {
        ManualClock(std::sync::Mutex::new(Some(t)))
    }

    pub fn set(&self, t: OffsetDateTime) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(t);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.0
            .lock()
            .ok()
            .and_then(|g| *g)
            .unwrap_or_else(OffsetDateTime::now_utc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> OffsetDateTime {
        parse_time(s).unwrap()
    }

    const GOOD: &str = "exceptions:
  - rule: Read sensitive file untrusted
    name: backup
    fields: [proc.exepath, fd.name]
    comps: [=, startswith]
    values:
      - [/usr/bin/backup, /etc/]
    category: temporary
    owner: team-storage
    reason: nightly backup reads /etc
    ticket: OPS-1
    created: 2025-01-01T00:00:00Z
    expires: 2025-02-01T00:00:00Z
";

    fn errors(text: &str, rules: Option<&[String]>) -> Vec<String> {
        let l = parse(Path::new("x.yaml"), text).unwrap();
        check(&l, rules, t("2025-01-10T00:00:00Z"))
            .into_iter()
            .filter(|f| f.error)
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn the_approval_gate_rejects_what_the_process_forbids() {
        let rules = vec!["Read sensitive file untrusted".to_string()];
        assert!(errors(GOOD, Some(&rules)).is_empty());
        let no_owner = GOOD.replace("    owner: team-storage\n", "");
        assert_eq!(
            errors(&no_owner, Some(&rules)),
            [
                "error: Read sensitive file untrusted / backup: 'owner' is missing: every exception needs someone who answers for it"
            ]
        );
        let long_emergency = GOOD
            .replace("category: temporary", "category: emergency")
            .replace("2025-02-01", "2025-01-04T00:00:01Z #");
        let e = errors(&long_emergency, Some(&rules));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("at most 72 h; this one lasts 72 h"), "{e:?}");
        let unknown = GOOD.replace("rule: Read sensitive file untrusted", "rule: No such rule");
        let e = errors(&unknown, Some(&rules));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("rule \"No such rule\" is not in the loaded rules"));
        let everything = GOOD
            .replace("[/usr/bin/backup, /etc/]", "[\"*\", \"\"]")
            .replace("comps: [=, startswith]", "comps: [glob, startswith]");
        let e = errors(&everything, Some(&rules));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("matches every event"), "{e:?}");
        let no_expiry = GOOD.replace("    expires: 2025-02-01T00:00:00Z\n", "");
        assert!(errors(&no_expiry, None)[0].contains("a temporary exception needs 'expires'"));
        let empty = GOOD
            .replace("      - [/usr/bin/backup, /etc/]\n", "")
            .replace("values:", "values: []");
        assert!(errors(&empty, None)[0].contains("'values' is empty"));
    }

    #[test]
    fn only_exceptions_not_yet_expired_are_compiled() {
        let l = parse(Path::new("x.yaml"), GOOD).unwrap();
        let before = falco_yaml(std::slice::from_ref(&l), Some(t("2025-01-31T23:59:59Z")));
        assert!(before.contains("name: \"backup\""), "{before}");
        assert!(before.contains("exceptions: append"));
        let after = falco_yaml(std::slice::from_ref(&l), Some(t("2025-02-01T00:00:00Z")));
        assert!(after.is_empty(), "{after}");
        assert_eq!(
            next_expiry(std::slice::from_ref(&l), t("2025-01-10T00:00:00Z")),
            Some(t("2025-02-01T00:00:00Z"))
        );
        assert_eq!(
            state_of(
                &l.file.exceptions[0],
                t("2025-01-30T00:00:00Z"),
                Duration::from_secs(7 * 86400)
            ),
            State::Expiring
        );
    }
}
