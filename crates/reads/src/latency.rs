//! Read latencies as log-linear histograms, for percentiles that can be merged.
//!
//! A mean can be summed from parts; a percentile cannot. `analyze files` and `analyze threads`
//! count each group's latencies into a [`LatencyHistogram`] instead: histograms of slices of the
//! reads add up to the histogram of all of them, and the histograms of a role's threads to the
//! role's, so every percentile comes from a single pass over the reads.
//!
//! Buckets: below 32 ns every nanosecond has its own bucket; from 32 ns on, each power of two
//! `[2^k, 2^(k+1))` is cut into 32 buckets of `2^(k-5)` ns each (so every value below 64 ns
//! still has a bucket of its own). A bucket is never wider than 1/32 of its lowest value, so its
//! midpoint is within 1/64 (1.6%) of any value in it. A percentile is read as the midpoint of the
//! bucket holding it, moved into the group's smallest and largest latency when it falls outside
//! them (which only brings it closer), so it is within 1/64 of the exact value; it is exact below
//! 64 ns, and when it is the smallest or the largest latency (p99 of up to 100 latencies is the
//! largest). 1,920 buckets cover every `u64`; a histogram stores counts only up to the highest
//! bucket it has seen (720 buckets, 5.6 KiB, for latencies up to 100 ms).

/// Buckets per power of two, as a power of two (32 buckets).
const SUB_BITS: u32 = 5;
/// Buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;

/// The bucket of a latency in nanoseconds.
fn bucket(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    // `ns` has its highest bit at `k >= 5`; its top six bits (`SUB..2 * SUB`) pick the bucket
    // within the power of two, and `k - 5` counts the powers of two below.
    let shift = (63 - ns.leading_zeros()) - SUB_BITS;
    (u64::from(shift) * SUB + (ns >> shift)) as usize
}

/// The smallest and largest latency in bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * SUB {
        return (i, i);
    }
    let shift = i / SUB - 1;
    let low = (i % SUB + SUB) << shift;
    (low, low + ((1u64 << shift) - 1))
}

/// Counts of read latencies (nanoseconds) in log-linear buckets (see the module's docs for their
/// layout and the accuracy of [`LatencyHistogram::percentile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Latencies per bucket, up to the highest bucket seen.
    counts: Vec<u64>,
    /// Latencies counted.
    n: u64,
    /// Smallest latency counted (`u64::MAX` before the first).
    min: u64,
    /// Largest latency counted.
    max: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHistogram { counts: Vec::new(), n: 0, min: u64::MAX, max: 0 }
    }

    /// Counts one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let b = bucket(ns);
        if b >= self.counts.len() {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.n += 1;
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    /// Adds the latencies `other` counted.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.n += other.n;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Latencies counted.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether no latency was counted.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The buckets that counted something, in increasing order: (smallest latency, largest
    /// latency, count), the ends narrowed to the smallest and largest latency counted (for a
    /// distribution's plot).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(i, &c)| {
            let (low, high) = bounds(i);
            (low.max(self.min), high.min(self.max), c)
        })
    }

    /// The `percent`th percentile (1 to 100) in nanoseconds, `None` when the histogram is empty:
    /// the smallest latency that at least `percent`% of those counted do not exceed (the
    /// nearest-rank definition: the one at rank `ceil(percent / 100 * n)` in increasing order),
    /// within 1/64 of it (see the module's docs), exact when that rank is the first or the last.
    /// Percentiles above 100 are the largest latency, 0 the smallest.
    pub fn percentile(&self, percent: u32) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let n = u128::from(self.n);
        let rank = (u128::from(percent) * n).div_ceil(100).clamp(1, n);
        // The ends are known exactly (so p99 of up to 100 latencies is their largest).
        if rank == n {
            return Some(self.max);
        }
        if rank == 1 {
            return Some(self.min);
        }
        let mut seen = 0u128;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u128::from(c);
            if seen >= rank {
                let (low, high) = bounds(i);
                return Some((low + (high - low) / 2).clamp(self.min, self.max));
            }
        }
        // Unreachable: the counts add up to `n`.
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact nearest-rank percentile of `v` (sorted).
    fn exact(v: &[u64], percent: u32) -> u64 {
        let rank = (percent as usize * v.len()).div_ceil(100).max(1);
        v[rank - 1]
    }

    fn within_a_64th(estimate: u64, exact: u64) -> bool {
        estimate.abs_diff(exact) as f64 <= exact as f64 / 64.0
    }

    #[test]
    fn buckets_tile_every_value_in_order_and_are_at_most_a_32nd_wide() {
        let mut next = 0u64;
        for i in 0..=bucket(u64::MAX) {
            let (low, high) = bounds(i);
            assert_eq!(low, next, "bucket {i} does not start where {} ended", i.wrapping_sub(1));
            assert!(high >= low);
            assert!((high - low) as f64 <= low as f64 / 32.0, "bucket {i}: {low}..={high}");
            assert_eq!((bucket(low), bucket(high)), (i, i), "bucket {i}: {low}..={high}");
            next = high.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bucket ends at u64::MAX");
        assert_eq!(bucket(u64::MAX), 1919);
        for ns in 0..64 {
            assert_eq!(bounds(bucket(ns)), (ns, ns), "below 64 ns every value is exact");
        }
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        // Every nanosecond from 1 µs to 100 µs once: 99,001 values, the nearest-rank p50 is the
        // 49,501st (50,500 ns), the p99 the 98,011th (99,010 ns).
        let values: Vec<u64> = (1_000..=100_000).collect();
        assert_eq!((exact(&values, 50), exact(&values, 99)), (50_500, 99_010));
        let mut h = LatencyHistogram::new();
        for &ns in &values {
            h.record(ns);
        }
        assert_eq!(h.len(), 99_001);
        for percent in [50, 99] {
            let (got, want) = (h.percentile(percent).expect("not empty"), exact(&values, percent));
            assert!(within_a_64th(got, want), "p{percent}: {got} for {want}");
        }
        assert_eq!(h.percentile(100), Some(100_000));
        assert_eq!(h.percentile(0), Some(1_000));
    }

    #[test]
    fn percentiles_of_a_skewed_distribution_are_within_a_64th_of_the_exact_ones() {
        // Mostly page-cache hits of about 2 µs, a tail of disk reads of 100 µs to 10 ms: the
        // shape of the reads of a server whose buffer pool misses; a small linear congruential
        // generator makes it reproducible.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let mut values: Vec<u64> = (0..200_000)
            .map(|_| {
                let r = next();
                if r % 100 < 97 {
                    1_500 + r % 1_000
                } else {
                    100_000 + r % 9_900_000
                }
            })
            .collect();
        let mut whole = LatencyHistogram::new();
        let mut halves = [LatencyHistogram::new(), LatencyHistogram::new()];
        for (i, &v) in values.iter().enumerate() {
            whole.record(v);
            halves[i % 2].record(v);
        }
        let [mut merged, other] = halves;
        merged.merge(&other);
        assert_eq!(merged, whole, "merging the histograms of parts gives the histogram of all");
        values.sort_unstable();
        for percent in [1, 10, 50, 90, 97, 98, 99, 100] {
            let (got, want) = (whole.percentile(percent).expect("not empty"), exact(&values, percent));
            assert!(within_a_64th(got, want), "p{percent}: {got} for {want}");
        }
    }

    #[test]
    fn small_and_single_latencies_are_exact_and_empty_has_none() {
        assert_eq!(LatencyHistogram::new().percentile(50), None);
        let mut h = LatencyHistogram::new();
        h.record(123_456_789);
        assert_eq!((h.percentile(50), h.percentile(99)), (Some(123_456_789), Some(123_456_789)));
        let mut h = LatencyHistogram::new();
        for ns in [0, 7, 7, 40, 63] {
            h.record(ns);
        }
        assert_eq!((h.percentile(20), h.percentile(50), h.percentile(99)), (Some(0), Some(7), Some(63)));
        let buckets: Vec<_> = h.buckets().collect();
        assert_eq!(buckets, vec![(0, 0, 1), (7, 7, 2), (40, 40, 1), (63, 63, 1)]);
        // Two reads far apart: p50 is the first within its bucket, p99 the second exactly.
        let mut h = LatencyHistogram::new();
        for ns in [1_135, 32_044] {
            h.record(ns);
        }
        assert!(within_a_64th(h.percentile(50).expect("p50"), 1_135));
        assert_eq!(h.percentile(99), Some(32_044));
        let mut empty = LatencyHistogram::default();
        empty.merge(&LatencyHistogram::new());
        assert!(empty.is_empty() && empty.percentile(99).is_none());
        assert_eq!(empty.buckets().count(), 0);
        // A default histogram starts empty too: its first latency is its smallest.
        let mut h = LatencyHistogram::default();
        h.record(5_000);
        h.record(9_000);
        assert_eq!(h.percentile(1), Some(5_000));
    }
}
