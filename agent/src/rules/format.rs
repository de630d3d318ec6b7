//! Output formats: a rule's `output` compiled once into text and field
//! segments, rendered per alert as Falco's `formats.cpp` does.
//!
//! `%field`, `%field[arg]`, `%evt.arg.name` and `%tolower(field)` (any
//! transformer) are substituted; a missing value prints as `<NA>` in text and
//! is `null` in `output_fields`. As in Falco, `output_fields` holds every
//! substituted field in order of first appearance, preceded by `evt.time`,
//! which Falco's output prefix (`*%evt.time: <priority> ...`) contributes.

use std::sync::Arc;

use crate::alert::{Alert, FieldOutput, Priority, format_clock_nanos};
use crate::fields::{self, FieldProvider, Value};

use super::ast::Transformer;
use super::cond::COperand;

#[derive(Debug, Clone)]
enum Segment {
    Text(String),
    Field { key: Arc<str>, operand: COperand },
}

/// A compiled output format.
#[derive(Debug, Clone, Default)]
pub struct OutputFormat {
    segments: Vec<Segment>,
}

/// A formatting error at a byte offset of the output text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub offset: usize,
    pub message: String,
}

fn is_field_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// Reads a field reference (`proc.aname[2]`, `evt.arg.flags`) at `start`,
/// taking the longest prefix of the name that is a known field, as libsinsp's
/// formatter does. Returns the operand, its spelling and the end offset.
fn read_field(text: &str, start: usize) -> Result<(COperand, String, usize), FormatError> {
    let bytes = text.as_bytes();
    let mut end = start;
    while end < bytes.len() && is_field_char(bytes[end]) {
        end += 1;
    }
    let mut name_end = end;
    while name_end > start {
        let name = text.get(start..name_end).unwrap_or("");
        if fields::lookup(name).is_some() {
            break;
        }
        name_end -= 1;
    }
    if name_end == start {
        let name = text.get(start..end).unwrap_or("");
        return Err(FormatError {
            offset: start,
            message: format!("unknown field '{name}' in output"),
        });
    }
    let name = text.get(start..name_end).unwrap_or("");
    let mut after = name_end;
    let mut bracket = None;
    if name_end == end
        && bytes.get(end) == Some(&b'[')
        && let Some(close) = text.get(end..).and_then(|t| t.find(']'))
    {
        bracket = text.get(end + 1..end + close);
        after = end + close + 1;
    }
    let field = fields::resolve(name, bracket).map_err(|e| FormatError {
        offset: start,
        message: e.to_string(),
    })?;
    let spelled = text.get(start..after).unwrap_or(name).to_string();
    Ok((COperand::field(field), spelled, after))
}

impl OutputFormat {
    pub fn compile(text: &str) -> Result<Self, FormatError> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        let bytes = text.as_bytes();
        while i < bytes.len() {
            let Some(rel) = text.get(i..).and_then(|t| t.find('%')) else {
                lit.push_str(text.get(i..).unwrap_or(""));
                break;
            };
            lit.push_str(text.get(i..i + rel).unwrap_or(""));
            let pct = i + rel;
            let start = pct + 1;
            if !bytes.get(start).is_some_and(|b| b.is_ascii_alphabetic()) {
                lit.push('%');
                i = start;
                continue;
            }
            // `%tolower(proc.name)`: a transformer around a field.
            let mut word_end = start;
            while word_end < bytes.len() && bytes[word_end].is_ascii_alphanumeric() {
                word_end += 1;
            }
            let word = text.get(start..word_end).unwrap_or("");
            let (operand, key, next) = match Transformer::from_name(word) {
                Some(t) if bytes.get(word_end) == Some(&b'(') => {
                    let (inner, spelled, after) = read_field(text, word_end + 1)?;
                    if bytes.get(after) != Some(&b')') {
                        return Err(FormatError {
                            offset: after,
                            message: format!("expected ')' after '{word}({spelled}'"),
                        });
                    }
                    (
                        COperand::Transform(t, vec![inner].into()),
                        format!("{word}({spelled})"),
                        after + 1,
                    )
                }
                _ => read_field(text, start)?,
            };
            if !lit.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut lit)));
            }
            segments.push(Segment::Field {
                key: Arc::from(key),
                operand,
            });
            i = next;
        }
        if !lit.is_empty() {
            segments.push(Segment::Text(lit));
        }
        Ok(OutputFormat { segments })
    }

    /// The rendered text and the `output_fields` of one event.
    pub fn render<P: FieldProvider + ?Sized>(
        &self,
        p: &P,
    ) -> (String, Vec<(Arc<str>, FieldOutput)>) {
        let mut text = String::new();
        let mut out: Vec<(Arc<str>, FieldOutput)> = Vec::new();
        out.push((
            Arc::from("evt.time"),
            u64::try_from(p.timestamp_ns()).map_or(FieldOutput::Missing, FieldOutput::U64),
        ));
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => text.push_str(t),
                Segment::Field { key, operand } => {
                    let v = operand.value(p);
                    match &v {
                        Some(v) => text.push_str(&v.to_text()),
                        None => text.push_str("<NA>"),
                    }
                    if !out.iter().any(|(k, _)| k == key) {
                        out.push((Arc::clone(key), to_field_output(v)));
                    }
                }
            }
        }
        (text, out)
    }

    /// The fields this format reads, for listing and for state interest.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field { key, .. } => Some(key.as_ref()),
            Segment::Text(_) => None,
        })
    }
}

fn to_field_output(v: Option<Value<'_>>) -> FieldOutput {
    match v {
        None => FieldOutput::Missing,
        Some(Value::Int(i)) => FieldOutput::I64(i),
        Some(Value::UInt(u)) => FieldOutput::U64(u),
        Some(Value::Bool(b)) => FieldOutput::Bool(b),
        Some(other) => FieldOutput::Str(other.to_text()),
    }
}

/// Builds the alert for a matched rule: Falco's text line
/// `HH:MM:SS.nnnnnnnnn: Priority <output>` and the JSON fields.
#[expect(
    clippy::too_many_arguments,
    reason = "all parts of one alert, passed once per match"
)]
pub fn build_alert<P: FieldProvider + ?Sized>(
    format: &OutputFormat,
    p: &P,
    rule: &Arc<str>,
    priority: Priority,
    source: &Arc<str>,
    tags: &Arc<[Arc<str>]>,
    hostname: &Arc<str>,
    time_ns: i64,
) -> Alert {
    let (text, output_fields) = format.render(p);
    Alert {
        time_ns,
        rule: Arc::clone(rule),
        priority,
        source: Arc::clone(source),
        tags: Arc::clone(tags),
        hostname: Arc::clone(hostname),
        output: format!("{}: {} {}", format_clock_nanos(time_ns), priority, text),
        output_fields,
    }
}
