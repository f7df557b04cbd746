//! First-response times: how long customers waited before the business answered.

use sqlx::Row;

use super::{now_ms, Store, StoreError};

/// Median and 90th percentile wait over a window, in seconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ResponseTimes {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    /// Threads that received at least one response in the window.
    pub threads: i64,
    /// Answered waits the figures are computed from.
    pub responses: i64,
}

impl Store {
    pub async fn response_times(
        &self,
        tenant_id: &str,
        days: i64,
    ) -> Result<ResponseTimes, StoreError> {
        let since = now_ms() - days * 24 * 3600 * 1000;
        let found = sqlx::query(
            "SELECT thread_id, responded_at - waited_from AS waited FROM responses \
             WHERE tenant_id = $1 AND responded_at >= $2",
        )
        .bind(tenant_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        let mut waits = Vec::with_capacity(found.len());
        let mut threads = std::collections::HashSet::new();
        for row in &found {
            waits.push(row.try_get::<i64, _>("waited")?.max(0) as f64 / 1000.0);
            threads.insert(row.try_get::<String, _>("thread_id")?);
        }
        waits.sort_by(f64::total_cmp);
        Ok(ResponseTimes {
            median_seconds: percentile(&waits, 0.5),
            p90_seconds: percentile(&waits, 0.9),
            threads: threads.len() as i64,
            responses: waits.len() as i64,
        })
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(5.0));
        assert_eq!(percentile(&v, 0.9), Some(9.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
    }
}
