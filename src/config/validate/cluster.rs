//! Validation of one upstream cluster: its endpoints, protocol, pooling and
//! balancing, and the blocks of the other features it holds (timeouts,
//! admission, failure isolation, TLS, retries).

use std::collections::HashMap;

use serde_saphyr::Spanned;

use super::super::error::ConfigError;
use super::super::file::cluster::{BalanceFile, ClusterFile, PolicyFile, ProtocolFile};
use super::super::settings::admission::AdmissionSettings;
use super::super::settings::cluster::{
    BalanceSettings, ClusterSettings, EndpointSpec, UpstreamProtocol,
};
use super::super::settings::defaults;
use super::collect::Errors;
use super::scalar::{self, positive_duration};
use super::{admission, error, resilience, retry, timeouts, tls};

/// Validates `raw`, at key path `key`; every key on its own, except TLS,
/// which needs valid endpoints. Its name is checked by the caller, with the
/// other clusters' names.
pub(super) fn cluster(raw: &ClusterFile, key: &str) -> Result<ClusterSettings, Vec<ConfigError>> {
    let mut errors = Errors::default();
    let name = raw.name.value.clone();
    let endpoints = errors.take(endpoints(&raw.endpoints, &name, key));
    let protocol = match raw.protocol {
        Some(ProtocolFile::Http2) => UpstreamProtocol::Http2,
        Some(ProtocolFile::Http1) | None => UpstreamProtocol::Http1,
    };
    let [connect_timeout, pool_idle_timeout, resolve_interval] = durations(raw, key, &mut errors);
    let balance = errors.take(balance(raw.balance.as_ref(), &format!("{key}.balance")));
    let timeouts = errors.take(timeouts::cluster(
        raw.timeouts.as_ref(),
        &format!("{key}.timeouts"),
    ));
    let http2_keepalive_interval = errors.take(http2_keepalive_interval(raw, protocol, key));
    let admission_key = format!("{key}.admission");
    let admission = errors.take(match &raw.admission {
        Some(block) => admission::admission(&[(block, admission_key.as_str())]),
        None => Ok(AdmissionSettings::default()),
    });
    let tls = endpoints
        .as_ref()
        .and_then(|e| errors.take(tls::cluster(raw, e, protocol, &format!("{key}.tls"))));
    let failure_statuses = errors.take(resilience::failure_statuses(
        raw.failure_statuses.as_ref(),
        &format!("{key}.failure_statuses"),
    ));
    let failure_grpc_codes = errors.take(scalar::grpc_codes(
        raw.failure_grpc_codes.as_ref(),
        &format!("{key}.failure_grpc_codes"),
        defaults::FAILURE_GRPC_CODES,
    ));
    let breaker = errors.take(resilience::breaker(
        raw.breaker.as_ref(),
        &format!("{key}.breaker"),
    ));
    let outlier = errors.take(resilience::outlier(
        raw.outlier.as_ref(),
        &format!("{key}.outlier"),
    ));
    let retry = errors.take(retry::cluster(raw.retry.as_ref(), &format!("{key}.retry")));
    let health_check = errors.take(resilience::health_check(
        raw.health_check.as_ref(),
        &format!("{key}.health_check"),
    ));
    let cluster = (|| {
        Some(ClusterSettings {
            name,
            endpoints: endpoints?,
            protocol,
            connect_timeout: connect_timeout?,
            pool_idle_timeout: pool_idle_timeout?,
            pool_max_idle_per_endpoint: raw
                .pool_max_idle_per_endpoint
                .unwrap_or(defaults::POOL_MAX_IDLE_PER_ENDPOINT),
            pool_max_idle_per_cluster: raw
                .pool_max_idle_per_cluster
                .unwrap_or(defaults::POOL_MAX_IDLE_PER_CLUSTER),
            resolve_interval: resolve_interval?,
            balance: balance?,
            timeouts: timeouts?,
            http2_keepalive_interval: http2_keepalive_interval?,
            admission: admission?,
            failure_statuses: failure_statuses?,
            failure_grpc_codes: failure_grpc_codes?,
            breaker: breaker?,
            outlier: outlier?,
            retry: retry?,
            health_check: health_check?,
            tls: tls?,
        })
    })();
    errors.finish(cluster)
}

/// `connect_timeout`, `pool_idle_timeout` and `resolve_interval`.
fn durations(
    raw: &ClusterFile,
    key: &str,
    errors: &mut Errors,
) -> [Option<std::time::Duration>; 3] {
    [
        (
            "connect_timeout",
            &raw.connect_timeout,
            defaults::CONNECT_TIMEOUT,
        ),
        (
            "pool_idle_timeout",
            &raw.pool_idle_timeout,
            defaults::POOL_IDLE_TIMEOUT,
        ),
        (
            "resolve_interval",
            &raw.resolve_interval,
            defaults::RESOLVE_INTERVAL,
        ),
    ]
    .map(|(field, at, default)| {
        errors.take(positive_duration(
            at.as_ref(),
            &format!("{key}.{field}"),
            default,
        ))
    })
}

/// `endpoints`: at least one, each `host:port`, none listed twice.
fn endpoints(
    raw: &Spanned<Vec<Spanned<String>>>,
    name: &str,
    key: &str,
) -> Result<Vec<EndpointSpec>, ConfigError> {
    if raw.value.is_empty() {
        return Err(error(
            raw,
            &format!("{key}.endpoints"),
            format!("cluster \"{name}\" has no endpoints; list at least one `host:port`"),
        ));
    }
    let mut endpoints = Vec::with_capacity(raw.value.len());
    let mut seen = HashMap::new();
    for (i, e) in raw.value.iter().enumerate() {
        let k = format!("{key}.endpoints[{i}]");
        let spec = scalar::endpoint(&e.value).map_err(|m| error(e, &k, m))?;
        if let Some(first) = seen.insert(spec.clone(), e.referenced.line()) {
            return Err(error(
                e,
                &k,
                format!(
                    "duplicate endpoint `{}` (first listed at line {first})",
                    e.value
                ),
            ));
        }
        endpoints.push(spec);
    }
    Ok(endpoints)
}

/// `http2_keepalive_interval`, which only an HTTP/2 cluster may set.
fn http2_keepalive_interval(
    raw: &ClusterFile,
    protocol: UpstreamProtocol,
    key: &str,
) -> Result<std::time::Duration, ConfigError> {
    let ping_key = format!("{key}.http2_keepalive_interval");
    if let (UpstreamProtocol::Http1, Some(at)) = (protocol, &raw.http2_keepalive_interval) {
        return Err(error(
            at,
            &ping_key,
            "`http2_keepalive_interval` applies only to protocol http2; remove it or change the protocol",
        ));
    }
    positive_duration(
        raw.http2_keepalive_interval.as_ref(),
        &ping_key,
        defaults::HTTP2_KEEPALIVE_INTERVAL,
    )
}

fn balance(raw: Option<&BalanceFile>, key: &str) -> Result<BalanceSettings, ConfigError> {
    let Some(raw) = raw else {
        return Ok(BalanceSettings::P2cPeakEwma {
            default_rtt: defaults::DEFAULT_RTT,
            decay: defaults::DECAY,
            slow_start: None,
        });
    };
    match raw.policy.unwrap_or(PolicyFile::P2cPeakEwma) {
        PolicyFile::P2cPeakEwma => Ok(BalanceSettings::P2cPeakEwma {
            default_rtt: positive_duration(
                raw.default_rtt.as_ref(),
                &format!("{key}.default_rtt"),
                defaults::DEFAULT_RTT,
            )?,
            decay: positive_duration(raw.decay.as_ref(), &format!("{key}.decay"), defaults::DECAY)?,
            // A zero default: off when absent.
            slow_start: Some(positive_duration(
                raw.slow_start.as_ref(),
                &format!("{key}.slow_start"),
                std::time::Duration::ZERO,
            )?)
            .filter(|d| !d.is_zero()),
        }),
        PolicyFile::RoundRobin => {
            let p2c_only = [
                ("default_rtt", &raw.default_rtt),
                ("decay", &raw.decay),
                ("slow_start", &raw.slow_start),
            ];
            for (field, value) in p2c_only {
                if let Some(value) = value {
                    return Err(error(
                        value,
                        &format!("{key}.{field}"),
                        format!(
                            "`{field}` applies only to policy p2c_peak_ewma; remove it or change the policy"
                        ),
                    ));
                }
            }
            Ok(BalanceSettings::RoundRobin)
        }
    }
}
