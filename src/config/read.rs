//! Stage 1 read past its errors: every type error and unknown key of a
//! file in one run, not only the first.
//!
//! serde stops at the first value it cannot take. When the text is valid
//! YAML and the error is about one entry (a value of the wrong type, an
//! unknown key), that entry is blanked out (its line from the key on, and
//! the lines nested under it; the line count and every other position stay
//! as they were) and the text is read again, up to [`MOST`] errors. A
//! syntax error ends the list (nothing after it can be trusted), and so
//! does a missing field, which blanking a required entry causes: it was
//! already reported as what it is. Validation (stage 2) runs only on a
//! file that read cleanly, so no error is reported about a blanked entry.

use super::error::ConfigError;
use super::file::FileConfig;
use super::locate;

/// Most errors read from one file.
const MOST: usize = 50;

/// Reads `text` into the file model, or every error found.
pub(super) fn read_all(text: &str) -> Result<FileConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut current = text.to_owned();
    while errors.len() < MOST {
        let err = match serde_saphyr::from_str::<FileConfig>(&current) {
            Ok(file) if errors.is_empty() => return Ok(file),
            Ok(_) => break,
            Err(err) => err,
        };
        let missing = matches!(
            err.without_snippet(),
            serde_saphyr::Error::SerdeMissingField { .. }
        );
        if missing && !errors.is_empty() {
            break;
        }
        let located = locate::yaml_error(&err, &current);
        let line = located.line();
        errors.push(located);
        let skippable = !missing && locate::is_yaml(&current);
        let Some(next) = line
            .filter(|_| skippable)
            .and_then(|l| blank_entry(&current, l))
        else {
            break;
        };
        current = next;
    }
    Err(errors)
}

/// `text` with the entry on 1-based `line` blanked: from its key (after a
/// sequence's `- `) to the end of the line, and every following line
/// indented deeper than that key. `None` when nothing would change.
fn blank_entry(text: &str, line: u32) -> Option<String> {
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let first = lines.get(index)?;
    let indent = first.len() - first.trim_start_matches(' ').len();
    let mut key = indent;
    while first[key..].starts_with("- ") {
        key += 2 + first[key + 2..].len() - first[key + 2..].trim_start_matches(' ').len();
    }
    if first[key..].trim().is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    for (i, l) in lines.iter().enumerate() {
        let depth = l.len() - l.trim_start_matches(' ').len();
        let nested = i > index
            && lines[index + 1..=i]
                .iter()
                .all(|n| n.trim().is_empty() || n.len() - n.trim_start_matches(' ').len() > key);
        if i == index {
            out.push_str(&l[..key]);
            out.push_str(&blank(&l[key..]));
        } else if nested && depth > key {
            out.push_str(&blank(l));
        } else {
            out.push_str(l);
        }
    }
    Some(out)
}

/// `s` as spaces, keeping its line break.
fn blank(s: &str) -> String {
    let body = s.trim_end_matches(['\n', '\r']);
    format!("{}{}", " ".repeat(body.chars().count()), &s[body.len()..])
}

#[cfg(test)]
mod tests {
    use super::blank_entry;

    #[test]
    fn blanks_an_entry_and_what_is_nested_under_it_keeping_positions() {
        let text = "a:\n  b: 1\n  c:\n    d: 2\n  e: 3\n";
        assert_eq!(
            blank_entry(text, 3).unwrap(),
            "a:\n  b: 1\n    \n        \n  e: 3\n"
        );
        let item = "l:\n  - name: x\n    port: 1\n";
        assert_eq!(
            blank_entry(item, 2).unwrap(),
            "l:\n  -        \n    port: 1\n"
        );
        assert_eq!(blank_entry("a:\n\n", 2), None, "nothing to blank");
    }
}
