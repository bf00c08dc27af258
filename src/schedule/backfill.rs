//! Backfill (a call passing a head that waits for budget, without
//! delaying it; see "Backfill" in the docs of [`crate::schedule`]) and the
//! next moment the passage of time alone lets a call go.

use super::partition::{head_admission, rank, HeadAdmission};
use super::{Scheduler, Ticket};
use crate::budget::Admission;

impl Scheduler {
    /// The earliest waiter behind a head that waits for budget until
    /// `head_at` which may go before the head without delaying it, and when.
    ///
    /// A candidate of the head's priority, among the next
    /// `backfill_scan`, qualifies at the time `t` its own cost fits when, with
    /// its cost reserved at `t`, the head's cost still fits by `head_at`; and
    /// when, once it is in flight, a slot is still free for the head.
    pub(super) fn backfill(&self, index: u32, head: Ticket, head_at: f64, now_ms: f64) -> Option<(Ticket, f64)> {
        let p = self.partitions.at(index)?;
        let head_entry = self.entries.get(head)?;
        let slots = p.max_in_flight().min(self.config.max_concurrent);
        if self.config.backfill_scan == 0 || p.in_flight + 1 >= slots || self.in_flight + 1 >= self.config.max_concurrent {
            return None;
        }
        let rank = rank(head_entry.priority);
        let behind = p.queue.range((rank, head + 1)..).take_while(|(level, _)| *level == rank);
        let mut best: Option<(Ticket, f64)> = None;
        let behind = behind.filter_map(|&(_, ticket)| Some((ticket, self.entries.get(ticket)?)));
        for (ticket, entry) in behind.take(self.config.backfill_scan) {
            let (cost, guessed) = entry.at_scale(p.input_scale);
            let fits_at = match p.budget.admission_with_share(&cost, guessed, now_ms, self.config.share) {
                Admission::Now => now_ms,
                Admission::At(at) => at,
                _ => continue,
            };
            if fits_at > head_at || best.is_some_and(|(_, at)| at <= fits_at) {
                continue;
            }
            let (mut both, head_guessed) = head_entry.at_scale(p.input_scale);
            both.add(&cost);
            let guessed = head_guessed + guessed;
            let head_still_fits = match p.budget.admission_with_share(&both, guessed, fits_at, self.config.share) {
                Admission::Now => true,
                Admission::At(at) => at <= head_at,
                _ => false,
            };
            if head_still_fits {
                best = Some((ticket, fits_at));
                if fits_at <= now_ms {
                    break;
                }
            }
        }
        best
    }

    /// The earliest time at which the passage of time alone lets a waiting
    /// call go, and the call that should hold the timer for it (the head of
    /// that partition, or a call that may pass it by backfill). `None`: only
    /// an event (a response, a release) can change anything, or nothing waits.
    pub fn next_wake(&self, now_ms: f64) -> Option<(Ticket, f64)> {
        if self.in_flight >= self.config.max_concurrent {
            return None;
        }
        let mut best: Option<(Ticket, f64)> = None;
        for &(index, _) in &self.waiting_partitions {
            let Some(p) = self.partitions.at(index as u32) else { continue };
            // The first item whose call was not cancelled.
            let Some((ticket, entry)) = p.queue.iter().find_map(|&(_, ticket)| Some((ticket, self.entries.get(ticket)?))) else { continue };
            let wake = match head_admission(p, entry, &self.config, now_ms) {
                HeadAdmission::Go => (ticket, now_ms),
                HeadAdmission::At(at) => (ticket, at),
                HeadAdmission::Budget(at) => self.backfill(p.index, ticket, at, now_ms).filter(|(_, t)| *t < at).unwrap_or((ticket, at)),
                HeadAdmission::OnEvent | HeadAdmission::Never(_) => continue,
            };
            if best.is_none_or(|(_, t)| wake.1 < t) {
                best = Some(wake);
            }
        }
        best
    }
}
