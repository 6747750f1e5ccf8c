//! Tests of the `admin:` block: the admin token source.

use super::support::{MINIMAL, error_of};
use crate::config::parse;

fn with_admin(lines: &str) -> String {
    format!("admin:\n  address: 127.0.0.1:9901\n{lines}{MINIMAL}")
}

#[test]
fn admin_token_is_read_from_a_file_and_redacted() {
    let path = std::env::temp_dir().join(format!("seawall-token-{}", std::process::id()));
    std::fs::write(&path, "0123456789abcdef-token\n").unwrap();
    let config = parse(
        &with_admin(&format!("  token_file: {}\n", path.display())),
        None,
    )
    .unwrap();
    let _ = std::fs::remove_file(&path);
    let token = config.admin.token.as_ref().unwrap();
    assert_eq!(token.expose(), b"0123456789abcdef-token");
    assert!(!format!("{token:?}").contains("0123"));
    let json = serde_json::to_string(&config.admin).unwrap();
    assert!(
        json.contains("<redacted>") && !json.contains("0123"),
        "{json}"
    );
}

#[test]
fn admin_token_problems_are_located_errors() {
    let err = error_of(&with_admin("  token_file: /nonexistent/seawall-token\n")).0;
    assert_eq!(err.key(), Some("admin.token_file"));
    assert_eq!((err.line(), err.column()), (Some(3), Some(15)));
    let err = error_of(&with_admin(
        "  token_file: /x\n  token_env: SEAWALL_TEST_TOKEN\n",
    ))
    .0;
    assert!(err.message().contains("not both"), "{err}");
    let err = error_of(&with_admin("  token_env: SEAWALL_TEST_SURELY_UNSET_VAR\n")).0;
    assert_eq!(err.key(), Some("admin.token_env"));
    let path = std::env::temp_dir().join(format!("seawall-short-{}", std::process::id()));
    std::fs::write(&path, "short\n").unwrap();
    let err = error_of(&with_admin(&format!("  token_file: {}\n", path.display()))).0;
    let _ = std::fs::remove_file(&path);
    assert!(err.message().contains("at least 16"), "{err}");
}
