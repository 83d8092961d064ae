//! BGPPeer `nodeSelectors`: Kubernetes label selectors choosing the nodes
//! that peer (MetalLB's `metav1.LabelSelector`).

use std::collections::BTreeMap;
use std::fmt;

use super::error::Reason;
use super::read::{Reader, join};
use super::yaml::Node;

/// One label selector: every `matchLabels` entry and every expression must
/// hold. An empty selector matches every node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelector {
    /// Labels the node must have with exactly these values.
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements.
    pub match_expressions: Vec<LabelRequirement>,
}

/// A `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelRequirement {
    /// The label.
    pub key: String,
    /// How it is tested.
    pub operator: LabelOperator,
    /// The values for `In` and `NotIn`.
    pub values: Vec<String>,
}

/// Kubernetes' label selector operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelOperator {
    /// The label is set to one of the values.
    In,
    /// The label is absent or set to none of the values.
    NotIn,
    /// The label is set.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl NodeSelector {
    /// Whether a node with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|requirement| requirement.matches(labels))
    }
}

impl LabelRequirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            LabelOperator::In => value.is_some_and(|value| self.values.contains(value)),
            LabelOperator::NotIn => value.is_none_or(|value| !self.values.contains(value)),
            LabelOperator::Exists => value.is_some(),
            LabelOperator::DoesNotExist => value.is_none(),
        }
    }
}

/// A peer is on the nodes any of its selectors matches; no selectors: every
/// node (MetalLB's rule).
pub fn selects(selectors: &[NodeSelector], labels: &BTreeMap<String, String>) -> bool {
    selectors.is_empty() || selectors.iter().any(|selector| selector.matches(labels))
}

/// Kubernetes' own notation: `rack=r1,zone in (a,b),!spare`.
impl fmt::Display for NodeSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for requirement in &self.match_expressions {
            let values = requirement.values.join(",");
            let key = &requirement.key;
            parts.push(match requirement.operator {
                LabelOperator::In => format!("{key} in ({values})"),
                LabelOperator::NotIn => format!("{key} notin ({values})"),
                LabelOperator::Exists => key.clone(),
                LabelOperator::DoesNotExist => format!("!{key}"),
            });
        }
        if parts.is_empty() { f.write_str("(every node)") } else { f.write_str(&parts.join(",")) }
    }
}

/// Reads `spec.nodeSelectors`.
pub(crate) fn read_selectors(reader: &mut Reader<'_>, node: &Node, path: &str) -> Vec<NodeSelector> {
    let Some(items) = reader.sequence(node, path) else { return Vec::new() };
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| read_selector(reader, item, &format!("{path}[{index}]")))
        .collect()
}

fn read_selector(reader: &mut Reader<'_>, node: &Node, path: &str) -> Option<NodeSelector> {
    let fields = reader.mapping(node, path)?;
    reader.only_known(&fields, path, &["matchLabels", "matchExpressions"]);
    let mut selector = NodeSelector::default();
    if let Some(labels) = fields.get("matchLabels") {
        selector.match_labels = read_labels(reader, labels, &join(path, "matchLabels"));
    }
    if let Some(expressions) = fields.get("matchExpressions") {
        let path = join(path, "matchExpressions");
        for (index, expression) in reader.sequence(expressions, &path).unwrap_or_default().iter().enumerate()
        {
            if let Some(requirement) = read_requirement(reader, expression, &format!("{path}[{index}]")) {
                selector.match_expressions.push(requirement);
            }
        }
    }
    Some(selector)
}

fn read_requirement(reader: &mut Reader<'_>, node: &Node, path: &str) -> Option<LabelRequirement> {
    let fields = reader.mapping(node, path)?;
    reader.only_known(&fields, path, &["key", "operator", "values"]);
    let key = match fields.get("key") {
        Some(key) => reader.string(key, &join(path, "key")),
        None => {
            reader.error(fields.line, &join(path, "key"), Reason::Missing);
            None
        }
    };
    let operator_path = join(path, "operator");
    let operator = match fields.get("operator") {
        None => {
            reader.error(fields.line, &operator_path, Reason::Missing);
            None
        }
        Some(operator) => match reader.string(operator, &operator_path).as_deref() {
            Some("In") => Some(LabelOperator::In),
            Some("NotIn") => Some(LabelOperator::NotIn),
            Some("Exists") => Some(LabelOperator::Exists),
            Some("DoesNotExist") => Some(LabelOperator::DoesNotExist),
            Some(other) => {
                let reason = format!("{other:?} is not an operator: use In, NotIn, Exists or DoesNotExist");
                reader.error(operator.line, &operator_path, Reason::Invalid(reason));
                None
            }
            None => None,
        },
    };
    let values_path = join(path, "values");
    let mut values = Vec::new();
    if let Some(list) = fields.get("values") {
        for (index, value) in reader.sequence(list, &values_path).unwrap_or_default().iter().enumerate() {
            values.extend(reader.string(value, &format!("{values_path}[{index}]")));
        }
    }
    let operator = operator?;
    // Kubernetes' LabelSelectorAsSelector refuses these, and so MetalLB.
    let line = fields.get("values").map_or(fields.line, |values| values.line);
    match operator {
        LabelOperator::In | LabelOperator::NotIn if values.is_empty() => {
            reader.error(line, &values_path, Reason::Invalid("In and NotIn need at least one value".into()));
            return None;
        }
        LabelOperator::Exists | LabelOperator::DoesNotExist if !values.is_empty() => {
            reader.error(
                line,
                &values_path,
                Reason::Invalid("Exists and DoesNotExist take no values".into()),
            );
            return None;
        }
        _ => {}
    }
    Some(LabelRequirement { key: key?, operator, values })
}

/// A map of label names to values.
pub(crate) fn read_labels(reader: &mut Reader<'_>, node: &Node, path: &str) -> BTreeMap<String, String> {
    let Some(fields) = reader.mapping(node, path) else { return BTreeMap::new() };
    let mut labels = BTreeMap::new();
    for (key, value) in fields.entries() {
        // Kubernetes label values may be empty; a null one is "".
        let value =
            if value.is_null() { Some(String::new()) } else { reader.string(value, &join(path, key)) };
        labels.extend(value.map(|value| (key.to_owned(), value)));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    fn requirement(key: &str, operator: LabelOperator, values: &[&str]) -> LabelRequirement {
        LabelRequirement { key: key.into(), operator, values: values.iter().map(|v| v.to_string()).collect() }
    }

    #[test]
    fn selection_follows_kubernetes() {
        let node = labels(&[("rack", "r1"), ("zone", "a")]);
        let by_label = NodeSelector { match_labels: labels(&[("rack", "r1")]), ..NodeSelector::default() };
        let other_rack = NodeSelector { match_labels: labels(&[("rack", "r2")]), ..NodeSelector::default() };
        assert!(by_label.matches(&node));
        assert!(!other_rack.matches(&node));
        assert!(selects(&[], &node));
        assert!(selects(&[other_rack.clone(), by_label.clone()], &node), "any selector");
        assert!(!selects(&[other_rack], &node));
        assert!(NodeSelector::default().matches(&BTreeMap::new()), "empty selector: every node");

        let expression = |r| NodeSelector { match_expressions: vec![r], ..NodeSelector::default() };
        assert!(expression(requirement("zone", LabelOperator::In, &["a", "b"])).matches(&node));
        assert!(!expression(requirement("zone", LabelOperator::NotIn, &["a"])).matches(&node));
        assert!(expression(requirement("spare", LabelOperator::NotIn, &["x"])).matches(&node), "absent");
        assert!(expression(requirement("rack", LabelOperator::Exists, &[])).matches(&node));
        assert!(expression(requirement("spare", LabelOperator::DoesNotExist, &[])).matches(&node));
        assert!(!expression(requirement("spare", LabelOperator::In, &["x"])).matches(&node));

        let both = NodeSelector {
            match_labels: labels(&[("rack", "r1")]),
            match_expressions: vec![requirement("zone", LabelOperator::In, &["b"])],
        };
        assert!(!both.matches(&node), "all requirements of one selector");
        assert_eq!(both.to_string(), "rack=r1,zone in (b)");
    }
}
