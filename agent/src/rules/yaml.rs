//! A YAML document tree that remembers where every node came from.
//!
//! Built from yaml-rust2's event parser, which reports a line and column for
//! each event (serde-based YAML loaders drop them). Aliases are expanded; the
//! tree depth and the number of nodes are capped so hostile input (deep
//! nesting, alias bombs) fails with an error instead of exhausting the stack or
//! memory.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes one file may expand to (aliases included).
pub const MAX_NODES: usize = 2_000_000;

/// 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    fn from_marker(m: &Marker) -> Self {
        Pos {
            line: u32::try_from(m.line()).unwrap_or(u32::MAX),
            // yaml-rust2 counts columns from 0.
            col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
        }
    }
}

/// How a scalar was written; block scalars need it to map offsets back to lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(String, ScalarStyle),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
    /// Byte offset of the node in the source.
    pub index: usize,
}

impl Node {
    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// A plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(s, ScalarStyle::Plain) if matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// YAML 1.2 core-schema booleans (plain scalars only).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            NodeKind::Scalar(s, ScalarStyle::Plain) => match s.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(..) if self.is_null() => "null",
            NodeKind::Scalar(..) => "scalar",
            NodeKind::Seq(_) => "sequence",
            NodeKind::Map(_) => "mapping",
        }
    }
}

/// A YAML syntax error or a limit hit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub message: String,
    pub pos: Pos,
}

/// Parses every document of a YAML stream.
///
/// yaml-cpp (Falco's parser) accepts a flow collection whose closing bracket
/// sits at the indentation of its parent key, as in
///
/// ```yaml
///   items: [
///     a, b
///   ]
/// ```
///
/// which stricter YAML 1.2 parsers reject. When that is the only problem,
/// lines holding nothing but closing brackets are re-indented to the line
/// before them and the parse is retried; line numbers are unchanged.
pub fn parse_documents(src: &str) -> Result<Vec<Node>, YamlError> {
    match parse_strict(src) {
        Err(e) if e.message.contains("indentation") => {
            let relaxed = reindent_closing_brackets(src);
            if relaxed == src {
                return Err(e);
            }
            parse_strict(&relaxed).map_err(|_| e)
        }
        other => other,
    }
}

fn reindent_closing_brackets(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut prev_indent = 0;
    for line in src.split_inclusive('\n') {
        let trimmed = line.trim_start_matches(' ');
        let content = trimmed.trim_end();
        let indent = line.len() - trimmed.len();
        if !content.is_empty()
            && content.chars().all(|c| matches!(c, ']' | '}' | ',' | ' '))
            && indent < prev_indent
        {
            out.extend(std::iter::repeat_n(' ', prev_indent));
            out.push_str(trimmed);
            continue;
        }
        if !content.is_empty() && !content.starts_with('#') {
            prev_indent = indent;
        }
        out.push_str(line);
    }
    out
}

fn parse_strict(src: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    let result = parser.load(&mut builder, true);
    if let Some(err) = builder.error.take() {
        return Err(err);
    }
    result.map_err(|e| YamlError {
        message: e.info().to_string(),
        pos: Pos::from_marker(e.marker()),
    })?;
    Ok(builder.docs)
}

enum Frame {
    Seq(Node, Vec<Node>, usize),
    Map(Node, Vec<(Node, Node)>, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    error: Option<YamlError>,
}

fn count_nodes(n: &Node) -> usize {
    let mut total = 0;
    let mut todo = vec![n];
    while let Some(n) = todo.pop() {
        total += 1;
        match &n.kind {
            NodeKind::Scalar(..) => {}
            NodeKind::Seq(items) => todo.extend(items.iter()),
            NodeKind::Map(pairs) => {
                for (k, v) in pairs {
                    todo.push(k);
                    todo.push(v);
                }
            }
        }
    }
    total
}

impl Builder {
    fn fail(&mut self, message: String, pos: Pos) {
        if self.error.is_none() {
            self.error = Some(YamlError { message, pos });
        }
    }

    /// Attaches a finished node to its parent (or makes it a document).
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, pairs, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = Pos::from_marker(&mark);
        let at = Node {
            kind: NodeKind::Seq(Vec::new()),
            pos,
            index: mark.index(),
        };
        match ev {
            Event::Scalar(value, style, anchor, _) => {
                self.nodes += 1;
                let style = match style {
                    TScalarStyle::Plain => ScalarStyle::Plain,
                    TScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                    TScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                    TScalarStyle::Literal => ScalarStyle::Literal,
                    TScalarStyle::Folded => ScalarStyle::Folded,
                };
                let node = Node {
                    kind: NodeKind::Scalar(value, style),
                    ..at
                };
                self.push_node(node, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(format!("nesting deeper than {MAX_DEPTH} levels"), pos);
                    return;
                }
                self.stack.push(Frame::Seq(at, Vec::new(), anchor));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(format!("nesting deeper than {MAX_DEPTH} levels"), pos);
                    return;
                }
                self.stack.push(Frame::Map(at, Vec::new(), None, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(mut node, items, anchor)) = self.stack.pop() {
                    self.nodes += 1;
                    node.kind = NodeKind::Seq(items);
                    self.push_node(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(mut node, pairs, _, anchor)) = self.stack.pop() {
                    self.nodes += 1;
                    node.kind = NodeKind::Map(pairs);
                    self.push_node(node, anchor);
                }
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id).cloned() else {
                    self.fail("alias to an unknown anchor".into(), pos);
                    return;
                };
                self.nodes += count_nodes(&target);
                if self.nodes > MAX_NODES {
                    self.fail(
                        format!("document expands to more than {MAX_NODES} nodes"),
                        pos,
                    );
                    return;
                }
                self.push_node(target, 0);
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
        if self.nodes > MAX_NODES {
            self.fail(
                format!("document expands to more than {MAX_NODES} nodes"),
                pos,
            );
        }
    }
}

/// Maps a byte offset inside a scalar's value back to a file position.
///
/// Exact for plain and quoted single-line scalars and for block scalars whose
/// lines are joined one-to-one (the usual `condition: >` layout); otherwise a
/// best effort that stays on the right line.
pub fn scalar_offset_pos(src: &str, node: &Node, offset: usize) -> Pos {
    let NodeKind::Scalar(value, style) = &node.kind else {
        return node.pos;
    };
    match style {
        ScalarStyle::Literal | ScalarStyle::Folded => {
            // The scalar's mark is its first content line; each value line is
            // one source line with its indentation removed.
            let start_line = node.pos.line as usize;
            let mut remaining = offset;
            for (i, line) in src.lines().skip(start_line.saturating_sub(1)).enumerate() {
                let trimmed = line.trim_start();
                if trimmed.is_empty() {
                    continue;
                }
                let indent = line.len() - trimmed.len();
                // Folded scalars join lines with one space, literal ones with
                // '\n': one byte either way.
                if remaining <= trimmed.len() {
                    return Pos {
                        line: u32::try_from(start_line + i).unwrap_or(u32::MAX),
                        col: u32::try_from(indent + remaining + 1).unwrap_or(u32::MAX),
                    };
                }
                remaining -= trimmed.len() + 1;
            }
            node.pos
        }
        ScalarStyle::Plain | ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
            let quote = usize::from(*style != ScalarStyle::Plain);
            if value.contains('\n') || src.get(node.index..).is_none() {
                return node.pos;
            }
            Pos {
                line: node.pos.line,
                col: node
                    .pos
                    .col
                    .saturating_add(u32::try_from(offset + quote).unwrap_or(u32::MAX)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let docs = parse_documents("- rule: a\n  condition: x = 1\n").unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!()
        };
        let NodeKind::Map(pairs) = &items[0].kind else {
            panic!()
        };
        assert_eq!(pairs[0].0.as_str(), Some("rule"));
        assert_eq!(pairs[0].0.pos, Pos { line: 1, col: 3 });
        assert_eq!(pairs[1].1.pos, Pos { line: 2, col: 14 });
    }

    #[test]
    fn offsets_in_block_scalars_map_to_source_lines() {
        let src = "- rule: a\n  condition: >\n    evt.type = open\n    and fd.nme = x\n";
        let docs = parse_documents(src).unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!()
        };
        let NodeKind::Map(pairs) = &items[0].kind else {
            panic!()
        };
        let cond = &pairs[1].1;
        let text = cond.as_str().unwrap();
        let off = text.find("fd.nme").unwrap();
        assert_eq!(scalar_offset_pos(src, cond, off), Pos { line: 4, col: 9 });
        let src2 = "- rule: a\n  condition: evt.type = open and fd.nme = x\n";
        let docs = parse_documents(src2).unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!()
        };
        let NodeKind::Map(pairs) = &items[0].kind else {
            panic!()
        };
        let off = pairs[1].1.as_str().unwrap().find("fd.nme").unwrap();
        assert_eq!(
            scalar_offset_pos(src2, &pairs[1].1, off),
            Pos { line: 2, col: 34 }
        );
    }

    #[test]
    fn hostile_documents_fail_cleanly() {
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert!(parse_documents(&deep).is_err());
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let e = parse_documents(&bomb).unwrap_err();
        assert!(e.message.contains("nodes"), "{e}");
        assert!(parse_documents("a: [").is_err());
        assert!(parse_documents("a: *nope").is_err());
    }
}
