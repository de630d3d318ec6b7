//! The Falco rules engine.
//!
//! Pipeline, as Falco's: read YAML keeping positions ([`yaml`]) → collect
//! lists, macros and rules with override/append ([`loader`]) → parse
//! conditions ([`parser`], grammar in its module doc) → resolve macros and
//! lists and compile typed checks ([`compiler`], [`matcher`]) → index rules by
//! event type ([`RuleSet`]). Outputs are compiled once ([`format`]).
//!
//! The engine reads events only through [`crate::fields::FieldProvider`]; it
//! knows nothing of the kernel, so it is tested, benchmarked and fuzzed
//! without root.
//!
//! ```text
//! let outcome = rules::load_paths(&paths);            // or rules::load_default()
//! for d in &outcome.diagnostics { eprintln!("{d}"); }
//! let ruleset = outcome.ruleset;
//! let interest = ruleset.event_types();               // program the kernel filter
//! ruleset.evaluate(&event, |rule| sink(rule.alert(&event, &hostname)));
//! ```

pub mod ast;
pub mod compiler;
pub mod cond;
pub mod diag;
pub mod evttype;
pub mod format;
pub mod loader;
pub mod matcher;
pub mod parser;
pub mod pushdown;
pub mod yaml;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::alert::Alert;
use crate::event::EventType;
use crate::fields::FieldProvider;

pub use compiler::CompiledRule;

pub use diag::{DiagCode, Diagnostic, Location, Severity};
pub use evttype::EventTypeSet;

/// The project's own default ruleset, used when no `-r` is given.
pub const DEFAULT_RULES: &str = include_str!("../../rules/saker_rules.yaml");
/// The name diagnostics give the embedded default ruleset.
pub const DEFAULT_RULES_NAME: &str = "<builtin>/saker_rules.yaml";

/// Falco's `rule_matching` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleMatching {
    /// Stop at the first matching rule, in load order (Falco's default).
    #[default]
    First,
    /// Report every matching rule.
    All,
}

/// What a match of a rule does: alert (sent to the outputs) or observe
/// (evaluated, counted and written to the observe log only), the first
/// phase of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum RuleMode {
    #[default]
    Alert,
    Observe,
}

impl RuleMode {
    /// The spelling of the configuration and of the `mode` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleMode::Alert => "alert",
            RuleMode::Observe => "observe",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "alert" => Some(RuleMode::Alert),
            "observe" => Some(RuleMode::Observe),
            _ => None,
        }
    }
}

/// One rules file's name and content.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub name: String,
    pub text: String,
}

/// What loading produced: the compiled rules and every diagnostic.
#[derive(Debug)]
pub struct LoadOutcome {
    pub ruleset: RuleSet,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadOutcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Compiled rules, indexed by event type.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    by_type: Vec<Box<[u32]>>,
    interest: EventTypeSet,
    matching: RuleMatching,
    slots: usize,
}

thread_local! {
    /// Scratch for [`RuleSet::evaluate`]: check results of the current event.
    static MEMO: RefCell<cond::CheckMemo> = RefCell::new(cond::CheckMemo::default());
}

/// Reusable per-thread scratch for [`RuleSet::evaluate_with`].
#[derive(Debug, Default, Clone)]
pub struct EvalScratch {
    memo: cond::CheckMemo,
}

impl RuleSet {
    fn new(rules: Vec<CompiledRule>, slots: usize) -> Self {
        let mut by_type: Vec<Vec<u32>> = vec![Vec::new(); EventType::COUNT];
        let mut interest = EventTypeSet::empty();
        for (i, r) in rules.iter().enumerate() {
            if !r.enabled {
                continue;
            }
            interest = interest.union(&r.event_types);
            for t in r.event_types.iter() {
                if let Some(v) = by_type.get_mut(t.index()) {
                    v.push(u32::try_from(i).unwrap_or(u32::MAX));
                }
            }
        }
        RuleSet {
            rules,
            by_type: by_type.into_iter().map(Vec::into_boxed_slice).collect(),
            interest,
            matching: RuleMatching::First,
            slots,
        }
    }

    /// Every compiled rule, enabled or not, in load order.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    pub fn rule(&self, name: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| &*r.name == name)
    }

    /// The event types some enabled rule can match: what capture must deliver.
    pub fn event_types(&self) -> &EventTypeSet {
        &self.interest
    }

    pub fn set_rule_matching(&mut self, m: RuleMatching) {
        self.matching = m;
    }

    /// Enables or disables a rule by name; false if there is no such rule.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> bool {
        let Some(r) = self.rules.iter_mut().find(|r| &*r.name == name) else {
            return false;
        };
        r.enabled = enabled;
        let rules = std::mem::take(&mut self.rules);
        let matching = self.matching;
        *self = RuleSet::new(rules, self.slots);
        self.matching = matching;
        true
    }

    /// Sets each rule's mode: `mode_of(rule)`.
    pub fn set_modes(&mut self, mode_of: impl Fn(&CompiledRule) -> RuleMode) {
        for r in &mut self.rules {
            r.mode = mode_of(r);
        }
    }

    /// Adds fields to the `output_fields` of the rules in observe mode, so
    /// that the observe log carries what a baseline groups by.
    pub fn add_observe_fields(&mut self, fields: &[&str]) -> Result<(), format::FormatError> {
        for r in self
            .rules
            .iter_mut()
            .filter(|r| r.mode == RuleMode::Observe)
        {
            for f in fields {
                r.output.add_extra_field(f, f)?;
            }
        }
        Ok(())
    }

    /// Falco's `append_output`: adds text and `output_fields`-only fields to
    /// the output of every rule the item selects (by source, tag, rule name).
    /// Falco's `init_falco_engine.cpp` `configure_output_format`. An error
    /// names the item's text that does not compile.
    pub fn append_output(&mut self, items: &[AppendOutput]) -> Result<(), format::FormatError> {
        for item in items {
            for rule in &mut self.rules {
                if !item.selects(rule) {
                    continue;
                }
                if !item.text.is_empty() {
                    rule.output.append_text(&item.text)?;
                }
                for (key, field) in &item.fields {
                    rule.output.add_extra_field(key, field)?;
                }
            }
        }
        Ok(())
    }

    /// Evaluates the enabled rules for this event's type, in load order, and
    /// calls `on_match` for each match (only the first with
    /// [`RuleMatching::First`]). Returns the number of matches. Checks that
    /// several rules share are evaluated once per event.
    #[inline]
    pub fn evaluate<P: FieldProvider + ?Sized>(
        &self,
        event: &P,
        on_match: impl FnMut(&CompiledRule),
    ) -> usize {
        MEMO.with(|m| match m.try_borrow_mut() {
            Ok(mut memo) => self.run(event, &mut memo, on_match),
            // Re-entered from `on_match`: evaluate without the shared scratch.
            Err(_) => self.run(event, &mut cond::CheckMemo::default(), on_match),
        })
    }

    /// [`RuleSet::evaluate`] with caller-owned scratch (no thread-local access).
    #[inline]
    pub fn evaluate_with<P: FieldProvider + ?Sized>(
        &self,
        event: &P,
        scratch: &mut EvalScratch,
        on_match: impl FnMut(&CompiledRule),
    ) -> usize {
        self.run(event, &mut scratch.memo, on_match)
    }

    #[inline]
    fn run<P: FieldProvider + ?Sized>(
        &self,
        event: &P,
        memo: &mut cond::CheckMemo,
        mut on_match: impl FnMut(&CompiledRule),
    ) -> usize {
        let Some(candidates) = self.by_type.get(event.event_type().index()) else {
            return 0;
        };
        memo.reset(self.slots);
        let mut n = 0;
        for &i in candidates.iter() {
            let Some(rule) = self.rules.get(i as usize) else {
                continue;
            };
            if rule.condition.eval_memo(event, memo) {
                n += 1;
                on_match(rule);
                if self.matching == RuleMatching::First {
                    break;
                }
            }
        }
        n
    }

    /// The first enabled rule that matches, if any.
    pub fn first_match<P: FieldProvider + ?Sized>(&self, event: &P) -> Option<&CompiledRule> {
        let candidates = self.by_type.get(event.event_type().index())?;
        candidates
            .iter()
            .filter_map(|&i| self.rules.get(i as usize))
            .find(|r| r.condition.eval(event))
    }
}

impl CompiledRule {
    /// True when the rule's condition holds for the event (ignores `enabled`).
    pub fn matches<P: FieldProvider + ?Sized>(&self, event: &P) -> bool {
        self.event_types.contains(event.event_type()) && self.condition.eval(event)
    }

    /// The alert for a match: output rendered against the event.
    pub fn alert<P: FieldProvider + ?Sized>(&self, event: &P, hostname: &Arc<str>) -> Alert {
        self.pending_alert(event, hostname, |_| false).finish(event)
    }

    /// The alert for a match with the fields `defer` picks left for later
    /// ([`format::PendingAlert::finish`]).
    pub fn pending_alert<P: FieldProvider + ?Sized>(
        &self,
        event: &P,
        hostname: &Arc<str>,
        defer: impl Fn(&cond::COperand) -> bool,
    ) -> format::PendingAlert {
        format::PendingAlert {
            output: self.output.render_partial(event, defer),
            rule: Arc::clone(&self.name),
            priority: self.priority,
            source: Arc::clone(&self.source),
            tags: Arc::clone(&self.tags),
            hostname: Arc::clone(hostname),
            time_ns: event.timestamp_ns(),
        }
    }

    /// The fields the rule's output prints, as written.
    pub fn output_fields(&self) -> impl Iterator<Item = &str> {
        self.output.field_names()
    }
}

/// One `append_output` item, resolved: which rules, what to add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutput {
    /// Only rules of this source (empty: any).
    pub source: String,
    /// Only rules with all of these tags (empty: any), as Falco's
    /// `std::includes` in `rule_loader_compiler.cpp`.
    pub tags: Vec<String>,
    /// Only this rule (empty: any).
    pub rule: String,
    /// Text appended to the output line (after a space).
    pub text: String,
    /// (key, field name) pairs added to `output_fields` only.
    pub fields: Vec<(String, String)>,
}

/// The fields the container plugin marks as suggested output
/// (falcosecurity/plugins `plugins/container/src/caps/extract/extract.cpp`),
/// which Falco appends to every rule as `container_id=%container.id ...` when
/// `append_output` has `suggested_output: true` (its default).
pub const SUGGESTED_OUTPUT_FIELDS: [&str; 6] = [
    "container.id",
    "container.name",
    "container.image.repository",
    "container.image.tag",
    "k8s.pod.name",
    "k8s.ns.name",
];

/// Falco's `foo.bar=%foo.bar` -> `foo_bar=%foo.bar` text for the suggested fields.
pub fn suggested_output_text() -> String {
    let parts: Vec<String> = SUGGESTED_OUTPUT_FIELDS
        .iter()
        .map(|f| format!("{}=%{f}", f.replace('.', "_")))
        .collect();
    parts.join(" ")
}

impl AppendOutput {
    fn selects(&self, rule: &CompiledRule) -> bool {
        (self.source.is_empty() || *rule.source == *self.source)
            && (self.rule.is_empty() || *rule.name == *self.rule)
            && self
                .tags
                .iter()
                .all(|t| rule.tags.iter().any(|r| **r == **t))
    }
}

/// Loads and compiles rules from in-memory sources, in order.
pub fn load_sources(sources: &[RuleSource]) -> LoadOutcome {
    let mut coll = loader::Collection::default();
    for s in sources {
        coll.add_file(&s.name, &s.text);
    }
    let mut diagnostics = std::mem::take(&mut coll.diagnostics);
    let (rules, slots) = compiler::compile(&coll, &mut diagnostics);
    LoadOutcome {
        ruleset: RuleSet::new(rules, slots),
        diagnostics,
    }
}

/// Loads the embedded default ruleset.
pub fn load_default() -> LoadOutcome {
    load_sources(&[RuleSource {
        name: DEFAULT_RULES_NAME.to_string(),
        text: DEFAULT_RULES.to_string(),
    }])
}

/// Reads rules files: each path is a file, or a directory whose `.yaml`/`.yml`
/// files are read in sorted order (Falco's `rules_files` semantics).
pub fn read_paths(paths: &[PathBuf]) -> (Vec<RuleSource>, Vec<Diagnostic>) {
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    let io_err = |p: &Path, e: std::io::Error| Diagnostic {
        severity: Severity::Error,
        code: DiagCode::Io,
        message: format!("cannot read: {e}"),
        location: Location {
            file: Arc::from(p.display().to_string()),
            line: 0,
            col: 0,
        },
        item: None,
        position: None,
    };
    for p in paths {
        let files = if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(rd) => {
                    let mut v: Vec<PathBuf> = rd
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|f| {
                            f.is_file()
                                && f.extension()
                                    .and_then(|x| x.to_str())
                                    .is_some_and(|x| x == "yaml" || x == "yml")
                        })
                        .collect();
                    v.sort();
                    v
                }
                Err(e) => {
                    diags.push(io_err(p, e));
                    continue;
                }
            }
        } else {
            vec![p.clone()]
        };
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => sources.push(RuleSource {
                    name: f.display().to_string(),
                    text,
                }),
                Err(e) => diags.push(io_err(&f, e)),
            }
        }
    }
    (sources, diags)
}

/// Reads and compiles rules files and directories.
pub fn load_paths(paths: &[PathBuf]) -> LoadOutcome {
    let (sources, mut io) = read_paths(paths);
    let mut out = load_sources(&sources);
    io.append(&mut out.diagnostics);
    out.diagnostics = io;
    out
}

#[cfg(test)]
mod tests;
