//! The field catalog and the interface through which rules read event fields.
//!
//! Every field a Falco rule can name (`proc.name`, `fd.name`, `evt.arg.flags`,
//! ...) has one entry in [`catalog`]: its name, value type, argument kind,
//! description, and whether live capture supplies it yet. Conditions and
//! output formats are compiled to a [`FieldRef`] (a numeric [`FieldId`] plus a
//! pre-parsed [`FieldArg`]), so the hot path never looks at field names.
//!
//! The live state implements [`FieldProvider`]: given a [`FieldRef`] it returns
//! the event's [`Value`], borrowed from state where the bytes already exist, or
//! `None` when the value is missing (Falco's "extraction failed").

mod catalog;
pub mod extract;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use crate::event::EventType;

pub use catalog::{FieldId, catalog};

/// The type of a field's values, after Falco's `ppm_param_type` families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text (`CHARBUF`, `FSPATH`).
    String,
    /// Signed integer (`INT64`, `PID`, `ERRNO`, `FD`).
    Int,
    /// Unsigned integer (`UINT32`, `UINT64`, `UID`, `PORT`, flags).
    UInt,
    /// `true` / `false`.
    Bool,
    /// An IPv4 or IPv6 address.
    IpAddr,
    /// An address compared against networks (`fd.net`, `fd.snet`, ...): `=`
    /// and `in` test membership of the field's address in CIDR values.
    IpNet,
    /// Raw bytes (`evt.buffer`): `bcontains`/`bstartswith` take hex values.
    Bytes,
    /// Nanoseconds since the epoch.
    AbsTime,
    /// A duration in nanoseconds.
    RelTime,
    /// Type decided by the event (`evt.rawarg.*`): numbers compare as numbers,
    /// anything else as text.
    Dynamic,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::UInt => "uint",
            FieldType::Bool => "bool",
            FieldType::IpAddr => "ipaddr",
            FieldType::IpNet => "ipnet",
            FieldType::Bytes => "bytes",
            FieldType::AbsTime => "abstime",
            FieldType::RelTime => "reltime",
            FieldType::Dynamic => "dynamic",
        }
    }

    /// True for types whose values compare as numbers.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::UInt | FieldType::AbsTime | FieldType::RelTime
        )
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What may follow a field name in brackets (or, for `evt.arg`, after a dot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// No argument allowed.
    None,
    /// A numeric index is required.
    Index,
    /// A numeric index may be given (`proc.aname` or `proc.aname[2]`).
    OptionalIndex,
    /// A key is required (`container.mount.dest[/etc]`).
    Key,
    /// A key may be given (`proc.env` or `proc.env[HOME]`).
    OptionalKey,
    /// A key (`evt.arg.flags`, `evt.arg[flags]`) or an index (`evt.arg[0]`).
    KeyOrIndex,
}

impl ArgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArgKind::None => "none",
            ArgKind::Index => "index",
            ArgKind::OptionalIndex => "optional index",
            ArgKind::Key => "key",
            ArgKind::OptionalKey => "optional key",
            ArgKind::KeyOrIndex => "key or index",
        }
    }
}

/// How many values one extraction yields, and what comparisons mean for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiplicity {
    /// One value.
    Single,
    /// A list (Falco's `EPF_IS_LIST`, e.g. `fd.types`): only `in` (every value
    /// is in the set), `intersects` (some value is) and `exists` apply.
    List,
    /// Without an argument the provider returns every candidate (all
    /// ancestors for `proc.aname`; client and server for `fd.ip`) and a check
    /// holds if it holds for any of them, as Falco's custom compare does.
    AnyWithoutArg,
    /// Always several candidates, any of which may satisfy the check (`fd.ip`,
    /// `fd.port`, `fd.net`: client or server side).
    Any,
}

/// One entry of the field catalog.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    pub id: FieldId,
    pub name: &'static str,
    pub ty: FieldType,
    pub arg: ArgKind,
    pub multiplicity: Multiplicity,
    pub description: &'static str,
    /// True once live capture supplies this field (the live state flips it).
    pub live: bool,
}

/// A field's argument, parsed once when the rule is compiled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldArg {
    None,
    Index(u32),
    Key(Box<str>),
}

/// A compiled field reference: what the provider is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub id: FieldId,
    pub arg: FieldArg,
}

impl FieldRef {
    pub fn info(&self) -> &'static FieldInfo {
        self.id.info()
    }

    /// True when the provider returns several candidate values ([`Value::List`]).
    pub fn is_multi(&self) -> bool {
        match self.info().multiplicity {
            Multiplicity::Single => false,
            Multiplicity::List | Multiplicity::Any => true,
            Multiplicity::AnyWithoutArg => self.arg == FieldArg::None,
        }
    }

    /// True when the field is a Falco list (`in` = all, `intersects` = any).
    pub fn is_list(&self) -> bool {
        self.info().multiplicity == Multiplicity::List && self.arg == FieldArg::None
    }
}

impl fmt::Display for FieldRef {
    /// The spelling a rule uses: `proc.aname[2]`, `evt.arg.flags`, `proc.env[HOME]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.id.info().name;
        match &self.arg {
            FieldArg::None => f.write_str(name),
            FieldArg::Index(i) => write!(f, "{name}[{i}]"),
            FieldArg::Key(k) => {
                if matches!(
                    self.id,
                    FieldId::EvtArg | FieldId::EvtRawArg | FieldId::EvtAbspath
                ) {
                    write!(f, "{name}.{k}")
                } else {
                    write!(f, "{name}[{k}]")
                }
            }
        }
    }
}

/// One extracted value. Strings borrow from the provider when they can.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Ip(IpAddr),
    /// Several values: a Falco list field, or the candidates of an "any" field.
    List(Vec<Value<'a>>),
}

impl Value<'_> {
    /// The text Falco prints for the value in an output line.
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Int(v) => v.to_string(),
            Value::UInt(v) => v.to_string(),
            Value::Bool(v) => v.to_string(),
            Value::Ip(ip) => ip.to_string(),
            Value::List(items) => {
                // Falco prints list values as `(a,b,c)`.
                let parts: Vec<String> = items.iter().map(Value::to_text).collect();
                format!("({})", parts.join(","))
            }
        }
    }
}

/// The interface the rules engine evaluates against: one event, with access to
/// the state around it. The live state implements it; tests and benchmarks
/// implement it with hand-built events.
pub trait FieldProvider {
    /// The event's `evt.type`.
    fn event_type(&self) -> EventType;

    /// Event time, nanoseconds since the Unix epoch.
    fn timestamp_ns(&self) -> i64;

    /// The value of `field` for this event, or `None` when it is missing (no
    /// such thread, fd or argument; not applicable to this event type). A
    /// missing value makes every comparison false except under `not`, exactly
    /// as a failed extraction does in Falco.
    ///
    /// For fields where [`FieldRef::is_multi`] is true return [`Value::List`].
    fn extract(&self, field: &FieldRef) -> Option<Value<'_>>;
}

/// Looks a field up by the name used in rules, splitting off `evt.arg.NAME`-style
/// dotted keys. Returns the catalog entry and the dotted key, if any.
pub fn lookup(name: &str) -> Option<(&'static FieldInfo, Option<&str>)> {
    if let Some(info) = catalog::by_name(name) {
        return Some((info, None));
    }
    for prefix in ["evt.arg.", "evt.rawarg."] {
        if let Some(key) = name.strip_prefix(prefix)
            && !key.is_empty()
        {
            let info = catalog::by_name(&prefix[..prefix.len() - 1])?;
            return Some((info, Some(key)));
        }
    }
    // Falco's evt.abspath.src / evt.abspath.dst (sinsp_filtercheck_event.cpp
    // parses exactly these two suffixes).
    if let Some(key @ ("src" | "dst")) = name.strip_prefix("evt.abspath.") {
        return Some((catalog::by_name("evt.abspath")?, Some(key)));
    }
    None
}

/// Builds a [`FieldRef`] from a field name and its bracket argument (if any),
/// checking the argument against the field's [`ArgKind`].
pub fn resolve(name: &str, bracket: Option<&str>) -> Result<FieldRef, FieldError> {
    let (info, dotted) = lookup(name).ok_or_else(|| FieldError::Unknown {
        name: name.to_string(),
    })?;
    if dotted.is_some() && bracket.is_some() {
        return Err(FieldError::BadArgument {
            field: name.to_string(),
            reason: "a field cannot have both a dotted and a bracketed argument".into(),
        });
    }
    let raw = dotted.or(bracket);
    let bad = |reason: &str| FieldError::BadArgument {
        field: info.name.to_string(),
        reason: reason.to_string(),
    };
    let arg = match (info.arg, raw) {
        (ArgKind::None, None) => FieldArg::None,
        (ArgKind::None, Some(_)) => return Err(bad("this field takes no argument")),
        (ArgKind::Index | ArgKind::Key, None) => return Err(bad("this field needs an argument")),
        (ArgKind::OptionalIndex | ArgKind::OptionalKey | ArgKind::KeyOrIndex, None) => {
            if info.arg == ArgKind::KeyOrIndex {
                return Err(bad("this field needs an argument"));
            }
            FieldArg::None
        }
        (ArgKind::Index | ArgKind::OptionalIndex, Some(s)) => {
            let i: u32 = s
                .trim()
                .parse()
                .map_err(|_| bad("the argument must be a non-negative integer"))?;
            FieldArg::Index(i)
        }
        (ArgKind::Key | ArgKind::OptionalKey, Some(s)) => {
            if s.is_empty() {
                return Err(bad("the argument must not be empty"));
            }
            if info.id == FieldId::EvtAbspath && !matches!(s, "src" | "dst") {
                return Err(bad(
                    "Falco has evt.abspath, evt.abspath.src and evt.abspath.dst only",
                ));
            }
            FieldArg::Key(s.into())
        }
        (ArgKind::KeyOrIndex, Some(s)) => match s.trim().parse::<u32>() {
            Ok(i) if dotted.is_none() => FieldArg::Index(i),
            _ => FieldArg::Key(s.into()),
        },
    };
    Ok(FieldRef { id: info.id, arg })
}

/// Why a field reference is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("unknown field '{name}'")]
    Unknown { name: String },
    #[error("invalid argument for field '{field}': {reason}")]
    BadArgument { field: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_resolve_with_their_arguments() {
        let f = resolve("proc.aname", Some("2")).unwrap();
        assert_eq!(f.id, FieldId::ProcAname);
        assert_eq!(f.arg, FieldArg::Index(2));
        assert_eq!(f.to_string(), "proc.aname[2]");
        assert!(!f.is_multi());
        assert!(resolve("proc.aname", None).unwrap().is_multi());

        let f = resolve("evt.arg.flags", None).unwrap();
        assert_eq!(f.id, FieldId::EvtArg);
        assert_eq!(f.arg, FieldArg::Key("flags".into()));
        assert_eq!(f.to_string(), "evt.arg.flags");
        assert_eq!(
            resolve("evt.arg", Some("0")).unwrap().arg,
            FieldArg::Index(0)
        );
        assert_eq!(
            resolve("proc.env", Some("HOME")).unwrap().arg,
            FieldArg::Key("HOME".into())
        );
        assert_eq!(resolve("proc.env", None).unwrap().arg, FieldArg::None);
    }

    #[test]
    fn bad_fields_and_arguments_are_rejected() {
        assert!(matches!(
            resolve("proc.nope", None),
            Err(FieldError::Unknown { .. })
        ));
        assert!(matches!(
            resolve("proc.name", Some("1")),
            Err(FieldError::BadArgument { .. })
        ));
        assert!(matches!(
            resolve("proc.aname", Some("x")),
            Err(FieldError::BadArgument { .. })
        ));
        assert!(resolve("evt.arg", None).is_err());
        // evt.abspath takes Falco's two suffixes and nothing else.
        let f = resolve("evt.abspath.dst", None).unwrap();
        assert_eq!(
            (f.id, &f.arg),
            (FieldId::EvtAbspath, &FieldArg::Key("dst".into()))
        );
        assert_eq!(f.to_string(), "evt.abspath.dst");
        assert_eq!(resolve("evt.abspath", None).unwrap().arg, FieldArg::None);
        assert!(resolve("evt.abspath.newpath", None).is_err());
        assert!(resolve("evt.abspath", Some("x")).is_err());
    }

    #[test]
    fn catalog_is_consistent() {
        let all = catalog();
        assert!(all.len() > 150);
        for (i, f) in all.iter().enumerate() {
            assert_eq!(f.id as usize, i, "{}", f.name);
            assert_eq!(lookup(f.name).unwrap().0.id, f.id);
            assert!(!f.description.is_empty(), "{}", f.name);
            assert_eq!(
                f.live,
                extract::is_live(f.id),
                "{}: the catalog's live column disagrees with the extractor",
                f.name
            );
        }
    }
}
