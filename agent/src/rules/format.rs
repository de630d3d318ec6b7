//! Output formats: a rule's `output` compiled once into text and field
//! segments, rendered per alert as Falco's `formats.cpp` does.
//!
//! `%field`, `%field[arg]`, `%evt.arg.name` and `%tolower(field)` (any
//! transformer) are substituted; a missing value prints as `<NA>` in text and
//! is `null` in `output_fields`. As in Falco, `output_fields` holds every
//! substituted field in order of first appearance, preceded by `evt.time`,
//! which Falco's output prefix (`*%evt.time: <priority> ...`) contributes.
//!
//! Unlike Falco, field values are escaped in the text ([`escape_controls`]):
//! a file name or command line carrying a newline or a terminal escape cannot
//! split an alert line or forge one (falco#3895). `output_fields` keep the
//! raw values (JSON escapes them).

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
    /// Fields that go to `output_fields` only (Falco's `append_output`
    /// `extra_fields`), after those of the text.
    extra: Vec<(Arc<str>, COperand)>,
}

/// One piece of an output rendered ahead of some of its fields.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Field {
        key: Arc<str>,
        text: String,
        out: FieldOutput,
        /// Only in `output_fields` (an extra field), not in the text.
        extra: bool,
    },
    /// Rendered later, against another provider.
    Deferred {
        key: Arc<str>,
        operand: COperand,
        extra: bool,
    },
}

/// An output rendered against an event except for the fields that are not
/// known yet (container metadata being looked up); [`PartialOutput::finish`]
/// renders those and assembles the text and `output_fields`.
#[derive(Debug, Clone)]
pub struct PartialOutput {
    time_ns: i64,
    pieces: Vec<Piece>,
}

impl PartialOutput {
    /// True when some field waits for [`PartialOutput::finish`].
    pub fn is_deferred(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Deferred { .. }))
    }

    /// The text and `output_fields`, with deferred fields taken from `p`.
    pub fn finish<P: FieldProvider + ?Sized>(
        &self,
        p: &P,
    ) -> (String, Vec<(Arc<str>, FieldOutput)>) {
        let mut text = String::new();
        let mut out: Vec<(Arc<str>, FieldOutput)> = Vec::new();
        out.push((
            Arc::from("evt.time"),
            u64::try_from(self.time_ns).map_or(FieldOutput::Missing, FieldOutput::U64),
        ));
        let mut add = |key: &Arc<str>, v: FieldOutput| {
            if !out.iter().any(|(k, _)| k == key) {
                out.push((Arc::clone(key), v));
            }
        };
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Field {
                    key,
                    text: t,
                    out: v,
                    extra,
                } => {
                    if !extra {
                        text.push_str(t);
                    }
                    add(key, v.clone());
                }
                Piece::Deferred {
                    key,
                    operand,
                    extra,
                } => {
                    let v = operand.value(p);
                    if !extra {
                        match &v {
                            Some(v) => text.push_str(&escape_controls(v.to_text())),
                            None => text.push_str("<NA>"),
                        }
                    }
                    add(key, to_field_output(v));
                }
            }
        }
        (text, out)
    }
}

/// A formatting error at a byte offset of the output text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub offset: usize,
    pub message: String,
    /// The error is an unknown field (which `skip-if-unknown-filter` turns
    /// into a warning, as Falco's `err_is_unknown_type_or_field`).
    pub unknown_field: bool,
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
            unknown_field: true,
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
        unknown_field: matches!(e, fields::FieldError::Unknown { .. }),
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
                            unknown_field: false,
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
        Ok(OutputFormat {
            segments,
            extra: Vec::new(),
        })
    }

    /// Appends `text` (a format, compiled here) after a space, as Falco's
    /// `append_output` `extra_output` does.
    pub fn append_text(&mut self, text: &str) -> Result<(), FormatError> {
        let more = OutputFormat::compile(text)?;
        if more.segments.is_empty() {
            return Ok(());
        }
        self.segments.push(Segment::Text(" ".into()));
        self.segments.extend(more.segments);
        Ok(())
    }

    /// Adds a field that goes to `output_fields` only (`append_output`
    /// `extra_fields`), under `key`.
    pub fn add_extra_field(&mut self, key: &str, field: &str) -> Result<(), FormatError> {
        let (operand, _, end) = read_field(field, 0)?;
        if end != field.len() {
            return Err(FormatError {
                offset: end,
                message: format!("expected one field name, got {field:?}"),
                unknown_field: false,
            });
        }
        if !self.extra.iter().any(|(k, _)| &**k == key) {
            self.extra.push((Arc::from(key), operand));
        }
        Ok(())
    }

    /// The rendered text and the `output_fields` of one event.
    pub fn render<P: FieldProvider + ?Sized>(
        &self,
        p: &P,
    ) -> (String, Vec<(Arc<str>, FieldOutput)>) {
        self.render_partial(p, |_| false).finish(p)
    }

    /// Renders against `p` every field except those `defer` picks.
    pub fn render_partial<P: FieldProvider + ?Sized>(
        &self,
        p: &P,
        defer: impl Fn(&COperand) -> bool,
    ) -> PartialOutput {
        let mut pieces = Vec::with_capacity(self.segments.len() + self.extra.len());
        let field = |key: &Arc<str>, operand: &COperand, extra: bool| {
            if defer(operand) {
                return Piece::Deferred {
                    key: Arc::clone(key),
                    operand: operand.clone(),
                    extra,
                };
            }
            let v = operand.value(p);
            Piece::Field {
                key: Arc::clone(key),
                text: v
                    .as_ref()
                    .map_or_else(|| "<NA>".to_string(), |v| escape_controls(v.to_text())),
                out: to_field_output(v),
                extra,
            }
        };
        for seg in &self.segments {
            pieces.push(match seg {
                Segment::Text(t) => Piece::Text(t.clone()),
                Segment::Field { key, operand } => field(key, operand, false),
            });
        }
        for (key, operand) in &self.extra {
            pieces.push(field(key, operand, true));
        }
        PartialOutput {
            time_ns: p.timestamp_ns(),
            pieces,
        }
    }

    /// The fields this format reads, for listing and for state interest.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field { key, .. } => Some(key.as_ref()),
            Segment::Text(_) => None,
        })
    }
}

/// A field value made safe for a one-line text alert: a backslash is
/// doubled and every control character (C0, DEL, C1) is written as an
/// escape: `\n`, `\r`, `\t`, and
/// `\xNN` (C0 and DEL) or `\u{NN}` (C1, U+0080..U+009F) for the others.
/// The value comes back unchanged (no allocation) when it has none.
pub fn escape_controls(s: String) -> String {
    // C1 controls are 0xC2 0x80..=0x9F in UTF-8.
    if !s
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || b == 0xc2 || b == b'\\')
    {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            // A literal backslash is doubled, so that `\n` in the text is
            // always an escaped newline, never a file name's two characters.
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (0x80..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\u{{{:02x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
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

/// An alert whose output waits for some fields ([`PartialOutput`]).
#[derive(Debug, Clone)]
pub struct PendingAlert {
    pub output: PartialOutput,
    pub rule: Arc<str>,
    pub priority: Priority,
    pub source: Arc<str>,
    pub tags: Arc<[Arc<str>]>,
    pub hostname: Arc<str>,
    pub time_ns: i64,
}

impl PendingAlert {
    /// The alert, with the deferred fields taken from `p`: Falco's text line
    /// `HH:MM:SS.nnnnnnnnn: Priority <output>` and the JSON fields.
    pub fn finish<P: FieldProvider + ?Sized>(&self, p: &P) -> Alert {
        let (text, output_fields) = self.output.finish(p);
        Alert {
            time_ns: self.time_ns,
            rule: Arc::clone(&self.rule),
            priority: self.priority,
            source: Arc::clone(&self.source),
            tags: Arc::clone(&self.tags),
            hostname: Arc::clone(&self.hostname),
            output: format!(
                "{}: {} {}",
                format_clock_nanos(self.time_ns),
                self.priority,
                text
            ),
            output_fields,
        }
    }
}

#[cfg(test)]
mod escape_tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_untouched() {
        let forged = "evt\n12:00:00.000000000: Critical fake_alert\r\t\x1b[31m\x07\x7f\u{85}é";
        let got = escape_controls(forged.to_string());
        assert!(!got.chars().any(char::is_control), "{got:?}");
        assert_eq!(
            got,
            "evt\\n12:00:00.000000000: Critical fake_alert\\r\\t\\x1b[31m\\x07\\x7f\\u{85}é"
        );
        assert_eq!(
            escape_controls("lit\\nline".to_string()),
            "lit\\\\nline",
            "a literal backslash-n is not an escaped newline"
        );
        let plain = "/etc/shadow (é, 中文)".to_string();
        let ptr = plain.as_ptr();
        let same = escape_controls(plain);
        assert_eq!(same.as_ptr(), ptr, "no control character: no copy");
        let big = "a\n".repeat(32 * 1024);
        let got = escape_controls(big);
        assert_eq!(got.len(), 96 * 1024);
        assert!(!got.contains('\n'));
    }
}
