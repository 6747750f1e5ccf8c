//! A YAML document read as a tree of positions: every node with its key
//! path, and every mapping with the positions of its keys.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where the nodes and keys of a YAML document start.
pub(super) struct Tree {
    /// Every node and every key, in document order (a key before its value).
    entries: Vec<Entry>,
    /// Every mapping, in document order (an outer one before those inside).
    maps: Vec<Map>,
}

/// One node or key: where it starts and its key path.
struct Entry {
    line: u64,
    column: u64,
    path: String,
}

/// One mapping: where it starts, its key path and its keys.
pub(super) struct Map {
    /// 1-based line of its first key (or of `{`).
    pub line: u64,
    /// 1-based column of the same.
    pub column: u64,
    /// Key path; empty for the document's top level.
    pub path: String,
    /// Its keys, in order, with where each starts.
    pub keys: Vec<(String, u64, u64)>,
}

impl Tree {
    /// Reads `text` as plain YAML; the error is the syntax error when it is
    /// not YAML. Duplicate keys are kept, so that a duplicate-key error can
    /// be located too.
    pub(super) fn read(text: &str) -> Result<Self, serde_saphyr::Error> {
        let mut options = serde_saphyr::Options::default();
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
        options.with_snippet = false;
        let root = serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options)?;
        let mut tree = Self {
            entries: Vec::new(),
            maps: Vec::new(),
        };
        tree.index(&root, String::new());
        Ok(tree)
    }

    /// Key path of the innermost node or key that starts at `line`:`column`.
    pub(super) fn path_at(&self, line: u64, column: u64) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| (e.line, e.column) == (line, column))
            .map(|e| e.path.as_str())
    }

    /// The innermost mapping that starts at `line`:`column` or has a key
    /// there.
    pub(super) fn map_at(&self, line: u64, column: u64) -> Option<&Map> {
        self.maps.iter().rev().find(|m| {
            (m.line, m.column) == (line, column)
                || m.keys.iter().any(|(_, l, c)| (*l, *c) == (line, column))
        })
    }

    /// Records `node` (at key path `path`) and everything inside it, in
    /// document order.
    fn index(&mut self, node: &Spanned<Node>, path: String) {
        let at = node.referenced;
        self.entries.push(Entry {
            line: at.line(),
            column: at.column(),
            path: path.clone(),
        });
        match &node.value {
            Node::Map(entries) => {
                let map = self.maps.len();
                self.maps.push(Map {
                    line: at.line(),
                    column: at.column(),
                    path: path.clone(),
                    keys: Vec::with_capacity(entries.len()),
                });
                for (key, value) in entries {
                    let child = if path.is_empty() {
                        key.value.clone()
                    } else {
                        format!("{path}.{}", key.value)
                    };
                    let at = key.referenced;
                    self.maps[map]
                        .keys
                        .push((key.value.clone(), at.line(), at.column()));
                    self.entries.push(Entry {
                        line: at.line(),
                        column: at.column(),
                        path: child.clone(),
                    });
                    self.index(value, child);
                }
            }
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.index(item, format!("{path}[{i}]"));
                }
            }
            Node::Scalar => {}
        }
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
