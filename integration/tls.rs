//! TLS end to end: termination on a listener (ALPN h1/h2, mTLS, handshake
//! timeout) and origination to a cluster (custom CA, SNI, ALPN, mTLS
//! between sidecars), and bad upstream certificates refused fast with
//! 502 `upstream-tls`. Certificates are made per test with rcgen.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;
#[path = "tls/peer.rs"]
mod peer;
#[path = "tls/pki.rs"]
mod pki;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Seawall, Upstream, basic_config, fetch, h2_frame, read_goaway};
use peer::{EchoUpstream, client_config, connect_h2, get};
use pki::{Issued, Pki, Usage};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// A TLS upstream answers a bad certificate within one loopback handshake;
/// a bound this loose still catches waiting for any timeout (the request
/// timeout is 15 s) while holding on a slow, shared CI machine.
const FAIL_FAST: Duration = Duration::from_secs(1);

/// `basic_config` with `tls` lines under the listener and `cluster` lines
/// under the cluster.
fn config(endpoint: SocketAddr, listener: &str, cluster: &str) -> String {
    basic_config(&[endpoint])
        .replace(
            "    header_read_timeout: 2s\n",
            &format!("    header_read_timeout: 2s\n{listener}"),
        )
        .replace(
            "    connect_timeout: 500ms\n",
            &format!("    connect_timeout: 500ms\n{cluster}"),
        )
}

/// A listener `tls:` block serving `id`, with extra `lines`.
fn listener_tls(id: &Issued, lines: &str) -> String {
    format!(
        "    tls:\n      certificate: {}\n      private_key: {}\n{lines}",
        id.cert.display(),
        id.key.display()
    )
}

fn forwarded_proto(body: &str) -> serde_json::Value {
    let echo: serde_json::Value = serde_json::from_str(body).unwrap();
    echo["headers"]["x-forwarded-proto"].clone()
}

#[tokio::test]
async fn serves_h2_and_http1_over_tls_as_alpn_decides() {
    let mut pki = Pki::new("downstream");
    let id = pki.issue(&["seawall.test"], Usage::Server);
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&config(up.addr, &listener_tls(&id, ""), "")).await;
    for (offer, expect_alpn, expect_version) in [
        (vec![&b"h2"[..], b"http/1.1"], Some(&b"h2"[..]), "HTTP/2.0"),
        (vec![&b"http/1.1"[..]], Some(&b"http/1.1"[..]), "HTTP/1.1"),
        (vec![], None, "HTTP/1.1"),
    ] {
        let cfg = client_config(&pki, &offer, None);
        let reply = get(sw.addr, "seawall.test", cfg, "/alpn").await.unwrap();
        assert_eq!(reply.alpn.as_deref(), expect_alpn);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(forwarded_proto(&reply.body), serde_json::json!(["https"]));
        assert_eq!(reply.version, expect_version);
    }
}

#[tokio::test]
async fn mtls_accepts_a_client_of_the_ca_and_refuses_others() {
    let mut pki = Pki::new("mtls");
    let server = pki.issue(&["seawall.test"], Usage::Server);
    let good = pki.issue(&["client.test"], Usage::Client);
    let mut stranger_ca = Pki::new("stranger");
    let stranger = stranger_ca.issue(&["client.test"], Usage::Client);
    let up = Upstream::spawn("a").await;
    let mtls = format!("      client_ca: {}\n", pki.ca_file().display());
    let sw = Seawall::start(&config(up.addr, &listener_tls(&server, &mtls), "")).await;

    for alpn in [&b"h2"[..], b"http/1.1"] {
        let cfg = client_config(&pki, &[alpn], Some(&good));
        let reply = get(sw.addr, "seawall.test", cfg, "/").await.unwrap();
        assert_eq!(reply.status, 200);
    }
    let anonymous = client_config(&pki, &[b"http/1.1"], None);
    let err = get(sw.addr, "seawall.test", anonymous, "/")
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("CertificateRequired"),
        "{err:?}"
    );
    let foreign = client_config(&pki, &[b"http/1.1"], Some(&stranger));
    let err = get(sw.addr, "seawall.test", foreign, "/")
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("UnknownCA"), "{err:?}");
}

#[tokio::test]
async fn silent_client_is_cut_at_handshake_timeout_and_blocks_nobody() {
    let mut pki = Pki::new("silent");
    let id = pki.issue(&["seawall.test"], Usage::Server);
    let up = Upstream::spawn("a").await;
    let lines = "      handshake_timeout: 300ms\n";
    let sw = Seawall::start(&config(up.addr, &listener_tls(&id, lines), "")).await;

    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    // While it says nothing, others are accepted and served.
    let cfg = client_config(&pki, &[b"h2"], None);
    let reply = get(sw.addr, "seawall.test", cfg, "/").await.unwrap();
    assert_eq!(reply.status, 200);
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
    let waited = started.elapsed();
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "closed after {waited:?}");
    eprintln!("silent TLS client closed after {waited:?}");
}

fn cluster_tls(pki: &Pki, protocol: &str, extra: &str) -> String {
    format!(
        "    protocol: {protocol}\n    tls:\n      server_name: upstream.test\n      ca: {}\n{extra}",
        pki.ca_file().display()
    )
}

#[tokio::test]
async fn originates_tls_with_custom_ca_sni_and_alpn() {
    let mut pki = Pki::new("upstream");
    let echo = EchoUpstream::start(&pki.issue(&["upstream.test"], Usage::Server)).await;
    for (protocol, expect) in [
        ("http1", "sni=upstream.test alpn=http/1.1 version=HTTP/1.1"),
        ("http2", "sni=upstream.test alpn=h2 version=HTTP/2.0"),
    ] {
        let sw = Seawall::start(&config(echo.addr, "", &cluster_tls(&pki, protocol, ""))).await;
        let reply = fetch(&sw.url("/")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), expect);
    }
    assert_eq!(echo.requests(), 2);
}

#[tokio::test]
async fn bad_upstream_certificates_fail_fast_with_upstream_tls() {
    let mut pki = Pki::new("trusted");
    let mut other = Pki::new("untrusted");
    let cases = [
        ("wrong name", pki.issue(&["other.test"], Usage::Server)),
        (
            "expired",
            pki.issue_expired(&["upstream.test"], Usage::Server),
        ),
        ("unknown CA", other.issue(&["upstream.test"], Usage::Server)),
    ];
    for (what, cert) in cases {
        let echo = EchoUpstream::start(&cert).await;
        let sw = Seawall::start(&config(echo.addr, "", &cluster_tls(&pki, "http1", ""))).await;
        let started = Instant::now();
        let reply = fetch(&sw.url("/")).await;
        let took = started.elapsed();
        assert_eq!(reply.status, 502, "{what}");
        assert_eq!(
            reply.header("x-seawall-error"),
            Some("upstream-tls"),
            "{what}"
        );
        assert!(took < FAIL_FAST, "{what}: took {took:?}");
        assert_eq!(echo.requests(), 0, "{what}: nothing may reach the upstream");
        eprintln!("{what}: 502 upstream-tls after {took:?}");
    }
}

#[tokio::test]
async fn sidecars_talk_mtls_and_a_missing_client_certificate_is_upstream_tls() {
    let mut pki = Pki::new("mesh");
    let back_id = pki.issue(&["upstream.test"], Usage::Server);
    let front_id = pki.issue(&["front.test"], Usage::Client);
    let app = Upstream::spawn("app").await;
    let mtls = format!("      client_ca: {}\n", pki.ca_file().display());
    let back = Seawall::start(&config(app.addr, &listener_tls(&back_id, &mtls), "")).await;

    let identity = format!(
        "      certificate: {}\n      private_key: {}\n",
        front_id.cert.display(),
        front_id.key.display()
    );
    for protocol in ["http1", "http2"] {
        let tls = cluster_tls(&pki, protocol, &identity);
        let front = Seawall::start(&config(back.addr, "", &tls)).await;
        let reply = fetch(&front.url("/mesh")).await;
        assert_eq!(reply.status, 200, "{protocol}: {}", reply.text());
        assert_eq!(reply.json()["upstream"], "app");
    }
    let anonymous = Seawall::start(&config(back.addr, "", &cluster_tls(&pki, "http1", ""))).await;
    let reply = fetch(&anonymous.url("/mesh")).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("x-seawall-error"), Some("upstream-tls"));
}

#[tokio::test]
async fn stalled_upstream_handshake_is_a_connect_timeout() {
    let pki = Pki::new("stall");
    // Accepts TCP (the kernel does, via the backlog) and never answers.
    let stall = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = stall.local_addr().unwrap();
    let tls = cluster_tls(&pki, "http1", "      handshake_timeout: 300ms\n");
    let sw = Seawall::start(&config(addr, "", &tls)).await;
    let started = Instant::now();
    let reply = fetch(&sw.url("/")).await;
    let took = started.elapsed();
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.header("x-seawall-error"),
        Some("upstream-connect-timeout")
    );
    // connect_timeout (500ms) + handshake_timeout (300ms), with slack.
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    drop(stall);
}

#[tokio::test]
async fn swapped_snapshot_serves_new_certificates_and_keeps_open_connections() {
    let mut old_ca = Pki::new("old");
    let mut new_ca = Pki::new("new");
    let old_id = old_ca.issue(&["seawall.test"], Usage::Server);
    let new_id = new_ca.issue(&["seawall.test"], Usage::Server);
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start_from_file(&config(up.addr, &listener_tls(&old_id, ""), "")).await;
    let mut open = connect_h2(
        sw.addr,
        "seawall.test",
        client_config(&old_ca, &[b"h2"], None),
    )
    .await
    .unwrap();

    // Rotate: the file now names the new certificate; reload it.
    let yaml = config(up.addr, &listener_tls(&new_id, ""), "");
    std::fs::write(sw.config_path.as_ref().unwrap(), yaml).unwrap();
    let outcome = sw.running.reload.reload().await;
    assert!(
        matches!(outcome, seawall::reload::Outcome::Applied { .. }),
        "{outcome:?}"
    );

    let fresh = client_config(&new_ca, &[b"h2"], None);
    let reply = get(sw.addr, "seawall.test", fresh, "/").await.unwrap();
    assert_eq!(reply.status, 200);
    let stale = client_config(&old_ca, &[b"h2"], None);
    let err = get(sw.addr, "seawall.test", stale, "/").await.unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
    // The connection made before the swap keeps its certificate and works.
    let req = http::Request::get("https://seawall.test/still-open")
        .body(http_body_util::Empty::new())
        .unwrap();
    let rsp = open.send_request(req).await.unwrap();
    assert_eq!(rsp.status(), 200);
}

#[tokio::test]
async fn drain_closes_an_idle_h2_tls_connection_gracefully() {
    let mut pki = Pki::new("drain");
    let id = pki.issue(&["seawall.test"], Usage::Server);
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&config(up.addr, &listener_tls(&id, ""), "")).await;
    let mut h2 = connect_h2(sw.addr, "seawall.test", client_config(&pki, &[b"h2"], None))
        .await
        .unwrap();
    let req = http::Request::get("https://seawall.test/")
        .body(http_body_util::Empty::new())
        .unwrap();
    assert_eq!(h2.send_request(req).await.unwrap().status(), 200);
    let started = Instant::now();
    // The client keeps `h2` open. Without graceful shutdown (GOAWAY) the
    // idle connection would hold the drain
    // until keepalive_timeout (60 s), past drain_timeout (10 s).
    assert_eq!(sw.drain().await, seawall::server::Drained::Clean);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn certificate_rotated_in_place_is_picked_up_by_the_watcher() {
    let mut old_ca = Pki::new("rot-old");
    let mut new_ca = Pki::new("rot-new");
    let live = old_ca.issue(&["seawall.test"], Usage::Server);
    let next = new_ca.issue(&["seawall.test"], Usage::Server);
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start_from_file(&config(up.addr, &listener_tls(&live, ""), "")).await;
    let before = client_config(&old_ca, &[b"h2"], None);
    assert_eq!(
        get(sw.addr, "seawall.test", before, "/")
            .await
            .unwrap()
            .status,
        200
    );

    // Rewrite the files the config names, as cert-manager or a Secret
    // update would; the config file itself does not change.
    std::fs::write(&live.key, std::fs::read(&next.key).unwrap()).unwrap();
    std::fs::write(&live.cert, std::fs::read(&next.cert).unwrap()).unwrap();
    common::eventually("the rotated certificate is served", || async {
        let fresh = client_config(&new_ca, &[b"h2"], None);
        get(sw.addr, "seawall.test", fresh, "/")
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await;
    assert!(sw.running.shared.load().generation >= 2);
}

/// The listener's HTTP/2 abuse limits hold over TLS as over h2c: a burst
/// of streams opened and reset at once (rapid reset) beyond the
/// configured `max_pending_accept_reset_streams` (here 2, where hyper's
/// own default would allow 20) ends in GOAWAY `ENHANCE_YOUR_CALM`.
#[tokio::test]
async fn h2_limits_of_the_listener_apply_over_tls() {
    use rustls::pki_types::ServerName;
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;

    let mut pki = Pki::new("downstream");
    let id = pki.issue(&["seawall.test"], Usage::Server);
    let up = Upstream::spawn("a").await;
    let limits = "    http2:\n      max_pending_accept_reset_streams: 2\n";
    let sw = Seawall::start(&config(up.addr, &listener_tls(&id, limits), "")).await;
    let tcp = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&pki, &[b"h2"], None)));
    let name = ServerName::try_from("seawall.test").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(4, 0, 0, &[]));
    for i in 0..15u32 {
        let stream = 2 * i + 1;
        // END_STREAM | END_HEADERS; :method GET, :scheme https, :path /,
        // :authority a; then RST_STREAM CANCEL (8).
        out.extend(h2_frame(
            1,
            0x5,
            stream,
            &[0x82, 0x87, 0x84, 0x41, 0x01, b'a'],
        ));
        out.extend(h2_frame(3, 0, stream, &8u32.to_be_bytes()));
    }
    let _ = tls.write_all(&out).await;
    let code = tokio::time::timeout(Duration::from_secs(5), read_goaway(&mut tls))
        .await
        .expect("no GOAWAY within 5s");
    // ENHANCE_YOUR_CALM
    assert_eq!(code, Some(0xb));
}

#[tokio::test]
async fn certificate_expiry_is_exported_per_listener_and_cluster() {
    let mut pki = Pki::new("expiry");
    // Expired certificates still load (validity is checked in handshakes),
    // and their notAfter is a known date: 2021-01-01T00:00:00Z.
    let served = pki.issue_expired(&["localhost"], Usage::Server);
    let presented = pki.issue_expired(&["front.test"], Usage::Client);
    let app = Upstream::spawn("app").await;
    let identity = format!(
        "      certificate: {}\n      private_key: {}\n",
        presented.cert.display(),
        presented.key.display()
    );
    let tls = cluster_tls(&pki, "http1", &identity);
    let sw = Seawall::start(&config(app.addr, &listener_tls(&served, ""), &tls)).await;
    let text = fetch(&format!("http://{}/metrics", sw.admin)).await.text();
    let expiry = |labels: &str| {
        let series = format!("seawall_tls_certificate_expiry_timestamp_seconds{{{labels}}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map(|v| v.trim().parse::<f64>().unwrap())
    };
    assert_eq!(
        expiry(r#"listener="ingress""#),
        Some(1_609_459_200.0),
        "{text}"
    );
    assert_eq!(expiry(r#"cluster="app""#), Some(1_609_459_200.0), "{text}");

    // Without TLS there is nothing to expire: no sample.
    let plain = Seawall::start(&basic_config(&[app.addr])).await;
    let text = fetch(&format!("http://{}/metrics", plain.admin))
        .await
        .text();
    assert!(
        !text.contains("seawall_tls_certificate_expiry_timestamp_seconds{"),
        "{text}"
    );
}
