//! What went wrong, and where: every error names the file, the line, the
//! document, the field and the reason.

use std::fmt;
use std::path::{Path, PathBuf};

/// A document of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DocumentRef {
    /// The file, as it was given.
    pub file: PathBuf,
    /// The document's 1-based position among the file's `---`-separated
    /// documents.
    pub position: usize,
    /// Its 0-based index in the `items` of a `kind: List` document (as
    /// `kubectl get -o yaml` writes), if it is one.
    pub item: Option<usize>,
    /// The line it starts on.
    pub line: usize,
    /// Its `kind`, once known.
    pub kind: Option<String>,
    /// Its `metadata.namespace` (MetalLB's kinds: defaulted to
    /// `metallb-system`).
    pub namespace: Option<String>,
    /// Its `metadata.name`, once known.
    pub name: Option<String>,
}

impl DocumentRef {
    pub(crate) fn new(file: &Path, position: usize, item: Option<usize>, line: usize) -> DocumentRef {
        DocumentRef { file: file.to_owned(), position, item, line, kind: None, namespace: None, name: None }
    }

    /// `file:line`, where the document starts.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    /// `namespace/name`, or `name` without a namespace.
    pub fn qualified_name(&self) -> Option<String> {
        let name = self.name.as_ref()?;
        Some(match &self.namespace {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name.clone(),
        })
    }

    fn position_text(&self) -> String {
        match self.item {
            Some(item) => format!("document {}, items[{item}]", self.position),
            None => format!("document {}", self.position),
        }
    }
}

/// The document without its file: `BGPPeer metallb-system/peer-a`,
/// `BGPPeer (document 3)` when it has no name, `document 3` when it has no
/// kind either.
impl fmt::Display for DocumentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, self.qualified_name()) {
            (Some(kind), Some(name)) => write!(f, "{kind} {name}"),
            (Some(kind), None) => write!(f, "{kind} ({})", self.position_text()),
            (None, _) => f.write_str(&self.position_text()),
        }
    }
}

/// Where an error is: `file:line: document: field`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was given.
    pub file: PathBuf,
    /// The 1-based line of the offending value (of its mapping when it is
    /// missing).
    pub line: Option<usize>,
    /// The document, when the error is inside one.
    pub document: Option<DocumentRef>,
    /// The field's path in the document, e.g. `spec.receiveInterval` or
    /// `spec.nodeSelectors[0].matchExpressions[1].operator`.
    pub field: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(document) = &self.document {
            write!(f, ": {document}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        Ok(())
    }
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct ConfigError {
    /// Where.
    pub location: Location,
    /// Why.
    pub reason: Reason,
}

/// Why a configuration is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Unreadable(String),
    /// The file is not YAML.
    #[error("YAML syntax error at column {column}: {message}")]
    Syntax {
        /// 1-based column.
        column: usize,
        /// The parser's words.
        message: String,
    },
    /// A document that is not a mapping.
    #[error("not a Kubernetes object: expected a mapping with apiVersion and kind, found {found}")]
    NotAnObject {
        /// What it is.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("missing (required)")]
    Missing,
    /// A value of the wrong type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the field takes.
        expected: &'static str,
        /// What was written.
        found: String,
    },
    /// A value outside its range.
    #[error("{value} is out of range (allowed: {allowed})")]
    OutOfRange {
        /// What was written.
        value: String,
        /// The range, in the field's units.
        allowed: String,
    },
    /// A field the document's kind does not have: a typo must not be
    /// silently ignored.
    #[error("unknown field{}", did_you_mean(.suggestion))]
    UnknownField {
        /// The known field it is closest to.
        suggestion: Option<String>,
    },
    /// A field of another version of the kind.
    #[error("not a field of {api_version} {kind} (it is one of {other_version})")]
    FieldOfOtherVersion {
        /// The document's kind.
        kind: &'static str,
        /// The document's version.
        api_version: String,
        /// The version that has the field.
        other_version: &'static str,
    },
    /// The same key twice in one mapping (Kubernetes refuses this too).
    #[error("duplicate key (the first is on line {first_line})")]
    DuplicateKey {
        /// Where the key first appears.
        first_line: usize,
    },
    /// A known kind with an apiVersion this agent does not read.
    #[error("unknown apiVersion {found:?} for {kind} (expected {expected})")]
    UnknownApiVersion {
        /// The kind.
        kind: &'static str,
        /// What was written.
        found: String,
        /// What is read.
        expected: String,
    },
    /// Anything else wrong with one value; the text says what.
    #[error("{0}")]
    Invalid(String),
    /// A BGPPeer names a profile no document defines.
    #[error("no BFDProfile named {name:?} in namespace {namespace}")]
    UnknownProfile {
        /// The profile's name.
        name: String,
        /// The peer's namespace, where it was looked for.
        namespace: String,
    },
    /// A BGPPeer names a profile that exists, but only in other namespaces.
    #[error(
        "no BFDProfile named {name:?} in namespace {namespace}, only in {elsewhere}: a profile must be \
         in the namespace of its peers"
    )]
    ProfileInOtherNamespace {
        /// The profile's name.
        name: String,
        /// The peer's namespace.
        namespace: String,
        /// The namespaces that have a profile of that name.
        elsewhere: String,
    },
    /// A multihop peer with an echo-mode profile.
    #[error(
        "BFDProfile {profile:?} has echoMode: true, which a multihop peer (ebgpMultiHop: true) cannot \
         use: the Echo function is single-hop only (RFC 5883)"
    )]
    EchoOnMultihop {
        /// The profile's name.
        profile: String,
    },
    /// Two objects of one kind with the same namespace and name.
    #[error("a second {kind} {name} (the first is {first})")]
    DuplicateObject {
        /// The kind.
        kind: &'static str,
        /// `namespace/name`.
        name: String,
        /// Where the first one is (`file:line`).
        first: String,
    },
    /// More than one BFDAgentConfig.
    #[error("a second BFDAgentConfig (the first is {first}): at most one is allowed")]
    DuplicateAgentConfig {
        /// Where the first one is (`file:line`).
        first: String,
    },
    /// More sessions selected for this node than the kernel's maps hold.
    #[error(
        "session {position} of the {selected} selected for this node: the kernel's maps hold at most {max} \
         (bfd_common::maps::MAX_SESSIONS); select fewer peers for this node"
    )]
    TooManySessions {
        /// This session's 1-based position among those selected (in file order).
        position: usize,
        /// How many are selected.
        selected: usize,
        /// The capacity.
        max: usize,
    },
    /// Two peers selected for this node that make the same BFD session.
    #[error("the same BFD session ({identity}) as {other}")]
    DuplicateSession {
        /// The session's identity.
        identity: String,
        /// The other peer (`file:line: BGPPeer ns/name`).
        other: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(known) => format!(" (did you mean {known}?)"),
        None => String::new(),
    }
}

/// Every error of a configuration, in file and line order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn lines(errors: &[ConfigError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl ConfigErrors {
    /// The errors.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// None at all (never the case for a returned `ConfigErrors`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The known name closest to an unknown one: the same letters in another
/// case, or one typo away (two for names longer than four letters).
pub(crate) fn closest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let unknown_lower = unknown.to_ascii_lowercase();
    known
        .into_iter()
        .map(|name| (edit_distance(&unknown_lower, &name.to_ascii_lowercase()), name))
        .filter(|&(distance, name)| distance <= if name.len() > 4 { 2 } else { 1 })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name.to_owned())
}

/// Edits (insertion, deletion, substitution, or transposition of two
/// adjacent letters, the commonest typo) from `a` to `b`: the optimal
/// string alignment distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // distance[i][j]: from a[..i] to b[..j].
    let mut distance = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in distance.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in distance[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = distance[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(distance[i - 1][j] + 1).min(distance[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(distance[i - 2][j - 2] + 1);
            }
            distance[i][j] = best;
        }
    }
    distance[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_like_compiler_messages() {
        let mut document = DocumentRef::new(Path::new("a.yaml"), 3, None, 5);
        let error = |document: Option<DocumentRef>, field: Option<&str>| ConfigError {
            location: Location {
                file: "a.yaml".into(),
                line: Some(7),
                document,
                field: field.map(str::to_owned),
            },
            reason: Reason::Missing,
        };
        assert_eq!(error(None, None).to_string(), "a.yaml:7: missing (required)");
        assert_eq!(
            error(Some(document.clone()), None).to_string(),
            "a.yaml:7: document 3: missing (required)"
        );
        document.kind = Some("BGPPeer".into());
        assert_eq!(
            error(Some(document.clone()), Some("spec.peerAddress")).to_string(),
            "a.yaml:7: BGPPeer (document 3): spec.peerAddress: missing (required)"
        );
        document.namespace = Some("metallb-system".into());
        document.name = Some("peer-a".into());
        assert_eq!(
            error(Some(document), Some("spec.peerAddress")).to_string(),
            "a.yaml:7: BGPPeer metallb-system/peer-a: spec.peerAddress: missing (required)"
        );
    }

    #[test]
    fn suggestions() {
        let known = ["receiveInterval", "transmitInterval", "echoMode", "vrf"];
        assert_eq!(closest("recieveInterval", known).as_deref(), Some("receiveInterval"));
        assert_eq!(closest("echomode", known).as_deref(), Some("echoMode"));
        assert_eq!(closest("VRF", known).as_deref(), Some("vrf"));
        assert_eq!(closest("vrg", known).as_deref(), Some("vrf"));
        assert_eq!(closest("xyz", known), None);
        assert_eq!(closest("holdTime", known), None);
        assert_eq!(closest("sepc", ["spec", "status"]).as_deref(), Some("spec"));
        assert_eq!(closest("kind", ["spec", "status"]), None);
    }
}
