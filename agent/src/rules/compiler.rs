//! From collected items to compiled rules, as Falco's `rule_loader_compiler.cpp`:
//! lists are expanded, macros inlined, exceptions turned into
//! `(condition) and not (...)`, every check typed against the field catalog,
//! each rule's event types inferred, and outputs compiled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::alert::Priority;
use crate::event::EventType;
use crate::fields::{self, FieldId, FieldType};

use super::ast::{Check, Expr, ListModifier, Literal, Offset, Operand, Operator, Rhs, Transformer};
use super::cond::{COperand, CompiledCheck, Cond, FieldComparison, Mode, NO_SLOT};
use super::diag::{DiagCode, Diagnostic, ItemRef, Location, Severity};
use super::evttype::EventTypeSet;
use super::format::OutputFormat;
use super::loader::{
    Collection, ExceptionFields, ExceptionRow, ExceptionScalar, ExceptionValue, ListItem, RuleDef,
};
use super::matcher::Matcher;
use super::parser::{self, ParseError};

/// Most macro levels one condition may nest.
const MAX_MACRO_DEPTH: usize = 64;

/// Falco warns when a rule matches more than this many event types (an
/// empty set is a never-true rule, not warned about:
/// `rule_loader_compiler.cpp` `compile_rule_infos`).
const EVTTYPE_WARN_THRESHOLD: usize = 100;

/// Fields Falco reports as deprecated (`falco_load_result.cpp`
/// `deprecated_fields`) and why (`deprecated_field_descs`).
const DEPRECATED_FIELDS: [(&str, &str); 6] = [
    (
        "evt.dir",
        "due to the drop of enter events, 'evt.dir = <' always evaluates to true, and 'evt.dir = >' always evaluates to false. The rule expression can be simplified by removing the condition on 'evt.dir'",
    ),
    ("evt.latency", LATENCY_DEPRECATED),
    ("evt.latency.s", LATENCY_DEPRECATED),
    ("evt.latency.ns", LATENCY_DEPRECATED),
    ("evt.latency.human", LATENCY_DEPRECATED),
    ("evt.wait_latency", LATENCY_DEPRECATED),
];
const LATENCY_DEPRECATED: &str = "field is not available due to the drop of enter events.";

/// `%container.info` in an output: Falco warns and removes it
/// (`rule_loader_compiler.cpp` `compile_rule_infos`).
const CONTAINER_INFO: &str = "%container.info";
const CONTAINER_INFO_DEPRECATED: &str = "%container.info is deprecated and no more useful, and will be dropped by Falco 1.0.0. The container plugin will automatically add required fields to the output message.";

/// libsinsp's field transformers, `val` included (`filter/parser.cpp`
/// `supported_field_transformers(true)`): a value spelled like one of them
/// is warned about.
const TRANSFORMER_NAMES: [&str; 9] = [
    "val", "tolower", "toupper", "b64", "basename", "len", "join", "concat", "getopt",
];

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub name: Arc<str>,
    pub description: String,
    pub priority: Priority,
    pub enabled: bool,
    pub tags: Arc<[Arc<str>]>,
    pub source: Arc<str>,
    /// The event types the rule can match (Falco's `filter_evttype_resolver`).
    pub event_types: EventTypeSet,
    pub location: Location,
    /// `alert` (to the outputs) or `observe` (counted and logged only).
    pub mode: super::RuleMode,
    pub(crate) condition: Cond,
    pub(crate) output: OutputFormat,
}

/// Where a piece of the compiled AST came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Rule,
    Macro(usize),
    Exception(usize),
}

#[derive(Debug)]
struct CompileError {
    origin: Origin,
    offset: usize,
    message: String,
    unknown_field: bool,
}

struct Compiler<'a> {
    coll: &'a Collection,
    lists: HashMap<&'a str, Vec<ListItem>>,
    macros: HashMap<&'a str, (usize, Option<Expr>)>,
    used_macros: HashSet<usize>,
    used_lists: HashSet<String>,
    stack: Vec<usize>,
    warnings: Vec<(Origin, usize, DiagCode, String)>,
    /// Warnings of the current rule placed by YAML location (exception values).
    located: Vec<Diagnostic>,
    /// Deprecated fields already warned about in the current rule.
    deprecated_seen: HashSet<&'static str>,
    slots: HashMap<String, u32>,
}

/// Compiles every collected rule; problems go to `diags`. Also returns the
/// number of distinct check slots (see [`CompiledCheck::slot`]).
pub fn compile(coll: &Collection, diags: &mut Vec<Diagnostic>) -> (Vec<CompiledRule>, usize) {
    let mut c = Compiler {
        coll,
        lists: HashMap::new(),
        macros: HashMap::new(),
        used_macros: HashSet::new(),
        used_lists: HashSet::new(),
        stack: Vec::new(),
        warnings: Vec::new(),
        located: Vec::new(),
        deprecated_seen: HashSet::new(),
        slots: HashMap::new(),
    };
    // Lists may include lists defined before them.
    for l in &coll.lists {
        let mut items = Vec::new();
        for it in &l.items {
            match c.lists.get(it.text.as_str()) {
                Some(inner) if !it.quoted => {
                    items.extend(inner.iter().cloned());
                    c.used_lists.insert(it.text.clone());
                }
                _ => items.push(it.clone()),
            }
        }
        c.lists.insert(l.name.as_str(), items);
    }
    for (i, m) in coll.macros.iter().enumerate() {
        let parsed = match parser::parse_condition(&m.condition.text) {
            Ok(e) => Some(e),
            Err(e) => {
                let item = ItemRef {
                    kind: "macro",
                    name: m.name.clone(),
                    location: m.loc.clone(),
                };
                diags.push(coll.text_diagnostic(
                    Severity::Error,
                    DiagCode::ConditionSyntax,
                    e.message,
                    item,
                    "condition",
                    &m.condition,
                    e.offset,
                ));
                None
            }
        };
        c.macros.insert(m.name.as_str(), (i, parsed));
    }
    // Falco marks a macro or list used when any macro's condition refers to
    // it, used or not (`compile_macros_infos` resolves every macro), and
    // when a rule's does (marked below as rules compile).
    let mut names = HashSet::new();
    for (_, parsed) in c.macros.values() {
        if let Some(e) = parsed {
            collect_references(e, &mut names);
        }
    }
    for name in names {
        if let Some((idx, _)) = c.macros.get(name.as_str()) {
            c.used_macros.insert(*idx);
        }
        if c.lists.contains_key(name.as_str()) {
            c.used_lists.insert(name);
        }
    }
    let mut out = Vec::new();
    for rule in &coll.rules {
        if let Some(r) = c.compile_rule(rule, diags) {
            out.push(r);
        }
    }
    for (i, m) in coll.macros.iter().enumerate() {
        if !c.used_macros.contains(&i) {
            diags.push(Diagnostic {
                severity: Severity::Warning,
                code: DiagCode::UnusedMacro,
                message: "Macro not referred to by any other rule/macro".into(),
                location: m.loc.clone(),
                item: Some(ItemRef {
                    kind: "macro",
                    name: m.name.clone(),
                    location: m.loc.clone(),
                }),
                position: None,
            });
        }
    }
    for l in &coll.lists {
        if !c.used_lists.contains(&l.name) {
            diags.push(Diagnostic {
                severity: Severity::Warning,
                code: DiagCode::UnusedList,
                message: "List not referred to by any other rule/macro".into(),
                location: l.loc.clone(),
                item: Some(ItemRef {
                    kind: "list",
                    name: l.name.clone(),
                    location: l.loc.clone(),
                }),
                position: None,
            });
        }
    }
    let slots = share_slots(&mut out);
    (out, slots)
}

/// Keeps memo slots only for checks that occur more than once across the
/// enabled rules, numbered densely; returns how many there are.
fn share_slots(rules: &mut [CompiledRule]) -> usize {
    let mut uses: HashMap<u32, u32> = HashMap::new();
    for r in rules.iter_mut().filter(|r| r.enabled) {
        r.condition
            .for_each_check_mut(&mut |c| *uses.entry(c.slot).or_insert(0) += 1);
    }
    let mut dense: HashMap<u32, u32> = HashMap::new();
    for r in rules.iter_mut() {
        r.condition.for_each_check_mut(&mut |c| {
            c.slot = if uses.get(&c.slot).copied().unwrap_or(0) > 1 {
                let next = u32::try_from(dense.len()).unwrap_or(NO_SLOT);
                *dense.entry(c.slot).or_insert(next)
            } else {
                NO_SLOT
            };
        });
    }
    dense.len()
}

fn err(origin: Origin, at: Offset, message: String) -> CompileError {
    CompileError {
        origin,
        offset: at.0 as usize,
        message,
        unknown_field: false,
    }
}

impl<'a> Compiler<'a> {
    fn rule_item(rule: &RuleDef) -> ItemRef {
        ItemRef {
            kind: "rule",
            name: rule.name.clone(),
            location: rule.loc.clone(),
        }
    }

    /// A diagnostic for a problem at `offset` of the text `origin` names.
    fn diagnostic(
        &self,
        rule: &RuleDef,
        origin: Origin,
        offset: usize,
        severity: Severity,
        code: DiagCode,
        message: String,
    ) -> Diagnostic {
        let item = Self::rule_item(rule);
        match origin {
            Origin::Rule => self.coll.text_diagnostic(
                severity,
                code,
                message,
                item,
                "condition",
                &rule.condition,
                offset,
            ),
            Origin::Macro(i) => match self.coll.macros.get(i) {
                Some(m) => self.coll.text_diagnostic(
                    severity,
                    code,
                    format!("{message} (in macro '{}')", m.name),
                    item,
                    "macro condition",
                    &m.condition,
                    offset,
                ),
                None => Diagnostic {
                    severity,
                    code,
                    message,
                    location: rule.loc.clone(),
                    item: Some(item),
                    position: None,
                },
            },
            Origin::Exception(i) => {
                let (name, loc) = rule
                    .exceptions
                    .get(i)
                    .map_or((String::new(), rule.loc.clone()), |e| {
                        (e.name.clone(), e.loc.clone())
                    });
                Diagnostic {
                    severity,
                    code,
                    message: format!("{message} (in exception '{name}')"),
                    location: loc,
                    item: Some(item),
                    position: None,
                }
            }
        }
    }

    fn compile_rule(
        &mut self,
        rule: &RuleDef,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<CompiledRule> {
        if rule.source != "syscall" {
            diags.push(Diagnostic {
                severity: Severity::Warning,
                code: DiagCode::UnknownSource,
                // Falco's text; Saker evaluates the syscall source only.
                message: format!("Unknown source {}, skipping", rule.source),
                location: rule.loc.clone(),
                item: Some(Self::rule_item(rule)),
                position: None,
            });
            return None;
        }
        let ast = match parser::parse_condition(&rule.condition.text) {
            Ok(a) => a,
            Err(ParseError { message, offset }) => {
                diags.push(self.diagnostic(
                    rule,
                    Origin::Rule,
                    offset,
                    Severity::Error,
                    DiagCode::ConditionSyntax,
                    message,
                ));
                return None;
            }
        };
        self.warnings.clear();
        self.deprecated_seen.clear();
        let compiled =
            self.expr(&ast, Origin::Rule)
                .and_then(|cond| match self.exceptions(rule)? {
                    Some(ex) => Ok(Cond::And(vec![cond, ex].into())),
                    None => Ok(cond),
                });
        let warnings = std::mem::take(&mut self.warnings);
        for (origin, offset, code, message) in warnings {
            diags.push(self.diagnostic(rule, origin, offset, Severity::Warning, code, message));
        }
        diags.append(&mut self.located);
        let condition = match compiled {
            Ok(c) => c,
            Err(e) => {
                let (severity, code, message) = if e.unknown_field && rule.skip_if_unknown_filter {
                    (
                        Severity::Warning,
                        DiagCode::UnknownFilterSkipped,
                        format!("{}; rule skipped (skip-if-unknown-filter)", e.message),
                    )
                } else {
                    (Severity::Error, DiagCode::Compile, e.message)
                };
                diags.push(self.diagnostic(rule, e.origin, e.offset, severity, code, message));
                return None;
            }
        };
        let output = self.output(rule, diags)?;
        let event_types = infer_event_types(&condition, false);
        let condition = drop_implied_type_tests(optimize(condition), &event_types);
        if rule.warn_evttypes && event_types.len() > EVTTYPE_WARN_THRESHOLD {
            diags.push(Diagnostic {
                severity: Severity::Warning,
                code: DiagCode::NoEvttype,
                message: "Rule matches too many evt.type values. This has a significant performance penalty.".into(),
                location: rule.loc.clone(),
                item: Some(Self::rule_item(rule)),
                position: None,
            });
        }
        Some(CompiledRule {
            name: Arc::from(rule.name.as_str()),
            description: rule.desc.clone(),
            priority: rule.priority,
            enabled: rule.enabled,
            tags: rule.tags.iter().map(|t| Arc::from(t.as_str())).collect(),
            source: Arc::from(rule.source.as_str()),
            event_types,
            location: rule.loc.clone(),
            mode: super::RuleMode::Alert,
            condition,
            output,
        })
    }

    /// The rule's output, compiled. Falco trims it (`rule_loader_reader.cpp`:
    /// a folded `output: >` or literal block keeps a final newline), so one
    /// alert stays one line and `append_output` text follows on the same
    /// line; error offsets are mapped back to the text as written.
    /// `%container.info` is removed with Falco's deprecation warning; other
    /// deprecated fields are warned about as Falco's
    /// `check_deprecated_fields_in_output` does. `None`: the rule is skipped
    /// (reported).
    fn output(&self, rule: &RuleDef, diags: &mut Vec<Diagnostic>) -> Option<OutputFormat> {
        let written = rule.output.text.as_str();
        let lead = written.len() - written.trim_start().len();
        let text = written.trim();
        let at = |offset: usize, severity, code, message: String| {
            self.coll.text_diagnostic(
                severity,
                code,
                message,
                Self::rule_item(rule),
                "output",
                &rule.output,
                offset,
            )
        };
        // Where `%container.info` was, in `text`, to map offsets in the
        // cleaned text back.
        let removed: Vec<usize> = text.match_indices(CONTAINER_INFO).map(|(i, _)| i).collect();
        if let Some(&first) = removed.first() {
            diags.push(at(
                lead + first,
                Severity::Warning,
                DiagCode::Deprecated,
                CONTAINER_INFO_DEPRECATED.into(),
            ));
        }
        let cleaned = text.replace(CONTAINER_INFO, "");
        let written_offset = |offset: usize| {
            let mut o = offset;
            for &r in &removed {
                if r <= o {
                    o += CONTAINER_INFO.len();
                }
            }
            lead + o
        };
        match OutputFormat::compile(&cleaned) {
            Ok(o) => {
                for (field, _) in DEPRECATED_FIELDS {
                    if let Some(i) = text.find(field) {
                        diags.push(at(
                            lead + i,
                            Severity::Warning,
                            DiagCode::Deprecated,
                            format!("usage of deprecated field '{field}' has been detected in the rule output"),
                        ));
                    }
                }
                Some(o)
            }
            Err(e) => {
                let (severity, code, message) = if e.unknown_field && rule.skip_if_unknown_filter {
                    (
                        Severity::Warning,
                        DiagCode::UnknownFilterSkipped,
                        format!("{}; rule skipped (skip-if-unknown-filter)", e.message),
                    )
                } else {
                    (Severity::Error, DiagCode::Output, e.message)
                };
                diags.push(at(written_offset(e.offset), severity, code, message));
                None
            }
        }
    }

    fn expr(&mut self, e: &Expr, origin: Origin) -> Result<Cond, CompileError> {
        Ok(match e {
            Expr::And(items) => Cond::And(
                items
                    .iter()
                    .map(|i| self.expr(i, origin))
                    .collect::<Result<Vec<_>, _>>()?
                    .into(),
            ),
            Expr::Or(items) => Cond::Or(
                items
                    .iter()
                    .map(|i| self.expr(i, origin))
                    .collect::<Result<Vec<_>, _>>()?
                    .into(),
            ),
            Expr::Not(inner, _) => Cond::Not(Box::new(self.expr(inner, origin)?)),
            Expr::Const(b) => Cond::Const(*b),
            Expr::Macro(name, at) => {
                let Some((idx, parsed)) = self.macros.get(name.as_str()) else {
                    return Err(err(
                        origin,
                        *at,
                        format!("undefined macro '{name}' used in filter"),
                    ));
                };
                let idx = *idx;
                self.used_macros.insert(idx);
                let Some(body) = parsed.clone() else {
                    return Err(err(
                        origin,
                        *at,
                        format!("macro '{name}' has a syntax error"),
                    ));
                };
                if self.stack.contains(&idx) {
                    return Err(err(origin, *at, format!("macro '{name}' refers to itself")));
                }
                if self.stack.len() >= MAX_MACRO_DEPTH {
                    return Err(err(
                        origin,
                        *at,
                        format!("macros nest deeper than {MAX_MACRO_DEPTH} levels"),
                    ));
                }
                self.stack.push(idx);
                let r = self.expr(&body, Origin::Macro(idx));
                self.stack.pop();
                r?
            }
            Expr::Check(c) => self.check(c, origin)?,
        })
    }

    /// Compiles an operand; returns its type and how many values it yields.
    fn operand(
        &mut self,
        o: &Operand,
        origin: Origin,
    ) -> Result<(COperand, FieldType, Mode), CompileError> {
        match o {
            Operand::Field { name, arg, at } => {
                let f = fields::resolve(name, arg.as_deref()).map_err(|e| CompileError {
                    origin,
                    offset: at.0 as usize,
                    unknown_field: matches!(e, fields::FieldError::Unknown { .. }),
                    message: e.to_string(),
                })?;
                if let Some((field, why)) = DEPRECATED_FIELDS.iter().find(|(d, _)| d == name)
                    && self.deprecated_seen.insert(field)
                {
                    self.warnings.push((
                        origin,
                        at.0 as usize,
                        DiagCode::Deprecated,
                        (*why).to_string(),
                    ));
                }
                let ty = f.info().ty;
                let mode = if f.is_list() {
                    Mode::ListAll
                } else if f.is_multi() {
                    Mode::Any
                } else {
                    Mode::Single
                };
                Ok((COperand::field(f), ty, mode))
            }
            Operand::Transform { kind, args, at } => {
                let mut compiled = Vec::new();
                let mut first_mode = Mode::Single;
                for (i, a) in args.iter().enumerate() {
                    let (c, _, m) = self.operand(a, origin)?;
                    if i == 0 {
                        first_mode = m;
                    }
                    compiled.push(c);
                }
                if *kind != Transformer::Concat && compiled.len() != 1 {
                    return Err(err(
                        origin,
                        *at,
                        format!("transformer '{}' takes exactly one argument", kind.as_str()),
                    ));
                }
                let (ty, mode) = match kind {
                    Transformer::Len => (FieldType::UInt, Mode::Single),
                    Transformer::Join | Transformer::Concat => (FieldType::String, Mode::Single),
                    _ => (FieldType::String, first_mode),
                };
                Ok((COperand::Transform(*kind, compiled.into()), ty, mode))
            }
        }
    }

    /// Values of a list right-hand side, with list names expanded, each
    /// with the offset of the item it came from.
    fn list_values(&mut self, items: &[Literal]) -> Vec<(String, Offset)> {
        let mut out = Vec::new();
        for it in items {
            match self.lists.get(it.text.as_str()) {
                Some(l) if !it.quoted => {
                    self.used_lists.insert(it.text.clone());
                    out.extend(l.iter().map(|i| (i.text.clone(), it.at)));
                }
                _ => out.push((it.text.clone(), it.at)),
            }
        }
        out
    }

    fn check(&mut self, c: &Check, origin: Origin) -> Result<Cond, CompileError> {
        let (lhs, ty, mut mode) = self.operand(&c.lhs, origin)?;
        let lhs_at = c.lhs.offset();
        let placed: Vec<(String, Offset)> = match &c.rhs {
            Rhs::None => Vec::new(),
            Rhs::Value(l) => vec![(l.text.clone(), l.at)],
            Rhs::List(items) => self.list_values(items),
            Rhs::ListName(name, at) => {
                let Some(l) = self.lists.get(name.as_str()) else {
                    return Err(err(origin, *at, format!("unknown list '{name}'")));
                };
                let v = l.iter().map(|i| (i.text.clone(), *at)).collect();
                self.used_lists.insert(name.clone());
                v
            }
            Rhs::Field(o) => {
                let (rhs, _, _) = self.operand(o, origin)?;
                if matches!(c.op, Operator::Pmatch | Operator::Regex | Operator::Exists) {
                    return Err(err(
                        origin,
                        c.at,
                        format!(
                            "operator '{}' does not support a field on the right-hand side",
                            c.op
                        ),
                    ));
                }
                return Ok(Cond::FieldCmp(Box::new(FieldComparison {
                    lhs,
                    op: c.op,
                    rhs,
                })));
            }
        };
        // libsinsp's compiler warns about every constant value
        // (`check_value_and_add_warnings`). An exception's values are warned
        // about where they are written in YAML (`exceptions`).
        if !matches!(origin, Origin::Exception(_)) {
            for (v, at) in &placed {
                for w in value_warnings(c.op, v) {
                    self.warnings
                        .push((origin, at.0 as usize, DiagCode::CompileCondition, w));
                }
            }
        }
        let values: Vec<String> = placed.into_iter().map(|(v, _)| v).collect();

        // `evt.type` checks become bit tests, which also drive event-type inference.
        if let Some(f) = lhs.field_ref()
            && f.id == FieldId::EvtType
            && c.modifier.is_none()
            && matches!(
                c.op,
                Operator::Eq | Operator::Ne | Operator::In | Operator::Intersects
            )
        {
            let mut set = EventTypeSet::empty();
            for v in &values {
                match EventType::from_name(v) {
                    Some(t) => set.insert(t),
                    None => self.warnings.push((
                        origin,
                        c.at.0 as usize,
                        DiagCode::UnknownEventType,
                        format!("unknown event type '{v}'; this check never matches it"),
                    )),
                }
            }
            let test = Cond::EvtType(Box::new(set));
            return Ok(if c.op == Operator::Ne {
                Cond::Not(Box::new(test))
            } else {
                test
            });
        }

        if mode == Mode::ListAll {
            match c.op {
                Operator::In | Operator::Exists => {}
                Operator::Intersects => mode = Mode::ListAny,
                op => {
                    return Err(err(
                        origin,
                        lhs_at,
                        format!(
                            "list field '{}' only supports operators 'exists', 'in' and 'intersects', not '{op}'",
                            field_name(&c.lhs)
                        ),
                    ));
                }
            }
        }
        let map_err = |e: super::matcher::MatcherError| {
            err(
                origin,
                c.at,
                format!("{} (field '{}')", e, field_name(&c.lhs)),
            )
        };
        let matcher = match c.modifier {
            Some(m) => {
                if values.is_empty() {
                    return Err(err(
                        origin,
                        c.at,
                        "a list modifier needs at least one value".into(),
                    ));
                }
                let items = values
                    .iter()
                    .map(|v| Matcher::compile(ty, c.op, std::slice::from_ref(v)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_err)?;
                Matcher::Modified(m, items.into())
            }
            None => Matcher::compile(ty, c.op, &values).map_err(map_err)?,
        };
        let key = format!(
            "{}|{:?}|{:?}|{:?}|{:?}",
            field_name(&c.lhs),
            c.op,
            c.modifier,
            mode,
            values
        );
        let next = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let slot = *self.slots.entry(key).or_insert(next);
        Ok(Cond::Check(CompiledCheck {
            lhs,
            mode,
            matcher,
            slot,
        }))
    }

    /// `not (...)` terms for the rule's exceptions, compiled; `None` without
    /// any. Falco builds them as condition text (`build_rule_exception_infos`)
    /// after checking fields and comps at load (`validate_exception_info`,
    /// even for an exception without values); this builds the same AST.
    fn exceptions(&mut self, rule: &RuleDef) -> Result<Option<Cond>, CompileError> {
        let mut terms = Vec::new();
        for (i, ex) in rule.exceptions.iter().enumerate() {
            let origin = Origin::Exception(i);
            let e0 = |m: &str| err(origin, Offset(0), m.to_string());
            let Some(fields) = &ex.fields else {
                return Err(e0(
                    "Rule exception item must have fields property with a list of fields",
                ));
            };
            let parse_field = |f: &str| {
                parser::parse_operand_text(f).map_err(|pe| {
                    err(
                        origin,
                        Offset(0),
                        format!("'{f}' is not a supported filter field: {}", pe.message),
                    )
                })
            };
            let (operands, comps): (Vec<Operand>, Vec<Comp>) = match fields {
                ExceptionFields::Single(f) => {
                    let comp = match ex.comps.as_deref() {
                        None => Comp {
                            op: Operator::In,
                            modifier: None,
                        },
                        Some([c]) => parse_comp(c).map_err(|m| e0(&m))?,
                        Some(_) => return Err(e0("Fields and comps must both be strings")),
                    };
                    if !comp.takes_list() {
                        return Err(e0(
                            "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator (e.g. startswith oneof)",
                        ));
                    }
                    (vec![parse_field(f)?], vec![comp])
                }
                ExceptionFields::Tuple(fs) => {
                    let comps = match &ex.comps {
                        Some(cs) => {
                            if cs.len() != fs.len() {
                                return Err(e0("Fields and comps lists must have equal length"));
                            }
                            cs.iter()
                                .map(|c| parse_comp(c).map_err(|m| e0(&m)))
                                .collect::<Result<Vec<_>, _>>()?
                        }
                        None => vec![
                            Comp {
                                op: Operator::Eq,
                                modifier: None
                            };
                            fs.len()
                        ],
                    };
                    let operands = fs
                        .iter()
                        .map(|f| parse_field(f))
                        .collect::<Result<Vec<_>, _>>()?;
                    (operands, comps)
                }
            };
            // Falco checks exception fields when it collects the rule, so an
            // unknown one is an error even with skip-if-unknown-filter.
            for o in &operands {
                self.operand(o, origin).map_err(|mut e| {
                    e.unknown_field = false;
                    e
                })?;
            }
            if ex.values.is_empty() {
                continue;
            }
            let expr = match fields {
                ExceptionFields::Single(_) => {
                    let (Some(lhs), Some(comp)) = (operands.first(), comps.first()) else {
                        continue;
                    };
                    let mut items = Vec::new();
                    for row in &ex.values {
                        let ExceptionRow::Scalar(v) = row else {
                            return Err(e0("Expected values array to contain a list of strings"));
                        };
                        self.warn_exception_value(rule, comp.op, v, &v.text);
                        items.push(literal(&v.text));
                    }
                    comp.check(lhs.clone(), Rhs::List(items))
                }
                ExceptionFields::Tuple(_) => {
                    let mut rows = Vec::new();
                    for row in &ex.values {
                        let cells: &[ExceptionValue] = match row {
                            ExceptionRow::Tuple(cells) => cells,
                            ExceptionRow::Scalar(_) => &[],
                        };
                        if cells.len() != operands.len() {
                            return Err(e0("Fields and values lists must have equal length"));
                        }
                        let mut terms = Vec::new();
                        for ((lhs, comp), cell) in operands.iter().zip(&comps).zip(cells) {
                            let rhs = match cell {
                                ExceptionValue::List(items) => {
                                    if !comp.takes_list() {
                                        return Err(e0(&format!(
                                            "comparison '{}' cannot take a list of values",
                                            comp.op
                                        )));
                                    }
                                    for v in items {
                                        self.warn_exception_value(rule, comp.op, v, &v.text);
                                    }
                                    Rhs::List(items.iter().map(|v| literal(&v.text)).collect())
                                }
                                ExceptionValue::Scalar(v) => {
                                    let rhs = exception_rhs(&v.text, comp.takes_list());
                                    match &rhs {
                                        Rhs::Value(l) => {
                                            self.warn_exception_value(rule, comp.op, v, &l.text);
                                        }
                                        Rhs::List(items) => {
                                            for l in items {
                                                self.warn_exception_value(
                                                    rule, comp.op, v, &l.text,
                                                );
                                            }
                                        }
                                        Rhs::None | Rhs::ListName(..) | Rhs::Field(_) => {}
                                    }
                                    rhs
                                }
                            };
                            terms.push(comp.check(lhs.clone(), rhs));
                        }
                        rows.push(Expr::And(terms));
                    }
                    Expr::Or(rows)
                }
            };
            terms.push(Cond::Not(Box::new(self.expr(&expr, origin)?)));
        }
        Ok(match terms.len() {
            0 => None,
            _ => Some(Cond::And(terms.into())),
        })
    }

    /// libsinsp's value warnings for one exception value, placed where the
    /// value is written.
    fn warn_exception_value(
        &mut self,
        rule: &RuleDef,
        op: Operator,
        at: &ExceptionScalar,
        value: &str,
    ) {
        for message in value_warnings(op, value) {
            self.located.push(Diagnostic {
                severity: Severity::Warning,
                code: DiagCode::CompileCondition,
                message,
                location: at.loc.clone(),
                item: Some(Self::rule_item(rule)),
                position: None,
            });
        }
    }
}

/// An exception's comparison: an operator, possibly with a list modifier
/// (`startswith oneof`, as Falco's `is_str_operator_with_modifier`).
#[derive(Debug, Clone, Copy)]
struct Comp {
    op: Operator,
    modifier: Option<ListModifier>,
}

impl Comp {
    /// Takes a list of values (Falco's `is_operator_for_list`).
    fn takes_list(self) -> bool {
        self.op.takes_list() || self.modifier.is_some()
    }

    fn check(self, lhs: Operand, rhs: Rhs) -> Expr {
        Expr::Check(Box::new(Check {
            lhs,
            op: self.op,
            modifier: self.modifier,
            rhs,
            at: Offset(0),
        }))
    }
}

/// Falco's `normalize_comp` (trim) and operator check: an operator, or a
/// string operator and a list modifier.
fn parse_comp(s: &str) -> Result<Comp, String> {
    let t = s.trim();
    if let Some(op) = Operator::parse(t) {
        return Ok(Comp { op, modifier: None });
    }
    let mut words = t.split_whitespace();
    if let (Some(o), Some(m), None) = (words.next(), words.next(), words.next())
        && let (Some(op), Some(modifier)) = (Operator::parse(o), ListModifier::from_name(m))
        // libs' `s_binary_str_ops`: only string comparisons take a modifier.
        && matches!(
            op,
            Operator::Eq
                | Operator::Ne
                | Operator::Contains
                | Operator::IContains
                | Operator::BContains
                | Operator::StartsWith
                | Operator::BStartsWith
                | Operator::EndsWith
                | Operator::Glob
                | Operator::IGlob
                | Operator::Regex
        )
    {
        return Ok(Comp {
            op,
            modifier: Some(modifier),
        });
    }
    Err(format!("'{t}' is not a supported comparison operator"))
}

/// A value of an exception or a list as Falco writes it into condition text:
/// a quoted string is unquoted, anything else is taken as it is.
fn literal(s: &str) -> Literal {
    let (text, quoted) = parser::parse_list_item(s);
    Literal {
        text,
        quoted,
        at: Offset(0),
    }
}

/// One scalar cell of a tuple exception as Falco reads it once written into
/// the condition: for a list operator `(value)` (a value already in
/// parentheses is a list as written), else the value, quoted when it holds a
/// space (`quote_item`), so `toupper(proc.pname)` is a transformer and
/// `"/a b"` a string. What does not parse is the literal value.
fn exception_rhs(text: &str, list: bool) -> Rhs {
    if list {
        let t = if text.starts_with('(') {
            text.to_string()
        } else {
            format!("({text})")
        };
        return parser::parse_rhs_text(&t, true).unwrap_or_else(|_| {
            Rhs::List(vec![Literal {
                text: text.to_string(),
                quoted: false,
                at: Offset(0),
            }])
        });
    }
    if text.contains(' ') && !text.starts_with(['"', '\'']) {
        return Rhs::Value(Literal {
            text: text.to_string(),
            quoted: true,
            at: Offset(0),
        });
    }
    parser::parse_rhs_text(text, false).unwrap_or_else(|_| Rhs::Value(literal(text)))
}

/// The warnings libsinsp's filter compiler gives for a constant value
/// (`filter.cpp` `check_value_and_add_warnings`), Falco's
/// `LOAD_COMPILE_CONDITION`: a regex a simpler operator would do, a field
/// name or a transformer written as a string.
fn value_warnings(op: Operator, v: &str) -> Vec<String> {
    let mut out = Vec::new();
    if op == Operator::Regex
        && let Some(w) = regex_hint(v)
    {
        out.push(w);
    }
    // libsinsp checks the value with its white space removed (`isspace`).
    let stripped: String = v
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
        .collect();
    if is_field_name(&stripped) {
        out.push(format!(
            "'{v}' may be a valid field misused as a const string value"
        ));
    }
    for t in TRANSFORMER_NAMES {
        if stripped.len() >= t.len() + 2
            && stripped.starts_with(t)
            && stripped.as_bytes().get(t.len()) == Some(&b'(')
            && stripped.ends_with(')')
        {
            out.push(format!(
                "'{v}' may be a valid field transformer misused as a const string value"
            ));
        }
    }
    out
}

/// The whole text names a field (with its argument): libsinsp's
/// `new_filtercheck` with the exact-length check.
fn is_field_name(s: &str) -> bool {
    matches!(
        parser::parse_operand_text(s),
        Ok(Operand::Field { name, arg, .. }) if fields::resolve(&name, arg.as_deref()).is_ok()
    )
}

/// libsinsp's `check_warnings_regex_value`: a regex whose only special
/// characters are anchors at its ends and `.*`/`.+`/`.?` at its ends could be
/// `=`, `contains`, `startswith` or `endswith`.
fn regex_hint(v: &str) -> Option<String> {
    const SPECIAL: &[u8] = b".+*?^$()[]{}|\\";
    const OCCURRENCE: &[u8] = b"+*?";
    let b = v.as_bytes();
    let len = b.len();
    let mut i = 0;
    while i < len {
        let c = b.get(i).copied().unwrap_or(0);
        if (i == 0 && c == b'^') || (i + 1 == len && c == b'$') {
            i += 1;
            continue;
        }
        if ((i == 0 && len > 1) || i + 2 == len)
            && c == b'.'
            && b.get(i + 1).is_some_and(|n| OCCURRENCE.contains(n))
        {
            i += 2;
            continue;
        }
        if SPECIAL.contains(&c) {
            return None;
        }
        i += 1;
    }
    Some(format!(
        "regex check with '{v}' may be optimized with simpler operators such as '=', 'contains', 'startswith', 'endswith'"
    ))
}

/// Macro and list names a condition refers to (macros by name, lists as a
/// list name or an unquoted item of a value list).
fn collect_references(e: &Expr, out: &mut HashSet<String>) {
    match e {
        Expr::And(items) | Expr::Or(items) => {
            for i in items {
                collect_references(i, out);
            }
        }
        Expr::Not(inner, _) => collect_references(inner, out),
        Expr::Macro(name, _) => {
            out.insert(name.clone());
        }
        Expr::Check(c) => match &c.rhs {
            Rhs::ListName(name, _) => {
                out.insert(name.clone());
            }
            Rhs::List(items) => {
                for it in items.iter().filter(|i| !i.quoted) {
                    out.insert(it.text.clone());
                }
            }
            Rhs::None | Rhs::Value(_) | Rhs::Field(_) => {}
        },
        Expr::Const(_) => {}
    }
}

fn field_name(o: &Operand) -> String {
    match o {
        Operand::Field {
            name, arg: Some(a), ..
        } => format!("{name}[{a}]"),
        Operand::Field { name, .. } => name.clone(),
        Operand::Transform { kind, args, .. } => format!(
            "{}({})",
            kind.as_str(),
            args.iter().map(field_name).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The event types a condition can match, by De Morgan over `and`/`or`/`not`
/// with `evt.type` checks as leaves and every other check meaning "any type"
/// (libsinsp's `filter_evttype_resolver`).
pub fn infer_event_types(c: &Cond, negated: bool) -> EventTypeSet {
    match c {
        Cond::EvtType(set) => {
            if negated {
                set.complement()
            } else {
                (**set).clone()
            }
        }
        Cond::Not(inner) => infer_event_types(inner, !negated),
        Cond::And(items) | Cond::Or(items) => {
            let intersect = matches!(c, Cond::And(_)) != negated;
            let mut acc = if intersect {
                EventTypeSet::all()
            } else {
                EventTypeSet::empty()
            };
            for i in items.iter() {
                let s = infer_event_types(i, negated);
                acc = if intersect {
                    acc.intersection(&s)
                } else {
                    acc.union(&s)
                };
            }
            acc
        }
        Cond::Check(_) | Cond::FieldCmp(_) | Cond::Const(_) => EventTypeSet::all(),
    }
}

/// Rewrites a condition into an equivalent one that is cheaper to evaluate:
/// nested `and`/`or` (from macros) are flattened and double negations and
/// constants folded. Operands keep the order the rule author wrote: ordering
/// them by estimated cost was measured to evaluate more checks per event on
/// the upstream rules, whose authors put the selective checks first.
pub fn optimize(c: Cond) -> Cond {
    match c {
        Cond::Not(inner) => match optimize(*inner) {
            Cond::Not(x) => *x,
            Cond::Const(b) => Cond::Const(!b),
            other => Cond::Not(Box::new(other)),
        },
        Cond::And(items) => flatten(items, true),
        Cond::Or(items) => flatten(items, false),
        other => other,
    }
}

fn flatten(items: Box<[Cond]>, is_and: bool) -> Cond {
    let mut out = Vec::with_capacity(items.len());
    for it in items.into_vec() {
        match optimize(it) {
            Cond::And(sub) if is_and => out.extend(sub.into_vec()),
            Cond::Or(sub) if !is_and => out.extend(sub.into_vec()),
            // `true and x` is x; `false or x` is x.
            Cond::Const(b) if b == is_and => {}
            // `false and x` is false; `true or x` is true.
            Cond::Const(b) => return Cond::Const(b),
            other => out.push(other),
        }
    }
    match out.len() {
        0 => Cond::Const(is_and),
        1 => out.pop().unwrap_or(Cond::Const(is_and)),
        _ if is_and => Cond::And(out.into()),
        _ => Cond::Or(out.into()),
    }
}

/// Removes top-level `evt.type` tests that the event-type index already
/// guarantees: a rule is only evaluated for events whose type is in
/// `types`, so a conjunct testing a superset of `types` is always true there.
fn drop_implied_type_tests(c: Cond, types: &EventTypeSet) -> Cond {
    let implied = |c: &Cond| matches!(c, Cond::EvtType(set) if set.intersection(types) == *types);
    match c {
        Cond::And(items) => {
            let mut kept: Vec<Cond> = items
                .into_vec()
                .into_iter()
                .filter(|i| !implied(i))
                .collect();
            match kept.len() {
                0 => Cond::Const(true),
                1 => kept.pop().unwrap_or(Cond::Const(true)),
                _ => Cond::And(kept.into()),
            }
        }
        c if implied(&c) => Cond::Const(true),
        c => c,
    }
}
