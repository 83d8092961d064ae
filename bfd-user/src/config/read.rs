//! Typed reads from the YAML tree that record an error, with its line and
//! field path, instead of stopping at the first one.

use std::net::IpAddr;
use std::time::Duration;

use super::error::{ConfigError, DocumentRef, Location, Reason, closest};
use super::interval::{METALLB_INTERVAL_MS, STRING_INTERVAL_US, parse_interval};
use super::yaml::{Node, Value, parse_bool, parse_int};

/// Reads one document, collecting its errors.
pub(crate) struct Reader<'e> {
    /// The document being read; its kind and name are filled in as soon as
    /// they are known, so that later errors carry them.
    pub document: DocumentRef,
    errors: &'e mut Vec<ConfigError>,
}

/// A mapping's entries, nulls left out (Kubernetes treats `field: null`
/// as an absent field).
pub(crate) struct Fields<'n> {
    /// The mapping's line, for errors about missing fields.
    pub line: usize,
    entries: Vec<(&'n str, usize, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value of `key`, unless absent or null.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(name, _, value)| *name == key && !value.is_null()).map(|e| e.2)
    }

    /// Every key with its line.
    pub fn keys(&self) -> impl Iterator<Item = (&'n str, usize)> + '_ {
        self.entries.iter().map(|&(name, line, _)| (name, line))
    }

    /// Every entry, nulls included.
    pub fn entries(&self) -> impl Iterator<Item = (&'n str, &'n Node)> + '_ {
        self.entries.iter().map(|&(name, _, value)| (name, value))
    }
}

/// `path.key`, or `key` at the top.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

impl<'e> Reader<'e> {
    pub fn new(document: DocumentRef, errors: &'e mut Vec<ConfigError>) -> Reader<'e> {
        Reader { document, errors }
    }

    /// How many errors have been recorded, in this document and before.
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// Records an error at `line` about `field` (empty: the whole document).
    pub fn error(&mut self, line: usize, field: &str, reason: Reason) {
        self.errors.push(ConfigError {
            location: Location {
                file: self.document.file.clone(),
                line: Some(line),
                document: Some(self.document.clone()),
                field: (!field.is_empty()).then(|| field.to_owned()),
            },
            reason,
        });
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &'static str) {
        self.error(node.line, path, Reason::WrongType { expected, found: node.describe().to_owned() });
    }

    /// A mapping's fields; duplicate and non-string keys are errors.
    pub fn mapping<'n>(&mut self, node: &'n Node, path: &str) -> Option<Fields<'n>> {
        let Value::Mapping(entries) = &node.value else {
            self.wrong_type(node, path, "a mapping");
            return None;
        };
        let mut fields = Fields { line: node.line, entries: Vec::with_capacity(entries.len()) };
        for (key, value) in entries {
            let Some(name) = key.scalar().filter(|_| !key.is_null()) else {
                self.error(
                    key.line,
                    path,
                    Reason::Invalid(format!("a key must be a string, not {}", key.describe())),
                );
                continue;
            };
            if let Some(&(_, first_line, _)) = fields.entries.iter().find(|(seen, ..)| *seen == name) {
                self.error(key.line, &join(path, name), Reason::DuplicateKey { first_line });
                continue;
            }
            fields.entries.push((name, key.line, value));
        }
        Some(fields)
    }

    /// Reports every key of `fields` that is not in `known`.
    pub fn only_known(&mut self, fields: &Fields<'_>, path: &str, known: &[&str]) {
        for (key, line) in fields.keys() {
            if !known.contains(&key) {
                let suggestion = closest(key, known.iter().copied());
                self.error(line, &join(path, key), Reason::UnknownField { suggestion });
            }
        }
    }

    /// The items of a list.
    pub fn sequence<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Sequence(items) => Some(items),
            _ => {
                self.wrong_type(node, path, "a list");
                None
            }
        }
    }

    /// A string. Unquoted scalars are taken as their text (`vrf: 42` is the
    /// VRF "42"): being strict there would only annoy.
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match node.scalar() {
            Some(text) if !node.is_null() => Some(text.to_owned()),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    /// A boolean, unquoted.
    pub fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        let value = node.plain().and_then(parse_bool);
        if value.is_none() {
            self.wrong_type(node, path, "a boolean (true or false)");
        }
        value
    }

    /// An unquoted integer within `min..=max`.
    pub fn integer(&mut self, node: &Node, path: &str, min: i64, max: i64) -> Option<i64> {
        let Some(value) = node.plain().and_then(parse_int) else {
            self.wrong_type(node, path, "an integer");
            return None;
        };
        if !(min..=max).contains(&value) {
            self.error(
                node.line,
                path,
                Reason::OutOfRange { value: value.to_string(), allowed: format!("{min} to {max}") },
            );
            return None;
        }
        Some(value)
    }

    /// A BFD interval: an unquoted integer is MetalLB's milliseconds
    /// (10 to 60000); a string carries its unit and may go down to 1 ms
    /// with microsecond precision (`"3300us"`, `"3.3ms"`).
    pub fn interval(&mut self, node: &Node, path: &str) -> Option<Duration> {
        if let Some(text) = node.plain().filter(|text| parse_int(text).is_some()) {
            let milliseconds = parse_int(text)?;
            if !METALLB_INTERVAL_MS.contains(&milliseconds) {
                let allowed = format!(
                    "{} to {} milliseconds; for less, write a string with a unit, e.g. \"3300us\" or \"3.3ms\"",
                    METALLB_INTERVAL_MS.start(),
                    METALLB_INTERVAL_MS.end()
                );
                self.error(node.line, path, Reason::OutOfRange { value: milliseconds.to_string(), allowed });
                return None;
            }
            return Some(Duration::from_millis(milliseconds as u64));
        }
        let text = match (&node.value, node.is_null()) {
            (Value::Scalar { text, plain }, false) => {
                if *plain && text.parse::<f64>().is_ok() {
                    let reason = format!(
                        "{text} is not a whole number of milliseconds: write a string with a unit, \
                         e.g. \"3300us\" or \"3.3ms\""
                    );
                    self.error(node.line, path, Reason::Invalid(reason));
                    return None;
                }
                text
            }
            _ => {
                self.wrong_type(node, path, "milliseconds or a string with a unit (\"3300us\")");
                return None;
            }
        };
        let interval = match parse_interval(text) {
            Ok(interval) => interval,
            Err(why) => {
                self.error(node.line, path, Reason::Invalid(why));
                return None;
            }
        };
        let micros = interval.as_micros() as u64;
        if !STRING_INTERVAL_US.contains(&micros) {
            self.error(
                node.line,
                path,
                Reason::OutOfRange { value: format!("{text:?}"), allowed: "1ms to 60s".into() },
            );
            return None;
        }
        Some(interval)
    }

    /// A unicast IP address. IPv4-mapped IPv6 addresses are read as IPv4,
    /// as Go's `net.ParseIP` (MetalLB) treats them.
    pub fn address(&mut self, node: &Node, path: &str) -> Option<IpAddr> {
        let text = self.string(node, path)?;
        let address = match text.parse::<IpAddr>() {
            Ok(address) => address.to_canonical(),
            Err(_) => {
                self.error(node.line, path, Reason::Invalid(format!("{text:?} is not an IP address")));
                return None;
            }
        };
        if address.is_unspecified() || address.is_multicast() || address == IpAddr::from([255, 255, 255, 255])
        {
            self.error(node.line, path, Reason::Invalid(format!("{text} is not a unicast address")));
            return None;
        }
        Some(address)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::yaml::parse_documents;

    /// Runs `read` on the root of `yaml`, returning its result and the
    /// errors as text.
    fn read<T>(yaml: &str, read: impl FnOnce(&mut Reader<'_>, &Node) -> T) -> (T, Vec<String>) {
        let (documents, error) = parse_documents(yaml);
        assert_eq!(error, None);
        let mut errors = Vec::new();
        let mut reader = Reader::new(DocumentRef::new(Path::new("f.yaml"), 1, None, 1), &mut errors);
        let value = read(&mut reader, &documents[0].root);
        (value, errors.iter().map(ToString::to_string).collect())
    }

    fn interval(yaml: &str) -> (Option<Duration>, Vec<String>) {
        read(yaml, |reader, node| reader.interval(node, "spec.x"))
    }

    #[test]
    fn intervals() {
        assert_eq!(interval("300"), (Some(Duration::from_millis(300)), vec![]));
        assert_eq!(interval("\"3.3ms\""), (Some(Duration::from_micros(3300)), vec![]));
        assert_eq!(interval("3300us"), (Some(Duration::from_micros(3300)), vec![]));
        assert_eq!(
            interval("5").1,
            [
                "f.yaml:1: document 1: spec.x: 5 is out of range (allowed: 10 to 60000 milliseconds; for less, \
              write a string with a unit, e.g. \"3300us\" or \"3.3ms\")"
            ]
        );
        assert_eq!(interval("60001").0, None);
        assert_eq!(
            interval("\"999us\"").1,
            ["f.yaml:1: document 1: spec.x: \"999us\" is out of range (allowed: 1ms to 60s)"]
        );
        assert!(interval("3.3").1[0].contains("not a whole number of milliseconds"), "{:?}", interval("3.3"));
        assert!(interval("\"300\"").1[0].contains("has no unit"));
        assert!(interval("[1]").1[0].contains("expected milliseconds or a string with a unit"));
    }

    #[test]
    fn integers_booleans_and_addresses() {
        let (value, errors) = read("3", |r, n| r.integer(n, "m", 2, 255));
        assert_eq!((value, errors.len()), (Some(3), 0));
        let (_, errors) = read("\"3\"", |r, n| r.integer(n, "m", 2, 255));
        assert_eq!(errors, ["f.yaml:1: document 1: m: expected an integer, found a string"]);
        let (_, errors) = read("256", |r, n| r.integer(n, "m", 2, 255));
        assert_eq!(errors, ["f.yaml:1: document 1: m: 256 is out of range (allowed: 2 to 255)"]);
        assert_eq!(read("yes", |r, n| r.boolean(n, "b")).0, Some(true));
        assert_eq!(read("\"true\"", |r, n| r.boolean(n, "b")).1.len(), 1);
        assert_eq!(read("::ffff:10.0.0.1", |r, n| r.address(n, "a")).0, Some(IpAddr::from([10, 0, 0, 1])));
        assert_eq!(read("10.0.0.300", |r, n| r.address(n, "a")).1.len(), 1);
        assert!(read("224.0.0.1", |r, n| r.address(n, "a")).1[0].contains("not a unicast address"));
    }

    #[test]
    fn mappings_report_duplicates_and_unknown_keys() {
        let (_, errors) = read("a: 1\nrecieveInterval: 2\na: 3\nb: ~\n", |r, n| {
            let fields = r.mapping(n, "spec").unwrap();
            r.only_known(&fields, "spec", &["a", "b", "receiveInterval"]);
            assert!(fields.get("b").is_none());
        });
        assert_eq!(
            errors,
            [
                "f.yaml:3: document 1: spec.a: duplicate key (the first is on line 1)",
                "f.yaml:2: document 1: spec.recieveInterval: unknown field (did you mean receiveInterval?)",
            ]
        );
    }
}
