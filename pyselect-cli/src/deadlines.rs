//! One queue of deadlines for an event loop: the server's idle deadlines (`--idle-timeout`)
//! and the client's per-transaction ones (`--timeout`).
//!
//! Each deadline is "now + a fixed duration", so deadlines are set in time order and the
//! queue stays sorted by being appended to: the nearest is at the front, and no round scans
//! every connection (with epoll, a round costs what is ready, not what is watched). A
//! connection whose deadline moves is not looked for in the queue: its new deadline is
//! pushed, and the old entry becomes stale. The owner says which entries are still live
//! (`live(deadline, key)`: is this still the deadline of what `key` names?); stale ones are
//! dropped when they reach the front.

use std::collections::VecDeque;
use std::time::Instant;

/// Deadlines in time order, each with the key (an fd, a slot) of what it belongs to.
#[derive(Debug)]
pub struct DeadlineQueue<K> {
    queue: VecDeque<(Instant, K)>,
}

impl<K: Copy> Default for DeadlineQueue<K> {
    fn default() -> Self {
        DeadlineQueue::with_capacity(0)
    }
}

impl<K: Copy> DeadlineQueue<K> {
    /// An empty queue with room for `n` deadlines.
    pub fn with_capacity(n: usize) -> DeadlineQueue<K> {
        DeadlineQueue {
            queue: VecDeque::with_capacity(n),
        }
    }

    /// Queue `key`'s deadline `at`. Deadlines come in time order, so this appends; one
    /// earlier than the last is put in its place, so the queue is sorted whatever the order.
    pub fn push(&mut self, at: Instant, key: K) {
        if self.queue.back().is_none_or(|&(last, _)| last <= at) {
            self.queue.push_back((at, key));
        } else {
            let i = self.queue.partition_point(|&(t, _)| t <= at);
            self.queue.insert(i, (at, key));
        }
    }

    /// The nearest live deadline; the stale entries before it are dropped.
    pub fn nearest(&mut self, live: impl Fn(Instant, K) -> bool) -> Option<Instant> {
        while let Some(&(t, key)) = self.queue.front() {
            if live(t, key) {
                return Some(t);
            }
            self.queue.pop_front();
        }
        None
    }

    /// Take the next live deadline that is not after `now`: its key, or `None` when the nearest
    /// live deadline is later (or there is none). Stale entries on the way are dropped.
    pub fn pop_due(&mut self, now: Instant, live: impl Fn(Instant, K) -> bool) -> Option<K> {
        while let Some(&(t, key)) = self.queue.front() {
            if t > now {
                return None;
            }
            self.queue.pop_front();
            if live(t, key) {
                return Some(key);
            }
        }
        None
    }

    /// Entries queued, stale ones included.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Nothing queued?
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn the_nearest_live_deadline_is_at_the_front() {
        let base = Instant::now();
        let mut q = DeadlineQueue::default();
        assert_eq!(q.nearest(|_, _| true), None);
        q.push(at(base, 10), 'a');
        q.push(at(base, 20), 'b');
        assert_eq!(q.nearest(|_, _| true), Some(at(base, 10)));
        // 'a' moved its deadline: its old entry is stale and dropped on the way.
        q.push(at(base, 30), 'a');
        let live_a = at(base, 30);
        let live = |t: Instant, k: char| k != 'a' || t == live_a;
        assert_eq!(q.nearest(live), Some(at(base, 20)));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn pop_due_takes_only_live_deadlines_not_after_now() {
        let base = Instant::now();
        let mut q = DeadlineQueue::with_capacity(4);
        q.push(at(base, 10), 1);
        q.push(at(base, 20), 2);
        q.push(at(base, 30), 3);
        q.push(at(base, 40), 4);
        // 2 is gone (its slot freed): its entry is skipped, never returned.
        let live = |_: Instant, k: i32| k != 2;
        let now = at(base, 30);
        assert_eq!(q.pop_due(now, live), Some(1));
        assert_eq!(q.pop_due(now, live), Some(3));
        assert_eq!(q.pop_due(now, live), None);
        // 4 is not due: it stays.
        assert_eq!(q.len(), 1);
        assert_eq!(q.nearest(live), Some(at(base, 40)));
        assert_eq!(q.pop_due(at(base, 40), live), Some(4));
        assert!(q.is_empty());
    }

    #[test]
    fn a_deadline_pushed_out_of_order_still_comes_out_in_time_order() {
        let base = Instant::now();
        let mut q = DeadlineQueue::default();
        for (ms, k) in [(30, 'c'), (10, 'a'), (40, 'd'), (20, 'b'), (20, 'e')] {
            q.push(at(base, ms), k);
        }
        let mut order = Vec::new();
        while let Some(k) = q.pop_due(at(base, 100), |_, _| true) {
            order.push(k);
        }
        // Equal deadlines keep the order they were pushed in.
        assert_eq!(order, ['a', 'b', 'e', 'c', 'd']);
    }

    #[test]
    fn an_empty_or_all_stale_queue_has_no_deadline() {
        let base = Instant::now();
        let mut q: DeadlineQueue<u8> = DeadlineQueue::default();
        assert_eq!(q.pop_due(base, |_, _| true), None);
        q.push(at(base, 1), 0);
        q.push(at(base, 2), 1);
        assert_eq!(q.nearest(|_, _| false), None);
        assert!(q.is_empty());
    }
}
