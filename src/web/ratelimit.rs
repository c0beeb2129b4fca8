//! The `rate_limit` of the web configuration: a token bucket shared by every request.

use std::time::{Duration, Instant};

use super::config::RateLimit;

/// A token bucket, refilled continuously.
#[derive(Debug)]
pub struct Bucket {
    limit: RateLimit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket for `limit`.
    pub fn new(limit: RateLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            at: Instant::now(),
        }
    }

    /// Takes one token at `now`; `false` when the bucket is empty.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at);
        self.at = now;
        let per_token = self.limit.interval.max(Duration::from_nanos(1));
        self.tokens = (self.tokens + elapsed.as_secs_f64() / per_token.as_secs_f64())
            .min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_one_per_interval() {
        let mut bucket = Bucket::new(RateLimit {
            burst: 3,
            interval: Duration::from_secs(1),
        });
        let t0 = bucket.at;
        let taken: Vec<bool> = (0..4).map(|_| bucket.take(t0)).collect();
        assert_eq!(taken, [true, true, true, false]);
        assert!(!bucket.take(t0 + Duration::from_millis(500)));
        assert!(bucket.take(t0 + Duration::from_millis(1000)));
        assert!(!bucket.take(t0 + Duration::from_millis(1100)));
        // Idle time refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        let taken: Vec<bool> = (0..4).map(|_| bucket.take(later)).collect();
        assert_eq!(taken, [true, true, true, false]);
    }
}
