//! From collected items to compiled rules, as Falco's `rule_loader_compiler.cpp`:
//! lists are expanded, macros inlined, exceptions turned into
//! `(condition) and not (...)`, every check typed against the field catalog,
//! each rule's event types inferred, and outputs compiled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::alert::Priority;
use crate::event::EventType;
use crate::fields::{self, FieldId, FieldType};

use super::ast::{Check, Expr, Literal, Offset, Operand, Operator, Rhs, Transformer};
use super::cond::{COperand, CompiledCheck, Cond, FieldComparison, Mode, NO_SLOT};
use super::diag::{DiagCode, Diagnostic, ItemRef, Location, Severity};
use super::evttype::EventTypeSet;
use super::format::OutputFormat;
use super::loader::{Collection, ExceptionFields, ExceptionValue, ListItem, RuleDef};
use super::matcher::Matcher;
use super::parser::{self, ParseError};

/// Most macro levels one condition may nest.
const MAX_MACRO_DEPTH: usize = 64;

/// Falco warns when a rule's event types are empty or more than this many.
const EVTTYPE_WARN_THRESHOLD: usize = 100;

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
                message: format!("macro '{}' is not used by any rule or macro", m.name),
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
                message: format!("list '{}' is not used by any rule, macro or list", l.name),
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
                message: format!(
                    "rule '{}' is for source '{}', which this engine does not evaluate; skipped",
                    rule.name, rule.source
                ),
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
        // A folded (`output: >`) or literal block keeps a final newline; Falco
        // trims it (rule_loader_reader.cpp), so one alert stays one line and
        // `append_output` text follows on the same line. Trimming the end
        // keeps error offsets valid.
        let output = match OutputFormat::compile(rule.output.text.trim_end()) {
            Ok(o) => o,
            Err(e) => {
                diags.push(self.coll.text_diagnostic(
                    Severity::Error,
                    DiagCode::Output,
                    e.message,
                    Self::rule_item(rule),
                    "output",
                    &rule.output,
                    e.offset,
                ));
                return None;
            }
        };
        let event_types = infer_event_types(&condition, false);
        let condition = drop_implied_type_tests(optimize(condition), &event_types);
        if rule.warn_evttypes
            && (event_types.is_empty() || event_types.len() > EVTTYPE_WARN_THRESHOLD)
        {
            diags.push(Diagnostic {
                severity: Severity::Warning,
                code: DiagCode::NoEvttype,
                message: format!(
                    "rule '{}' matches too many evt.type values ({}); this has a significant performance penalty",
                    rule.name,
                    event_types.len()
                ),
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
            condition,
            output,
        })
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

    /// Values of a list right-hand side, with list names expanded.
    fn list_values(&mut self, items: &[Literal]) -> Vec<String> {
        let mut out = Vec::new();
        for it in items {
            match self.lists.get(it.text.as_str()) {
                Some(l) if !it.quoted => {
                    self.used_lists.insert(it.text.clone());
                    out.extend(l.iter().map(|i| i.text.clone()));
                }
                _ => out.push(it.text.clone()),
            }
        }
        out
    }

    fn check(&mut self, c: &Check, origin: Origin) -> Result<Cond, CompileError> {
        let (lhs, ty, mut mode) = self.operand(&c.lhs, origin)?;
        let lhs_at = c.lhs.offset();
        let values: Vec<String> = match &c.rhs {
            Rhs::None => Vec::new(),
            Rhs::Value(l) => vec![l.text.clone()],
            Rhs::List(items) => self.list_values(items),
            Rhs::ListName(name, at) => {
                let Some(l) = self.lists.get(name.as_str()) else {
                    return Err(err(origin, *at, format!("unknown list '{name}'")));
                };
                let v = l.iter().map(|i| i.text.clone()).collect();
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

    /// `not (...)` terms for the rule's exceptions, compiled; `None` without any.
    fn exceptions(&mut self, rule: &RuleDef) -> Result<Option<Cond>, CompileError> {
        let mut terms = Vec::new();
        for (i, ex) in rule.exceptions.iter().enumerate() {
            let origin = Origin::Exception(i);
            let e0 = |m: String| err(origin, Offset(0), m);
            let Some(fields) = &ex.fields else {
                return Err(e0("exception has no 'fields'".into()));
            };
            if ex.values.is_empty() {
                continue;
            }
            let parse_field = |f: &str| {
                parser::parse_operand_text(f).map_err(|pe| {
                    err(
                        origin,
                        Offset(0),
                        format!("invalid field '{f}': {}", pe.message),
                    )
                })
            };
            let parse_op = |s: &str| {
                Operator::parse(s).ok_or_else(|| {
                    err(
                        origin,
                        Offset(0),
                        format!("'{s}' is not a valid comparison operator"),
                    )
                })
            };
            let lit = |s: &str| {
                let (text, quoted) = parser::parse_list_item(s);
                Literal {
                    text,
                    quoted,
                    at: Offset(0),
                }
            };
            let mk = |lhs: Operand, op: Operator, rhs: Rhs| {
                Expr::Check(Box::new(Check {
                    lhs,
                    op,
                    modifier: None,
                    rhs,
                    at: Offset(0),
                }))
            };
            let expr = match fields {
                ExceptionFields::Single(f) => {
                    // Single-field form: `field comp (v1, v2, ...)`, comp defaults to `in`.
                    let op =
                        match ex.comps.as_deref() {
                            Some([c]) => parse_op(c)?,
                            Some(_) => return Err(e0(
                                "'comps' must be a single operator when 'fields' is a single field"
                                    .into(),
                            )),
                            None => Operator::In,
                        };
                    if !op.takes_list() {
                        return Err(e0(format!(
                            "comparison '{op}' cannot take the list of values of a single-field exception; use in, intersects or pmatch"
                        )));
                    }
                    let mut items = Vec::new();
                    for row in &ex.values {
                        for v in row {
                            match v {
                                ExceptionValue::Scalar(s) => items.push(lit(s)),
                                ExceptionValue::List(_) => {
                                    return Err(e0(
                                        "expected values array to contain a list of strings".into(),
                                    ));
                                }
                            }
                        }
                    }
                    mk(parse_field(f)?, op, Rhs::List(items))
                }
                ExceptionFields::Tuple(fs) => {
                    // Tuple form: one row per value tuple, comps default to `=`.
                    let ops = match &ex.comps {
                        Some(cs) => {
                            if cs.len() != fs.len() {
                                return Err(e0(
                                    "fields and comps lists must have equal length".into()
                                ));
                            }
                            cs.iter()
                                .map(|c| parse_op(c))
                                .collect::<Result<Vec<_>, _>>()?
                        }
                        None => vec![Operator::Eq; fs.len()],
                    };
                    let operands = fs
                        .iter()
                        .map(|f| parse_field(f))
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut rows = Vec::new();
                    for row in &ex.values {
                        if row.len() != fs.len() {
                            return Err(
                                e0("fields and values lists must have equal length".into()),
                            );
                        }
                        let mut terms = Vec::new();
                        for ((lhs, op), v) in operands.iter().zip(&ops).zip(row) {
                            let rhs = match v {
                                ExceptionValue::List(items) => {
                                    if !op.takes_list() {
                                        return Err(e0(format!(
                                            "comparison '{op}' cannot take a list of values"
                                        )));
                                    }
                                    Rhs::List(items.iter().map(|s| lit(s)).collect())
                                }
                                // A scalar for a list operator is a one-item list, so
                                // a list name there expands (Falco's `paren_item`).
                                ExceptionValue::Scalar(s) if op.takes_list() => {
                                    Rhs::List(vec![Literal {
                                        text: s.clone(),
                                        quoted: false,
                                        at: Offset(0),
                                    }])
                                }
                                ExceptionValue::Scalar(s) => Rhs::Value(lit(s)),
                            };
                            terms.push(mk(lhs.clone(), *op, rhs));
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
