//! How well the model reproduces the kernel: its readahead decisions, matched one by one
//! against the recorded ones, file by file in order.
//!
//! A recorded decision and a simulated one *match* when they have the same trigger (sync or
//! async), page index and request size; a match is *exact* when the state before the decision
//! and the windows decided are the same too (every field the trace has: the 6.18 tracepoints do
//! not report the window start of the state before). Each recorded decision, in order, is
//! paired with an unpaired simulated one of the same key near the last pair (within 32
//! decisions either way), so threads that read one file at once and whose decisions the model
//! replays in a slightly different order still pair up; what stays unpaired is missed
//! (recorded, not simulated) or extra (simulated, not recorded).

use serde::Serialize;

use crate::model::{Decision, RaState, Trigger, Window};

/// How far ahead alignment looks for the next common decision.
const LOOKAHEAD: usize = 32;

/// Decision agreement for one file (or the total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Agreement {
    /// Decisions the kernel made.
    pub recorded: u64,
    /// Decisions the model made.
    pub simulated: u64,
    /// Recorded decisions the model made too (same trigger, index, request).
    pub matched: u64,
    /// Of those, the ones with the same state before and the same windows.
    pub exact: u64,
}

impl Agreement {
    /// `exact / recorded` (1 when nothing was recorded and nothing simulated).
    pub fn exact_rate(&self) -> f64 {
        if self.recorded == 0 {
            if self.simulated == 0 {
                1.0
            } else {
                0.0
            }
        } else {
            self.exact as f64 / self.recorded as f64
        }
    }

    /// Adds another file's agreement.
    pub fn add(&mut self, o: &Agreement) {
        self.recorded += o.recorded;
        self.simulated += o.simulated;
        self.matched += o.matched;
        self.exact += o.exact;
    }
}

fn same_key(a: &Decision, b: &Decision) -> bool {
    a.trigger == b.trigger && a.index == b.index && a.req == b.req
}

fn same_state(rec: &RaState, sim: &RaState, with_start: bool) -> bool {
    rec.size == sim.size
        && rec.async_size == sim.async_size
        && rec.ra_pages == sim.ra_pages
        && rec.order == sim.order
        && rec.prev_pos == sim.prev_pos
        && (!with_start || rec.start == sim.start)
}

/// Whether a matched pair agrees in full.
pub fn exact(rec: &Decision, sim: &Decision, with_start: bool) -> bool {
    same_key(rec, sim) && same_state(&rec.before, &sim.before, with_start) && rec.windows == sim.windows
}

/// How many differences [`agree`] keeps.
pub const NOTED: usize = 5;

/// A recorded decision the model did not reproduce exactly, with the model's decision for the
/// same trigger when it made one.
pub type Difference = (Decision, Option<Decision>);

/// Aligns one file's recorded and simulated decisions; `differences` gets the first [`NOTED`]
/// pairs that matched but differed, or recorded decisions the model missed, in recorded order.
pub fn agree(
    recorded: &[Decision],
    simulated: &[Decision],
    with_start: bool,
    mut differences: Option<&mut Vec<Difference>>,
) -> Agreement {
    let mut a = Agreement {
        recorded: recorded.len() as u64,
        simulated: simulated.len() as u64,
        ..Agreement::default()
    };
    let mut note = |rec: &Decision, sim: Option<&Decision>| {
        if let Some(list) = differences.as_deref_mut() {
            if list.len() < NOTED {
                list.push((rec.clone(), sim.cloned()));
            }
        }
    };
    // Each recorded decision takes an unused simulated one with the same key within LOOKAHEAD
    // of where the last match was (an exact one first): threads reading one file at once can
    // make their decisions in a slightly different order than the model replays them.
    // The keys side by side, so the search near the last pair stays within a few cache lines.
    let key = |d: &Decision| (d.index, d.req, d.trigger);
    let keys: Vec<_> = simulated.iter().map(key).collect();
    let mut used = vec![false; simulated.len()];
    // Everything below this one is paired already.
    let mut unused_from = 0usize;
    let mut last = 0usize;
    for rec in recorded {
        let lo = last.saturating_sub(LOOKAHEAD).max(unused_from);
        let hi = (last + LOOKAHEAD + 1).min(simulated.len());
        let k = key(rec);
        // The first unpaired one with the same key that agrees in full, else the first one.
        let mut pick = None;
        for j in lo..hi {
            if used[j] || keys[j] != k {
                continue;
            }
            if exact(rec, &simulated[j], with_start) {
                pick = Some(j);
                break;
            }
            pick = pick.or(Some(j));
        }
        match pick {
            Some(j) => {
                used[j] = true;
                while unused_from < used.len() && used[unused_from] {
                    unused_from += 1;
                }
                last = j;
                a.matched += 1;
                if exact(rec, &simulated[j], with_start) {
                    a.exact += 1;
                } else {
                    note(rec, Some(&simulated[j]));
                }
            }
            None => note(rec, None),
        }
    }
    a
}

fn trigger_words(d: &Decision) -> &'static str {
    match d.trigger {
        Trigger::Sync => "a sync miss",
        Trigger::Async => "the readahead mark",
    }
}

fn window_words(s: &RaState, with_start: bool) -> String {
    if with_start {
        format!("{}+{} (async {})", s.start, s.size, s.async_size)
    } else {
        format!("of {} (async {})", s.size, s.async_size)
    }
}

fn prev_words(p: i64) -> String {
    if p < 0 {
        "none".into()
    } else if p % 4096 == 0 {
        format!("page {}", p / 4096)
    } else {
        format!("byte {p}")
    }
}

fn windows_words(ws: &[Window]) -> String {
    if ws.is_empty() {
        return "nothing".into();
    }
    let w: Vec<String> = ws
        .iter()
        .map(|w| {
            if w.unbounded {
                format!("{}+{} (lookahead {})", w.index, w.size, w.async_size)
            } else {
                format!("{}+{} (async {}, order {})", w.index, w.size, w.async_size, w.order)
            }
        })
        .collect();
    w.join(", ")
}

/// One difference in words: what the kernel saw and decided, and where the model's decision
/// (if it made one for the same trigger) differs, e.g. "kernel saw a sync miss at 4108 (4
/// pages wanted) with window 0+19 (async 3); model had window 4109+19 (async 3)".
pub fn describe(rec: &Decision, sim: Option<&Decision>, with_start: bool) -> String {
    let r = &rec.before;
    let mut out = format!(
        "kernel saw {} at {} ({} pages wanted) with window {}",
        trigger_words(rec),
        rec.index,
        rec.req,
        window_words(r, with_start)
    );
    let Some(sim) = sim else {
        out.push_str(&format!(", read {}; the model made no such decision", windows_words(&rec.windows)));
        return out;
    };
    let m = &sim.before;
    let mut parts = Vec::new();
    if r.size != m.size || r.async_size != m.async_size || (with_start && r.start != m.start) {
        parts.push(format!("window {}", window_words(m, with_start)));
    }
    if r.prev_pos != m.prev_pos {
        parts.push(format!("prev_pos {} (kernel {})", prev_words(m.prev_pos), prev_words(r.prev_pos)));
    }
    if r.ra_pages != m.ra_pages {
        parts.push(format!("ra_pages {} (kernel {})", m.ra_pages, r.ra_pages));
    }
    if r.order != m.order {
        parts.push(format!("order {} (kernel {})", m.order, r.order));
    }
    if rec.windows != sim.windows {
        parts.push(format!("read {} (kernel {})", windows_words(&sim.windows), windows_words(&rec.windows)));
    }
    if parts.is_empty() {
        out.push_str("; the model agreed");
    } else {
        out.push_str("; model had ");
        out.push_str(&parts.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(trigger: Trigger, index: u64, size: u64) -> Decision {
        Decision {
            trigger,
            index,
            req: 4,
            before: RaState { size, ..RaState::default() },
            windows: vec![Window { unbounded: false, index, size: 8, async_size: 4, order: 0 }],
        }
    }

    #[test]
    fn alignment_skips_what_one_side_lacks() {
        let rec = vec![
            d(Trigger::Sync, 0, 0),
            d(Trigger::Async, 4, 8),
            d(Trigger::Async, 8, 16),
            d(Trigger::Sync, 90, 0),
        ];
        let sim = vec![
            d(Trigger::Sync, 0, 0),
            d(Trigger::Sync, 50, 0),
            d(Trigger::Async, 4, 8),
            d(Trigger::Async, 8, 99),
        ];
        let mut noted = Vec::new();
        let a = agree(&rec, &sim, false, Some(&mut noted));
        assert_eq!(a, Agreement { recorded: 4, simulated: 4, matched: 3, exact: 2 });
        // The first difference is the async decision at 8, whose state differs; then the sync
        // miss at 90 the model never saw.
        let (r, s) = noted[0].clone();
        assert_eq!((r.index, s.as_ref().map(|s| s.before.size)), (8, Some(99)));
        assert_eq!(
            describe(&r, s.as_ref(), false),
            "kernel saw the readahead mark at 8 (4 pages wanted) with window of 16 (async 0); \
             model had window of 99 (async 0)"
        );
        assert_eq!(noted.len(), 2);
        assert_eq!(
            describe(&noted[1].0, None, true),
            "kernel saw a sync miss at 90 (4 pages wanted) with window 0+0 (async 0), read 90+8 \
             (async 4, order 0); the model made no such decision"
        );
        assert!((a.exact_rate() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn decisions_of_two_streams_pair_up_when_their_order_differs() {
        let rec = vec![d(Trigger::Async, 4, 8), d(Trigger::Async, 2052, 8), d(Trigger::Async, 12, 8)];
        let sim = vec![d(Trigger::Async, 2052, 8), d(Trigger::Async, 4, 8), d(Trigger::Async, 12, 8)];
        let a = agree(&rec, &sim, false, None);
        assert_eq!(a, Agreement { recorded: 3, simulated: 3, matched: 3, exact: 3 });
    }
}
