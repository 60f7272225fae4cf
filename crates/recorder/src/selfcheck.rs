//! The recording's check of itself: a probe can attach and never fire (a function the kernel
//! inlines at the call sites that matter, a copy of it that only another path calls, a
//! tracepoint whose arguments changed meaning). Some kinds come with others: page-cache inserts on
//! buffered reads (reads that missed the cache) come with readahead triggers, triggers with windows, windows with inserts, AIO
//! submissions with completions. A kind that stays at zero while the kinds it comes with flow is
//! reported, so that a missing probe is said, not silently absent from the analyses.

use mysql_io_format::{EventKind, ProbeMode};

use crate::plan::ProbePlan;

/// Events of the companion kinds needed before a silent kind is called silent.
pub const ENOUGH: u64 = 16;

/// What was recorded so far.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Events per kind, by code.
    pub kinds: [u64; 32],
    /// Buffered read syscalls during which their thread inserted pages into the page cache
    /// (reads that missed: each such insert follows a readahead trigger).
    pub missed_reads: u64,
}

impl Counts {
    /// Counts one event.
    pub fn add(&mut self, kind: EventKind) {
        if let Some(n) = self.kinds.get_mut(usize::from(kind.code())) {
            *n += 1;
        }
    }

    /// Events of `kind` so far.
    pub fn of(&self, kind: EventKind) -> u64 {
        self.kinds.get(usize::from(kind.code())).copied().unwrap_or(0)
    }
}

/// The kinds planned (not off) that recorded nothing while the kinds they come with recorded
/// [`ENOUGH`], each with a sentence saying so; `already` are left out (said before).
pub fn silent_kinds(plan: &ProbePlan, c: &Counts, already: &[EventKind]) -> Vec<(EventKind, String)> {
    use EventKind::*;
    let planned = |k: EventKind| plan.get(k).is_some_and(|p| p.mode != ProbeMode::Off);
    let mut out = Vec::new();
    let mut check = |silent: EventKind, flowing: String, flows: bool| {
        if flows && planned(silent) && c.of(silent) == 0 && !already.contains(&silent) {
            let how = plan.get(silent).map(|p| p.attach.join(", ")).unwrap_or_default();
            out.push((
                silent,
                format!(
                    "no {silent} event yet although {flowing}: its probe ({how}) is attached but has not fired, so this trace will lack {silent} events; `mysql-io doctor` shows what works on this kernel"
                ),
            ));
        }
    };
    // Inserts by writes or page faults trigger no readahead: only those inside reads count.
    let missed = c.missed_reads;
    check(
        ReadaheadTrigger,
        format!("{missed} buffered reads missed the page cache and inserted pages"),
        missed >= ENOUGH && planned(PageCacheAdd),
    );
    let triggers = c.of(ReadaheadTrigger);
    check(ReadaheadWindow, format!("{triggers} readahead triggers were recorded"), triggers >= ENOUGH);
    let windows = c.of(ReadaheadWindow);
    check(PageCacheAdd, format!("{windows} readahead windows were recorded"), windows >= ENOUGH);
    let submits = c.of(AioSubmit);
    check(AioComplete, format!("{submits} AIO submissions were recorded"), submits >= ENOUGH);
    let uring = c.of(UringSubmit);
    check(UringComplete, format!("{uring} io_uring submissions were recorded"), uring >= ENOUGH);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::KindPlan;

    fn plan(off: &[EventKind]) -> ProbePlan {
        let kinds = EventKind::ALL
            .iter()
            .map(|&kind| KindPlan {
                kind,
                mode: if off.contains(&kind) { ProbeMode::Off } else { ProbeMode::Kprobe },
                programs: Vec::new(),
                attach: vec![format!("function:{kind}_fn")],
                note: String::new(),
            })
            .collect();
        ProbePlan { kinds }
    }

    fn counts(pairs: &[(EventKind, u64)], missed_reads: u64) -> Counts {
        let mut c = Counts { missed_reads, ..Counts::default() };
        for &(k, n) in pairs {
            for _ in 0..n {
                c.add(k);
            }
        }
        c
    }

    #[test]
    fn a_kind_silent_beside_its_companions_is_named_once() {
        use EventKind::*;
        let p = plan(&[]);
        let c = counts(&[(Read, 40), (PageCacheAdd, 40)], 40);
        let found = silent_kinds(&p, &c, &[]);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [ReadaheadTrigger]);
        assert!(
            found[0].1.starts_with("no readahead_trigger event yet although 40 buffered reads missed the page cache and inserted pages: its probe (function:readahead_trigger_fn) is attached"),
            "{}",
            found[0].1
        );
        // Said once.
        assert!(silent_kinds(&p, &c, &[ReadaheadTrigger]).is_empty());
        // Triggers without windows, AIO without completions.
        let c = counts(&[(ReadaheadTrigger, 20), (AioSubmit, 16), (UringSubmit, 15)], 0);
        let kinds: Vec<EventKind> = silent_kinds(&p, &c, &[]).into_iter().map(|f| f.0).collect();
        assert_eq!(kinds, [ReadaheadWindow, AioComplete]);
    }

    #[test]
    fn nothing_is_said_below_the_threshold_or_for_kinds_not_planned() {
        use EventKind::*;
        // Reads that hit the cache insert nothing, and inserts by writes trigger nothing: no
        // trigger expected.
        let c = counts(&[(Read, 1000), (PageCacheAdd, 1000)], 0);
        assert!(silent_kinds(&plan(&[]), &c, &[]).is_empty());
        let c = counts(&[(PageCacheAdd, 1000)], 15);
        assert!(silent_kinds(&plan(&[]), &c, &[]).is_empty());
        // A kind the plan has off is said at the start, not here.
        let c = counts(&[(PageCacheAdd, 100)], 100);
        assert!(silent_kinds(&plan(&[ReadaheadTrigger]), &c, &[]).is_empty());
        // Inserts count only when their probe is planned.
        assert!(silent_kinds(&plan(&[PageCacheAdd]), &c, &[]).is_empty());
        // Everything flowing: nothing to say.
        let c = counts(&[(PageCacheAdd, 100), (ReadaheadTrigger, 5), (ReadaheadWindow, 5)], 100);
        assert!(silent_kinds(&plan(&[]), &c, &[]).is_empty());
    }
}
