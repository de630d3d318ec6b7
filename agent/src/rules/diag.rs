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

/// What went wrong. Saker's codes are finer than Falco's load-result codes
/// for errors; every warning Falco also emits carries Falco's code (without
/// the `LOAD_` prefix here, in full in [`DiagCode::falco_code`]) and Falco's
/// message text (`userspace/engine/falco_load_result.h`, and the texts in
/// `rule_loader_reader.cpp`, `rule_loader_collector.cpp`,
/// `rule_loader_compiler.cpp`, `rule_loading_messages.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiagCode {
    /// Unreadable file or directory.
    Io,
    /// Not valid YAML.
    YamlParse,
    /// Valid YAML, but not a valid rules document (wrong shapes, missing keys).
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
    /// Deprecated syntax or field (`append: true`, a standalone `enabled`,
    /// `evt.dir`, `%container.info`).
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
    /// An item key this loader does not know; ignored.
    UnknownKey,
    /// A top-level item that is none of rule, macro, list, required_*; ignored.
    UnknownItem,
    /// Two exceptions of one rule item with the same name.
    ExceptionNameNotUnique,
    /// A macro name that the condition grammar cannot refer to.
    InvalidMacroName,
    /// A list name that the condition grammar cannot refer to.
    InvalidListName,
    /// An appended or overriding exception without `values`.
    AppendNoValues,
    /// A suspicious condition value: a field name or transformer used as a
    /// string, or a regex that a simpler operator would do.
    CompileCondition,
    /// A key written twice in one mapping; the first is used (Saker only:
    /// Falco's YAML reader takes the first silently).
    DuplicateKey,
    /// A known key that has no effect where it is written (Saker only: Falco
    /// ignores it silently, e.g. `priority` in an `append: true` item).
    IgnoredKey,
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
            DiagCode::UnknownKey => "UNKNOWN_KEY",
            DiagCode::UnknownItem => "UNKNOWN_ITEM",
            DiagCode::ExceptionNameNotUnique => "EXCEPTION_NAME_NOT_UNIQUE",
            DiagCode::InvalidMacroName => "INVALID_MACRO_NAME",
            DiagCode::InvalidListName => "INVALID_LIST_NAME",
            DiagCode::AppendNoValues => "APPEND_NO_VALUES",
            DiagCode::CompileCondition => "COMPILE_CONDITION",
            DiagCode::DuplicateKey => "DUPLICATE_KEY",
            DiagCode::IgnoredKey => "IGNORED_KEY",
        }
    }

    /// Falco's `falco::load_result` code for the same problem, if Falco
    /// reports it (`falco_load_result.cpp`: `error_codes`, `warning_codes`).
    /// `None`: Saker reports something Falco does not.
    pub fn falco_code(self) -> Option<&'static str> {
        Some(match self {
            DiagCode::Io => "LOAD_ERR_FILE_READ",
            DiagCode::YamlParse => "LOAD_ERR_YAML_PARSE",
            DiagCode::YamlValidate => "LOAD_ERR_YAML_VALIDATE",
            DiagCode::ConditionSyntax | DiagCode::Compile => "LOAD_ERR_COMPILE_CONDITION",
            DiagCode::Output => "LOAD_ERR_COMPILE_OUTPUT",
            DiagCode::EngineVersion | DiagCode::Override => "LOAD_ERR_VALIDATE",
            DiagCode::Deprecated => "LOAD_DEPRECATED_ITEM",
            DiagCode::UnusedMacro => "LOAD_UNUSED_MACRO",
            DiagCode::UnusedList => "LOAD_UNUSED_LIST",
            DiagCode::NoEvttype => "LOAD_NO_EVTTYPE",
            DiagCode::UnknownFilterSkipped => "LOAD_UNKNOWN_FILTER",
            DiagCode::UnknownSource => "LOAD_UNKNOWN_SOURCE",
            DiagCode::UnknownKey => "LOAD_UNKNOWN_KEY",
            DiagCode::UnknownItem => "LOAD_UNKNOWN_ITEM",
            DiagCode::ExceptionNameNotUnique => "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
            DiagCode::InvalidMacroName => "LOAD_INVALID_MACRO_NAME",
            DiagCode::InvalidListName => "LOAD_INVALID_LIST_NAME",
            DiagCode::AppendNoValues => "LOAD_APPEND_NO_VALUES",
            DiagCode::CompileCondition => "LOAD_COMPILE_CONDITION",
            // Falco checks plugin requirements outside the rule loader (and
            // fails to start); an unknown evt.type is a compile error there.
            DiagCode::PluginVersion
            | DiagCode::UnknownEventType
            | DiagCode::DuplicateKey
            | DiagCode::IgnoredKey => return None,
        })
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

/// `file:line:col`, or the file alone when no position is known (a file
/// that cannot be read has no line).
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}", self.file);
        }
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: DiagCode,
    pub message: String,
    /// The most precise location known.
    pub location: Location,
    pub item: Option<ItemRef>,
    pub position: Option<TextPos>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The fields as they are, plus `falco_code` ([`DiagCode::falco_code`]) when
/// Falco has one.
impl Serialize for Diagnostic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Diagnostic", 7)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("code", &self.code)?;
        match self.code.falco_code() {
            Some(c) => st.serialize_field("falco_code", c)?,
            None => st.skip_field("falco_code")?,
        }
        st.serialize_field("message", &self.message)?;
        st.serialize_field("location", &self.location)?;
        match &self.item {
            Some(i) => st.serialize_field("item", i)?,
            None => st.skip_field("item")?,
        }
        match &self.position {
            Some(p) => st.serialize_field("position", p)?,
            None => st.skip_field("position")?,
        }
        st.end()
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
