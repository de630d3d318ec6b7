//! Compiled conditions and their evaluation against a [`FieldProvider`].

use std::borrow::Cow;

use crate::alert::{format_clock_nanos, format_rfc3339_nanos};
use crate::fields::{FieldArg, FieldId, FieldProvider, FieldRef, Value};

use super::ast::Transformer;
use super::evttype::EventTypeSet;
use super::matcher::{Matcher, map_text};

/// A compiled boolean expression.
#[derive(Debug, Clone)]
pub enum Cond {
    Const(bool),
    And(Box<[Cond]>),
    Or(Box<[Cond]>),
    Not(Box<Cond>),
    /// `evt.type = x` / `evt.type in (...)`: a bit test.
    EvtType(Box<EventTypeSet>),
    /// Stored inline so an `and`/`or` keeps its checks contiguous in memory.
    Check(CompiledCheck),
    /// `field op val(other)`: compares two fields of the same event.
    FieldCmp(Box<FieldComparison>),
}

/// How the extracted value(s) meet the matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One value.
    Single,
    /// Several candidates; the check holds if it holds for any
    /// (`proc.aname` without index, `fd.ip`).
    Any,
    /// A Falco list field: `in` holds when every value is in the set,
    /// `intersects` when some value is.
    ListAll,
    ListAny,
}

/// A field, possibly transformed.
#[derive(Debug, Clone)]
pub enum COperand {
    /// Supplied by the [`FieldProvider`].
    Field(FieldRef),
    /// Computed by the engine from the event type and time ([`engine_supplied`]).
    Engine(FieldRef),
    Transform(Transformer, Box<[COperand]>),
}

#[derive(Debug, Clone)]
pub struct CompiledCheck {
    pub lhs: COperand,
    pub mode: Mode,
    pub matcher: Matcher,
    /// Identical checks (same field, operator and values) in several places
    /// share a slot, so one event evaluates each of them once; a check that
    /// occurs once has [`NO_SLOT`] and skips the memo.
    pub slot: u32,
}

/// The slot of a check that nothing else shares.
pub const NO_SLOT: u32 = u32::MAX;

/// Remembers check results for one event (see [`CompiledCheck::slot`]).
pub trait Memo {
    fn get(&self, slot: u32) -> Option<bool>;
    fn put(&mut self, slot: u32, value: bool);
}

/// No memory: every check is evaluated.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMemo;

impl Memo for NoMemo {
    #[inline]
    fn get(&self, _: u32) -> Option<bool> {
        None
    }
    #[inline]
    fn put(&mut self, _: u32, _: bool) {}
}

/// Per-event check results: two bits per slot. Reused across events; call
/// [`CheckMemo::reset`] before each one.
#[derive(Debug, Default, Clone)]
pub struct CheckMemo {
    known: Vec<u64>,
    value: Vec<u64>,
}

impl CheckMemo {
    /// Forgets every result and makes room for `slots` checks.
    #[inline]
    pub fn reset(&mut self, slots: usize) {
        let words = slots.div_ceil(64);
        if self.known.len() < words {
            self.known.resize(words, 0);
            self.value.resize(words, 0);
        }
        if let Some(k) = self.known.get_mut(..words) {
            k.fill(0);
        }
    }
}

impl Memo for CheckMemo {
    #[inline]
    fn get(&self, slot: u32) -> Option<bool> {
        let (w, b) = ((slot / 64) as usize, slot % 64);
        let known = self.known.get(w)?;
        if known & (1 << b) == 0 {
            return None;
        }
        self.value.get(w).map(|v| v & (1 << b) != 0)
    }
    #[inline]
    fn put(&mut self, slot: u32, value: bool) {
        let (w, b) = ((slot / 64) as usize, slot % 64);
        if let (Some(k), Some(v)) = (self.known.get_mut(w), self.value.get_mut(w)) {
            *k |= 1 << b;
            if value {
                *v |= 1 << b;
            } else {
                *v &= !(1 << b);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct FieldComparison {
    pub lhs: COperand,
    pub op: super::ast::Operator,
    pub rhs: COperand,
}

impl Cond {
    /// Calls `f` on every check of the condition.
    pub fn for_each_check_mut(&mut self, f: &mut impl FnMut(&mut CompiledCheck)) {
        match self {
            Cond::And(items) | Cond::Or(items) => {
                for i in items.iter_mut() {
                    i.for_each_check_mut(f);
                }
            }
            Cond::Not(c) => c.for_each_check_mut(f),
            Cond::Check(c) => f(c),
            Cond::Const(_) | Cond::EvtType(_) | Cond::FieldCmp(_) => {}
        }
    }

    /// Evaluates without remembering check results.
    #[inline]
    pub fn eval<P: FieldProvider + ?Sized>(&self, p: &P) -> bool {
        self.eval_memo(p, &mut NoMemo)
    }

    /// Evaluates, reusing (and recording) results of shared checks in `memo`.
    pub fn eval_memo<P: FieldProvider + ?Sized, M: Memo>(&self, p: &P, memo: &mut M) -> bool {
        match self {
            Cond::And(items) => items.iter().all(|c| c.eval_node(p, memo)),
            Cond::Or(items) => items.iter().any(|c| c.eval_node(p, memo)),
            Cond::Not(c) => !c.eval_node(p, memo),
            Cond::FieldCmp(c) => match (c.lhs.value(p), c.rhs.value(p)) {
                (Some(a), Some(b)) => compare_fields(c.op, &a, &b),
                _ => false,
            },
            leaf => leaf.eval_node(p, memo),
        }
    }

    /// Leaves are evaluated in the caller's loop; only `and`/`or`/`not`
    /// recurse. A call per node was a fifth of all instructions (measured).
    #[inline(always)]
    fn eval_node<P: FieldProvider + ?Sized, M: Memo>(&self, p: &P, memo: &mut M) -> bool {
        match self {
            Cond::Const(b) => *b,
            Cond::EvtType(set) => set.contains(p.event_type()),
            Cond::Check(c) if c.slot == NO_SLOT => c.eval(p),
            Cond::Check(c) => match memo.get(c.slot) {
                Some(v) => v,
                None => {
                    let v = c.eval(p);
                    memo.put(c.slot, v);
                    v
                }
            },
            inner => inner.eval_memo(p, memo),
        }
    }
}

impl CompiledCheck {
    #[inline]
    fn eval<P: FieldProvider + ?Sized>(&self, p: &P) -> bool {
        // A value that cannot be extracted fails every comparison, `!=` and
        // `exists` included (sinsp_filter_check::compare_nocache).
        // Matched in place: moving the value out of the Option costs a
        // store-forwarding stall per check (measured).
        let extracted = std::mem::ManuallyDrop::new(self.lhs.value(p));
        let Some(v) = &*extracted else {
            return false;
        };
        let result = match (self.mode, v) {
            (Mode::Single, Value::List(items)) | (Mode::Any, Value::List(items)) => {
                items.iter().any(|i| self.matcher.matches(i))
            }
            (Mode::ListAll, Value::List(items)) => {
                matches!(self.matcher, Matcher::Exists)
                    || items.iter().all(|i| self.matcher.matches(i))
            }
            (Mode::ListAny, Value::List(items)) => items.iter().any(|i| self.matcher.matches(i)),
            _ => self.matcher.matches(v),
        };
        // Borrowed strings and plain numbers own nothing: skipping their
        // (out-of-line) drop glue is a no-op that saves a call per check.
        if owns_heap(v) {
            drop(std::mem::ManuallyDrop::into_inner(extracted));
        }
        result
    }
}

/// True when dropping the value frees memory.
#[inline]
fn owns_heap(v: &Value<'_>) -> bool {
    matches!(
        v,
        Value::Str(Cow::Owned(_)) | Value::Bytes(Cow::Owned(_)) | Value::List(_)
    )
}

fn compare_fields(op: super::ast::Operator, a: &Value<'_>, b: &Value<'_>) -> bool {
    use super::ast::Operator as O;
    let num = |v: &Value<'_>| match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        _ => None,
    };
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return match op {
            O::Eq | O::In | O::Intersects => x == y,
            O::Ne => x != y,
            O::Lt => x < y,
            O::Le => x <= y,
            O::Gt => x > y,
            O::Ge => x >= y,
            _ => false,
        };
    }
    if let Value::List(items) = b
        && matches!(op, O::In | O::Intersects)
    {
        let at = a.to_text();
        return items.iter().any(|i| i.to_text() == at);
    }
    let (x, y) = (a.to_text(), b.to_text());
    match op {
        O::Eq | O::In | O::Intersects => x == y,
        O::Ne => x != y,
        O::Contains => x.contains(&y),
        O::IContains => x.to_ascii_lowercase().contains(&y.to_ascii_lowercase()),
        O::StartsWith => x.starts_with(&y),
        O::EndsWith => x.ends_with(&y),
        O::Lt => x < y,
        O::Le => x <= y,
        O::Gt => x > y,
        O::Ge => x >= y,
        _ => false,
    }
}

impl COperand {
    /// The operand for a field: served by the engine or by the provider.
    pub fn field(f: FieldRef) -> Self {
        if engine_supplied(&f) {
            COperand::Engine(f)
        } else {
            COperand::Field(f)
        }
    }

    pub fn field_ref(&self) -> Option<&FieldRef> {
        match self {
            COperand::Field(f) | COperand::Engine(f) => Some(f),
            COperand::Transform(..) => None,
        }
    }

    #[inline]
    pub fn value<'p, P: FieldProvider + ?Sized>(&self, p: &'p P) -> Option<Value<'p>> {
        match self {
            COperand::Field(f) => p.extract(f),
            COperand::Engine(f) => extract(p, f),
            COperand::Transform(t, args) => {
                if *t == Transformer::Concat {
                    let mut out = String::new();
                    for a in args.iter() {
                        out.push_str(&a.value(p)?.to_text());
                    }
                    return Some(Value::Str(Cow::Owned(out)));
                }
                let v = args.first()?.value(p)?;
                Some(apply_transformer(*t, v))
            }
        }
    }
}

fn apply_transformer(t: Transformer, v: Value<'_>) -> Value<'_> {
    match t {
        Transformer::ToLower => map_text(v, &|s| {
            if s.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(s.to_ascii_lowercase())
            } else {
                Cow::Borrowed(s)
            }
        }),
        Transformer::ToUpper => map_text(v, &|s| {
            if s.bytes().any(|b| b.is_ascii_lowercase()) {
                Cow::Owned(s.to_ascii_uppercase())
            } else {
                Cow::Borrowed(s)
            }
        }),
        Transformer::Basename => map_text(v, &|s| match s.rfind('/') {
            Some(i) => Cow::Owned(s.get(i + 1..).unwrap_or("").to_string()),
            None => Cow::Borrowed(s),
        }),
        Transformer::B64 => map_text(v, &|s| match base64_decode(s) {
            Some(d) => Cow::Owned(String::from_utf8_lossy(&d).into_owned()),
            None => Cow::Borrowed(s),
        }),
        Transformer::Len => match v {
            Value::List(items) => Value::UInt(items.len() as u64),
            Value::Bytes(b) => Value::UInt(b.len() as u64),
            other => Value::UInt(other.to_text().len() as u64),
        },
        Transformer::Join => match v {
            Value::List(items) => Value::Str(Cow::Owned(
                items
                    .iter()
                    .map(Value::to_text)
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            other => other,
        },
        Transformer::Concat => v,
    }
}

/// Standard base64 (with or without padding); `None` when not valid base64.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s.trim_end_matches('=').as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Extracts a field, serving the fields the engine can compute itself from the
/// event type and timestamp; everything else comes from the provider.
pub fn extract<'p, P: FieldProvider + ?Sized>(p: &'p P, f: &FieldRef) -> Option<Value<'p>> {
    let ts = || p.timestamp_ns();
    match f.id {
        FieldId::EvtType => Some(Value::Str(Cow::Borrowed(p.event_type().name()))),
        FieldId::EvtTime => Some(Value::Str(Cow::Owned(format_clock_nanos(ts())))),
        FieldId::EvtTimeS => {
            let c = format_clock_nanos(ts());
            Some(Value::Str(Cow::Owned(
                c.split('.').next().unwrap_or("").to_string(),
            )))
        }
        FieldId::EvtTimeIso8601 => Some(Value::Str(Cow::Owned(format_rfc3339_nanos(ts())))),
        FieldId::EvtDatetime => {
            let iso = format_rfc3339_nanos(ts());
            Some(Value::Str(Cow::Owned(
                iso.trim_end_matches('Z').replacen('T', " ", 1),
            )))
        }
        FieldId::EvtRawtime => u64::try_from(ts()).ok().map(Value::UInt),
        FieldId::EvtRawtimeS => u64::try_from(ts().div_euclid(1_000_000_000))
            .ok()
            .map(Value::UInt),
        FieldId::EvtRawtimeNs => u64::try_from(ts().rem_euclid(1_000_000_000))
            .ok()
            .map(Value::UInt),
        FieldId::EvtCount => Some(Value::UInt(1)),
        _ => p.extract(f),
    }
}

/// True for fields [`extract`] computes without the provider.
pub fn engine_supplied(f: &FieldRef) -> bool {
    f.arg == FieldArg::None
        && matches!(
            f.id,
            FieldId::EvtType
                | FieldId::EvtTime
                | FieldId::EvtTimeS
                | FieldId::EvtTimeIso8601
                | FieldId::EvtDatetime
                | FieldId::EvtRawtime
                | FieldId::EvtRawtimeS
                | FieldId::EvtRawtimeNs
                | FieldId::EvtCount
        )
}
