//! `${VAR}` and `${VAR:-default}` in the config file, replaced by the
//! environment's values before the YAML is read (as Envoy's and Traefik's
//! users write them), and `$${` for a literal `${`.
//!
//! The text is substituted, not the parsed values, so a reference works in
//! any scalar (a port, a duration, a token); a value is inserted as it is,
//! so one that may hold YAML syntax (`: `, `#`, quotes) belongs in a quoted
//! scalar. Comments are left alone: a `#` at the start of a line or after
//! a blank, outside quotes, ends the substituted part of its line. A value
//! may not hold a line break, so every line keeps its number; each
//! substitution's shift of the columns after it is kept, and errors found
//! in the substituted text are moved back to the original columns (a
//! position inside a value points at its `${`).
//!
//! `${VAR}` with `VAR` unset is an error (naming the variable, and the
//! `${VAR:-default}` form); an empty `VAR` is the empty string.
//! `${VAR:-default}` takes `default` when `VAR` is unset or empty, as in
//! POSIX shells.

use super::error::ConfigError;

/// A substitution on one line: where it is in the new text and where the
/// reference it replaced was, in 1-based character columns.
#[derive(Clone, Copy, Debug)]
struct Shift {
    new_start: u32,
    new_len: u32,
    old_start: u32,
    old_len: u32,
}

/// The text after substitution, and what it takes to map a position in it
/// back to the original text.
#[derive(Debug)]
pub(crate) struct Substituted {
    /// The text to parse.
    pub text: String,
    /// Per line (index `line - 1`), the substitutions made on it, in order.
    shifts: Vec<Vec<Shift>>,
}

impl Substituted {
    /// `err`, with its column moved back to the original text's.
    pub(crate) fn relocate(&self, err: ConfigError) -> ConfigError {
        let (Some(line), Some(column)) = (err.line(), err.column()) else {
            return err;
        };
        let Some(shifts) = self.shifts.get(line as usize - 1) else {
            return err;
        };
        err.with_column(original_column(shifts, column))
    }
}

/// The original column of `column`, given a line's substitutions.
fn original_column(shifts: &[Shift], column: u32) -> u32 {
    let mut offset: i64 = 0;
    for s in shifts {
        if column < s.new_start {
            break;
        }
        if column < s.new_start + s.new_len {
            return s.old_start;
        }
        offset = i64::from(s.old_start + s.old_len) - i64::from(s.new_start + s.new_len);
    }
    u32::try_from(i64::from(column) + offset).unwrap_or(column)
}

/// Substitutes every reference in `text`, reading variables with `lookup`;
/// every bad or unset reference is an error at its line and column.
pub(crate) fn substitute(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Substituted, Vec<ConfigError>> {
    let mut out = Substituted {
        text: String::with_capacity(text.len()),
        shifts: Vec::new(),
    };
    let mut errors = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let mut shifts = Vec::new();
        let mut on_line = Line {
            number: i as u64 + 1,
            out: &mut out.text,
            shifts: &mut shifts,
            errors: &mut errors,
            lookup: &lookup,
        };
        on_line.run(line);
        out.shifts.push(shifts);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The substitution of one line.
struct Line<'a, F> {
    number: u64,
    out: &'a mut String,
    shifts: &'a mut Vec<Shift>,
    errors: &'a mut Vec<ConfigError>,
    lookup: &'a F,
}

impl<F: Fn(&str) -> Option<String>> Line<'_, F> {
    fn run(&mut self, line: &str) {
        let chars: Vec<char> = line.chars().collect();
        let (mut i, mut quote, mut new_col) = (0, None, 1u32);
        while i < chars.len() {
            let c = chars[i];
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let after_blank = prev.is_none_or(char::is_whitespace);
            match (quote, c) {
                (None, '#') if after_blank => {
                    self.out.extend(&chars[i..]);
                    return;
                }
                (None, '\'' | '"') if after_blank || matches!(prev, Some('[' | '{' | ',')) => {
                    quote = Some(c);
                }
                (Some('"'), '\\') if i + 1 < chars.len() => {
                    self.out.push(c);
                    i += 1;
                    new_col += 1;
                }
                (Some(q), c) if q == c => quote = None,
                (_, '$') if chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') => {
                    self.push(i, 3, "${", &mut new_col);
                    i += 3;
                    continue;
                }
                (_, '$') if chars.get(i + 1) == Some(&'{') => {
                    let Some(len) = self.reference(&chars, i, &mut new_col) else {
                        self.out.extend(&chars[i..]);
                        return;
                    };
                    i += len;
                    continue;
                }
                _ => {}
            }
            self.out.push(chars[i]);
            i += 1;
            new_col += 1;
        }
    }

    /// The reference that starts at `chars[at]` (`${`): replaced, and its
    /// length returned; `None` when it is not closed on its line.
    fn reference(&mut self, chars: &[char], at: usize, new_col: &mut u32) -> Option<usize> {
        let Some(close) = chars[at..].iter().position(|c| *c == '}') else {
            self.error(
                at,
                "`${` is not closed on its line; write `${NAME}` or `${NAME:-default}`, or `$${` for a literal `${`".into(),
            );
            return None;
        };
        let inner: String = chars[at + 2..at + close].iter().collect();
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner.as_str(), None),
        };
        let value = match self.value(name, default) {
            Ok(value) => value,
            Err(message) => {
                self.error(at, message);
                String::new()
            }
        };
        self.push(at, close + 1, &value, new_col);
        Some(close + 1)
    }

    /// The value of variable `name` (with the `:-` default, if any).
    fn value(&self, name: &str, default: Option<&str>) -> Result<String, String> {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`{name}` is not an environment variable name (letters, digits and `_`, not starting with a digit); write `${{NAME}}` or `${{NAME:-default}}`, or `$${{` for a literal `${{`"
            ));
        }
        let value = match ((self.lookup)(name), default) {
            (Some(v), Some(d)) if v.is_empty() => d.to_owned(),
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => {
                return Err(format!(
                    "environment variable `{name}` is not set; set it, or give a default: `${{{name}:-value}}`"
                ));
            }
        };
        if value.contains(['\n', '\r']) {
            return Err(format!(
                "environment variable `{name}` holds a line break; a substituted value must fit on its line"
            ));
        }
        Ok(value)
    }

    /// Writes `value` in place of the `old_len` characters at `chars[at]`.
    fn push(&mut self, at: usize, old_len: usize, value: &str, new_col: &mut u32) {
        let new_len = value.chars().count() as u32;
        self.shifts.push(Shift {
            new_start: *new_col,
            new_len,
            old_start: at as u32 + 1,
            old_len: old_len as u32,
        });
        self.out.push_str(value);
        *new_col += new_len;
    }

    fn error(&mut self, at: usize, message: String) {
        self.errors
            .push(ConfigError::at(self.number, at as u64 + 1, None, message));
    }
}
