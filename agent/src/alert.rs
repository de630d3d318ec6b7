//! The alert: what a matching rule produces and every output sink consumes.
//!
//! The JSON form is Falco's (`falco/userspace/falco/formats.cpp`):
//! `{hostname, output, output_fields, priority, rule, source, tags, time}`,
//! which is also what falcosidekick accepts on its `/` endpoint.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// Rule priority, most severe first, as in Falco (`falco_common::priority_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// The spelling Falco uses in alert text and JSON (`Warning`, `Informational`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// True when `self` is at least as severe as `min` (Falco's `priority` config key
    /// keeps rules whose priority is at least as severe as the configured one).
    pub fn at_least(self, min: Priority) -> bool {
        self <= min
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown priority {0:?} (expected one of emergency, alert, critical, error, warning, notice, informational/info, debug)"
)]
pub struct UnknownPriority(pub String);

impl FromStr for Priority {
    type Err = UnknownPriority;

    /// Case-insensitive, with Falco's `INFO` alias for `INFORMATIONAL`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = match s.trim().to_ascii_lowercase().as_str() {
            "emergency" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" => Priority::Critical,
            "error" => Priority::Error,
            "warning" => Priority::Warning,
            "notice" => Priority::Notice,
            "informational" | "info" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return Err(UnknownPriority(s.to_string())),
        };
        Ok(p)
    }
}

/// One value in `output_fields`. Falco writes numbers as JSON numbers, missing
/// values as `null` and everything else as strings.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldOutput {
    Str(String),
    U64(u64),
    I64(i64),
    Bool(bool),
    Missing,
}

impl Serialize for FieldOutput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldOutput::Str(v) => s.serialize_str(v),
            FieldOutput::U64(v) => s.serialize_u64(*v),
            FieldOutput::I64(v) => s.serialize_i64(*v),
            FieldOutput::Bool(v) => s.serialize_bool(*v),
            FieldOutput::Missing => s.serialize_none(),
        }
    }
}

/// An alert raised by a rule. Cheap to clone: the per-rule parts are shared.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Event time, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    pub rule: Arc<str>,
    pub priority: Priority,
    pub source: Arc<str>,
    pub tags: Arc<[Arc<str>]>,
    pub hostname: Arc<str>,
    /// The formatted output line, as Falco prints it (`<time>: <Priority> <rule output>`).
    pub output: String,
    /// Every `%field` of the rule's output, in order of first appearance.
    pub output_fields: Vec<(Arc<str>, FieldOutput)>,
}

impl Alert {
    /// RFC 3339 UTC time with nanoseconds, as Falco writes `time`.
    pub fn time_rfc3339(&self) -> String {
        format_rfc3339_nanos(self.time_ns)
    }

    /// Falco's JSON alert, with the optional `output` and `tags` properties
    /// controlled by `json_include_output_property` / `json_include_tags_property`.
    pub fn to_json(&self, include_output: bool, include_tags: bool) -> String {
        let view = AlertJson {
            alert: self,
            include_output,
            include_tags,
        };
        // Serializing strings, numbers and maps into a String cannot fail.
        serde_json::to_string(&view).unwrap_or_default()
    }
}

struct AlertJson<'a> {
    alert: &'a Alert,
    include_output: bool,
    include_tags: bool,
}

struct OutputFields<'a>(&'a [(Arc<str>, FieldOutput)]);

impl Serialize for OutputFields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k.as_ref(), v)?;
        }
        m.end()
    }
}

impl Serialize for AlertJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.alert;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("hostname", a.hostname.as_ref())?;
        if self.include_output {
            m.serialize_entry("output", &a.output)?;
        }
        m.serialize_entry("output_fields", &OutputFields(&a.output_fields))?;
        m.serialize_entry("priority", a.priority.as_str())?;
        m.serialize_entry("rule", a.rule.as_ref())?;
        m.serialize_entry("source", a.source.as_ref())?;
        if self.include_tags {
            let tags: Vec<&str> = a.tags.iter().map(|t| t.as_ref()).collect();
            m.serialize_entry("tags", &tags)?;
        }
        m.serialize_entry("time", &a.time_rfc3339())?;
        m.end()
    }
}

/// `2024-05-01T12:00:00.123456789Z` for a Unix time in nanoseconds.
pub fn format_rfc3339_nanos(time_ns: i64) -> String {
    let secs = time_ns.div_euclid(1_000_000_000);
    let nanos = time_ns.rem_euclid(1_000_000_000);
    let (y, mo, d, h, mi, s) = civil_from_unix(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z")
}

/// `HH:MM:SS.nnnnnnnnn` in UTC: the time prefix of Falco's text output line.
pub fn format_clock_nanos(time_ns: i64) -> String {
    let secs = time_ns.div_euclid(1_000_000_000);
    let nanos = time_ns.rem_euclid(1_000_000_000);
    let (_, _, _, h, mi, s) = civil_from_unix(secs);
    format!("{h:02}:{mi:02}:{s:02}.{nanos:09}")
}

/// Unix seconds to UTC civil time (Howard Hinnant's `civil_from_days`).
fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Alert {
        Alert {
            time_ns: 1_700_000_000_123_456_789,
            rule: Arc::from("Read sensitive file untrusted"),
            priority: Priority::Warning,
            source: Arc::from("syscall"),
            tags: Arc::from(vec![Arc::from("filesystem"), Arc::from("T1555")]),
            hostname: Arc::from("node-1"),
            output: "22:13:20.123456789: Warning Sensitive file opened | file=/etc/shadow".into(),
            output_fields: vec![
                (Arc::from("fd.name"), FieldOutput::Str("/etc/shadow".into())),
                (Arc::from("user.uid"), FieldOutput::U64(0)),
                (Arc::from("proc.tty"), FieldOutput::Missing),
            ],
        }
    }

    #[test]
    fn json_has_falco_shape_and_field_types() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json(true, true)).unwrap();
        assert_eq!(v["hostname"], "node-1");
        assert_eq!(v["priority"], "Warning");
        assert_eq!(v["rule"], "Read sensitive file untrusted");
        assert_eq!(v["source"], "syscall");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123456789Z");
        assert_eq!(v["tags"], serde_json::json!(["filesystem", "T1555"]));
        assert_eq!(v["output_fields"]["fd.name"], "/etc/shadow");
        assert_eq!(v["output_fields"]["user.uid"], 0);
        assert!(v["output_fields"]["proc.tty"].is_null());
        assert!(v["output"].as_str().unwrap().contains("Warning"));
    }

    #[test]
    fn json_optional_properties_can_be_left_out() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json(false, false)).unwrap();
        assert!(v.get("output").is_none());
        assert!(v.get("tags").is_none());
        assert!(v.get("rule").is_some());
    }

    #[test]
    fn priority_parses_case_insensitively_with_info_alias() {
        assert_eq!("WARNING".parse::<Priority>().unwrap(), Priority::Warning);
        assert_eq!("Info".parse::<Priority>().unwrap(), Priority::Informational);
        assert_eq!(
            "informational".parse::<Priority>().unwrap(),
            Priority::Informational
        );
        assert!("severe".parse::<Priority>().is_err());
        assert!(Priority::Critical.at_least(Priority::Warning));
        assert!(!Priority::Notice.at_least(Priority::Warning));
    }

    #[test]
    fn times_before_and_after_epoch_format() {
        assert_eq!(format_rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(format_rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            format_rfc3339_nanos(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            format_clock_nanos(3_661_000_000_005),
            "01:01:01.000000005Z".trim_end_matches('Z')
        );
    }
}
