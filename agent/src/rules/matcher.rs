//! Typed comparisons: right-hand values parsed once for the field's type, and
//! the per-event test of an extracted [`Value`] against them.
//!
//! Semantics follow libsinsp's `sinsp_filter_check::compare_rhs` and
//! `flt_compare`: `in`/`intersects` are set membership, `pmatch` is a
//! path-prefix search, `glob` is `fnmatch(3)` without `FNM_PATHNAME`, `regex`
//! is a full (anchored) match, `icontains` folds ASCII case.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use memchr::memmem::Finder;
use regex::Regex;

use crate::fields::{FieldType, Value};

use super::ast::{ListModifier, Operator};

/// A small, fast hasher for short strings (FxHash's multiply-rotate).
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

/// A set of strings with a length pre-check.
#[derive(Debug, Clone)]
pub struct StrSet {
    set: HashSet<Box<str>, FxBuild>,
    min: usize,
    max: usize,
}

impl StrSet {
    pub fn new<I: IntoIterator<Item = String>>(items: I) -> Self {
        let set: HashSet<Box<str>, FxBuild> =
            items.into_iter().map(String::into_boxed_str).collect();
        let min = set.iter().map(|s| s.len()).min().unwrap_or(0);
        let max = set.iter().map(|s| s.len()).max().unwrap_or(0);
        StrSet { set, min, max }
    }

    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        s.len() >= self.min && s.len() <= self.max && self.set.contains(s)
    }

    /// The strings, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.set.iter().map(|s| &**s)
    }
}

/// Path prefixes for `pmatch`: a value matches when it is one of the paths or
/// lies below one of them (component-wise: `/etc` matches `/etc/passwd`, not
/// `/etcd`), as libsinsp's `path_prefix_search`.
#[derive(Debug, Clone)]
pub struct PathPrefixes {
    set: StrSet,
    root: bool,
}

impl PathPrefixes {
    pub fn new<I: IntoIterator<Item = String>>(items: I) -> Self {
        let mut root = false;
        let mut norm = Vec::new();
        for p in items {
            let t = p.trim_end_matches('/');
            if t.is_empty() && p.starts_with('/') {
                root = true;
            } else {
                norm.push(t.to_string());
            }
        }
        PathPrefixes {
            set: StrSet::new(norm),
            root,
        }
    }

    /// The paths (without trailing `/`), `/` itself aside ([`Self::has_root`]).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.set.iter()
    }

    /// Whether `/` is one of the paths (every absolute path matches).
    pub fn has_root(&self) -> bool {
        self.root
    }

    pub fn matches(&self, path: &str) -> bool {
        if self.root && path.starts_with('/') {
            return true;
        }
        let path = path.trim_end_matches('/');
        let bytes = path.as_bytes();
        for (i, &b) in bytes.iter().enumerate().skip(1) {
            if b == b'/' && path.get(..i).is_some_and(|p| self.set.contains(p)) {
                return true;
            }
        }
        self.set.contains(path)
    }
}

/// An IP network (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    pub fn parse(s: &str) -> Option<Self> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|&p| p <= max)?,
            None => max,
        };
        Some(IpNetwork { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                (u32::from(n) & mask) == (u32::from(a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                (u128::from(n) & mask) == (u128::from(a) & mask)
            }
            _ => false,
        }
    }
}

/// `fnmatch(pattern, s, 0)` (or with `FNM_CASEFOLD`): `*` and `?` match any
/// character including `/`, `[...]` classes with `!`/`^` negation and ranges,
/// `\` escapes. Written here rather than taken from a glob crate because those
/// add `{a,b}` alternation and path-separator rules that Falco's glob lacks.
pub fn fnmatch(pat: &[u8], s: &[u8], icase: bool) -> bool {
    let fold = |b: u8| if icase { b.to_ascii_lowercase() } else { b };
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let c = fold(s[i]);
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, i));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class_match(pat, p, c, icase) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                // An unterminated class is a literal '['.
                None => (c == b'[').then_some(p + 1),
            },
            Some(b'\\') if p + 1 < pat.len() => (fold(pat[p + 1]) == c).then_some(p + 2),
            Some(&pc) => (fold(pc) == c).then_some(p + 1),
            None => None,
        };
        match step {
            Some(next) => {
                p = next;
                i += 1;
            }
            None => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    while pat.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pat.len()
}

/// Matches `c` against the class starting at `pat[start] == '['`. Returns
/// whether it matched and the index after the class, or `None` if unterminated.
fn class_match(pat: &[u8], start: usize, c: u8, icase: bool) -> Option<(bool, usize)> {
    let fold = |b: u8| if icase { b.to_ascii_lowercase() } else { b };
    let mut j = start + 1;
    let negate = matches!(pat.get(j), Some(b'!' | b'^'));
    if negate {
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let mut lo = *pat.get(j)?;
        if lo == b']' && !first {
            return Some((matched != negate, j + 1));
        }
        first = false;
        if lo == b'\\' {
            j += 1;
            lo = *pat.get(j)?;
        }
        j += 1;
        if pat.get(j) == Some(&b'-') && pat.get(j + 1).is_some_and(|&h| h != b']') {
            let mut hi = *pat.get(j + 1)?;
            j += 2;
            if hi == b'\\' {
                hi = *pat.get(j)?;
                j += 1;
            }
            if (fold(lo)..=fold(hi)).contains(&c) || (lo..=hi).contains(&c) {
                matched = true;
            }
        } else if fold(lo) == c {
            matched = true;
        }
    }
}

/// ASCII case-insensitive substring search (`strcasestr`).
fn icontains(hay: &[u8], needle_lower: &[u8]) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    if hay.len() < needle_lower.len() {
        return false;
    }
    let first = needle_lower[0];
    let first_up = first.to_ascii_uppercase();
    let last_start = hay.len() - needle_lower.len();
    let mut i = 0;
    while i <= last_start {
        let b = hay[i];
        if (b == first || b == first_up)
            && hay[i..i + needle_lower.len()]
                .iter()
                .zip(needle_lower)
                .all(|(h, n)| h.to_ascii_lowercase() == *n)
        {
            return true;
        }
        i += 1;
    }
    false
}

/// Parses a Falco number: decimal or `0x` hex, optionally signed.
pub fn parse_number(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i128::from_str_radix(h, 16).ok()?
    } else {
        digits.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// `bcontains cafebabe`: the value is hex-encoded bytes.
fn parse_hex_bytes(s: &str) -> Option<Vec<u8>> {
    let t = s.trim();
    if t.is_empty() || !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// A comparison of one extracted value against constant right-hand values.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exists,
    StrEq(Box<str>),
    StrNe(Box<str>),
    StrIn(Box<StrSet>),
    Contains(Box<Finder<'static>>),
    IContains(Box<[u8]>),
    StartsWith(Box<[u8]>),
    EndsWith(Box<[u8]>),
    Glob(Box<[u8]>, bool),
    Regex(Box<Regex>),
    Pmatch(Box<PathPrefixes>),
    NumCmp(Operator, i128),
    NumIn(Box<[i128]>),
    BoolEq(bool, bool),
    IpEq(IpAddr, bool),
    IpIn(Box<[IpAddr]>),
    NetIn(Box<[IpNetwork]>, bool),
    /// Numbers compare as numbers, anything else as text (`evt.rawarg.*`).
    Dynamic(Option<Box<Matcher>>, Box<Matcher>),
    /// `op oneof|anyof|allof (v1, v2, ...)`: one matcher per value.
    Modified(ListModifier, Box<[Matcher]>),
}

/// Why a right-hand side cannot be compiled for a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("operator '{op}' is not supported for {ty} fields")]
    Operator { op: Operator, ty: FieldType },
    #[error("invalid {ty} value '{value}'")]
    Value { ty: FieldType, value: String },
    #[error("invalid regular expression '{pattern}': {reason}")]
    Regex { pattern: String, reason: String },
    #[error("operator '{op}' needs a single value, not a list")]
    NeedsScalar { op: Operator },
}

fn operator_allowed(ty: FieldType, op: Operator) -> bool {
    use Operator::*;
    match ty {
        FieldType::String => !matches!(op, Lt | Le | Gt | Ge),
        FieldType::Int | FieldType::UInt | FieldType::AbsTime | FieldType::RelTime => {
            matches!(op, Eq | Ne | Lt | Le | Gt | Ge | In | Intersects | Exists)
        }
        FieldType::Bool => matches!(op, Eq | Ne | In | Intersects | Exists),
        FieldType::IpAddr | FieldType::IpNet => {
            matches!(op, Eq | Ne | In | Intersects | Exists)
        }
        FieldType::Bytes => matches!(
            op,
            Eq | Ne | Contains | BContains | StartsWith | BStartsWith | EndsWith | Exists | In
        ),
        FieldType::Dynamic => true,
    }
}

impl Matcher {
    /// Compiles `op values` for a field of type `ty`. `values` has one element
    /// for scalar operators.
    pub fn compile(
        ty: FieldType,
        op: Operator,
        values: &[String],
    ) -> Result<Matcher, MatcherError> {
        if op == Operator::Exists {
            return Ok(Matcher::Exists);
        }
        if !operator_allowed(ty, op) {
            return Err(MatcherError::Operator { op, ty });
        }
        let bad = |v: &str| MatcherError::Value {
            ty,
            value: v.to_string(),
        };
        let single = || -> Result<&String, MatcherError> {
            match values {
                [one] => Ok(one),
                _ => Err(MatcherError::NeedsScalar { op }),
            }
        };
        if ty == FieldType::Dynamic {
            let text = Matcher::compile(FieldType::String, op, values)?;
            let num = if operator_allowed(FieldType::Int, op) {
                Matcher::compile(FieldType::Int, op, values)
                    .ok()
                    .map(Box::new)
            } else {
                None
            };
            return Ok(Matcher::Dynamic(num, Box::new(text)));
        }
        let list = op.takes_list();
        Ok(match ty {
            FieldType::Int | FieldType::UInt | FieldType::AbsTime | FieldType::RelTime => {
                if list {
                    let nums = values
                        .iter()
                        .map(|v| parse_number(v).ok_or_else(|| bad(v)))
                        .collect::<Result<Vec<_>, _>>()?;
                    Matcher::NumIn(nums.into())
                } else {
                    let v = single()?;
                    Matcher::NumCmp(op, parse_number(v).ok_or_else(|| bad(v))?)
                }
            }
            FieldType::Bool => {
                if list {
                    let mut t = false;
                    let mut f = false;
                    for v in values {
                        if parse_bool(v).ok_or_else(|| bad(v))? {
                            t = true;
                        } else {
                            f = true;
                        }
                    }
                    match (t, f) {
                        (true, true) => Matcher::Exists,
                        (true, false) => Matcher::BoolEq(true, false),
                        (false, true) => Matcher::BoolEq(false, false),
                        (false, false) => Matcher::StrIn(Box::new(StrSet::new(Vec::new()))),
                    }
                } else {
                    let v = single()?;
                    Matcher::BoolEq(parse_bool(v).ok_or_else(|| bad(v))?, op == Operator::Ne)
                }
            }
            FieldType::IpAddr => {
                // Falco lets `fd.ip in (...)`-style checks name networks too.
                let parse_any = |v: &String| IpNetwork::parse(v).ok_or_else(|| bad(v));
                if list {
                    let nets = values
                        .iter()
                        .map(parse_any)
                        .collect::<Result<Vec<_>, _>>()?;
                    if nets
                        .iter()
                        .all(|n| n.prefix == if n.addr.is_ipv4() { 32 } else { 128 })
                    {
                        Matcher::IpIn(nets.iter().map(|n| n.addr).collect())
                    } else {
                        Matcher::NetIn(nets.into(), false)
                    }
                } else {
                    let v = single()?;
                    let ip: IpAddr = v.trim().parse().map_err(|_| bad(v))?;
                    Matcher::IpEq(ip, op == Operator::Ne)
                }
            }
            FieldType::IpNet => {
                let nets = values
                    .iter()
                    .map(|v| IpNetwork::parse(v).ok_or_else(|| bad(v)))
                    .collect::<Result<Vec<_>, _>>()?;
                if !list && nets.len() != 1 {
                    return Err(MatcherError::NeedsScalar { op });
                }
                Matcher::NetIn(nets.into(), op == Operator::Ne)
            }
            FieldType::Bytes | FieldType::String => match op {
                Operator::In | Operator::Intersects => {
                    Matcher::StrIn(Box::new(StrSet::new(values.iter().cloned())))
                }
                Operator::Pmatch => {
                    Matcher::Pmatch(Box::new(PathPrefixes::new(values.iter().cloned())))
                }
                Operator::Eq => Matcher::StrEq(single()?.as_str().into()),
                Operator::Ne => Matcher::StrNe(single()?.as_str().into()),
                Operator::Contains => {
                    Matcher::Contains(Box::new(Finder::new(single()?.as_bytes()).into_owned()))
                }
                Operator::IContains => {
                    Matcher::IContains(single()?.to_ascii_lowercase().into_bytes().into())
                }
                Operator::StartsWith => Matcher::StartsWith(single()?.as_bytes().into()),
                Operator::EndsWith => Matcher::EndsWith(single()?.as_bytes().into()),
                Operator::BContains => {
                    let v = single()?;
                    let bytes = parse_hex_bytes(v).ok_or_else(|| MatcherError::Value {
                        ty: FieldType::Bytes,
                        value: v.clone(),
                    })?;
                    Matcher::Contains(Box::new(Finder::new(&bytes).into_owned()))
                }
                Operator::BStartsWith => {
                    let v = single()?;
                    Matcher::StartsWith(
                        parse_hex_bytes(v)
                            .ok_or_else(|| MatcherError::Value {
                                ty: FieldType::Bytes,
                                value: v.clone(),
                            })?
                            .into(),
                    )
                }
                Operator::Glob => Matcher::Glob(single()?.as_bytes().into(), false),
                Operator::IGlob => {
                    Matcher::Glob(single()?.to_ascii_lowercase().into_bytes().into(), true)
                }
                Operator::Regex => {
                    let v = single()?;
                    let re = regex::RegexBuilder::new(&format!("^(?:{v})$"))
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| MatcherError::Regex {
                            pattern: v.clone(),
                            reason: e.to_string(),
                        })?;
                    Matcher::Regex(Box::new(re))
                }
                Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge | Operator::Exists => {
                    return Err(MatcherError::Operator { op, ty });
                }
            },
            FieldType::Dynamic => return Err(MatcherError::Operator { op, ty }),
        })
    }

    /// Tests one (non-list) value.
    #[inline]
    pub fn matches(&self, v: &Value<'_>) -> bool {
        match self {
            Matcher::Exists => true,
            Matcher::StrEq(s) => with_text(v, |t| t == s.as_bytes()),
            Matcher::StrNe(s) => with_text(v, |t| t != s.as_bytes()),
            Matcher::StrIn(set) => match v {
                Value::Str(s) => set.contains(s),
                _ => with_text(v, |t| std::str::from_utf8(t).is_ok_and(|s| set.contains(s))),
            },
            Matcher::Contains(f) => with_text(v, |t| f.find(t).is_some()),
            Matcher::IContains(n) => with_text(v, |t| icontains(t, n)),
            Matcher::StartsWith(p) => with_text(v, |t| t.starts_with(p)),
            Matcher::EndsWith(p) => with_text(v, |t| t.ends_with(p)),
            Matcher::Glob(p, icase) => with_text(v, |t| fnmatch(p, t, *icase)),
            Matcher::Regex(re) => match v {
                Value::Str(s) => re.is_match(s),
                _ => with_text(v, |t| re.is_match(&String::from_utf8_lossy(t))),
            },
            Matcher::Pmatch(p) => match v {
                Value::Str(s) => p.matches(s),
                _ => with_text(v, |t| p.matches(&String::from_utf8_lossy(t))),
            },
            Matcher::NumCmp(op, rhs) => number_of(v).is_some_and(|n| match op {
                Operator::Eq => n == *rhs,
                Operator::Ne => n != *rhs,
                Operator::Lt => n < *rhs,
                Operator::Le => n <= *rhs,
                Operator::Gt => n > *rhs,
                Operator::Ge => n >= *rhs,
                _ => false,
            }),
            Matcher::NumIn(set) => number_of(v).is_some_and(|n| set.contains(&n)),
            Matcher::BoolEq(b, ne) => match v {
                Value::Bool(x) => (x == b) != *ne,
                Value::Int(_) | Value::UInt(_) => {
                    number_of(v).is_some_and(|n| (n != 0) == *b) != *ne
                }
                _ => false,
            },
            Matcher::IpEq(ip, ne) => match v {
                Value::Ip(x) => (x == ip) != *ne,
                Value::Str(s) => s.parse::<IpAddr>().is_ok_and(|x| (x == *ip) != *ne),
                _ => false,
            },
            Matcher::IpIn(set) => ip_of(v).is_some_and(|x| set.contains(&x)),
            Matcher::NetIn(nets, ne) => {
                ip_of(v).is_some_and(|x| nets.iter().any(|n| n.contains(x)) != *ne)
            }
            Matcher::Dynamic(num, text) => match (v, num) {
                (Value::Int(_) | Value::UInt(_), Some(n)) => n.matches(v),
                _ => text.matches(v),
            },
            Matcher::Modified(modifier, items) => match modifier {
                ListModifier::AnyOf => items.iter().any(|m| m.matches(v)),
                ListModifier::AllOf => items.iter().all(|m| m.matches(v)),
                ListModifier::OneOf => items.iter().filter(|m| m.matches(v)).count() == 1,
            },
        }
    }

    /// True for matchers that test set membership (`in`, `intersects`).
    pub fn is_membership(&self) -> bool {
        matches!(
            self,
            Matcher::StrIn(_) | Matcher::NumIn(_) | Matcher::IpIn(_) | Matcher::NetIn(_, false)
        ) || matches!(self, Matcher::Dynamic(_, t) if t.is_membership())
    }
}

/// Runs `f` on the value's text (bytes for strings and buffers; the printed
/// form for anything else).
fn with_text(v: &Value<'_>, f: impl FnOnce(&[u8]) -> bool) -> bool {
    match v {
        Value::Str(s) => f(s.as_bytes()),
        Value::Bytes(b) => f(b),
        Value::List(_) => false,
        other => f(other.to_text().as_bytes()),
    }
}

fn number_of(v: &Value<'_>) -> Option<i128> {
    match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Str(s) => parse_number(s),
        _ => None,
    }
}

fn ip_of(v: &Value<'_>) -> Option<IpAddr> {
    match v {
        Value::Ip(ip) => Some(*ip),
        Value::Str(s) => s.parse().ok(),
        _ => None,
    }
}

/// Applies a string transformer that keeps borrowed text borrowed when unchanged.
pub fn map_text<'a>(v: Value<'a>, f: &dyn Fn(&str) -> Cow<'_, str>) -> Value<'a> {
    match v {
        Value::Str(Cow::Borrowed(s)) => match f(s) {
            Cow::Borrowed(_) => Value::Str(Cow::Borrowed(s)),
            Cow::Owned(o) => Value::Str(Cow::Owned(o)),
        },
        Value::Str(Cow::Owned(s)) => Value::Str(Cow::Owned(f(&s).into_owned())),
        Value::List(items) => Value::List(items.into_iter().map(|i| map_text(i, f)).collect()),
        other => {
            let t = other.to_text();
            Value::Str(Cow::Owned(f(&t).into_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value<'_> {
        Value::Str(Cow::Borrowed(v))
    }

    fn m(ty: FieldType, op: Operator, vals: &[&str]) -> Matcher {
        Matcher::compile(
            ty,
            op,
            &vals.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn glob_is_fnmatch_without_pathname() {
        assert!(fnmatch(b"/home/*/.ssh/*", b"/home/al/.ssh/id_rsa", false));
        assert!(fnmatch(b"*../*../*", b"/a/../b/../c", false));
        assert!(!fnmatch(b"*../*../*", b"/a/../b", false));
        // `*` crosses '/' (no FNM_PATHNAME).
        assert!(fnmatch(b"/etc/*", b"/etc/ssh/sshd_config", false));
        assert!(fnmatch(b"file?.[ch]", b"file1.c", false));
        assert!(!fnmatch(b"file?.[!ch]", b"file1.c", false));
        assert!(fnmatch(b"[a-c]x", b"bx", false));
        assert!(fnmatch(b"\\*x", b"*x", false));
        assert!(!fnmatch(b"\\*x", b"ax", false));
        assert!(fnmatch(b"a[b", b"a[b", false));
        assert!(fnmatch(b"/proc/*/environ", b"/proc/1/environ", false));
        assert!(fnmatch(b"*.sh", b"/TMP/X.SH", true) || fnmatch(b"*.sh", b"/tmp/x.sh", true));
        assert!(!fnmatch(b"abc", b"abcd", false));
        assert!(fnmatch(b"", b"", false));
    }

    #[test]
    fn string_operators() {
        let v = s("/etc/shadow");
        assert!(m(FieldType::String, Operator::Eq, &["/etc/shadow"]).matches(&v));
        assert!(!m(FieldType::String, Operator::Ne, &["/etc/shadow"]).matches(&v));
        assert!(m(FieldType::String, Operator::Contains, &["shad"]).matches(&v));
        assert!(m(FieldType::String, Operator::IContains, &["SHAD"]).matches(&v));
        assert!(!m(FieldType::String, Operator::Contains, &["SHAD"]).matches(&v));
        assert!(m(FieldType::String, Operator::StartsWith, &["/etc/"]).matches(&v));
        assert!(m(FieldType::String, Operator::EndsWith, &["dow"]).matches(&v));
        assert!(m(FieldType::String, Operator::Glob, &["/etc/sh*"]).matches(&v));
        assert!(m(FieldType::String, Operator::IGlob, &["/ETC/SH*"]).matches(&v));
        assert!(m(FieldType::String, Operator::Regex, &["/etc/s.*w"]).matches(&v));
        // regex is anchored at both ends, as RE2 FullMatch.
        assert!(!m(FieldType::String, Operator::Regex, &["etc"]).matches(&v));
        assert!(
            m(
                FieldType::String,
                Operator::In,
                &["/etc/passwd", "/etc/shadow"]
            )
            .matches(&v)
        );
        assert!(!m(FieldType::String, Operator::In, &["/etc"]).matches(&v));
        assert!(m(FieldType::String, Operator::BContains, &["736861"]).matches(&v));
        assert!(m(FieldType::String, Operator::BStartsWith, &["2f657463"]).matches(&v));
    }

    #[test]
    fn pmatch_is_component_wise_prefix() {
        let p = m(FieldType::String, Operator::Pmatch, &["/etc", "/usr/lib/"]);
        assert!(p.matches(&s("/etc")));
        assert!(p.matches(&s("/etc/passwd")));
        assert!(p.matches(&s("/usr/lib/x/y.so")));
        assert!(!p.matches(&s("/etcd/x")));
        assert!(!p.matches(&s("/usr/libexec")));
        assert!(m(FieldType::String, Operator::Pmatch, &["/"]).matches(&s("/anything")));
    }

    #[test]
    fn numbers_bools_and_addresses() {
        let n = Value::Int(-1);
        assert!(m(FieldType::Int, Operator::Eq, &["-1"]).matches(&n));
        assert!(m(FieldType::Int, Operator::Lt, &["0"]).matches(&n));
        assert!(m(FieldType::UInt, Operator::Ge, &["0x10"]).matches(&Value::UInt(16)));
        assert!(!m(FieldType::UInt, Operator::Gt, &["16"]).matches(&Value::UInt(16)));
        assert!(m(FieldType::UInt, Operator::Le, &["16"]).matches(&Value::UInt(16)));
        assert!(m(FieldType::UInt, Operator::In, &["22", "2222"]).matches(&Value::UInt(2222)));
        assert!(m(FieldType::Bool, Operator::Eq, &["true"]).matches(&Value::Bool(true)));
        assert!(m(FieldType::Bool, Operator::Ne, &["true"]).matches(&Value::Bool(false)));
        let ip = Value::Ip("10.1.2.3".parse().unwrap());
        assert!(m(FieldType::IpAddr, Operator::Eq, &["10.1.2.3"]).matches(&ip));
        assert!(m(FieldType::IpNet, Operator::Eq, &["10.0.0.0/8"]).matches(&ip));
        assert!(
            m(
                FieldType::IpNet,
                Operator::In,
                &["192.168.0.0/16", "10.0.0.0/8"]
            )
            .matches(&ip)
        );
        assert!(!m(FieldType::IpNet, Operator::In, &["192.168.0.0/16"]).matches(&ip));
        assert!(m(FieldType::IpAddr, Operator::In, &["10.0.0.0/8"]).matches(&ip));
        let v6 = Value::Ip("fd00::1".parse().unwrap());
        assert!(m(FieldType::IpNet, Operator::Eq, &["fd00::/8"]).matches(&v6));
        assert!(!m(FieldType::IpNet, Operator::Eq, &["10.0.0.0/8"]).matches(&v6));
    }

    #[test]
    fn modifiers_and_dynamic_values() {
        let any = Matcher::Modified(
            ListModifier::AnyOf,
            vec![
                m(FieldType::String, Operator::StartsWith, &["/tmp"]),
                m(FieldType::String, Operator::StartsWith, &["/dev/shm"]),
            ]
            .into(),
        );
        assert!(any.matches(&s("/dev/shm/x")));
        assert!(!any.matches(&s("/usr/x")));
        let d = m(FieldType::Dynamic, Operator::Eq, &["0x2"]);
        assert!(d.matches(&Value::UInt(2)));
        let d = m(FieldType::Dynamic, Operator::Eq, &["O_RDONLY"]);
        assert!(d.matches(&s("O_RDONLY")));
    }

    #[test]
    fn invalid_values_and_operators_are_compile_errors() {
        let e = Matcher::compile(FieldType::UInt, Operator::Eq, &["abc".into()]).unwrap_err();
        assert!(e.to_string().contains("invalid uint value 'abc'"));
        let e = Matcher::compile(FieldType::UInt, Operator::Contains, &["1".into()]).unwrap_err();
        assert!(e.to_string().contains("not supported"));
        assert!(Matcher::compile(FieldType::String, Operator::Regex, &["(".into()]).is_err());
        assert!(Matcher::compile(FieldType::IpAddr, Operator::Eq, &["1.2.3".into()]).is_err());
        assert!(Matcher::compile(FieldType::Bytes, Operator::BContains, &["xyz".into()]).is_err());
    }
}
