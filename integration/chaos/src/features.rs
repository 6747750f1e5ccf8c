//! The ONE place that says which seawall features have landed. A scenario
//! names the features it needs; while one is missing its verdict is
//! "pending: needs <feature>" instead of a failure. When a feature merges,
//! add it to [`LANDED`] and its scenarios become real pass/fail checks.

use std::fmt;

/// A seawall capability a scenario depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Cluster circuit breaker (503 `breaker-open`, fail fast).
    Breaker,
    /// Outlier ejection: a failing or stalled endpoint leaves rotation.
    OutlierEjection,
    /// Active health checks: an ejected endpoint comes back when healthy.
    HealthChecks,
    /// Retries with budgets.
    Retries,
    /// Config hot reload.
    HotReload,
}

/// Features merged into the seawall this runner tests. Flip here only.
/// All five merged into main (breaker, ejection and health checks in issue
/// 5; retries in issue 6; hot reload) before this suite did.
pub const LANDED: &[Feature] = &[
    Feature::Breaker,
    Feature::OutlierEjection,
    Feature::HealthChecks,
    Feature::Retries,
    Feature::HotReload,
];

/// The features in `needs` that have not landed.
pub fn missing(needs: &[Feature]) -> Vec<Feature> {
    needs
        .iter()
        .copied()
        .filter(|f| !LANDED.contains(f))
        .collect()
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::Breaker => "circuit breaker",
            Feature::OutlierEjection => "outlier ejection",
            Feature::HealthChecks => "health checks",
            Feature::Retries => "retries with budgets",
            Feature::HotReload => "hot reload",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_lists_only_features_not_landed() {
        let all = [Feature::Breaker, Feature::Retries, Feature::HotReload];
        let missing = missing(&all);
        assert!(missing.iter().all(|f| !LANDED.contains(f)));
        assert_eq!(
            missing.len() + all.iter().filter(|f| LANDED.contains(f)).count(),
            all.len()
        );
    }
}
