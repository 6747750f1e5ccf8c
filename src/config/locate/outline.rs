//! Key paths read from indentation alone, for text that is not valid YAML
//! (so has no [`Tree`](super::tree::Tree)): the keys, list items and
//! indentation of each line up to the one in error.
//!
//! This is a reading of block-style YAML, the style a config file is
//! written in; flow collections spanning lines, and anchors on a line of
//! their own, are not followed. Its answers only name a key in an error
//! message, so an odd file costs a less precise message, never a wrong
//! config.

/// One line's structure: the columns (0-based) of its `- ` list markers,
/// and its key, if it has one.
struct Line<'a> {
    items: Vec<usize>,
    key: Option<Key<'a>>,
}

/// A key on a line.
struct Key<'a> {
    name: &'a str,
    /// 0-based column.
    column: usize,
    /// Has a value on the same line, so no keys under it.
    inline: bool,
    /// Its value is a block scalar (`|`, `>`): deeper lines are text.
    block: bool,
}

/// One step of a key path.
enum Step<'a> {
    Key { name: &'a str, inline: bool },
    Item(usize),
}

/// The key path of the key (or list item) on 1-based `line`, as the
/// indentation of the lines up to it places it. A key or item indented
/// deeper than a key with a value on the same line belongs beside it, not
/// under it: that is the reading the operator meant.
pub(super) fn key_path(text: &str, line: u64) -> Option<String> {
    let mut frames: Vec<(usize, Step<'_>)> = Vec::new();
    let mut block: Option<usize> = None;
    for (number, raw) in (1..=line).zip(text.lines()) {
        let Some(parsed) = parse(raw) else { continue };
        let indent = parsed
            .items
            .first()
            .or(parsed.key.as_ref().map(|k| &k.column));
        if let (Some(b), Some(i)) = (block, indent) {
            if *i > b {
                continue;
            }
            block = None;
        }
        for (n, column) in parsed.items.iter().enumerate() {
            let mut popped = None;
            while frames.last().is_some_and(|(c, step)| {
                c > column || matches!(step, Step::Key { inline: true, .. })
            }) {
                popped = frames.pop();
            }
            // A config never nests a list directly in a list, so a line's
            // first item next to another item is its sibling, however
            // indented.
            match (frames.last_mut(), popped) {
                (Some((c, Step::Item(i))), _) if c == column || n == 0 => *i += 1,
                (_, Some((_, Step::Item(i)))) if n == 0 => {
                    frames.push((*column, Step::Item(i + 1)))
                }
                _ => frames.push((*column, Step::Item(0))),
            }
        }
        if let Some(key) = &parsed.key {
            while frames.last().is_some_and(|(c, step)| {
                *c >= key.column || matches!(step, Step::Key { inline: true, .. })
            }) {
                frames.pop();
            }
            let step = Step::Key {
                name: key.name,
                inline: key.inline,
            };
            frames.push((key.column, step));
            if key.block {
                block = Some(key.column);
            }
        }
        if number == line {
            return (!frames.is_empty()).then(|| path(&frames));
        }
    }
    None
}

/// For an indentation error on 1-based `line`: the columns of its key and
/// of the key on the line above it, when that one has its value on the same
/// line (so the two were meant to line up) and they differ.
pub(super) fn indentation_hint(text: &str, line: u64) -> Option<String> {
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let lines: Vec<&str> = text.lines().collect();
    let key = parse(lines.get(index)?)?.key?;
    let (above, previous) = lines[..index]
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, l)| parse(l).map(|p| (i + 1, p)))?;
    let previous = previous
        .key
        .filter(|k| k.inline && k.column != key.column)?;
    Some(format!(
        "check the indentation: `{}` starts in column {}, `{}` on line {above} in column {} (keys of one mapping start in the same column)",
        key.name,
        key.column + 1,
        previous.name,
        previous.column + 1
    ))
}

/// A key path from its steps.
fn path(frames: &[(usize, Step<'_>)]) -> String {
    let mut out = String::new();
    for (_, step) in frames {
        match step {
            Step::Key { name, .. } if out.is_empty() => out.push_str(name),
            Step::Key { name, .. } => {
                out.push('.');
                out.push_str(name);
            }
            Step::Item(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The structure of one line; `None` for a blank line, a comment or a
/// document marker.
fn parse(raw: &str) -> Option<Line<'_>> {
    let indent = raw.len() - raw.trim_start_matches(' ').len();
    let mut rest = &raw[indent..];
    if rest.trim().is_empty() || rest.starts_with('#') || rest.starts_with("---") {
        return None;
    }
    if rest.starts_with("...") {
        return None;
    }
    let mut column = indent;
    let mut items = Vec::new();
    while rest == "-" || rest.starts_with("- ") {
        items.push(column);
        let after = &rest[1..];
        let trimmed = after.trim_start_matches(' ');
        column += 1 + after.len() - trimmed.len();
        rest = trimmed;
    }
    Some(Line {
        items,
        key: key(rest, column),
    })
}

/// The key at the start of `rest` (which starts at 0-based `column`).
fn key(rest: &str, column: usize) -> Option<Key<'_>> {
    let (name, after) = match rest.chars().next()? {
        quote @ ('"' | '\'') => {
            let close = rest[1..].find(quote)? + 1;
            (&rest[1..close], rest[close + 1..].strip_prefix(':')?)
        }
        '{' | '[' | '#' => return None,
        _ => {
            let colon = rest
                .match_indices(':')
                .map(|(i, _)| i)
                .find(|i| rest[i + 1..].is_empty() || rest[i + 1..].starts_with([' ', '\t']))?;
            if rest[..colon].contains(" #") {
                return None;
            }
            (rest[..colon].trim_end(), &rest[colon + 1..])
        }
    };
    let value = after.trim();
    let value = if value.starts_with('#') { "" } else { value };
    // A lone anchor or tag puts the value on the lines below.
    let lone_property =
        (value.starts_with('&') || value.starts_with('!')) && !value.contains(char::is_whitespace);
    Some(Key {
        name,
        column,
        inline: !value.is_empty() && !lone_property,
        block: value.starts_with('|') || value.starts_with('>'),
    })
}
