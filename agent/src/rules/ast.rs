//! The condition AST: what the parser produces and the compiler consumes.
//!
//! Every node keeps the byte offset where it starts in its condition text, so
//! diagnostics can point at it. Offsets are not part of a node's identity:
//! two conditions that differ only in layout compare equal.

use std::fmt;

/// Byte offset of a node in its condition text. Compares equal to every other
/// offset, so `==` on the AST compares structure and values only.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offset(pub u32);

impl PartialEq for Offset {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>, Offset),
    /// A bare identifier: a macro reference.
    Macro(String, Offset),
    Check(Box<Check>),
    /// Produced by the compiler for a macro that failed to compile (never by the parser).
    Const(bool),
}

/// `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub lhs: Operand,
    pub op: Operator,
    pub modifier: Option<ListModifier>,
    pub rhs: Rhs,
    pub at: Offset,
}

/// A field, possibly wrapped in transformers.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field {
        name: String,
        arg: Option<String>,
        at: Offset,
    },
    Transform {
        kind: Transformer,
        args: Vec<Operand>,
        at: Offset,
    },
}

impl Operand {
    pub fn offset(&self) -> Offset {
        match self {
            Operand::Field { at, .. } | Operand::Transform { at, .. } => *at,
        }
    }
}

/// Field transformers: `tolower(proc.name)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformer {
    ToLower,
    ToUpper,
    B64,
    Basename,
    Len,
    /// `join(", ", field)`: a list field's values joined by a separator (Saker extension).
    Join,
    /// `concat(a, b, ...)`: the text of several fields, one after the other (Saker extension).
    Concat,
}

impl Transformer {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "tolower" => Transformer::ToLower,
            "toupper" => Transformer::ToUpper,
            "b64" => Transformer::B64,
            "basename" => Transformer::Basename,
            "len" => Transformer::Len,
            "join" => Transformer::Join,
            "concat" => Transformer::Concat,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transformer::ToLower => "tolower",
            Transformer::ToUpper => "toupper",
            Transformer::B64 => "b64",
            Transformer::Basename => "basename",
            Transformer::Len => "len",
            Transformer::Join => "join",
            Transformer::Concat => "concat",
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    Regex,
    In,
    Intersects,
    Pmatch,
    Exists,
}

impl Operator {
    /// Operators spelled as words, and the symbol operators, longest first.
    pub const WORDS: [(&'static str, Operator); 15] = [
        ("contains", Operator::Contains),
        ("icontains", Operator::IContains),
        ("bcontains", Operator::BContains),
        ("startswith", Operator::StartsWith),
        ("bstartswith", Operator::BStartsWith),
        ("endswith", Operator::EndsWith),
        ("glob", Operator::Glob),
        ("iglob", Operator::IGlob),
        ("regex", Operator::Regex),
        ("in", Operator::In),
        ("intersects", Operator::Intersects),
        ("pmatch", Operator::Pmatch),
        ("exists", Operator::Exists),
        // Falco accepts these two spellings of equality too.
        ("eq", Operator::Eq),
        ("ne", Operator::Ne),
    ];

    /// Parses an operator as written in a condition or an exception's `comps`.
    pub fn parse(s: &str) -> Option<Operator> {
        let t = s.trim();
        let sym = match t {
            "=" | "==" => Some(Operator::Eq),
            "!=" => Some(Operator::Ne),
            "<" => Some(Operator::Lt),
            "<=" => Some(Operator::Le),
            ">" => Some(Operator::Gt),
            ">=" => Some(Operator::Ge),
            _ => None,
        };
        sym.or_else(|| Self::WORDS.iter().find(|(w, _)| *w == t).map(|(_, op)| *op))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Ne => "!=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Contains => "contains",
            Operator::IContains => "icontains",
            Operator::BContains => "bcontains",
            Operator::StartsWith => "startswith",
            Operator::BStartsWith => "bstartswith",
            Operator::EndsWith => "endswith",
            Operator::Glob => "glob",
            Operator::IGlob => "iglob",
            Operator::Regex => "regex",
            Operator::In => "in",
            Operator::Intersects => "intersects",
            Operator::Pmatch => "pmatch",
            Operator::Exists => "exists",
        }
    }

    /// Operators whose right-hand side is a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Operator::In | Operator::Intersects | Operator::Pmatch)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `proc.name = anyof (a, b)`: how a scalar operator applies to a list of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListModifier {
    /// Exactly one value matches.
    OneOf,
    /// At least one value matches.
    AnyOf,
    /// Every value matches.
    AllOf,
}

impl ListModifier {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "oneof" => ListModifier::OneOf,
            "anyof" => ListModifier::AnyOf,
            "allof" => ListModifier::AllOf,
            _ => return None,
        })
    }
}

/// One literal value as written in the condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// The value with quotes removed and escapes resolved.
    pub text: String,
    /// Written in quotes: never taken as a list name.
    pub quoted: bool,
    pub at: Offset,
}

/// The right-hand side of a check.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// `exists` has none.
    None,
    Value(Literal),
    /// `(a, b, c)`; bare items naming a list are expanded by the compiler.
    List(Vec<Literal>),
    /// `in list_name` without parentheses.
    ListName(String, Offset),
    /// `val(field)` (or a transformer): compare with another field of the same event.
    Field(Operand),
}
