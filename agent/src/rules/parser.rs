//! Condition parser: Falco's filter language to [`Expr`].
//!
//! A recursive-descent parser over the grammar of libsinsp's
//! `filter/parser.h`, extended with `regex`, list modifiers and the newer
//! transformers:
//!
//! ```text
//! Expr        ::= OrExpr
//! OrExpr      ::= AndExpr ( 'or' AndExpr )*
//! AndExpr     ::= NotExpr ( 'and' NotExpr )*
//! NotExpr     ::= 'not' NotExpr | Primary
//! Primary     ::= '(' Expr ')' | Check | Identifier
//! Check       ::= Operand ( UnaryOp | BinOp Modifier? Rhs )
//! Operand     ::= Field | Transformer '(' Operand ( ',' Operand )* ')'
//! Field       ::= FieldName ( '[' FieldArg ']' )?
//! Rhs         ::= ListValue | 'val(' Operand ')' | Transformer '(' ... ')' | Value
//! ListValue   ::= '(' ( Value ( ',' Value )* )? ')' | Identifier
//! Value       ::= QuotedStr | BareStr | Number
//! Modifier    ::= 'oneof' | 'anyof' | 'allof'
//! UnaryOp     ::= 'exists'
//! BinOp       ::= '=' | '==' | '!=' | '<' | '<=' | '>' | '>='
//!               | 'contains' | 'icontains' | 'bcontains' | 'startswith'
//!               | 'bstartswith' | 'endswith' | 'glob' | 'iglob' | 'regex'
//!               | 'in' | 'intersects' | 'pmatch'
//! Transformer ::= 'tolower' | 'toupper' | 'b64' | 'basename' | 'len' | 'join' | 'concat'
//!
//! Identifier  ::= [a-zA-Z_][a-zA-Z0-9_]*
//! FieldName   ::= [a-zA-Z][a-zA-Z0-9_]* ( '.' [a-zA-Z0-9_]+ )+
//! FieldArg    ::= QuotedStr | [^ \t\n\r\[\]"']+
//! QuotedStr   ::= '"' ( '\' Escape | [^"\] )* '"' | "'" ( '\' Escape | [^'\] )* "'"
//! Escape      ::= '"' | "'" | '\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' | ' '
//! BareStr     ::= [^ \t\n\r\f\v(),="']+      (after a list '(' also stops at ')')
//! ```
//!
//! Keywords (`and`, `or`, `not`) must be followed by a blank or `(`.
//! Nesting (parentheses, `not`, transformers) is capped at [`MAX_DEPTH`]
//! levels, as libsinsp caps its recursion at 100.

use super::ast::{Check, Expr, ListModifier, Literal, Offset, Operand, Operator, Rhs, Transformer};

/// Deepest nesting the parser accepts.
pub const MAX_DEPTH: u32 = 100;

/// A syntax error with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub offset: usize,
}

/// Parses a whole condition.
pub fn parse_condition(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        src: input,
        bytes: input.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.skip_blank();
    if p.at_end() {
        return Err(p.error("empty condition"));
    }
    let e = p.parse_or()?;
    p.skip_blank();
    if !p.at_end() {
        return Err(p.error(&format!(
            "unexpected token after the end of the expression: '{}'",
            p.snippet()
        )));
    }
    Ok(e)
}

/// Parses a field reference on its own (an exception's `fields` entry).
pub fn parse_operand_text(input: &str) -> Result<Operand, ParseError> {
    let mut p = Parser {
        src: input,
        bytes: input.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let op = p.parse_operand()?;
    p.skip_blank();
    if !p.at_end() {
        return Err(p.error("unexpected text after the field"));
    }
    Ok(op)
}

/// Parses a check's right-hand side on its own, as it would follow an
/// operator in a condition (`list`: a list operator's, `(a, b)` or a list
/// name). Falco builds an exception's condition as text
/// (`rule_loader_compiler.cpp` `build_rule_exception_infos`), so an
/// exception value is read this way: `toupper(proc.pname)` is a transformer,
/// `"a b"` a quoted string.
pub fn parse_rhs_text(input: &str, list: bool) -> Result<Rhs, ParseError> {
    let mut p = Parser {
        src: input,
        bytes: input.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.skip_blank();
    let rhs = if list {
        p.parse_list_rhs()?
    } else {
        p.parse_scalar_rhs()?
    };
    p.skip_blank();
    if !p.at_end() {
        return Err(p.error("unexpected text after the value"));
    }
    Ok(rhs)
}

/// Parses one list item as written in a YAML list: a quoted string is unquoted
/// (Falco lists hold items like `'"sh -c uname -p 2> /dev/null"'`), anything
/// else is taken verbatim.
pub fn parse_list_item(item: &str) -> (String, bool) {
    let t = item.trim();
    if t.len() >= 2 && (t.starts_with('"') || t.starts_with('\'')) {
        let mut p = Parser {
            src: t,
            bytes: t.as_bytes(),
            pos: 0,
            depth: 0,
        };
        if let Ok(s) = p.quoted_string()
            && p.at_end()
        {
            return (s, true);
        }
    }
    (item.to_string(), false)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Parser<'a> {
    fn error(&self, message: &str) -> ParseError {
        ParseError {
            message: message.to_string(),
            offset: self.pos,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn offset(&self) -> Offset {
        Offset(u32::try_from(self.pos).unwrap_or(u32::MAX))
    }

    /// A short excerpt of the input at the cursor, for messages.
    fn snippet(&self) -> String {
        self.src
            .get(self.pos..)
            .unwrap_or("")
            .chars()
            .take(24)
            .collect()
    }

    fn skip_blank(&mut self) {
        while let Some(b) = self.peek() {
            if !is_blank(b) {
                break;
            }
            self.pos += 1;
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!(
                "expression nesting exceeds the maximum depth of {MAX_DEPTH}"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// True when the keyword `kw` is at the cursor, followed by a blank, `(` or
    /// the end of input. Does not consume.
    fn at_keyword(&self, kw: &str) -> bool {
        let Some(rest) = self.bytes.get(self.pos..) else {
            return false;
        };
        if !rest.starts_with(kw.as_bytes()) {
            return false;
        }
        match rest.get(kw.len()) {
            Some(&b) => is_blank(b) || b == b'(',
            // A trailing keyword is still a keyword; what must follow it is missing.
            None => true,
        }
    }

    fn parse_or(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let first = self.parse_and()?;
        let mut items = vec![first];
        loop {
            self.skip_blank();
            if self.at_keyword("or") {
                self.pos += 2;
                self.skip_blank();
                items.push(self.parse_and()?);
            } else {
                break;
            }
        }
        self.leave();
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Const(false))
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, ParseError> {
        let first = self.parse_not()?;
        let mut items = vec![first];
        loop {
            self.skip_blank();
            if self.at_keyword("and") {
                self.pos += 3;
                self.skip_blank();
                items.push(self.parse_not()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Const(false))
        } else {
            Expr::And(items)
        })
    }

    fn parse_not(&mut self) -> Result<Expr, ParseError> {
        self.skip_blank();
        if self.at_keyword("not") {
            let at = self.offset();
            self.pos += 3;
            self.enter()?;
            self.skip_blank();
            let inner = self.parse_not()?;
            self.leave();
            return Ok(Expr::Not(Box::new(inner), at));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_blank();
        match self.peek() {
            None => Err(self.error("unexpected end of condition, expected an expression")),
            Some(b'(') => {
                self.pos += 1;
                self.skip_blank();
                let e = self.parse_or()?;
                self.skip_blank();
                if self.peek() != Some(b')') {
                    return Err(self.error("expected ')'"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(b) if is_ident_start(b) => self.parse_check_or_macro(),
            Some(_) => Err(self.error(&format!(
                "expected a field, a macro name, 'not' or '(', found '{}'",
                self.snippet()
            ))),
        }
    }

    /// Reads `[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)*`.
    fn dotted_name(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(b) = self.peek() {
            let dot_then_ident = b == b'.'
                && self
                    .bytes
                    .get(self.pos + 1)
                    .is_some_and(|&n| is_ident_char(n));
            if is_ident_char(b) || dot_then_ident {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    fn parse_check_or_macro(&mut self) -> Result<Expr, ParseError> {
        let at = self.offset();
        let save = self.pos;
        let name = self.dotted_name();
        if !name.contains('.') {
            // A transformer call, or a macro name.
            if self.peek() == Some(b'(') && Transformer::from_name(name).is_some() {
                self.pos = save;
                let lhs = self.parse_operand()?;
                return self.parse_condition_rest(lhs, at);
            }
            return Ok(Expr::Macro(name.to_string(), at));
        }
        self.pos = save;
        let lhs = self.parse_operand()?;
        self.parse_condition_rest(lhs, at)
    }

    /// A field (with optional `[arg]`) or a transformer application.
    fn parse_operand(&mut self) -> Result<Operand, ParseError> {
        self.skip_blank();
        let at = self.offset();
        let name = self.dotted_name();
        if name.is_empty() {
            return Err(self.error("expected a field name"));
        }
        if !name.contains('.') {
            let Some(kind) = Transformer::from_name(name) else {
                return Err(ParseError {
                    message: format!("expected a field name, found '{name}'"),
                    offset: at.0 as usize,
                });
            };
            if self.peek() != Some(b'(') {
                return Err(self.error(&format!("expected '(' after '{name}'")));
            }
            self.pos += 1;
            self.enter()?;
            let mut args = vec![self.parse_operand()?];
            loop {
                self.skip_blank();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        args.push(self.parse_operand()?);
                    }
                    Some(b')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.error("expected ',' or ')' in transformer arguments")),
                }
            }
            self.leave();
            return Ok(Operand::Transform { kind, args, at });
        }
        let mut arg = None;
        if self.peek() == Some(b'[') {
            self.pos += 1;
            let a = if matches!(self.peek(), Some(b'"' | b'\'')) {
                self.quoted_string()?
            } else {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if is_blank(b) || matches!(b, b'[' | b']' | b'"' | b'\'') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.error("empty field argument"));
                }
                self.src.get(start..self.pos).unwrap_or("").to_string()
            };
            if self.peek() != Some(b']') {
                return Err(self.error("expected ']' after the field argument"));
            }
            self.pos += 1;
            arg = Some(a);
        }
        Ok(Operand::Field {
            name: name.to_string(),
            arg,
            at,
        })
    }

    fn parse_operator(&mut self) -> Result<Operator, ParseError> {
        let two = self.bytes.get(self.pos..self.pos + 2);
        let sym = match two {
            Some(b"<=") => Some((Operator::Le, 2)),
            Some(b">=") => Some((Operator::Ge, 2)),
            Some(b"==") => Some((Operator::Eq, 2)),
            Some(b"!=") => Some((Operator::Ne, 2)),
            _ => match self.peek() {
                Some(b'<') => Some((Operator::Lt, 1)),
                Some(b'>') => Some((Operator::Gt, 1)),
                Some(b'=') => Some((Operator::Eq, 1)),
                _ => None,
            },
        };
        if let Some((op, len)) = sym {
            self.pos += len;
            return Ok(op);
        }
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        let word = self.src.get(start..self.pos).unwrap_or("");
        for (w, op) in Operator::WORDS {
            if w == word {
                return Ok(op);
            }
        }
        self.pos = start;
        Err(self.error(&format!(
            "expected an operator, found '{}'",
            if word.is_empty() {
                self.snippet()
            } else {
                word.to_string()
            }
        )))
    }

    fn parse_condition_rest(&mut self, lhs: Operand, at: Offset) -> Result<Expr, ParseError> {
        self.skip_blank();
        let op = self.parse_operator()?;
        if op == Operator::Exists {
            return Ok(Expr::Check(Box::new(Check {
                lhs,
                op,
                modifier: None,
                rhs: Rhs::None,
                at,
            })));
        }
        self.skip_blank();
        // A list modifier (`= anyof (...)`) must be followed by a list.
        let mut modifier = None;
        if !op.takes_list() {
            let save = self.pos;
            let start = self.pos;
            while self.peek().is_some_and(is_ident_char) {
                self.pos += 1;
            }
            let word = self.src.get(start..self.pos).unwrap_or("");
            let mut probe = self.pos;
            while self.bytes.get(probe).is_some_and(|&b| is_blank(b)) {
                probe += 1;
            }
            match ListModifier::from_name(word) {
                Some(m) if self.bytes.get(probe) == Some(&b'(') => {
                    modifier = Some(m);
                    self.pos = probe;
                }
                _ => self.pos = save,
            }
        }
        let rhs = if op.takes_list() || modifier.is_some() {
            self.parse_list_rhs()?
        } else {
            self.parse_scalar_rhs()?
        };
        Ok(Expr::Check(Box::new(Check {
            lhs,
            op,
            modifier,
            rhs,
            at,
        })))
    }

    /// `val(field)` or a transformer at the cursor, if there is one.
    fn try_field_rhs(&mut self) -> Result<Option<Rhs>, ParseError> {
        let save = self.pos;
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        let word = self.src.get(start..self.pos).unwrap_or("");
        if self.peek() == Some(b'(') {
            if word == "val" {
                self.pos += 1;
                self.enter()?;
                let operand = self.parse_operand()?;
                self.leave();
                self.skip_blank();
                if self.peek() != Some(b')') {
                    return Err(self.error("expected ')' after the val() argument"));
                }
                self.pos += 1;
                return Ok(Some(Rhs::Field(operand)));
            }
            if Transformer::from_name(word).is_some() {
                self.pos = save;
                return Ok(Some(Rhs::Field(self.parse_operand()?)));
            }
        }
        self.pos = save;
        Ok(None)
    }

    fn parse_list_rhs(&mut self) -> Result<Rhs, ParseError> {
        if let Some(r) = self.try_field_rhs()? {
            return Ok(r);
        }
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_blank();
                if self.peek() == Some(b')') {
                    self.pos += 1;
                    return Ok(Rhs::List(items));
                }
                loop {
                    self.skip_blank();
                    items.push(self.parse_value(true)?);
                    self.skip_blank();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b')') => {
                            self.pos += 1;
                            return Ok(Rhs::List(items));
                        }
                        _ => return Err(self.error("expected ',' or ')' in list")),
                    }
                }
            }
            Some(b) if is_ident_start(b) => {
                let at = self.offset();
                let start = self.pos;
                while self.peek().is_some_and(is_ident_char) {
                    self.pos += 1;
                }
                Ok(Rhs::ListName(
                    self.src.get(start..self.pos).unwrap_or("").to_string(),
                    at,
                ))
            }
            _ => Err(self.error("expected a list: '(' or a list name")),
        }
    }

    fn parse_scalar_rhs(&mut self) -> Result<Rhs, ParseError> {
        if let Some(r) = self.try_field_rhs()? {
            return Ok(r);
        }
        Ok(Rhs::Value(self.parse_value(false)?))
    }

    /// A quoted or bare value.
    fn parse_value(&mut self, in_list: bool) -> Result<Literal, ParseError> {
        let at = self.offset();
        match self.peek() {
            Some(b'"' | b'\'') => Ok(Literal {
                text: self.quoted_string()?,
                quoted: true,
                at,
            }),
            None => Err(self.error("expected a value")),
            Some(_) => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if is_blank(b) || matches!(b, b'(' | b')' | b',' | b'=' | b'"' | b'\'') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.error(if in_list {
                        "expected a list item"
                    } else {
                        "expected a value"
                    }));
                }
                Ok(Literal {
                    text: self.src.get(start..self.pos).unwrap_or("").to_string(),
                    quoted: false,
                    at,
                })
            }
        }
    }

    /// A single- or double-quoted string, with escapes resolved.
    fn quoted_string(&mut self) -> Result<String, ParseError> {
        let Some(q) = self.peek() else {
            return Err(self.error("expected a quoted string"));
        };
        let open = self.pos;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(ParseError {
                    message: "unterminated quoted string".into(),
                    offset: open,
                });
            };
            self.pos += 1;
            if b == q {
                break;
            }
            if b != b'\\' {
                out.push(b);
                continue;
            }
            let Some(e) = self.peek() else {
                return Err(self.error("unterminated escape sequence"));
            };
            self.pos += 1;
            // libsinsp's `unescape_str`: `\ ` yields a backslash (kept for old
            // rules), a quote may only be escaped inside its own kind of quotes,
            // and `\x` is not supported.
            let c = match e {
                b'\\' | b' ' => b'\\',
                b'/' => b'/',
                b'"' | b'\'' if e == q => e,
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                _ => {
                    self.pos -= 2;
                    return Err(self.error(&format!(
                        "unsupported string escape sequence '\\{}'",
                        char::from(e)
                    )));
                }
            };
            out.push(c);
        }
        String::from_utf8(out).map_err(|_| ParseError {
            message: "quoted string is not valid UTF-8 after resolving escapes".into(),
            offset: open,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str) -> Operand {
        Operand::Field {
            name: name.into(),
            arg: None,
            at: Offset(0),
        }
    }

    fn lit(s: &str, quoted: bool) -> Literal {
        Literal {
            text: s.into(),
            quoted,
            at: Offset(0),
        }
    }

    fn check(f: &str, op: Operator, rhs: Rhs) -> Expr {
        Expr::Check(Box::new(Check {
            lhs: field(f),
            op,
            modifier: None,
            rhs,
            at: Offset(0),
        }))
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        let e = parse_condition("not a and b or c").unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::And(vec![
                    Expr::Not(Box::new(Expr::Macro("a".into(), Offset(0))), Offset(0)),
                    Expr::Macro("b".into(), Offset(0)),
                ]),
                Expr::Macro("c".into(), Offset(0)),
            ])
        );
    }

    #[test]
    fn not_with_parenthesis_and_keywords_glued_to_parens() {
        let a = parse_condition("not(a)and(b)or(c)").unwrap();
        let b = parse_condition("not (a) and (b) or (c)").unwrap();
        assert_eq!(a, b);
        // `nota` is a macro name, not `not a`.
        assert_eq!(
            parse_condition("nota").unwrap(),
            Expr::Macro("nota".into(), Offset(0))
        );
    }

    #[test]
    fn bare_values_and_quoted_values() {
        assert_eq!(
            parse_condition("fd.name startswith /etc/").unwrap(),
            check(
                "fd.name",
                Operator::StartsWith,
                Rhs::Value(lit("/etc/", false))
            )
        );
        assert_eq!(
            parse_condition("proc.cmdline = 'sh -c \"x\"'").unwrap(),
            check(
                "proc.cmdline",
                Operator::Eq,
                Rhs::Value(lit("sh -c \"x\"", true))
            )
        );
    }

    #[test]
    fn escapes_in_quoted_strings() {
        let e = parse_condition(r#"proc.args contains "a\"b\\c\t\ d""#).unwrap();
        assert_eq!(
            e,
            check(
                "proc.args",
                Operator::Contains,
                Rhs::Value(lit("a\"b\\c\t\\d", true))
            )
        );
        let e = parse_condition(r#"proc.args = 'it\'s'"#).unwrap();
        assert_eq!(
            e,
            check("proc.args", Operator::Eq, Rhs::Value(lit("it's", true)))
        );
        // A quote can only be escaped inside its own kind of quotes.
        assert!(parse_condition(r#"proc.args = 'a\"b'"#).is_err());
        let err = parse_condition(r#"proc.args contains "a\qb""#).unwrap_err();
        assert!(err.message.contains("unsupported string escape"), "{err}");
        assert_eq!(err.offset, 21);
        assert!(parse_condition(r#"proc.args contains "abc"#).is_err());
    }

    #[test]
    fn lists_list_names_and_modifiers() {
        assert_eq!(
            parse_condition("proc.name in (sh, 'ba sh', shell_binaries)").unwrap(),
            check(
                "proc.name",
                Operator::In,
                Rhs::List(vec![
                    lit("sh", false),
                    lit("ba sh", true),
                    lit("shell_binaries", false)
                ])
            )
        );
        assert_eq!(
            parse_condition("proc.name in ()").unwrap(),
            check("proc.name", Operator::In, Rhs::List(vec![]))
        );
        assert_eq!(
            parse_condition("proc.name in shells").unwrap(),
            check(
                "proc.name",
                Operator::In,
                Rhs::ListName("shells".into(), Offset(0))
            )
        );
        let Expr::Check(c) = parse_condition("proc.name startswith anyof (a, b)").unwrap() else {
            panic!("not a check");
        };
        assert_eq!(c.modifier, Some(ListModifier::AnyOf));
        assert_eq!(c.rhs, Rhs::List(vec![lit("a", false), lit("b", false)]));
        // Without a list after it, `anyof` is an ordinary value.
        let Expr::Check(c) = parse_condition("proc.name = anyof").unwrap() else {
            panic!("not a check");
        };
        assert_eq!(c.modifier, None);
    }

    #[test]
    fn field_arguments_transformers_and_val() {
        let Expr::Check(c) = parse_condition("proc.aname[2] = bash").unwrap() else {
            panic!()
        };
        assert_eq!(
            c.lhs,
            Operand::Field {
                name: "proc.aname".into(),
                arg: Some("2".into()),
                at: Offset(0)
            }
        );
        let Expr::Check(c) =
            parse_condition("container.mount.dest[/var/run/docker.sock] exists").unwrap()
        else {
            panic!()
        };
        assert_eq!(c.op, Operator::Exists);
        let Expr::Check(c) = parse_condition("tolower(proc.name) = val(proc.pname)").unwrap()
        else {
            panic!()
        };
        assert!(matches!(
            c.lhs,
            Operand::Transform {
                kind: Transformer::ToLower,
                ..
            }
        ));
        assert_eq!(c.rhs, Rhs::Field(field("proc.pname")));
        assert!(parse_condition("evt.arg.flags contains O_TRUNC").is_ok());
        assert!(parse_condition("evt.arg[0] = 3").is_ok());
    }

    #[test]
    fn numbers_and_every_operator_parse() {
        for op in [
            "=",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "contains",
            "icontains",
            "bcontains",
            "startswith",
            "bstartswith",
            "endswith",
            "glob",
            "iglob",
            "regex",
        ] {
            let c = format!("fd.num {op} 0x1F");
            let Expr::Check(chk) = parse_condition(&c).unwrap() else {
                panic!("{c}")
            };
            assert_eq!(chk.rhs, Rhs::Value(lit("0x1F", false)), "{c}");
        }
        for op in ["in", "intersects", "pmatch"] {
            assert!(parse_condition(&format!("fd.name {op} (/a, /b)")).is_ok());
        }
    }

    #[test]
    fn syntax_errors_carry_offsets() {
        let e = parse_condition("proc.name = bash and").unwrap_err();
        assert_eq!(e.offset, 20);
        let e = parse_condition("proc.name bogus x").unwrap_err();
        assert!(e.message.contains("operator"), "{e}");
        assert_eq!(e.offset, 10);
        let e = parse_condition("(proc.name = x").unwrap_err();
        assert!(e.message.contains("')'"));
        assert!(parse_condition("   ").is_err());
        assert!(parse_condition("a b").is_err());
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        let e = parse_condition(&deep).unwrap_err();
        assert!(e.message.contains("depth"), "{e}");
        let nots = format!("{}a", "not ".repeat(500));
        assert!(parse_condition(&nots).is_err());
        let ok = format!("{}a{}", "(".repeat(50), ")".repeat(50));
        assert!(parse_condition(&ok).is_ok());
    }

    #[test]
    fn list_items_from_yaml_are_unquoted() {
        assert_eq!(
            parse_list_item("\"sh -c uname -p 2> /dev/null\""),
            ("sh -c uname -p 2> /dev/null".to_string(), true)
        );
        assert_eq!(parse_list_item("/bin/sh"), ("/bin/sh".to_string(), false));
        assert_eq!(parse_list_item("'a'"), ("a".to_string(), true));
    }
}
