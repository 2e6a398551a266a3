//! Long-poll holds: how many waiting retrieves a node holds, for which mailboxes, until when,
//! and whom a stored message wakes. A plain struct that takes `now`; the driver keeps the timers
//! and carries the wake-ups (`W`, e.g. a oneshot sender).

use pars_wire::swarm::Mailbox;
use std::collections::HashMap;
use std::time::Duration;

/// One held retrieve.
pub type HoldId = u64;

/// The most retrieves held at once for one owner's mailbox (an inbox): a few devices, each with
/// a long-poll at a member, and no owner takes the slots of others.
pub const MAX_HOLDS_PER_MAILBOX: usize = 8;

struct Held<W> {
    mailbox: Mailbox,
    waker: Option<W>,
}

/// The waiting retrieves held now, at most `max` of them.
pub struct Holds<W> {
    max: usize,
    max_wait: Duration,
    next: HoldId,
    held: HashMap<HoldId, Held<W>>,
}

impl<W> std::fmt::Debug for Holds<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holds")
            .field("max", &self.max)
            .field("held", &self.held.len())
            .finish()
    }
}

impl<W> Holds<W> {
    /// Holds at most `max` retrieves at once, none longer than `max_wait`.
    pub fn new(max: usize, max_wait: Duration) -> Self {
        Self {
            max,
            max_wait,
            next: 0,
            held: HashMap::new(),
        }
    }

    /// Retrieves held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The most held at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many retrieves may be held at once for `mailbox`: [`MAX_HOLDS_PER_MAILBOX`], or a
    /// quarter of all for a group mailbox, which all its members share.
    pub fn cap_of(&self, mailbox: &Mailbox) -> usize {
        match mailbox {
            Mailbox::Group(_) => (self.max / 4).max(1),
            _ => MAX_HOLDS_PER_MAILBOX,
        }
    }

    /// Holds a retrieve on `mailbox` that asked to wait `wait_ms`, from `now`: returns its ID and
    /// its deadline (the wait, cut to the node's longest), or `None` when as many as allowed are
    /// held, in all or for this mailbox ([`cap_of`](Self::cap_of)) (answer Busy). `waker` is
    /// handed back by [`arrived`](Self::arrived).
    pub fn hold(
        &mut self,
        mailbox: Mailbox,
        now: Duration,
        wait_ms: u32,
        waker: W,
    ) -> Option<(HoldId, Duration)> {
        if self.held.len() >= self.max {
            return None;
        }
        let cap = self.cap_of(&mailbox);
        if self.held.values().filter(|h| h.mailbox == mailbox).count() >= cap {
            return None;
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        self.held.insert(
            id,
            Held {
                mailbox,
                waker: Some(waker),
            },
        );
        let wait = Duration::from_millis(u64::from(wait_ms)).min(self.max_wait);
        Some((id, now.saturating_add(wait)))
    }

    /// A message for `mailbox` was stored: the wakers of its held retrieves (each once). The
    /// holds stay counted until [`release`](Self::release).
    pub fn arrived(&mut self, mailbox: &Mailbox) -> Vec<W> {
        self.held
            .values_mut()
            .filter(|h| h.mailbox == *mailbox)
            .filter_map(|h| h.waker.take())
            .collect()
    }

    /// The retrieve was answered (woken, timed out, or the node stops): its slot is free.
    pub fn release(&mut self, id: HoldId) {
        self.held.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    fn inbox(b: u8) -> Mailbox {
        Mailbox::File(pars_wire::FileId([b; 32]))
    }

    #[test]
    fn holds_up_to_max_wakes_only_its_mailbox_once_and_frees_on_release() {
        let mut h: Holds<&str> = Holds::new(2, Duration::from_secs(8));
        let now = Duration::from_secs(100);
        let (a, deadline) = h.hold(inbox(1), now, 30_000, "a").unwrap();
        // The wait is cut to the node's longest.
        assert_eq!(deadline, Duration::from_secs(108));
        let (_, d2) = h.hold(inbox(2), now, 500, "b").unwrap();
        assert_eq!(d2, Duration::from_millis(100_500));
        // Full: Busy.
        assert!(h.hold(inbox(1), now, 1000, "c").is_none());
        assert_eq!(h.len(), 2);
        // A store for mailbox 1 wakes only its hold, and only once.
        assert_eq!(h.arrived(&inbox(1)), vec!["a"]);
        assert!(h.arrived(&inbox(1)).is_empty());
        assert!(h.arrived(&inbox(3)).is_empty());
        // Still counted until released.
        assert!(h.hold(inbox(3), now, 1000, "d").is_none());
        h.release(a);
        assert!(h.hold(inbox(3), now, 1000, "d").is_some());
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn one_mailbox_takes_at_most_its_share_of_the_slots() {
        let mut h: Holds<u32> = Holds::new(64, Duration::from_secs(8));
        let now = Duration::from_secs(1);
        let me = Mailbox::Inbox(pars_crypto::SessionId::from_digest([1; 32]));
        for i in 0..MAX_HOLDS_PER_MAILBOX as u32 {
            assert!(h.hold(me, now, 1000, i).is_some());
        }
        // This owner's next is refused; another mailbox still gets a slot.
        assert!(h.hold(me, now, 1000, 99).is_none());
        assert!(h.hold(inbox(2), now, 1000, 100).is_some());
        // A group mailbox, shared by its members, may take a quarter of all.
        let g = Mailbox::Group(pars_wire::GroupId([3; 32]));
        assert_eq!(h.cap_of(&g), 16);
        for i in 0..16 {
            assert!(h.hold(g, now, 1000, 200 + i).is_some());
        }
        assert!(h.hold(g, now, 1000, 300).is_none());
    }
}
