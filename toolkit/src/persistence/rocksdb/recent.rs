//! The journal's most recent commits, kept in memory for readers near the head.
//!
//! A live query or a projection that keeps up reads, after each commit, the events that commit
//! just stored. From RocksDB that is an index scan and a point read per event, where the
//! writer had the events in hand. [`Recent`] keeps the last commits (at most
//! [`MAX_EVENTS`] events and [`MAX_BYTES`] of payload) so that such a read is a copy from
//! memory; a reader further behind reads RocksDB as before.
//!
//! The writer keeps commits only while a reader is near the head: every read by tag or in
//! global order notes the offset it reads after ([`Recent::read`]), and a commit is kept if
//! the furthest such offset is within [`MAX_EVENTS`] of the head ([`Recent::keeping`]). A
//! journal that no query reads, or whose readers are all further behind (they read RocksDB
//! anyway), pays one relaxed load per write and holds nothing.
//!
//! | state | event | next state |
//! |---|---|---|
//! | `Idle` (empty) | a commit while no reader is near the head | `Idle` |
//! | `Idle` | a commit while a reader is near the head ([`Recent::push`]) | `Holding`, the commit appended |
//! | `Holding` | a commit while a reader is near the head | `Holding`, the commit appended, the oldest commits dropped past the bounds |
//! | `Holding` | a commit while no reader is near the head ([`Recent::keeping`] empties it) | `Idle` |
//! | `Holding` | a deletion ([`Recent::clear`]) | `Idle` |
//! | `Holding` | a commit over the bounds on its own | `Idle` |
//!
//! Every event is under the writers' lock, so commits and deletions are ordered.
//!
//! **What it holds.** Only committed events, appended before the commit is announced to live
//! readers, so the commits it holds have contiguous offsets, and a reader woken by the
//! announcement finds them. What it holds always ends at the last commit (a commit it does not
//! keep empties it): a reader past its last held offset has read everything committed. A
//! deletion empties it (the deleted events must not be served). A reader whose next offset is
//! not held (below the oldest, or nothing held) reads RocksDB: [`Recent::read`] returns `None`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::persistence::journal::PersistentRepr;

/// At most this many events are held.
pub(super) const MAX_EVENTS: usize = 16 * 1024;

/// At most this many bytes of payload are held (a commit larger than this alone is not kept).
pub(super) const MAX_BYTES: usize = 16 * 1024 * 1024;

/// How many commits a reader takes from the ring under one read lock.
const COMMITS_PER_LOCK: usize = 64;

/// One commit: its events in offset order, their offsets contiguous.
struct Commit {
    events: Box<[PersistentRepr]>,
    bytes: usize,
}

impl Commit {
    fn first(&self) -> u64 {
        self.events.first().map_or(0, |event| event.offset)
    }

    fn last(&self) -> u64 {
        self.events.last().map_or(0, |event| event.offset)
    }
}

#[derive(Default)]
struct Held {
    commits: VecDeque<Arc<Commit>>,
    events: usize,
    bytes: usize,
}

/// The last commits of a journal; see the module docs.
#[derive(Default)]
pub(super) struct Recent {
    /// One more than the highest offset a reader asked to read after (0: no reader yet).
    reader_after: AtomicU64,
    /// Whether `held` holds anything (read by the writer without the lock).
    holding: AtomicBool,
    held: RwLock<Held>,
}

impl Recent {
    /// A reader reads after `after_offset` (noted by [`read`](Self::read)).
    fn reading(&self, after_offset: u64) {
        let after = after_offset.saturating_add(1);
        if self.reader_after.load(Ordering::Relaxed) < after {
            self.reader_after.fetch_max(after, Ordering::Relaxed);
        }
    }

    /// Whether the commit after `head` (the last committed offset) is to be kept: a reader is
    /// near the head. If not, what is held is dropped, so that it still ends at the last
    /// commit. Called under the writers' lock.
    pub(super) fn keeping(&self, head: u64) -> bool {
        let after = self.reader_after.load(Ordering::Relaxed);
        let near = after != 0 && head < after.saturating_add(MAX_EVENTS as u64);
        if !near && self.holding.load(Ordering::Relaxed) {
            self.clear();
        }
        near
    }

    /// Appends a commit (its events in offset order, offsets contiguous and following the
    /// last commit's). Called under the writers' lock, after the commit and before it is
    /// announced.
    pub(super) fn push(&self, events: Vec<PersistentRepr>) {
        if events.is_empty() {
            return;
        }
        let bytes: usize = events.iter().map(|event| event.payload.len()).sum();
        let mut held = self.held.write();
        let follows = held
            .commits
            .back()
            .is_none_or(|last| last.last() + 1 == events[0].offset);
        if !follows || bytes > MAX_BYTES || events.len() > MAX_EVENTS {
            // Never a gap: what is held stays contiguous, or nothing is.
            *held = Held::default();
            if bytes > MAX_BYTES || events.len() > MAX_EVENTS {
                self.holding.store(false, Ordering::Relaxed);
                return;
            }
        }
        held.events += events.len();
        held.bytes += bytes;
        held.commits.push_back(Arc::new(Commit {
            events: events.into_boxed_slice(),
            bytes,
        }));
        self.holding.store(true, Ordering::Relaxed);
        while held.events > MAX_EVENTS || held.bytes > MAX_BYTES {
            let Some(oldest) = held.commits.pop_front() else {
                break;
            };
            held.events -= oldest.events.len();
            held.bytes -= oldest.bytes;
        }
    }

    /// Forgets every held commit (after a deletion). Called under the writers' lock.
    pub(super) fn clear(&self) {
        *self.held.write() = Held::default();
        self.holding.store(false, Ordering::Relaxed);
    }

    /// Calls `on_event` with a copy of each held event whose offset is above `after_offset`
    /// and that `keep` accepts, in offset order, at most `max` of them, and returns the offset
    /// of the last one given (or `after_offset`). `None` if the event at `after_offset + 1`
    /// is not held (read RocksDB instead); nothing is given then.
    ///
    /// Only commits are held, so what it gives is committed; commits appended while it reads
    /// are given too, still in order.
    pub(super) fn read(
        &self,
        after_offset: u64,
        max: u64,
        keep: &dyn Fn(&PersistentRepr) -> bool,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Option<u64> {
        self.reading(after_offset);
        let mut next = after_offset.checked_add(1)?;
        let mut last_given = after_offset;
        let mut left = max;
        // Allocated only if there is something to take (a caught-up reader takes nothing).
        let mut taken: Vec<Arc<Commit>> = Vec::new();
        let mut first_take = true;
        while left > 0 {
            {
                let held = self.held.read();
                let oldest = held.commits.front().map(|commit| commit.first());
                match oldest {
                    Some(oldest) if oldest <= next => {}
                    // Not held (or no longer: dropped while this read went on).
                    _ if first_take => return None,
                    _ => break,
                }
                // The commit holding `next`, or the end if `next` is past the last.
                let start = held.commits.partition_point(|commit| commit.last() < next);
                taken.extend(held.commits.range(start..).take(COMMITS_PER_LOCK).cloned());
            }
            first_take = false;
            if taken.is_empty() {
                break;
            }
            for commit in taken.drain(..) {
                let skip = next.saturating_sub(commit.first()) as usize;
                for event in commit.events.iter().skip(skip) {
                    if left == 0 {
                        break;
                    }
                    next = event.offset + 1;
                    if keep(event) {
                        on_event(event.clone());
                        last_given = event.offset;
                        left -= 1;
                    }
                }
            }
        }
        Some(last_given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::journal::{Manifest, PersistenceId};

    fn event(offset: u64, tag: &str) -> PersistentRepr {
        PersistentRepr {
            persistence_id: PersistenceId::new("a|1"),
            sequence_nr: offset,
            manifest: Manifest::new("E", 1),
            payload: vec![1, 2, 3],
            tags: vec![tag.to_owned()],
            writer_id: "w".into(),
            timestamp_ms: 0,
            offset,
        }
    }

    fn commit(offsets: std::ops::RangeInclusive<u64>) -> Vec<PersistentRepr> {
        offsets
            .map(|offset| event(offset, if offset % 2 == 0 { "even" } else { "odd" }))
            .collect()
    }

    fn read_all(recent: &Recent, after: u64, max: u64, tag: Option<&str>) -> Option<Vec<u64>> {
        let mut got = Vec::new();
        let keep = |event: &PersistentRepr| tag.is_none_or(|tag| event.tags[0] == tag);
        let last = recent.read(after, max, &keep, &mut |event| got.push(event.offset))?;
        assert_eq!(last, got.last().copied().unwrap_or(after));
        Some(got)
    }

    #[test]
    fn a_reader_gets_the_held_offsets_after_its_own_in_order() {
        let recent = Recent::default();
        assert_eq!(read_all(&recent, 0, 10, None), None, "nothing held");
        recent.push(commit(1..=3));
        recent.push(commit(4..=4));
        recent.push(commit(5..=9));
        assert_eq!(read_all(&recent, 0, 100, None), Some((1..=9).collect()));
        assert_eq!(read_all(&recent, 3, 100, None), Some((4..=9).collect()));
        assert_eq!(read_all(&recent, 2, 3, None), Some(vec![3, 4, 5]));
        assert_eq!(read_all(&recent, 9, 100, None), Some(vec![]), "caught up");
        assert_eq!(
            read_all(&recent, 0, 100, Some("even")),
            Some(vec![2, 4, 6, 8])
        );
        assert_eq!(read_all(&recent, 4, 2, Some("odd")), Some(vec![5, 7]));
        assert_eq!(read_all(&recent, 0, 0, None), Some(vec![]));
    }

    #[test]
    fn a_reader_below_the_oldest_held_offset_is_sent_to_rocksdb() {
        let recent = Recent::default();
        recent.push(commit(11..=20));
        assert_eq!(read_all(&recent, 9, 10, None), None);
        assert_eq!(read_all(&recent, 10, 10, None), Some((11..=20).collect()));
        let many = MAX_EVENTS as u64;
        recent.push(commit(21..=20 + many));
        assert_eq!(
            read_all(&recent, 10, 1, None),
            None,
            "the oldest were dropped"
        );
        assert_eq!(read_all(&recent, 20, 1, None), Some(vec![21]));
        assert_eq!(
            read_all(&recent, 20 + many - 1, 10, None),
            Some(vec![20 + many])
        );
    }

    #[test]
    fn a_gap_or_a_clear_empties_it() {
        let recent = Recent::default();
        recent.push(commit(1..=3));
        recent.push(commit(5..=6));
        assert_eq!(
            read_all(&recent, 0, 10, None),
            None,
            "1..=3 dropped at the gap"
        );
        assert_eq!(read_all(&recent, 4, 10, None), Some(vec![5, 6]));
        recent.clear();
        assert_eq!(read_all(&recent, 4, 10, None), None);
    }

    #[test]
    fn commits_are_kept_only_while_a_reader_is_near_the_head() {
        let recent = Recent::default();
        assert!(!recent.keeping(0), "no reader yet");
        recent.reading(0);
        assert!(recent.keeping(0));
        recent.push(commit(1..=3));
        assert!(recent.keeping(3));
        recent.push(commit(4..=4));
        assert_eq!(read_all(&recent, 0, 10, None), Some(vec![1, 2, 3, 4]));
        // The only reader is now too far behind: the next commit is not kept, and what is
        // held goes, so that a reader past it never takes the later commits for nothing.
        let far = MAX_EVENTS as u64 + 1;
        assert!(!recent.keeping(far));
        assert_eq!(read_all(&recent, 4, 10, None), None);
        // A reader near the head again.
        recent.reading(far);
        assert!(recent.keeping(far));
    }

    #[test]
    fn the_bounds_hold_in_events_and_bytes() {
        let recent = Recent::default();
        let mut offset = 0;
        for _ in 0..100 {
            recent.push(commit(offset + 1..=offset + 1000));
            offset += 1000;
            let held = recent.held.read();
            assert!(held.events <= MAX_EVENTS && held.bytes <= MAX_BYTES);
        }
        let mut big = event(offset + 1, "odd");
        big.payload = vec![0; MAX_BYTES + 1];
        recent.push(vec![big]);
        assert_eq!(read_all(&recent, offset, 10, None), None, "too big to hold");
    }

    #[test]
    fn readers_and_a_writer_at_once_see_every_offset_once_in_order() {
        let recent = Arc::new(Recent::default());
        recent.push(commit(1..=1));
        let writer = {
            let recent = recent.clone();
            std::thread::spawn(move || {
                let mut offset = 1;
                for size in (1..=7).cycle().take(40_000) {
                    recent.push(commit(offset + 1..=offset + size));
                    offset += size;
                }
                offset
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let recent = recent.clone();
                std::thread::spawn(move || {
                    let mut after = 0;
                    let mut behind = 0;
                    while after < 100_000 {
                        match read_all(&recent, after, 1024, None) {
                            Some(offsets) => {
                                for offset in offsets {
                                    assert_eq!(offset, after + 1, "in order, none missing");
                                    after = offset;
                                }
                            }
                            // Dropped before it read: what RocksDB would give, skipped here.
                            None => {
                                behind += 1;
                                let oldest = recent.held.read().commits.front().map(|c| c.first());
                                after = oldest.map_or(after, |oldest| oldest - 1);
                            }
                        }
                    }
                    behind
                })
            })
            .collect();
        let last = writer.join().expect("the writer ends");
        assert!(last > 100_000);
        for reader in readers {
            reader.join().expect("a reader ends");
        }
    }
}
