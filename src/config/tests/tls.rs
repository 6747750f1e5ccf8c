//! Tests of the `tls:` blocks: files are read and parsed at load, and every
//! problem (missing file, not PEM, mismatched key, inconsistent keys, an IP
//! endpoint without `server_name`) is reported at its line, column and key.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::support::{located, with_blocks};
use crate::config::parse;

/// A directory removed on drop.
struct Fixture(PathBuf);

impl std::ops::Deref for Fixture {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory with a self-signed certificate for `localhost`
/// (`cert.pem`, `key.pem`), a second key (`other-key.pem`) and a file that
/// is not PEM (`junk.pem`).
fn fixture() -> Fixture {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "seawall-tls-config-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("other-key.pem"), other.serialize_pem()).unwrap();
    std::fs::write(dir.join("junk.pem"), "not a certificate\n").unwrap();
    Fixture(dir)
}

/// The fixture with `listener_tls` lines under its listener and
/// `cluster_tls` lines under its cluster, whose endpoint is `endpoint`;
/// `DIR` is replaced by the fixture directory.
fn file(dir: &std::path::Path, listener_tls: &str, endpoint: &str, cluster_tls: &str) -> String {
    with_blocks(listener_tls, cluster_tls)
        .replace("127.0.0.1:8081", endpoint)
        .replace("DIR", &dir.display().to_string())
}

const SERVER_TLS: &str =
    "    tls:\n      certificate: DIR/cert.pem\n      private_key: DIR/key.pem\n";

#[test]
fn listener_tls_loads_with_defaults() {
    let dir = fixture();
    let config = parse(&file(&dir, SERVER_TLS, "127.0.0.1:8081", ""), None).unwrap();
    let tls = config.listeners[0].tls.as_ref().expect("tls settings");
    assert_eq!(tls.certificate, dir.join("cert.pem"));
    assert_eq!(tls.handshake_timeout, Duration::from_secs(10));
    assert_eq!(
        (tls.client_ca.as_ref(), tls.require_client_cert),
        (None, false)
    );
    assert_eq!(
        tls.server_config.get().alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    assert!(config.clusters[0].tls.is_none());
}

#[test]
fn client_ca_requires_client_certificates_unless_told_otherwise() {
    let dir = fixture();
    let mtls = format!("{SERVER_TLS}      client_ca: DIR/cert.pem\n");
    let config = parse(&file(&dir, &mtls, "127.0.0.1:8081", ""), None).unwrap();
    assert!(
        config.listeners[0]
            .tls
            .as_ref()
            .unwrap()
            .require_client_cert
    );
    let optional = format!("{mtls}      require_client_cert: false\n");
    let config = parse(&file(&dir, &optional, "127.0.0.1:8081", ""), None).unwrap();
    assert!(
        !config.listeners[0]
            .tls
            .as_ref()
            .unwrap()
            .require_client_cert
    );
}

#[test]
fn unchanged_files_compare_equal_and_a_rotated_certificate_does_not() {
    let dir = fixture();
    let text = file(&dir, SERVER_TLS, "127.0.0.1:8081", "");
    let first = parse(&text, None).unwrap();
    assert_eq!(first, parse(&text, None).unwrap());
    let rotated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), rotated.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), rotated.signing_key.serialize_pem()).unwrap();
    assert_ne!(first, parse(&text, None).unwrap());
}

#[test]
fn missing_certificate_file_is_located() {
    let dir = fixture();
    let tls = SERVER_TLS.replace("DIR/cert.pem", "DIR/absent.pem");
    let (line, column, key, message) = located(&file(&dir, &tls, "127.0.0.1:8081", ""));
    assert_eq!(
        (line, column, key.as_str()),
        (8, 20, "listeners[0].tls.certificate")
    );
    assert!(
        message.contains("cannot read") && message.contains("absent.pem"),
        "{message}"
    );
}

#[test]
fn certificate_file_without_pem_is_located() {
    let dir = fixture();
    let tls = SERVER_TLS.replace("DIR/cert.pem", "DIR/junk.pem");
    let (line, column, key, message) = located(&file(&dir, &tls, "127.0.0.1:8081", ""));
    assert_eq!(
        (line, column, key.as_str()),
        (8, 20, "listeners[0].tls.certificate")
    );
    assert!(message.contains("no PEM certificate"), "{message}");
}

#[test]
fn key_file_that_is_a_certificate_is_located() {
    let dir = fixture();
    let tls = SERVER_TLS.replace("DIR/key.pem", "DIR/cert.pem");
    let (line, column, key, message) = located(&file(&dir, &tls, "127.0.0.1:8081", ""));
    assert_eq!(
        (line, column, key.as_str()),
        (9, 20, "listeners[0].tls.private_key")
    );
    assert!(message.contains("no PEM private key"), "{message}");
}

#[test]
fn key_that_does_not_match_the_certificate_is_located() {
    let dir = fixture();
    let tls = SERVER_TLS.replace("DIR/key.pem", "DIR/other-key.pem");
    let (line, column, key, _) = located(&file(&dir, &tls, "127.0.0.1:8081", ""));
    assert_eq!(
        (line, column, key.as_str()),
        (9, 20, "listeners[0].tls.private_key")
    );
}

#[test]
fn require_client_cert_without_client_ca_is_located() {
    let dir = fixture();
    let tls = format!("{SERVER_TLS}      require_client_cert: true\n");
    let (line, column, key, message) = located(&file(&dir, &tls, "127.0.0.1:8081", ""));
    assert_eq!(
        (line, column, key.as_str()),
        (10, 28, "listeners[0].tls.require_client_cert")
    );
    assert!(message.contains("client_ca"), "{message}");
}

#[test]
fn misspelt_tls_key_is_located() {
    let dir = fixture();
    let tls = format!("{SERVER_TLS}      handshake_timout: 1s\n");
    let (line, column, key, _) = located(&file(&dir, &tls, "127.0.0.1:8081", ""));
    assert_eq!(
        (line, column, key.as_str()),
        (10, 7, "listeners[0].tls.handshake_timout")
    );
}

#[test]
fn cluster_tls_defaults_server_name_to_the_endpoint_hostname() {
    let dir = fixture();
    let tls = "    protocol: http2\n    tls:\n      ca: DIR/cert.pem\n";
    let config = parse(&file(&dir, "", "localhost:8443", tls), None).unwrap();
    let tls = config.clusters[0].tls.as_ref().expect("tls settings");
    assert_eq!(tls.server_name, "localhost");
    assert_eq!(tls.handshake_timeout, Duration::from_secs(2));
    assert_eq!(tls.client_config.get().alpn_protocols, vec![b"h2".to_vec()]);
}

#[test]
fn cluster_tls_to_an_ip_endpoint_needs_a_server_name() {
    let dir = fixture();
    let tls = "    tls:\n      ca: DIR/cert.pem\n";
    let (line, column, key, message) = located(&file(&dir, "", "127.0.0.1:8443", tls));
    assert_eq!(
        (line, column, key.as_str()),
        (9, 17, "clusters[0].endpoints[0]")
    );
    assert!(message.contains("server_name"), "{message}");
    let named = "    tls:\n      ca: DIR/cert.pem\n      server_name: localhost\n";
    let config = parse(&file(&dir, "", "127.0.0.1:8443", named), None).unwrap();
    assert_eq!(
        config.clusters[0].tls.as_ref().unwrap().server_name,
        "localhost"
    );
}

#[test]
fn endpoints_naming_different_hosts_need_a_server_name() {
    let dir = fixture();
    let tls = "    tls:\n      ca: DIR/cert.pem\n";
    let two = "a.test:443\", \"b.test:443";
    let (line, column, key, message) = located(&file(&dir, "", two, tls));
    assert_eq!(
        (line, column, key.as_str()),
        (9, 31, "clusters[0].endpoints[1]")
    );
    assert!(message.contains("`a.test` and `b.test`"), "{message}");
}

#[test]
fn server_name_that_is_not_a_name_is_located() {
    let dir = fixture();
    let tls = "    tls:\n      server_name: \"not a name\"\n";
    let (line, column, key, message) = located(&file(&dir, "", "127.0.0.1:8443", tls));
    assert_eq!(
        (line, column, key.as_str()),
        (11, 20, "clusters[0].tls.server_name")
    );
    assert!(message.contains("not a DNS name"), "{message}");
}

#[test]
fn cluster_client_certificate_without_key_is_located() {
    let dir = fixture();
    let tls = "    tls:\n      server_name: localhost\n      certificate: DIR/cert.pem\n";
    let (line, column, key, message) = located(&file(&dir, "", "127.0.0.1:8443", tls));
    assert_eq!(
        (line, column, key.as_str()),
        (12, 20, "clusters[0].tls.certificate")
    );
    assert!(message.contains("private_key"), "{message}");
}

#[test]
fn cluster_ca_that_is_not_pem_is_located() {
    let dir = fixture();
    let tls = "    tls:\n      server_name: localhost\n      ca: DIR/junk.pem\n";
    let (line, column, key, _) = located(&file(&dir, "", "127.0.0.1:8443", tls));
    assert_eq!((line, column, key.as_str()), (12, 11, "clusters[0].tls.ca"));
}

#[test]
fn shipped_tls_example_parses_with_its_files_in_place() {
    let dir = fixture();
    for (name, from) in [
        ("server.crt", "cert.pem"),
        ("server.key", "key.pem"),
        ("clients-ca.pem", "cert.pem"),
        ("internal-ca.pem", "cert.pem"),
        ("client.crt", "cert.pem"),
        ("client.key", "key.pem"),
    ] {
        std::fs::copy(dir.join(from), dir.join(name)).unwrap();
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples/tls.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.replace("/etc/seawall/tls", &dir.display().to_string());
    let config = parse(&text, None).unwrap();
    let listener = config.listeners[0].tls.as_ref().unwrap();
    assert!(listener.require_client_cert);
    assert_eq!(listener.handshake_timeout, Duration::from_secs(5));
    let orders = config.clusters[0].tls.as_ref().unwrap();
    assert_eq!(orders.server_name, "orders.internal");
    assert!(orders.certificate.is_some());
    let summary = config.summary();
    assert!(
        summary.contains(
            "listener public on 0.0.0.0:8443 (2 routes, TLS, client certificate required)"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("(http2, TLS to orders.internal)"),
        "{summary}"
    );
    let web = config.clusters[1].tls.as_ref().unwrap();
    assert_eq!(
        (web.server_name.as_str(), web.ca.as_ref()),
        ("www.example.com", None)
    );
}
