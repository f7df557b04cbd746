//! Latency percentiles over a run's cases.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// p50 and p95 by the nearest-rank method, which always reports a latency that was observed.
pub fn summarize(samples: impl IntoIterator<Item = f64>) -> Latency {
    let mut sorted: Vec<f64> = samples.into_iter().filter(|s| s.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    Latency {
        count: sorted.len(),
        p50_ms: percentile(&sorted, 50.0),
        p95_ms: percentile(&sorted, 95.0),
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = summarize((1..=20).map(f64::from));
        assert_eq!((l.p50_ms, l.p95_ms), (Some(10.0), Some(19.0)));
        let l = summarize([300.0, 100.0, 200.0]);
        assert_eq!((l.p50_ms, l.p95_ms), (Some(200.0), Some(300.0)));
        let l = summarize([]);
        assert_eq!((l.count, l.p50_ms), (0, None));
    }
}
