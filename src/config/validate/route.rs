//! Validation of one route: its `match:` block, the cluster it names, and
//! its own `timeouts:`, `admission:` and `retry:` blocks, the last two
//! resolved key by key over the cluster's.

use super::super::error::ConfigError;
use super::super::file::cluster::ClusterFile;
use super::super::file::route::{MatchFile, PriorityFile, RouteFile};
use super::super::settings::admission::AdmissionSettings;
use super::super::settings::defaults;
use super::super::settings::retry::RetryPolicy;
use super::super::settings::route::{RoutePriority, RouteSettings};
use super::collect::Errors;
use super::{admission, error, retry, scalar, timeouts};

/// Validates `raw` (at key path `key`); it must name one of `clusters`.
/// Every independent problem is reported; the `admission:` and `retry:`
/// blocks, resolved over the cluster's, only once the cluster is known.
pub(super) fn route(
    raw: &RouteFile,
    key: &str,
    clusters: &[ClusterFile],
) -> Result<RouteSettings, Vec<ConfigError>> {
    let mut errors = Errors::default();
    let matches = raw.matches.as_ref();
    let host = errors.take(host(matches, key));
    let path_prefix = errors.take(path_prefix(matches, key));
    let methods = errors.take(methods(matches, key));
    let timeouts = errors.take(timeouts::overrides(
        raw.timeouts.as_ref(),
        &format!("{key}.timeouts"),
    ));
    let index = errors.take(target(raw, key, clusters));
    let inherited = index.map(|index| {
        let admission = errors.take(admission(raw, key, clusters, index));
        let retry = errors.take(retry(raw, key, clusters, index));
        (admission, retry)
    });
    let route = (|| {
        let (admission, retry) = inherited?;
        Some(RouteSettings {
            retry: retry?,
            name: raw.name.value.clone(),
            host: host?,
            path_prefix: path_prefix?,
            methods: methods?,
            cluster: raw.cluster.value.clone(),
            timeouts: timeouts?,
            admission: admission?,
            priority: match raw.priority {
                None | Some(PriorityFile::Default) => RoutePriority::Default,
                Some(PriorityFile::Critical) => RoutePriority::Critical,
                Some(PriorityFile::Sheddable) => RoutePriority::Sheddable,
            },
        })
    })();
    errors.finish(route)
}

/// The route's own `admission:` block over that of cluster `index`.
fn admission(
    raw: &RouteFile,
    key: &str,
    clusters: &[ClusterFile],
    index: usize,
) -> Result<Option<AdmissionSettings>, ConfigError> {
    let Some(own) = &raw.admission else {
        return Ok(None);
    };
    let route_key = format!("{key}.admission");
    let cluster_key = format!("clusters[{index}].admission");
    let inherited = clusters[index].admission.as_ref();
    let mut blocks = vec![(own, route_key.as_str())];
    blocks.extend(inherited.map(|b| (b, cluster_key.as_str())));
    admission::admission(&blocks).map(Some)
}

/// The route's own `retry:` block over that of cluster `index`.
fn retry(
    raw: &RouteFile,
    key: &str,
    clusters: &[ClusterFile],
    index: usize,
) -> Result<RetryPolicy, ConfigError> {
    let route_retry_key = format!("{key}.retry");
    let cluster_retry_key = format!("clusters[{index}].retry");
    retry::route(
        raw.retry.as_ref().map(|b| (b, route_retry_key.as_str())),
        clusters[index]
            .retry
            .as_ref()
            .map(|b| (b, cluster_retry_key.as_str())),
    )
}

/// `match.host`, lower-cased; absent matches any host.
fn host(matches: Option<&MatchFile>, key: &str) -> Result<Option<String>, ConfigError> {
    match matches.and_then(|m| m.host.as_ref()) {
        Some(h) => Ok(Some(
            scalar::route_host(&h.value).map_err(|m| error(h, &format!("{key}.match.host"), m))?,
        )),
        None => Ok(None),
    }
}

/// `match.path_prefix`: a path, without query or fragment.
fn path_prefix(matches: Option<&MatchFile>, key: &str) -> Result<String, ConfigError> {
    let Some(p) = matches.and_then(|m| m.path_prefix.as_ref()) else {
        return Ok(defaults::PATH_PREFIX.to_owned());
    };
    let k = format!("{key}.match.path_prefix");
    if !p.value.starts_with('/') {
        return Err(error(
            p,
            &k,
            format!("path_prefix \"{}\" must start with `/`", p.value),
        ));
    }
    if let Some(c) = p
        .value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
    {
        return Err(error(
            p,
            &k,
            format!(
                "path_prefix \"{}\" contains {c:?}; it matches the path only",
                p.value
            ),
        ));
    }
    Ok(p.value.clone())
}

/// `match.methods`; absent matches any method.
fn methods(matches: Option<&MatchFile>, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
    match matches.and_then(|m| m.methods.as_ref()) {
        Some(list) if list.value.is_empty() => Err(error(
            list,
            &format!("{key}.match.methods"),
            "an empty method list matches nothing; omit `methods` to match any method",
        )),
        Some(list) => {
            for (k, m) in list.value.iter().enumerate() {
                scalar::method(&m.value)
                    .map_err(|msg| error(m, &format!("{key}.match.methods[{k}]"), msg))?;
            }
            Ok(Some(list.value.iter().map(|m| m.value.clone()).collect()))
        }
        None => Ok(None),
    }
}

/// The index in `clusters` of the cluster the route names.
fn target(raw: &RouteFile, key: &str, clusters: &[ClusterFile]) -> Result<usize, ConfigError> {
    let cluster = &raw.cluster;
    if let Some(index) = clusters.iter().position(|c| c.name.value == cluster.value) {
        return Ok(index);
    }
    let known: Vec<&str> = clusters.iter().map(|c| c.name.value.as_str()).collect();
    let known = if known.is_empty() {
        "none defined".to_owned()
    } else {
        known.join(", ")
    };
    Err(error(
        cluster,
        &format!("{key}.cluster"),
        format!(
            "unknown cluster \"{}\" (known clusters: {known})",
            cluster.value
        ),
    ))
}
