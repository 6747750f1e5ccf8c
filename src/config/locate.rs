//! Turns a YAML or serde error into a [`ConfigError`] that also names the key.
//!
//! serde-saphyr reports where a deserialization error happened (line and
//! column) but not which key it was under. Rather than threading a path
//! through every serde type, we re-read the same text into a tree of
//! [`Spanned`] nodes and look the position up: the node that starts exactly
//! there gives the key path. This runs only on the error path, so its cost
//! does not matter; when the text is not even valid YAML there is no tree and
//! the error carries line and column only.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};

use super::error::ConfigError;

/// Builds the [`ConfigError`] for an error serde-saphyr returned on `text`.
pub(crate) fn yaml_error(err: &serde_saphyr::Error, text: &str) -> ConfigError {
    let err = err.without_snippet();
    let message = UserMessageFormatter.format_message(err).into_owned();
    let Some(loc) = err.location() else {
        return ConfigError::at(0, 0, None, message);
    };
    let (line, column) = (loc.line(), loc.column());
    // A missing field is reported at the start of the mapping that lacks it:
    // name that mapping, not its first key.
    let want_map = matches!(err, serde_saphyr::Error::SerdeMissingField { .. });
    // Forward duplicate keys so that a duplicate-key error can be named too.
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    let key = serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options)
        .ok()
        .and_then(|root| {
            let mut entries = Vec::new();
            index(&root, String::new(), &mut entries);
            entries
                .into_iter()
                .rev()
                .find(|e| (e.line, e.column) == (line, column) && (!want_map || e.is_map))
                .map(|e| e.path)
        });
    ConfigError::at(line, column, key, message)
}

/// One node of the tree: where it starts and its key path.
struct Entry {
    line: u64,
    column: u64,
    path: String,
    is_map: bool,
}

/// Flattens the tree in document order (a key before its value).
fn index(node: &Spanned<Node>, path: String, out: &mut Vec<Entry>) {
    let at = node.referenced;
    let is_map = matches!(node.value, Node::Map(_));
    out.push(Entry {
        line: at.line(),
        column: at.column(),
        path: path.clone(),
        is_map,
    });
    match &node.value {
        Node::Map(entries) => {
            for (key, value) in entries {
                let child = if path.is_empty() {
                    key.value.clone()
                } else {
                    format!("{path}.{}", key.value)
                };
                let at = key.referenced;
                out.push(Entry {
                    line: at.line(),
                    column: at.column(),
                    path: child.clone(),
                    is_map: false,
                });
                index(value, child, out);
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                index(item, format!("{path}[{i}]"), out);
            }
        }
        Node::Scalar => {}
    }
}

/// Any YAML value, keeping only structure and positions.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
}
