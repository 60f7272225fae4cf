//! How each read follows the one before it on its open file description: the definitions
//! `analyze sequentiality` and the report share (docs/analysis.md).
//!
//! Reads are taken in time order per open file description ([`stream_order`]: the kernel keeps
//! readahead state per description). A read's jump is its offset minus where the previous read
//! on the description ended (that read's offset plus the bytes it returned, or asked for when
//! the result is unknown); the first read on a description has none. A run is a maximal
//! sequence of consecutive reads on one description, each starting where the one before ended
//! (jump 0), within one group (the caller's: a file, a thread, a role). [`Walk`] follows the
//! reads in that order and hands back each run as it ends.

/// Near-sequential window after the previous read's end.
pub const NEAR_BYTES: i64 = 64 << 10;

/// Jump-distance buckets (bytes from the previous read's end), in order.
pub const JUMP_BUCKETS: [&str; 12] = [
    "first",
    "<-16M",
    "-16M..-1M",
    "-1M..-64K",
    "-64K..-4K",
    "-4K..0",
    "0",
    "0..4K",
    "4K..64K",
    "64K..1M",
    "1M..16M",
    ">16M",
];

/// Run-length buckets (reads in a run), in order.
pub const RUN_BUCKETS: [&str; 8] = ["1", "2", "3-4", "5-8", "9-16", "17-32", "33-64", ">64"];

/// The index in [`JUMP_BUCKETS`] of a jump (`None`: the first read on its description).
pub fn jump_bucket(d: Option<i64>) -> usize {
    const K: i64 = 1 << 10;
    const M: i64 = 1 << 20;
    match d {
        None => 0,
        Some(d) if d < -16 * M => 1,
        Some(d) if d < -M => 2,
        Some(d) if d < -64 * K => 3,
        Some(d) if d < -4 * K => 4,
        Some(d) if d < 0 => 5,
        Some(0) => 6,
        Some(d) if d <= 4 * K => 7,
        Some(d) if d <= 64 * K => 8,
        Some(d) if d <= M => 9,
        Some(d) if d <= 16 * M => 10,
        Some(_) => 11,
    }
}

/// The index in [`RUN_BUCKETS`] of a run of `n` reads.
pub fn run_bucket(n: u64) -> usize {
    match n {
        0 | 1 => 0,
        2 => 1,
        3..=4 => 2,
        5..=8 => 3,
        9..=16 => 4,
        17..=32 => 5,
        33..=64 => 6,
        _ => 7,
    }
}

/// Row indices of reads ordered by (stream, start time), ties in row order. Rows come in file
/// order, which is nearly time order: a stable bucket pass by stream, then a check (and a sort
/// where needed) of each stream's times.
pub fn stream_order(stream: &[u32], ts: &[u64]) -> Vec<u32> {
    let streams = stream.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut start = vec![0u32; streams + 1];
    for &s in stream {
        start[s as usize + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut next = start.clone();
    let mut order = vec![0u32; stream.len()];
    for (row, &s) in stream.iter().enumerate() {
        order[next[s as usize] as usize] = row as u32;
        next[s as usize] += 1;
    }
    for w in start.windows(2) {
        let seg = &mut order[w[0] as usize..w[1] as usize];
        if seg.windows(2).any(|p| ts[p[0] as usize] > ts[p[1] as usize]) {
            seg.sort_by_key(|&r| ts[r as usize]);
        }
    }
    order
}

/// How one read follows the previous read on its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Offset minus the previous read's end; `None` for the first read on the description.
    pub jump: Option<i64>,
    /// It ends where the previous read started.
    pub reverse: bool,
}

impl Step {
    /// It starts where the previous read ended.
    pub fn sequential(&self) -> bool {
        self.jump == Some(0)
    }

    /// It starts within [`NEAR_BYTES`] after the previous read's end (sequential included).
    pub fn near(&self) -> bool {
        self.jump.is_some_and(|d| (0..=NEAR_BYTES).contains(&d))
    }
}

/// A walk over reads in [`stream_order`]: what each read's step is, and the runs as they end.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// The previous read: stream, offset, end.
    prev: Option<(u32, i64, i64)>,
    /// The run in progress: group, reads.
    run: Option<(u32, u64)>,
}

impl Walk {
    /// A walk before the first read.
    pub fn new() -> Self {
        Walk::default()
    }

    /// The next read: its stream, offset, length (bytes returned, or asked when unknown) and
    /// group. Returns its step and, when it ends a run, that run's group and reads.
    pub fn step(&mut self, stream: u32, pos: i64, len: i64, group: u32) -> (Step, Option<(u32, u64)>) {
        let step = match self.prev {
            Some((ps, poff, pend)) if ps == stream => {
                Step { jump: Some(pos.wrapping_sub(pend)), reverse: pos.wrapping_add(len) == poff }
            }
            _ => Step { jump: None, reverse: false },
        };
        let (run, ended) = match self.run {
            Some((g, n)) if step.sequential() && g == group => ((group, n + 1), None),
            Some(done) => ((group, 1), Some(done)),
            None => ((group, 1), None),
        };
        self.run = Some(run);
        self.prev = Some((stream, pos, pos.wrapping_add(len)));
        (step, ended)
    }

    /// The run in progress at the end, with its group.
    pub fn finish(self) -> Option<(u32, u64)> {
        self.run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_line_up_with_the_near_window() {
        assert_eq!(JUMP_BUCKETS[jump_bucket(Some(0))], "0");
        assert_eq!(JUMP_BUCKETS[jump_bucket(Some(NEAR_BYTES))], "4K..64K");
        assert_eq!(JUMP_BUCKETS[jump_bucket(Some(NEAR_BYTES + 1))], "64K..1M");
        assert_eq!(JUMP_BUCKETS[jump_bucket(Some(-1))], "-4K..0");
        assert_eq!(JUMP_BUCKETS[jump_bucket(None)], "first");
        assert_eq!(RUN_BUCKETS[run_bucket(64)], "33-64");
        assert_eq!(RUN_BUCKETS[run_bucket(65)], ">64");
    }

    #[test]
    fn runs_end_at_a_jump_a_new_description_or_a_new_group() {
        let mut w = Walk::new();
        let mut runs = Vec::new();
        // Stream 0: three reads back to back, a jump, one more; stream 1: two in sequence whose
        // second is another group's; then one read that ends where the previous one started.
        let reads =
            [(0, 0, 10, 0), (0, 10, 10, 0), (0, 20, 10, 0), (0, 100, 10, 0), (1, 0, 4, 0), (1, 4, 4, 1)];
        let mut steps = Vec::new();
        for (s, p, l, g) in reads {
            let (step, ended) = w.step(s, p, l, g);
            steps.push(step);
            runs.extend(ended);
        }
        let (step, ended) = w.step(1, 0, 4, 1);
        assert!(step.reverse && !step.near());
        runs.extend(ended);
        runs.extend(w.finish());
        assert_eq!(runs, vec![(0, 3), (0, 1), (0, 1), (1, 1), (1, 1)]);
        assert_eq!(steps[0].jump, None);
        assert!(steps[1].sequential() && steps[1].near());
        assert_eq!(steps[3].jump, Some(70));
        assert_eq!(steps[4].jump, None);
    }
}
