//! A YAML tree that remembers the line each node was written on, built from
//! `saphyr-parser`'s events.
//!
//! Why not a serde deserializer: serde stops at the first error and forgets
//! where a value was, and `check` must list every error with its line. Why
//! our own tree rather than a library's: the readers need to know whether a
//! scalar was quoted (`"300"` is a string to Kubernetes, `300` a number) and
//! to see duplicate keys, which map-backed trees silently merge.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

/// One node of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// The 1-based line the node starts on.
    pub line: usize,
    /// What the node holds.
    pub value: Value,
}

/// The contents of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// A scalar as written. `plain` is false for quoted and block scalars
    /// and for those tagged `!!str`: they are strings whatever they look like.
    Scalar { text: String, plain: bool },
    /// A sequence.
    Sequence(Vec<Node>),
    /// A mapping, in the order written, duplicate keys included.
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    /// A null: an empty plain scalar, `~` or `null` (YAML 1.2 core schema).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }

    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { plain: false, .. } => "a string",
            Value::Scalar { text, plain: true } => {
                if parse_bool(text).is_some() {
                    "a boolean"
                } else if parse_int(text).is_some() {
                    "an integer"
                } else if text.parse::<f64>().is_ok() {
                    "a number"
                } else {
                    "a string"
                }
            }
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }

    /// The text of a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The text of a plain (unquoted) scalar.
    pub fn plain(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, plain: true } => Some(text),
            _ => None,
        }
    }
}

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A plain scalar as a boolean. Kubernetes reads YAML 1.1, where `yes`,
/// `no`, `on` and `off` are booleans too; a MetalLB user may have written
/// `echoMode: yes` and had it work.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// A plain scalar as an integer: decimal with an optional sign, or `0x` /
/// `0o` prefixed.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(octal) = digits.strip_prefix("0o") {
        i64::from_str_radix(octal, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// One `---`-separated document of a file.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    /// Its 1-based position in the file; empty documents are counted too,
    /// so the number matches what a reader counts.
    pub position: usize,
    /// The line its content starts on.
    pub line: usize,
    /// Its root node (a null for an empty document).
    pub root: Node,
}

/// Why a file is not YAML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The parser's words.
    pub message: String,
}

impl From<ScanError> for SyntaxError {
    fn from(error: ScanError) -> SyntaxError {
        SyntaxError {
            line: error.marker().line(),
            column: error.marker().col() + 1,
            message: error.info().to_owned(),
        }
    }
}

/// Nodes deeper than this are refused: the builder recurses, and no
/// configuration needs more than a handful of levels.
const MAX_DEPTH: usize = 64;
/// At most this many nodes per file, aliases expanded: a few aliases can
/// otherwise expand to billions of nodes.
const MAX_NODES: usize = 1_000_000;

/// Parses every document of `text`. The documents before a syntax error are
/// returned along with it, so that their own errors can still be reported.
pub(crate) fn parse_documents(text: &str) -> (Vec<Document>, Option<SyntaxError>) {
    let mut builder = Builder { parser: Parser::new_from_str(text), anchors: HashMap::new(), nodes: 0 };
    let mut documents = Vec::new();
    let error = builder.documents(&mut documents).err();
    (documents, error)
}

struct Builder<'input> {
    parser: Parser<'input, saphyr_parser::StrInput<'input>>,
    /// Anchored nodes by anchor id, with their node count.
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
}

impl<'input> Builder<'input> {
    fn next(&mut self) -> Result<(Event<'input>, Span), SyntaxError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => Err(error.into()),
            // The parser ends every stream with StreamEnd, which the callers
            // stop at; running past it means the stream is cut short.
            None => Err(SyntaxError { line: 0, column: 0, message: "unexpected end of input".into() }),
        }
    }

    fn documents(&mut self, documents: &mut Vec<Document>) -> Result<(), SyntaxError> {
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(()),
                Event::DocumentStart(_) => {
                    // Anchors do not carry over between documents.
                    self.anchors.clear();
                    let (event, root_span) = self.next()?;
                    let root = self.node(event, root_span, 0)?;
                    // Where its content starts, not its `---`: the line a
                    // reader looks for.
                    let line = if root.is_null() { span.start.line() } else { root.line };
                    documents.push(Document { position: documents.len() + 1, line, root });
                }
                other => {
                    return Err(syntax(span, format!("unexpected {other:?} outside a document")));
                }
            }
        }
    }

    fn node(&mut self, event: Event<'input>, span: Span, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(syntax(span, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let line = span.start.line();
        let before = self.nodes;
        self.count(span, 1)?;
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tagged_str = tag.as_ref().is_some_and(|tag| tag.suffix == "str");
                let plain = style == ScalarStyle::Plain && !tagged_str;
                (Node { line, value: Value::Scalar { text: text.into_owned(), plain } }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                (Node { line, value: Value::Sequence(items) }, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if event == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(event, span, depth + 1)?;
                    let (event, span) = self.next()?;
                    let value = self.node(event, span, depth + 1)?;
                    entries.push((key, value));
                }
                (Node { line, value: Value::Mapping(entries) }, anchor)
            }
            Event::Alias(id) => {
                let Some((node, count)) = self.anchors.get(&id).cloned() else {
                    return Err(syntax(span, "alias to an unknown anchor".into()));
                };
                self.count(span, count)?;
                // The alias stands where it is written: report its line.
                return Ok(Node { line, ..node });
            }
            other => return Err(syntax(span, format!("unexpected {other:?}"))),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), self.nodes - before));
        }
        Ok(node)
    }

    fn count(&mut self, span: Span, nodes: usize) -> Result<(), SyntaxError> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(syntax(span, format!("more than {MAX_NODES} nodes (aliases expanded)")));
        }
        Ok(())
    }
}

fn syntax(span: Span, message: String) -> SyntaxError {
    SyntaxError { line: span.start.line(), column: span.start.col() + 1, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> (&str, bool) {
        match &node.value {
            Value::Scalar { text, plain } => (text, *plain),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn documents_are_numbered_and_lines_kept() {
        let text = "a: 1\n---\n---\nkind: X\nspec:\n  b: \"300\"\n  c: 300\n";
        let (documents, error) = parse_documents(text);
        assert_eq!(error, None);
        assert_eq!(documents.len(), 3);
        assert_eq!(documents.iter().map(|d| d.position).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(documents[1].root.is_null());
        let Value::Mapping(entries) = &documents[2].root.value else { panic!() };
        assert_eq!(scalar(&entries[0].1), ("X", true));
        assert_eq!(entries[0].1.line, 4);
        let Value::Mapping(spec) = &entries[1].1.value else { panic!() };
        assert_eq!(scalar(&spec[0].1), ("300", false));
        assert_eq!(scalar(&spec[1].1), ("300", true));
        assert_eq!(spec[1].1.line, 7);
    }

    #[test]
    fn duplicate_keys_are_kept() {
        let (documents, _) = parse_documents("a: 1\na: 2\n");
        let Value::Mapping(entries) = &documents[0].root.value else { panic!() };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn aliases_expand_and_syntax_errors_have_lines() {
        let (documents, error) = parse_documents("a: &x {b: 1}\nc: *x\n");
        assert_eq!(error, None);
        let Value::Mapping(entries) = &documents[0].root.value else { panic!() };
        assert_eq!(entries[1].1.line, 2);
        assert!(matches!(&entries[1].1.value, Value::Mapping(m) if m.len() == 1));

        let (documents, error) = parse_documents("a: 1\n---\nb: [1, 2\nc: 3\n");
        assert_eq!(documents.len(), 1);
        let error = error.unwrap();
        assert!(error.line >= 3, "{error:?}");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..8 {
            let previous = level - 1;
            text.push_str(&format!(
                "a{level}: &a{level} [{}]\n",
                vec![format!("*a{previous}"); 10].join(", ")
            ));
        }
        let (_, error) = parse_documents(&text);
        assert!(error.unwrap().message.contains("nodes"));
    }

    #[test]
    fn scalars() {
        assert_eq!(parse_int("300"), Some(300));
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("3.3"), None);
        assert_eq!(parse_int("300ms"), None);
        assert_eq!(parse_bool("yes"), Some(true));
        assert_eq!(parse_bool("Off"), Some(false));
        assert_eq!(parse_bool("1"), None);
    }
}
