//! Load diagnostics: every error and warning with where it came from.
//!
//! A diagnostic points at the most precise place known (`file:line:col`) and
//! carries the chain that leads there: the file, the item (rule, macro or list)
//! and, for condition problems, the position inside the condition text.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::yaml::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// What went wrong, in Falco's load-result vocabulary where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiagCode {
    /// Unreadable file or directory.
    Io,
    /// Not valid YAML.
    YamlParse,
    /// Valid YAML, but not a valid rules document (wrong shapes, unknown keys).
    YamlValidate,
    /// Condition syntax error.
    ConditionSyntax,
    /// An unknown field, operator use or value in a condition.
    Compile,
    /// The output format is invalid.
    Output,
    /// `required_engine_version` above what this engine implements.
    EngineVersion,
    /// A required plugin is not available.
    PluginVersion,
    /// Override, append or enabled-only item without a target, or with bad keys.
    Override,
    /// Deprecated syntax (e.g. `append: true`).
    Deprecated,
    /// A macro that no rule or macro uses.
    UnusedMacro,
    /// A list that no rule, macro or list uses.
    UnusedList,
    /// A rule that applies to (almost) every event type.
    NoEvttype,
    /// A rule skipped because of `skip-if-unknown-filter`.
    UnknownFilterSkipped,
    /// A rule for an event source this engine does not evaluate.
    UnknownSource,
    /// A value of `evt.type` that names no event.
    UnknownEventType,
}

impl DiagCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DiagCode::Io => "IO",
            DiagCode::YamlParse => "YAML_PARSE",
            DiagCode::YamlValidate => "YAML_VALIDATE",
            DiagCode::ConditionSyntax => "CONDITION_SYNTAX",
            DiagCode::Compile => "COMPILE",
            DiagCode::Output => "OUTPUT",
            DiagCode::EngineVersion => "ENGINE_VERSION",
            DiagCode::PluginVersion => "PLUGIN_VERSION",
            DiagCode::Override => "OVERRIDE",
            DiagCode::Deprecated => "DEPRECATED",
            DiagCode::UnusedMacro => "UNUSED_MACRO",
            DiagCode::UnusedList => "UNUSED_LIST",
            DiagCode::NoEvttype => "NO_EVTTYPE",
            DiagCode::UnknownFilterSkipped => "UNKNOWN_FILTER_SKIPPED",
            DiagCode::UnknownSource => "UNKNOWN_SOURCE",
            DiagCode::UnknownEventType => "UNKNOWN_EVENT_TYPE",
        }
    }
}

/// A place in a rules file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Location {
    pub fn new(file: &Arc<str>, pos: Pos) -> Self {
        Location {
            file: Arc::clone(file),
            line: pos.line,
            col: pos.col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// The item a diagnostic belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRef {
    /// `rule`, `macro`, `list`, `required_engine_version`, ...
    pub kind: &'static str,
    pub name: String,
    pub location: Location,
}

/// A position inside a condition (or output) text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextPos {
    /// Which text: `condition`, `output`, `exceptions`.
    pub text: &'static str,
    /// 0-based byte offset in the text.
    pub offset: usize,
    /// Where the text starts in the file.
    pub start: Location,
    /// The text around the offset.
    pub excerpt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: DiagCode,
    pub message: String,
    /// The most precise location known.
    pub location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<TextPos>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error[CODE]: message`, then the chain, one line each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}: {sev}[{}]: {}",
            self.location,
            self.code.as_str(),
            self.message
        )?;
        if let Some(item) = &self.item {
            write!(
                f,
                "\n    in {} '{}' ({})",
                item.kind, item.name, item.location
            )?;
        }
        if let Some(p) = &self.position {
            write!(
                f,
                "\n    in {} ({}) at offset {}: {}",
                p.text, p.start, p.offset, p.excerpt
            )?;
        }
        Ok(())
    }
}

/// The text of `s` around byte `offset`, with a `^` marking the spot.
pub fn excerpt(s: &str, offset: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let mut start = offset.saturating_sub(30);
    while start > 0 && !flat.is_char_boundary(start) {
        start -= 1;
    }
    let mut mid = offset.min(flat.len());
    while mid > 0 && !flat.is_char_boundary(mid) {
        mid -= 1;
    }
    let mut end = (offset + 30).min(flat.len());
    while end < flat.len() && !flat.is_char_boundary(end) {
        end += 1;
    }
    format!(
        "{}{}^{}{}",
        if start > 0 { "..." } else { "" },
        flat.get(start..mid).unwrap_or(""),
        flat.get(mid..end).unwrap_or(""),
        if end < flat.len() { "..." } else { "" }
    )
}
