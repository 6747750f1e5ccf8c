//! Messages for a scalar of the wrong type: serde-saphyr says only
//! `invalid u32`; these say what was found and what is accepted.

/// The message for a value written as `found` where a `ty` (serde-saphyr's
/// name of the type: `u32`, `boolean`, …) was expected, or `None` to keep
/// serde-saphyr's own.
pub(super) fn message(ty: &str, found: Option<&str>) -> Option<String> {
    let found = found?;
    let max: u128 = match ty {
        "boolean" => {
            return Some(format!(
                "`{found}` is not a boolean; write `true` or `false`"
            ));
        }
        "floating point" => return Some(format!("`{found}` is not a number")),
        "u8" => u8::MAX.into(),
        "u16" => u16::MAX.into(),
        "u32" => u32::MAX.into(),
        "u64" | "usize" => u64::MAX.into(),
        _ => return None,
    };
    Some(match integer(found) {
        Some(n) if n < 0 => format!("`{found}` is negative; write a whole number from 0 to {max}"),
        Some(n) if n.unsigned_abs() > max => {
            format!("`{found}` is too large; write a whole number from 0 to {max}")
        }
        _ => format!("`{found}` is not a whole number; write one from 0 to {max}"),
    })
}

/// The scalar that starts at 1-based `line`:`column` of `text`, as
/// written: a quoted string with its quotes, else up to a comment, the end
/// of the line or a flow separator.
pub(super) fn text_at(text: &str, line: u64, column: u64) -> Option<&str> {
    let line = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let skip = usize::try_from(column).ok()?.checked_sub(1)?;
    let start = line.char_indices().nth(skip).map(|(i, _)| i)?;
    let rest = &line[start..];
    let end = match rest.chars().next()? {
        quote @ ('"' | '\'') => rest[1..].find(quote).map_or(rest.len(), |i| i + 2),
        _ => [" #", ",", "]", "}"]
            .iter()
            .filter_map(|stop| rest.find(stop))
            .min()
            .unwrap_or(rest.len()),
    };
    Some(rest[..end].trim_end()).filter(|s| !s.is_empty())
}

/// An integer as YAML writes one (sign, `_` separators, `0x`/`0o`/`0b`),
/// when `text` is one, whatever its size (up to `i128`).
fn integer(text: &str) -> Option<i128> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match digits.strip_prefix('-') {
        Some(rest) => (true, rest.to_owned()),
        None => (false, digits.trim_start_matches('+').to_owned()),
    };
    let (radix, digits) = match digits.get(..2) {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ => (10, digits.as_str()),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Past i128 it is too large all the same.
    let n = i128::from_str_radix(digits, radix).unwrap_or(i128::MAX);
    Some(if negative { -n } else { n })
}
