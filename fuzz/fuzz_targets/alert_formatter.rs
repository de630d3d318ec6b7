//! A rule output format and hostile field values, rendered into an alert and
//! serialized as the outputs do (`rules::format`, `alert`, the outputs'
//! text and JSON `Format::render`).
//!
//! Input (readable seeds, fuzz/corpus/alert_formatter):
//!
//! ```text
//! <output format>\n(+<append_output text>\n | =<key> <field>\n)* \0 <value> (\0 <value>)*
//! ```
//!
//! The n-th distinct field the format reads gets the n-th value (cycling).
//! A value's first byte is its type: `s` string (UTF-8, lossy), `b` bytes,
//! `i`/`u` integer, `t`/`f` bool, `p` IP address, `l` list (comma-separated
//! strings), anything else missing.
//!
//! Invariants, beyond "no panic":
//! - one alert is one line: the text alert holds no control character that
//!   the format text itself does not (field values are escaped, falco#3895);
//! - rendering with some fields deferred (alerts held for container
//!   metadata) then finished gives the same alert as rendering at once;
//! - the JSON alert is one line, parses back, and holds exactly the alert's
//!   rule, priority, hostname, tags, output and raw `output_fields`.
#![no_main]

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use saker::alert::{Alert, FieldOutput, Priority};
use saker::event::EventType;
use saker::fields::{FieldProvider, FieldRef, Value};
use saker::output::config::Format;
use saker::rules::format::{OutputFormat, PendingAlert};

struct Fields {
    values: Vec<Option<Value<'static>>>,
    /// Field spelling -> value index, in order of first extraction.
    assigned: RefCell<HashMap<String, usize>>,
    time_ns: i64,
}

impl FieldProvider for Fields {
    fn event_type(&self) -> EventType {
        EventType::all().next().expect("an event type")
    }
    fn timestamp_ns(&self) -> i64 {
        self.time_ns
    }
    fn extract(&self, field: &FieldRef) -> Option<Value<'_>> {
        if self.values.is_empty() {
            return None;
        }
        let mut assigned = self.assigned.borrow_mut();
        let next = assigned.len();
        let i = *assigned.entry(field.to_string()).or_insert(next) % self.values.len();
        let v = self.values[i].clone()?;
        // Providers return lists for multi-valued fields (FieldProvider's contract).
        Some(match v {
            Value::List(_) => v,
            v if field.is_multi() => Value::List(vec![v]),
            v => v,
        })
    }
}

fn parse_value(raw: &[u8]) -> Option<Value<'static>> {
    let (kind, rest) = raw.split_first()?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b's' => Some(Value::Str(Cow::Owned(text()))),
        b'b' => Some(Value::Bytes(Cow::Owned(rest.to_vec()))),
        b'i' => text().trim().parse().ok().map(Value::Int),
        b'u' => text().trim().parse().ok().map(Value::UInt),
        b't' => Some(Value::Bool(true)),
        b'f' => Some(Value::Bool(false)),
        b'p' => text().trim().parse::<IpAddr>().ok().map(Value::Ip),
        b'l' => Some(Value::List(
            text()
                .split(',')
                .map(|s| Value::Str(Cow::Owned(s.to_string())))
                .collect(),
        )),
        _ => None,
    }
}

fn count_controls(s: &str) -> HashMap<char, usize> {
    let mut m = HashMap::new();
    for c in s.chars().filter(|c| c.is_control()) {
        *m.entry(c).or_default() += 1;
    }
    m
}

fn expected_json(v: &FieldOutput) -> serde_json::Value {
    match v {
        FieldOutput::Str(s) => serde_json::Value::from(s.as_str()),
        FieldOutput::U64(u) => serde_json::Value::from(*u),
        FieldOutput::I64(i) => serde_json::Value::from(*i),
        FieldOutput::Bool(b) => serde_json::Value::from(*b),
        FieldOutput::Missing => serde_json::Value::Null,
    }
}

fn check_json(alert: &Alert, include_output: bool, include_tags: bool) {
    let format = Format {
        json: true,
        include_output,
        include_tags,
    };
    let bytes = format.render(alert);
    assert!(!bytes.contains(&b'\n'), "JSON alert spans lines");
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON alert parses back");
    assert_eq!(v["rule"], *alert.rule);
    assert_eq!(v["hostname"], *alert.hostname);
    assert_eq!(v["source"], *alert.source);
    assert_eq!(v["priority"], alert.priority.as_str());
    assert_eq!(v["time"], alert.time_rfc3339());
    if include_output {
        assert_eq!(v["output"], alert.output.as_str());
    } else {
        assert!(v.get("output").is_none());
    }
    if include_tags {
        let tags: Vec<&str> = alert.tags.iter().map(|t| &**t).collect();
        assert_eq!(v["tags"], serde_json::json!(tags));
    } else {
        assert!(v.get("tags").is_none());
    }
    let fields = v["output_fields"]
        .as_object()
        .expect("output_fields object");
    assert_eq!(
        fields.len(),
        alert.output_fields.len(),
        "duplicate output_fields keys"
    );
    for (k, f) in &alert.output_fields {
        assert_eq!(
            fields.get(&**k),
            Some(&expected_json(f)),
            "output_fields.{k}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let Ok(spec) = std::str::from_utf8(parts.next().unwrap_or_default()) else {
        return;
    };
    let values: Vec<Option<Value<'static>>> = parts.map(parse_value).collect();
    let mut lines = spec.split('\n');
    let text = lines.next().unwrap_or_default();
    let Ok(mut format) = OutputFormat::compile(text) else {
        return;
    };
    // The literal text of the format: a rule author's own control
    // characters may reach the alert; nothing else may.
    let mut template = text.to_string();
    for line in lines {
        if let Some(more) = line.strip_prefix('+') {
            if format.append_text(more).is_err() {
                return;
            }
            template.push_str(more);
        } else if let Some((key, field)) = line.strip_prefix('=').and_then(|l| l.split_once(' ')) {
            if format.add_extra_field(key, field).is_err() {
                return;
            }
        }
    }
    let time_ns = data.last_chunk::<8>().map_or(0, |b| i64::from_le_bytes(*b));
    // One provider for every rendering: a field keeps its value whichever
    // rendering reads it first.
    let fields = Fields {
        values,
        assigned: RefCell::new(HashMap::new()),
        time_ns,
    };
    let pending = |defer: &dyn Fn(&saker::rules::cond::COperand) -> bool| PendingAlert {
        output: format.render_partial(&fields, defer),
        rule: Arc::from("Fuzz rule \"quoted\"\n"),
        priority: Priority::ALL[data.len() % Priority::ALL.len()],
        source: Arc::from("syscall"),
        tags: Arc::from(vec![Arc::from("T1059"), Arc::from("a\u{1b}b")]),
        hostname: Arc::from("node-1"),
        time_ns,
    };
    let direct = pending(&|_| false).finish(&fields);
    // Defer every other field, as alerts held for container metadata are.
    let n = std::cell::Cell::new(0usize);
    let held = pending(&|_| {
        n.set(n.get() + 1);
        n.get() % 2 == 0
    });
    assert_eq!(
        held.finish(&fields),
        direct,
        "a held alert renders differently"
    );

    let line = Format {
        json: false,
        include_output: true,
        include_tags: true,
    }
    .render(&direct);
    let line = String::from_utf8(line).expect("the text alert is UTF-8");
    assert_eq!(line, direct.output);
    let allowed = count_controls(&template);
    for (c, k) in count_controls(&line) {
        assert!(
            allowed.get(&c).is_some_and(|a| k <= *a),
            "control character {c:?} from a field value in the text alert: {line:?}"
        );
    }
    for (include_output, include_tags) in [(true, true), (false, false)] {
        check_json(&direct, include_output, include_tags);
    }
});
