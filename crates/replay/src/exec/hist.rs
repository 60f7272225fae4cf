//! A fixed log-linear histogram of lag values: no allocation per value, bounded memory.
//!
//! Values below 128 ns have their own bucket; above, each power of two is split into 64
//! buckets, so a bucket's upper bound is at most 1/64 (1.6 %) above any value in it.

use super::{LagStats, LATE_NS};

/// log2 of the buckets per power of two.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values below this are counted exactly.
const EXACT: u64 = 2 * SUB;
/// Buckets needed to reach `u64::MAX`.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

#[derive(Debug, Clone)]
pub(super) struct LagHist {
    counts: Box<[u64]>,
    n: u64,
    max: u64,
    late: u64,
}

fn bucket(v: u64) -> usize {
    if v < EXACT {
        v as usize
    } else {
        let e = 63 - v.leading_zeros() - SUB_BITS;
        (u64::from(e) * SUB + (v >> e)) as usize
    }
}

/// The largest value that falls in bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        i
    } else {
        let e = i / SUB - 1;
        let m = i - e * SUB;
        let top = (u128::from(m) + 1) << e;
        u64::try_from(top - 1).unwrap_or(u64::MAX)
    }
}

impl LagHist {
    pub(super) fn new() -> Self {
        Self { counts: vec![0; BUCKETS].into_boxed_slice(), n: 0, max: 0, late: 0 }
    }

    #[inline]
    pub(super) fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.n += 1;
        self.max = self.max.max(v);
        if v > LATE_NS {
            self.late += 1;
        }
    }

    pub(super) fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.n += other.n;
        self.max = self.max.max(other.max);
        self.late += other.late;
    }

    /// The `q` quantile (0..=1), as the upper bound of its bucket, never above the maximum.
    pub(super) fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }

    pub(super) fn stats(&self, timed: bool) -> LagStats {
        if !timed {
            return LagStats::default();
        }
        LagStats {
            timed: true,
            p50_ns: self.quantile(0.50),
            p99_ns: self.quantile(0.99),
            max_ns: self.max,
            late_reads: self.late,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bounded() {
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        let mut prev = 0;
        for v in (0..100_000u64).chain([1 << 40, (1 << 40) + 12345, u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= prev || v > 100_000);
            prev = b;
            let up = upper(b);
            assert!(up >= v, "v {v} bucket {b} upper {up}");
            assert!(up - v <= v / 64 + 1, "v {v} upper {up}");
            if b > 0 {
                assert!(upper(b - 1) < v);
            }
        }
    }

    #[test]
    fn quantiles() {
        let mut h = LagHist::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5);
        assert!((500_000..=500_000 + 500_000 / 64).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((990_000..=990_000 + 990_000 / 64).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        let s = h.stats(true);
        assert_eq!(s.max_ns, 1_000_000);
        assert_eq!(s.late_reads, 0);
        h.record(2_000_000);
        assert_eq!(h.stats(true).late_reads, 1);
        assert_eq!(h.stats(false), LagStats::default());
    }
}
