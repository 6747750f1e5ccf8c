//! Default values of optional keys, in one place: validation fills absent
//! keys from here, and the `Default` impls of the settings read the same
//! values. `config/seawall.yaml` documents each of them. The few bounds
//! (smallest or largest accepted value) sit beside the default they bound.

use crate::wire::grpc::{self, Codes};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// `admin.address`
pub const ADMIN_ADDRESS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9901);
/// `log.level`
pub const LOG_LEVEL: &str = "info";
/// `log.access_log`
pub const ACCESS_LOG: bool = true;
/// `memory.release_when_idle`
pub const RELEASE_WHEN_IDLE: bool = true;
/// `shutdown.drain_timeout`
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// `listeners[].header_read_timeout`
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// `listeners[].keepalive_timeout`
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// `listeners[].max_header_bytes` (16 KiB)
pub const MAX_HEADER_BYTES: u64 = 16 << 10;
/// Smallest accepted `max_header_bytes` (1 KiB).
pub const MIN_HEADER_BYTES: u64 = 1 << 10;
/// `listeners[].max_body_bytes` (10 MiB)
pub const MAX_BODY_BYTES: u64 = 10 << 20;
/// `listeners[].max_concurrent_streams`
pub const MAX_CONCURRENT_STREAMS: u32 = 100;
/// `listeners[].max_uri_bytes` (8 KiB)
pub const MAX_URI_BYTES: u64 = 8 << 10;
/// `listeners[].request_buffer_bytes` (16 KiB)
pub const REQUEST_BUFFER_BYTES: u64 = 16 << 10;
/// `listeners[].max_connections`: below the usual 20,000 descriptor
/// limit, leaving room for upstream connections and the admin port.
pub const MAX_CONNECTIONS: u64 = 10_000;
/// `listeners[].http2.max_pending_accept_reset_streams` (h2's default)
pub const H2_MAX_PENDING_ACCEPT_RESET_STREAMS: u64 = 20;
/// `listeners[].http2.max_local_error_reset_streams` (h2's default)
pub const H2_MAX_LOCAL_ERROR_RESET_STREAMS: u64 = 1024;
/// `listeners[].http2.max_send_buf_size` (400 KiB, hyper's default)
pub const H2_MAX_SEND_BUF_SIZE: u64 = 400 << 10;
/// `listeners[].http2.keepalive_interval`
pub const H2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// `listeners[].http2.keepalive_timeout`
pub const H2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// `routes[].match.path_prefix`
pub const PATH_PREFIX: &str = "/";
/// `clusters[].connect_timeout`
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// `clusters[].pool_idle_timeout`
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// `clusters[].pool_max_idle_per_endpoint`
pub const POOL_MAX_IDLE_PER_ENDPOINT: usize = 32;
/// `clusters[].pool_max_idle_per_cluster`: about 7.5 MiB of idle
/// connections, whatever the number of endpoints. An idle hyper 1.12
/// HTTP/1 client connection holds 25.4 KiB of heap (its 8 KiB read buffer,
/// reserved before the first read; its 8 KiB header write buffer; the
/// first block of its dispatch channel, 32 request slots, ~8 KiB; its
/// task), 14.2 KiB resident if never used; a bare socket with a task
/// waiting on it, 1.0 KiB. `cluster_size.py` measured ~30 KiB each.
pub const POOL_MAX_IDLE_PER_CLUSTER: usize = 256;
/// `clusters[].resolve_interval`
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(5);
/// `clusters[].balance.default_rtt`
pub const DEFAULT_RTT: Duration = Duration::from_millis(30);
/// `clusters[].balance.decay`
pub const DECAY: Duration = Duration::from_millis(200);
/// `clusters[].http2_keepalive_interval`
pub const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// `clusters[].timeouts.request` (the response's start; `total`, the
/// whole exchange, has no default)
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// `timeouts.request: none`: a year, which no response's start reaches
/// (and under tokio's longest timer, about two years).
pub const UNBOUNDED: Duration = Duration::from_secs(365 * 24 * 3600);
/// `clusters[].timeouts.body_idle`
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `admission.max_concurrent`
pub const MAX_CONCURRENT: std::num::NonZeroUsize = std::num::NonZeroUsize::MIN.saturating_add(255);
/// `admission.max_queue`
pub const MAX_QUEUE: usize = 128;
/// `admission.adaptive.min`: a floor that still lets a request queue
/// behind one in service, so a freed worker never idles.
pub const ADAPTIVE_MIN: u32 = 2;
/// `admission.adaptive.max`
pub const ADAPTIVE_MAX: u32 = 256;
/// Where a learned limit starts (within its bounds). Low, as in Envoy and
/// Netflix's limiters: an overload that finds the limit at 256 lets a queue
/// of 256 form in the upstream, and the walk down waits for it to drain
/// (4.8 s for a 6-worker upstream). A limit the traffic reaches grows
/// while the latency stays flat: doubling per window at first, then by an
/// eighth to a half of itself.
pub const ADAPTIVE_INITIAL: u32 = 32;
/// How often a learned limit may re-measure its no-load latency under load.
pub const ADAPTIVE_REFRESH: Duration = Duration::from_secs(10);
/// `admission.max_queue_wait`
pub const MAX_QUEUE_WAIT: Duration = Duration::from_secs(1);
/// `admission.target` (folly's CoDel default)
pub const TARGET: Duration = Duration::from_millis(5);
/// `admission.interval` (folly's CoDel default)
pub const INTERVAL: Duration = Duration::from_millis(100);
/// `admission.adaptive_lifo`
pub const ADAPTIVE_LIFO: bool = false;
/// `clusters[].failure_statuses`
pub const FAILURE_STATUSES: [u16; 3] = [502, 503, 504];
/// `clusters[].breaker.consecutive_failures`
pub const BREAKER_CONSECUTIVE: u32 = 20;
/// `clusters[].breaker.failure_rate`: open fully only when nothing in the
/// window succeeded; below that the throttle refuses only the excess.
pub const BREAKER_FAILURE_RATE: f64 = 1.0;
/// `clusters[].breaker.accept_multiplier` (the SRE book's K)
pub const BREAKER_ACCEPT_MULTIPLIER: f64 = 2.0;
/// `clusters[].breaker.slow_call_threshold`
pub const BREAKER_SLOW_CALL: Duration = Duration::from_secs(5);
/// `clusters[].breaker.window`
pub const BREAKER_WINDOW: Duration = Duration::from_secs(10);
/// `clusters[].breaker.minimum_calls`
pub const BREAKER_MINIMUM_CALLS: u32 = 20;
/// `clusters[].breaker.open_duration`
pub const BREAKER_OPEN: Duration = Duration::from_secs(5);
/// `clusters[].breaker.max_open_duration`
pub const BREAKER_MAX_OPEN: Duration = Duration::from_secs(60);
/// `clusters[].breaker.half_open_probes`
pub const BREAKER_PROBES: u32 = 3;
/// `breaker.jitter` and `health_check.jitter`
pub const JITTER: f64 = 0.2;
/// `clusters[].outlier.consecutive_failures`
pub const EJECTION_CONSECUTIVE: u32 = 5;
/// `clusters[].outlier.base_ejection_time`
pub const EJECTION_TIME: Duration = Duration::from_secs(30);
/// `clusters[].outlier.max_ejection_time`
pub const MAX_EJECTION_TIME: Duration = Duration::from_secs(300);
/// `clusters[].outlier.max_ejection_percent`
pub const MAX_EJECTION_PERCENT: f64 = 0.5;
/// `clusters[].outlier.cancelled_after`
pub const CANCELLED_AFTER: Duration = Duration::from_secs(2);
/// `clusters[].outlier.failure_percentage`: a replica failing half its
/// requests among healthy peers is ejected; one failing a fifth is not.
pub const FAILURE_PERCENTAGE: f64 = 0.3;
/// `clusters[].outlier.failure_percentage_request_volume`
pub const FAILURE_PERCENTAGE_VOLUME: u32 = 20;
/// `clusters[].outlier.failure_percentage_window`
pub const FAILURE_PERCENTAGE_WINDOW: Duration = Duration::from_secs(10);
/// `clusters[].health_check.path`
pub const HEALTH_PATH: &str = "/health";
/// `clusters[].health_check.interval`
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// `clusters[].health_check.timeout`
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// `clusters[].health_check.healthy_threshold`
pub const HEALTHY_THRESHOLD: u32 = 2;
/// `clusters[].health_check.unhealthy_threshold`
pub const UNHEALTHY_THRESHOLD: u32 = 3;
/// `listeners[].tls.handshake_timeout`
pub const SERVER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// `clusters[].tls.handshake_timeout`: a handshake with a nearby
/// upstream takes milliseconds; this bounds a stalled one.
pub const CLIENT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// `retry.enabled`
pub const RETRY_ENABLED: bool = true;
/// `retry.max_attempts` (Istio's default: the first try and 2 retries)
pub const RETRY_MAX_ATTEMPTS: u32 = 3;
/// Largest accepted `retry.max_attempts`.
pub const RETRY_MAX_ATTEMPTS_LIMIT: u32 = 10;
/// `clusters[].failure_grpc_codes`: the gRPC statuses that say the server
/// could not serve (the rest, such as `NOT_FOUND`, are answers).
pub const FAILURE_GRPC_CODES: Codes = Codes::of(&[
    grpc::UNAVAILABLE,
    grpc::DEADLINE_EXCEEDED,
    grpc::INTERNAL,
    grpc::UNKNOWN,
]);
/// `retry.grpc_codes`: `UNAVAILABLE` says the call was not served.
pub const RETRY_GRPC_CODES: Codes = Codes::of(&[grpc::UNAVAILABLE]);
/// `retry.statuses`
pub const RETRY_STATUSES: [u16; 1] = [503];
/// `retry.backoff.base`
pub const RETRY_BACKOFF_BASE: Duration = Duration::from_millis(25);
/// `retry.backoff.max`
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_millis(250);
/// `retry.max_retry_after`
pub const RETRY_MAX_RETRY_AFTER: Duration = Duration::from_secs(1);
/// `retry.replay_buffer` (64 KiB)
pub const RETRY_REPLAY_BUFFER: u64 = 64 << 10;
/// `retry.budget.ratio` (Finagle's and tower's default)
pub const RETRY_BUDGET_RATIO: f64 = 0.2;
/// `retry.budget.min_per_second`
pub const RETRY_BUDGET_MIN_PER_SECOND: u32 = 10;
/// Largest accepted `retry.budget.min_per_second`.
pub const RETRY_BUDGET_MIN_PER_SECOND_LIMIT: u32 = 100_000;
/// `retry.budget.ttl`
pub const RETRY_BUDGET_TTL: Duration = Duration::from_secs(10);
/// `retry.budget.max_concurrent`
pub const RETRY_BUDGET_MAX_CONCURRENT: usize = 100;
/// `tracing.sampling`: one new trace in twenty; a caller's sampled flag
/// is always followed.
pub const TRACE_SAMPLING: f64 = 0.05;
/// `tracing.service_name`
pub const TRACE_SERVICE_NAME: &str = "seawall";
/// `tracing.queue`: finished spans waiting for export.
pub const TRACE_QUEUE: u32 = 2048;
/// `tracing.export_timeout`
pub const TRACE_EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
