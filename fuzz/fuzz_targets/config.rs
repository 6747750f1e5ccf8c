//! The config parser and validator (`config::parse_all`): any text is a
//! config or a list of errors, never a panic, and every error that names a
//! position names one inside the text (after `${VAR}` substitution moved
//! it, the position is mapped back to the original text).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Err(errors) = seawall::config::parse_all(text, None) else {
        return;
    };
    assert!(!errors.is_empty(), "rejected without an error: {text:?}");
    // Rows of the text as YAML counts them (`\r\n`, a lone `\r` and `\n`
    // each end a line), counting the empty one after a final line break.
    let rows = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1;
    for error in &errors {
        assert!(!error.message().is_empty(), "an empty message for {text:?}");
        if let Some(line) = error.line() {
            let line = usize::try_from(line).expect("u32 fits usize");
            assert!(line <= rows, "line {line} of {rows}: {error} for {text:?}");
        }
    }
});
