//! The JSON Schema of the config file (`config/seawall.schema.json`, for
//! editors): generated from the serde model, so the shipped copy must be
//! what the types give today, and every config the project ships must pass
//! it. `SEAWALL_BLESS=1 cargo test --lib config::tests::schema` rewrites it.

use std::path::{Path, PathBuf};

use crate::config::file::FileConfig;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The schema the types give, as it is shipped.
fn generated() -> String {
    let mut schema = schemars::schema_for!(FileConfig);
    schema.insert(
        "title".into(),
        "seawall configuration (config/seawall.yaml documents every key)".into(),
    );
    serde_json::to_string_pretty(&schema).expect("a schema is JSON") + "\n"
}

#[test]
fn the_shipped_schema_is_the_one_the_types_generate() {
    let path = root().join("config/seawall.schema.json");
    let want = generated();
    if std::env::var_os("SEAWALL_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write the schema");
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == want,
        "config/seawall.schema.json is stale; regenerate it with \
         `SEAWALL_BLESS=1 cargo test --lib config::tests::schema`"
    );
}

/// Every seawall config the repository ships: `config/` (not the Grafana
/// and Prometheus files), the examples and chaos configs, and the one the
/// Kubernetes base embeds.
fn shipped_configs() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("config/seawall.yaml"),
        root().join("deploy/kubernetes/base/seawall.yaml"),
    ];
    for dir in ["config/examples", "config/chaos"] {
        let entries = std::fs::read_dir(root().join(dir)).expect("list the directory");
        files.extend(
            entries
                .map(|e| e.expect("a directory entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
        );
    }
    files.sort();
    files
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&generated()).expect("schema JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// The schema's complaints about `yaml`.
fn violations(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let value: serde_json::Value = serde_saphyr::from_str(yaml).expect("YAML");
    validator
        .iter_errors(&value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn every_shipped_config_passes_the_schema() {
    let validator = validator();
    let files = shipped_configs();
    assert!(files.len() >= 10, "found {files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read the config");
        let errors = violations(&validator, &text);
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

#[test]
fn the_schema_refuses_what_seawall_refuses() {
    let validator = validator();
    let base = super::support::MINIMAL;
    for (what, text) in [
        ("misspelt key", base.replace("endpoints:", "endpoint:")),
        (
            "missing endpoints",
            base.replace("    endpoints: [\"127.0.0.1:8081\"]\n", ""),
        ),
        ("wrong protocol", base.to_owned() + "    protocol: http3\n"),
        (
            "bad size",
            base.replace("    routes:", "    max_body_bytes: 10 parsecs\n    routes:"),
        ),
        (
            "negative count",
            base.to_owned() + "    pool_max_idle_per_endpoint: -1\n",
        ),
    ] {
        assert!(
            !violations(&validator, &text).is_empty(),
            "{what} passes the schema"
        );
    }
    assert!(violations(&validator, base).is_empty());
}
