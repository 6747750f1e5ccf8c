//! Behaviour of the balancer: picking, cost, the service's bookkeeping.

mod fairness;
mod outlier;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

use super::*;
use crate::config::BalanceSettings;
use crate::upstream::ConnectionReady;

const MS: Duration = Duration::from_millis(1);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

fn set_of(ports: &[u16]) -> Arc<EndpointSet> {
    let set = EndpointSet::new();
    set.update(ports.iter().map(|p| addr(*p)));
    set
}

fn ewma() -> BalanceSettings {
    BalanceSettings::P2cPeakEwma {
        default_rtt: 30 * MS,
        decay: Duration::from_secs(10),
        slow_start: None,
    }
}

fn count_picks(set: &EndpointSet, n: usize) -> HashMap<u16, usize> {
    let endpoints = set.endpoints();
    let mut rng = fastrand::Rng::with_seed(7);
    let now = Instant::now();
    let mut counts = HashMap::new();
    for _ in 0..n {
        let chosen = pick(&endpoints, now, None, &mut rng).expect("non-empty");
        *counts.entry(chosen.addr().port()).or_default() += 1;
    }
    counts
}

#[tokio::test(start_paused = true)]
async fn p2c_prefers_lower_ewma() {
    let set = set_of(&[1, 2, 3]);
    let now = Instant::now();
    for (endpoint, rtt) in set.endpoints().iter().zip([5, 50, 50]) {
        endpoint.observe(rtt * MS, now);
    }
    let counts = count_picks(&set, 3000);
    // The fast one wins every pair it is in: 2 of the 3 possible pairs.
    assert!(counts[&1] > 1800, "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn p2c_spreads_across_equal_endpoints() {
    let counts = count_picks(&set_of(&[1, 2, 3]), 3000);
    for port in [1, 2, 3] {
        let share = counts.get(&port).copied().unwrap_or(0);
        assert!((700..=1300).contains(&share), "{counts:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn p2c_avoids_endpoint_with_many_in_flight() {
    let set = set_of(&[1, 2]);
    let busy = set.endpoints()[0].clone();
    let _guards: Vec<_> = (0..10).map(|_| InFlight::new(busy.clone())).collect();
    let counts = count_picks(&set, 1000);
    assert_eq!(counts.get(&1), None, "{counts:?}");
    assert_eq!(counts[&2], 1000);
}

#[tokio::test(start_paused = true)]
async fn pick_handles_empty_and_single() {
    let mut rng = fastrand::Rng::with_seed(1);
    assert!(pick(&[], Instant::now(), None, &mut rng).is_none());
    let one = set_of(&[9]).endpoints();
    for _ in 0..10 {
        let chosen = pick(&one, Instant::now(), None, &mut rng).expect("one endpoint");
        assert_eq!(chosen.addr(), addr(9));
    }
}

#[tokio::test(start_paused = true)]
async fn round_robin_cycles_across_clones() {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let balance = Balance::new(service, set_of(&[1, 2, 3]), &BalanceSettings::RoundRobin);
    let mut clones = [balance.clone(), balance];
    let mut seen = Vec::new();
    for i in 0..6 {
        handle.allow(1);
        let svc = clones[i % 2].ready().await.expect("ready");
        let _response = svc.call(http::Request::new(()));
        let (request, _send) = handle.next_request().await.expect("request");
        seen.push(sent_to(&request).port());
    }
    assert_eq!(seen, vec![1, 2, 3, 1, 2, 3]);
    assert_eq!(
        pick_round_robin(&[], &AtomicUsize::new(0)).map(|e| e.addr()),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn rewrites_uri_keeping_path_query_and_host() {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let set = set_of(&[8080]);
    let mut balance = BalanceLayer::new(set.clone(), &ewma()).layer(service);
    let request = http::Request::get("http://front.example/a/b?x=1&y=2")
        .header(http::header::HOST, "front.example")
        .body(())
        .expect("request");
    handle.allow(1);
    let mut response = tokio_test::task::spawn(balance.ready().await.expect("ready").call(request));
    assert_pending!(response.poll());
    let (sent, send) = handle.next_request().await.expect("request");
    assert_eq!(sent.uri(), "http://10.0.0.1:8080/a/b?x=1&y=2");
    assert_eq!(sent.headers()[http::header::HOST], "front.example");
    assert_eq!(set.endpoints()[0].in_flight(), 1);
    tokio::time::advance(40 * MS).await;
    send.send_response(http::Response::new(()));
    assert_ready_ok!(response.poll());
    let endpoint = &set.endpoints()[0];
    assert_eq!(endpoint.in_flight(), 0);
    assert_eq!(endpoint.rtt_estimate(Instant::now()), 40 * MS);
}

#[tokio::test(start_paused = true)]
async fn origin_form_uri_gets_a_root_path() {
    let authority = |a: SocketAddr| a.to_string().parse().expect("authority");
    let uri = endpoint_uri(&"/".parse().expect("uri"), authority(addr(1))).expect("uri");
    assert_eq!(uri, "http://10.0.0.1:1/");
    let v6 = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 81));
    let uri = endpoint_uri(&"/p?q".parse().expect("uri"), authority(v6)).expect("uri");
    assert_eq!(uri, "http://[::1]:81/p?q");
}

#[tokio::test(start_paused = true)]
async fn error_releases_in_flight_and_records_elapsed() {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let set = set_of(&[1]);
    let mut balance = Balance::new(service, set.clone(), &ewma());
    handle.allow(1);
    let mut response = tokio_test::task::spawn(
        balance
            .ready()
            .await
            .expect("ready")
            .call(http::Request::new(())),
    );
    assert_pending!(response.poll());
    let (_sent, send) = handle.next_request().await.expect("request");
    tokio::time::advance(Duration::from_secs(1)).await;
    send.send_error("connection reset");
    assert_ready_err!(response.poll());
    let endpoint = &set.endpoints()[0];
    assert_eq!(endpoint.in_flight(), 0);
    assert_eq!(
        endpoint.rtt_estimate(Instant::now()),
        Duration::from_secs(1)
    );
}

#[tokio::test(start_paused = true)]
async fn cancellation_releases_in_flight() {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let set = set_of(&[1]);
    let mut balance = Balance::new(service, set.clone(), &ewma());
    handle.allow(1);
    let response = balance
        .ready()
        .await
        .expect("ready")
        .call(http::Request::new(()));
    assert_eq!(set.endpoints()[0].in_flight(), 1);
    drop(response);
    assert_eq!(set.endpoints()[0].in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn removed_endpoint_survives_for_its_in_flight_request() {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let set = set_of(&[1]);
    let mut balance = Balance::new(service, set.clone(), &ewma());
    handle.allow(1);
    let mut response = tokio_test::task::spawn(
        balance
            .ready()
            .await
            .expect("ready")
            .call(http::Request::new(())),
    );
    assert_pending!(response.poll());
    set.update([]);
    let (_sent, send) = handle.next_request().await.expect("request");
    send.send_response(http::Response::new(()));
    assert_ready_ok!(response.poll());
}

#[tokio::test(start_paused = true)]
async fn empty_set_fails_with_no_endpoint() {
    let (service, _handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let mut balance = Balance::new(service, EndpointSet::new(), &ewma());
    let error = balance
        .ready()
        .await
        .expect("ready")
        .call(http::Request::new(()))
        .await
        .expect_err("empty");
    assert!(error.is::<NoEndpoint>());
    assert_eq!(error.to_string(), "no endpoint available");
}

#[tokio::test(start_paused = true)]
async fn poll_ready_reserves_no_endpoint() {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let set = set_of(&[1]);
    let mut balance = tokio_test::task::spawn(Balance::new(service, set.clone(), &ewma()));
    handle.allow(0);
    assert_pending!(balance.enter(|cx, mut svc| svc.poll_ready(cx)));
    handle.allow(1);
    assert_ready_ok!(balance.enter(|cx, mut svc| svc.poll_ready(cx)));
    assert_eq!(set.endpoints()[0].in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn unmeasured_endpoint_competes_at_its_rivals_rtt() {
    use super::{Endpoint, pick};
    use std::sync::Arc;
    let now = tokio::time::Instant::now();
    let fast = Arc::new(Endpoint::new(
        "127.0.0.1:1".parse().unwrap(),
        Duration::from_millis(30),
        Duration::from_secs(10),
    ));
    let fresh = Arc::new(Endpoint::new(
        "127.0.0.1:2".parse().unwrap(),
        Duration::from_millis(30),
        Duration::from_secs(10),
    ));
    fast.observe(Duration::from_millis(1), now);
    let set = [fast.clone(), fresh.clone()];
    let mut rng = fastrand::Rng::with_seed(7);
    let fresh_picks = (0..1000)
        .filter(|_| Arc::ptr_eq(pick(&set, now, None, &mut rng).unwrap(), &fresh))
        .count();
    // Equal cost: the random order decides, so the newcomer gets about half.
    assert!((300..=700).contains(&fresh_picks), "{fresh_picks}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_avoids_the_previous_endpoint_when_it_can() {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let mut balance = Balance::new(service, set_of(&[1, 2]), &ewma());
    for _ in 0..50 {
        handle.allow(1);
        let hint = EndpointHint::avoiding(Some(addr(1)));
        let mut request = http::Request::new(());
        request.extensions_mut().insert(hint.clone());
        let _response = balance.ready().await.expect("ready").call(request);
        let (request, _send) = handle.next_request().await.expect("request");
        assert_eq!(
            sent_to(&request),
            addr(2),
            "the avoided endpoint was picked"
        );
        assert_eq!(hint.picked(), Some(addr(2)), "the pick is recorded");
    }
    // With no other choice, the avoided endpoint is still used.
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let mut single = Balance::new(service, set_of(&[1]), &ewma());
    handle.allow(1);
    let mut request = http::Request::new(());
    request
        .extensions_mut()
        .insert(EndpointHint::avoiding(Some(addr(1))));
    let _response = single.ready().await.expect("ready").call(request);
    let (request, _send) = handle.next_request().await.expect("request");
    assert_eq!(sent_to(&request), addr(1));
}

/// How the mock upstream's response is marked with [`ConnectionReady`].
enum Ready {
    /// Not marked (no connection info).
    Unmarked,
    /// A connection made for this request, `connect` after it was sent.
    Fresh,
    /// A connection opened this long before the request.
    OpenedBefore(Duration),
}

/// Sends one request through a one-endpoint balancer; the mock upstream
/// answers `connect` + `serve` after the request, marked as `ready` says.
/// Returns the endpoint's estimate after.
async fn rtt_after(connect: Duration, serve: Duration, ready: Ready) -> Duration {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let set = set_of(&[1]);
    let mut balance = Balance::new(service, set.clone(), &ewma());
    let opened = Instant::now();
    if let Ready::OpenedBefore(age) = ready {
        tokio::time::sleep(age).await;
    }
    handle.allow(1);
    let call = balance
        .ready()
        .await
        .expect("ready")
        .call(http::Request::new(()));
    let upstream = async {
        let (_req, send) = handle.next_request().await.expect("request");
        tokio::time::sleep(connect).await;
        let connected = Instant::now();
        tokio::time::sleep(serve).await;
        let mut response = http::Response::new(());
        let mark = match ready {
            Ready::Unmarked => None,
            Ready::Fresh => Some(connected),
            Ready::OpenedBefore(_) => Some(opened),
        };
        if let Some(at) = mark {
            response.extensions_mut().insert(ConnectionReady(at));
        }
        send.send_response(response);
    };
    let (response, ()) = tokio::join!(call, upstream);
    response.expect("answered");
    set.endpoints()[0].rtt_estimate(Instant::now())
}

#[tokio::test(start_paused = true)]
async fn connection_setup_is_not_counted_as_service_time() {
    // A connection opened for the request: only the 5 ms after it counts.
    assert_eq!(rtt_after(200 * MS, 5 * MS, Ready::Fresh).await, 5 * MS);
    // Without the mark (no connection info), the whole wait counts.
    assert_eq!(rtt_after(200 * MS, 5 * MS, Ready::Unmarked).await, 205 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_connection_older_than_the_request_changes_nothing() {
    let pooled = Ready::OpenedBefore(Duration::from_secs(1));
    assert_eq!(rtt_after(Duration::ZERO, 7 * MS, pooled).await, 7 * MS);
}

/// The endpoint a balanced request was sent to, from its rewritten URI.
fn sent_to<B>(request: &http::Request<B>) -> std::net::SocketAddr {
    request
        .uri()
        .authority()
        .expect("an endpoint authority")
        .as_str()
        .parse()
        .expect("an ip:port authority")
}

type MockBalance = Balance<mock::Mock<http::Request<()>, http::Response<()>>>;

/// Sends one request avoiding `tried`; returns the pick and whether an
/// untried endpoint was left besides it.
async fn pick_avoiding(
    balance: &mut MockBalance,
    handle: &mut mock::Handle<http::Request<()>, http::Response<()>>,
    tried: Vec<SocketAddr>,
) -> (SocketAddr, Option<bool>) {
    handle.allow(1);
    let hint = EndpointHint::avoiding_all(tried);
    let mut request = http::Request::new(());
    request.extensions_mut().insert(hint.clone());
    let _response = balance.ready().await.expect("ready").call(request);
    let _ = handle.next_request().await.expect("request");
    (hint.picked().expect("picked"), hint.untried_left())
}

#[tokio::test(start_paused = true)]
async fn the_pick_tells_a_retry_whether_an_untried_endpoint_is_left() {
    let (service, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let mut balance = Balance::new(service, set_of(&[1, 2, 3]), &ewma());
    let (b, h) = (&mut balance, &mut handle);
    for _ in 0..20 {
        let (to, left) = pick_avoiding(b, h, vec![addr(1)]).await;
        assert_ne!(to, addr(1), "a tried endpoint is avoided");
        assert_eq!(left, Some(true), "one of 2 and 3 is still untried");
        let (to, left) = pick_avoiding(b, h, vec![addr(1), addr(2)]).await;
        assert_eq!(to, addr(3));
        assert_eq!(left, Some(false), "nothing untried is left besides 3");
        let (_, left) = pick_avoiding(b, h, vec![addr(1), addr(2), addr(3)]).await;
        assert_eq!(left, Some(false), "every endpoint was tried");
    }
    assert_eq!(EndpointHint::default().untried_left(), None);
}
