//! Turns a YAML or serde error into a [`ConfigError`] that also names the key.
//!
//! serde-saphyr reports where a deserialization error happened (line and
//! column) but not which key it was under. Rather than threading a path
//! through every serde type, we re-read the same text into a [`Tree`] of
//! positions and look the position up: the node that starts exactly there
//! gives the key path. This runs only on the error path, so its cost does
//! not matter. When the text is not even valid YAML there is no tree, and
//! the key path is read from the indentation of the lines instead
//! (`outline`). serde-saphyr's messages are kept, except where they leave
//! out what an operator needs: what a scalar of the wrong type was
//! (`scalar`).

use serde_saphyr::{MessageFormatter, UserMessageFormatter};

use super::error::ConfigError;
use tree::Tree;

mod outline;
mod scalar;
mod tree;

/// Builds the [`ConfigError`] for an error serde-saphyr returned on `text`.
pub(crate) fn yaml_error(err: &serde_saphyr::Error, text: &str) -> ConfigError {
    let err = err.without_snippet();
    let mut message = match err {
        serde_saphyr::Error::InvalidScalar { ty, location } => scalar::message(
            ty,
            scalar::text_at(text, location.line(), location.column()),
        ),
        _ => None,
    }
    .unwrap_or_else(|| UserMessageFormatter.format_message(err).into_owned());
    let Some(loc) = err.location() else {
        return ConfigError::at(0, 0, None, message);
    };
    let (line, column) = (loc.line(), loc.column());
    let tree = match Tree::read(text) {
        Ok(tree) => tree,
        Err(syntax) => return not_yaml(err, syntax.without_snippet(), text, message),
    };
    if let serde_saphyr::Error::SerdeMissingField { field, .. } = err {
        return missing_field(&tree, field, (line, column), message);
    }
    if let serde_saphyr::Error::DuplicateMappingKey {
        key: Some(name), ..
    } = err
        && let Some(better) = duplicate_key(&tree, name, (line, column))
    {
        message = better;
    }
    let key = tree.path_at(line, column).map(str::to_owned);
    ConfigError::at(line, column, key, message)
}

/// True when `text` is syntactically YAML (whatever its keys and types).
pub(crate) fn is_yaml(text: &str) -> bool {
    Tree::read(text).is_ok()
}

/// The key path of `line` of `text`, read from the indentation of the
/// lines (the text need not be valid YAML).
pub(crate) fn key_path_of_line(text: &str, line: u64) -> Option<String> {
    outline::key_path(text, line)
}

/// The error `err` (with `message`) on a `text` that is not YAML, with
/// `syntax` the YAML error. serde reads the text as a stream, so it can
/// find a mapping without a required field before the parser finds the
/// line that cut the mapping short (typically a key indented one space too
/// shallow): the syntax error is the one to report then. Without a tree the
/// key path comes from the indentation of the lines; a syntax error also
/// says which columns disagree, when a key and the one above it do.
fn not_yaml(
    err: &serde_saphyr::Error,
    syntax: &serde_saphyr::Error,
    text: &str,
    message: String,
) -> ConfigError {
    let at = |e: &serde_saphyr::Error| e.location().map(|l| (l.line(), l.column()));
    let (err, mut message) = match (err, at(syntax)) {
        (serde_saphyr::Error::SerdeMissingField { .. }, Some(_)) => (
            syntax,
            UserMessageFormatter.format_message(syntax).into_owned(),
        ),
        _ => (err, message),
    };
    let Some((line, column)) = at(err) else {
        return ConfigError::at(0, 0, None, message);
    };
    if at(err) == at(syntax)
        && let Some(hint) = outline::indentation_hint(text, line)
    {
        message = format!("{message}; {hint}");
    }
    ConfigError::at(line, column, outline::key_path(text, line), message)
}

/// serde-saphyr reports a missing field at the last key it read from the
/// mapping that lacks it (or at its start, when it has none): report it at
/// the start of that mapping, under the mapping's key path (the field's
/// own name, for the top level).
fn missing_field(
    tree: &Tree,
    field: &str,
    (line, column): (u64, u64),
    message: String,
) -> ConfigError {
    match tree.map_at(line, column) {
        Some(map) if map.path.is_empty() => {
            ConfigError::at(map.line, map.column, Some(field.to_owned()), message)
        }
        Some(map) => ConfigError::at(map.line, map.column, Some(map.path.clone()), message),
        None => ConfigError::at(line, column, None, message),
    }
}

/// A key set twice in one mapping. serde-saphyr says only that it is not
/// allowed; say where the first one is, and, when it is the first key of
/// an entry of a list, what this most often is: the next entry, written
/// without its `- `.
fn duplicate_key(tree: &Tree, name: &str, (line, column): (u64, u64)) -> Option<String> {
    let map = tree.map_at(line, column)?;
    let (_, first, _) = map.keys.iter().find(|(k, _, _)| k == name)?;
    // An entry's first key again most likely begins the next entry.
    let list = map.path.strip_suffix(']').and_then(|p| p.rsplit_once('['));
    let advice = match list {
        Some((list, _)) if map.keys.first().is_some_and(|(k, _, _)| k == name) => {
            format!("if line {line} starts another entry of `{list}`, begin it with `- `")
        }
        _ => "a key appears once in a mapping".to_owned(),
    };
    Some(format!(
        "duplicate key `{name}` (first set on line {first}); {advice}"
    ))
}
