//! fsync: writing back the dirty entries of a range.
//!
//! This is fs/dax.c's `dax_writeback_mapping_range`, and the reason the
//! tree has marks. A store through a DAX mapping leaves its data in the
//! CPU cache; only the write fault that first made the page writable told
//! the file system, by setting DIRTY on the entry. fsync must flush every
//! such entry's cache lines and fence, and must make sure stores that come
//! *after* it fault again, so they are seen by the next fsync.
//!
//! ```text
//!  fsync(offset, len)
//!    │ pages first..=last (a range starting inside a PMD entry starts at
//!    │ the entry: its whole 2 MiB is flushed)
//!    ▼
//!  tag_range(first..=last, DIRTY → TOWRITE)      one lock hold: the snapshot
//!    │
//!    ▼  repeat, one batch (≤ 64 entries) per tree-lock hold:
//!  ┌─ tree locked ───────────────────────────────────────────────────────┐
//!  │ cursor_mut(resume).next_marked(TOWRITE, last)                        │
//!  │   locked by a fault or another fsync? → end the batch; if it is     │
//!  │     first, sleep on it, then re-check: gone, other block (punched   │
//!  │     and reallocated), or TOWRITE cleared (done by another fsync)    │
//!  │     → walk on from that same index, never past the old entry      │
//!  │   else: set LOCKED, clear TOWRITE                                   │
//!  │ pause(): remember where to resume                                   │
//!  └─────────────────────────────────────────────────────────────────────┘
//!    │ tree unlocked; faults run; the batch's entries are locked
//!    ▼
//!  for each entry: write-protect it in every process (PTE and PMD
//!    mappings), then flush its whole 4 KiB or 2 MiB      (Persist::flush)
//!    │
//!  ┌─ tree locked ───────────────────────────────────────────────────────┐
//!  │ for each entry: clear DIRTY (unless its flush failed: record the    │
//!  │   error, keep DIRTY), store it unlocked, wake its sleepers          │
//!  └─────────────────────────────────────────────────────────────────────┘
//!    │ …next batch…
//!    ▼
//!  drain (one fence for the whole fsync)
//!  wait for overlapping fsyncs' drains; return the recorded error, if any
//! ```
//!
//! Why each step:
//! * TOWRITE is a snapshot: entries dirtied after the tag wait for the next
//!   fsync, so a process that keeps writing cannot keep fsync going.
//! * Write-protect *before* flushing: a store after the flush then faults
//!   and sets DIRTY again (the fault waits for our entry lock). Clearing
//!   DIRTY with a writable mapping left anywhere loses every later store
//!   through it (DAX.md bugs 2 and 3).
//! * The entry lock keeps faults off the entry between write-protect and
//!   clearing DIRTY; the tree lock is never held while flushing, and is
//!   dropped every batch, so faults are not starved by a long fsync.
//! * A batch ends at the first locked entry rather than waiting with the
//!   batch's own entries locked: two fsyncs waiting for each other's
//!   batches would deadlock.
//! * One drain at the end: the fence is the expensive part, and every
//!   flush before it is covered.
//! * DIRTY is cleared before the drain, so an fsync that finds an entry
//!   clean may have raced with another fsync's flush still in flight; it
//!   therefore also waits for every fsync that was writing back when it
//!   finished its walk to drain (as `filemap_fdatawait` waits for pages
//!   under writeback). The crash simulator's drain is global, but a CPU's
//!   `SFENCE` only orders its own flushes.
//! * A failed flush is recorded in the file and returned by this fsync or
//!   the next one (bug 14); the entry stays DIRTY so a later fsync retries.

use crate::bugs::Bugs;
use crate::entry::{DaxEntry, PTE_SIZE};
use crate::mapping::{DaxError, DaxFile, Stats, TreeLock};
use crate::sched::{point, Point};
use crate::vm::{Levels, PMD_PAGES};
use core::time::Duration;
use std::collections::BTreeSet;
use std::io;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;
use xradix::{Entry, Mark};

/// What one fsync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FsyncReport {
    /// Entries tagged TOWRITE (dirty in the range when fsync began).
    pub(crate) tagged: u64,
    /// Entries written back (their flush returned success).
    pub(crate) flushed: u64,
    /// Bytes the backend's flush operations covered, as it reported them
    /// ([`Persist::flush`](crate::persist::Persist::flush)): whole cache
    /// lines, whole pages for msync, nothing for a fence-only method.
    pub(crate) bytes: u64,
    /// Time in the tree: tagging, locking, unlocking.
    pub(crate) walk: Duration,
    /// Time write-protecting, flushing and draining.
    pub(crate) flush: Duration,
}

/// One entry of a batch: where it starts, what the tree holds (locked by
/// us), and the entry whose block we flush (the same, unless bug 12 is on).
#[derive(Clone, Copy)]
struct Locked {
    start: u64,
    current: DaxEntry,
    flush: DaxEntry,
}

/// The fsyncs in progress, so that one can wait for the drains of the
/// others (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Passes {
    state: Mutex<(u64, BTreeSet<u64>)>,
    drained: Condvar,
}

impl Passes {
    fn begin(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 += 1;
        let id = state.0;
        state.1.insert(id);
        id
    }

    /// The other passes in progress now.
    fn others(&self, id: u64) -> Vec<u64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1.iter().copied().filter(|&p| p != id).collect()
    }

    /// Marks `id` drained, then waits until every pass in `others` is.
    fn end(&self, id: u64, others: &[u64]) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1.remove(&id);
        self.drained.notify_all();
        while others.iter().any(|p| state.1.contains(p)) {
            state = self
                .drained
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl DaxFile {
    /// fsync of the whole file.
    pub(crate) fn fsync(&self) -> Result<FsyncReport, DaxError> {
        self.fsync_range(0, u64::MAX)
    }

    /// fsync (`vfs_fsync_range`) of `len` bytes from `offset`: every entry
    /// dirty in the range when it starts is durable when it returns `Ok`.
    /// A write-back error since the last fsync is returned as
    /// [`DaxError::Writeback`] (and then forgotten, as `errseq` does for
    /// one file descriptor).
    pub(crate) fn fsync_range(&self, offset: u64, len: u64) -> Result<FsyncReport, DaxError> {
        Stats::add(&self.stats.fsyncs, 1);
        let mut report = FsyncReport::default();
        let pass = self.passes.begin();
        let walked = if len == 0 {
            Ok(())
        } else {
            let (first, last) = if self.bugs().contains(Bugs::BYTE_OFFSET_AS_INDEX) {
                (offset, u64::MAX)
            } else {
                let end = offset.saturating_add(len - 1);
                (offset / PTE_SIZE, end / PTE_SIZE)
            };
            self.writeback(first, last, &mut report)
        };
        let others = self.passes.others(pass);
        let started = Instant::now();
        let drained = self.pmem.drain();
        self.passes.end(pass, &others);
        report.flush += started.elapsed();
        Stats::add(&self.stats.flush_nanos, started.elapsed().as_nanos() as u64);
        walked?;
        drained?;
        let recorded = self
            .wb_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match recorded {
            Some(error) => Err(DaxError::Writeback(error)),
            None => Ok(report),
        }
    }

    /// Tags and writes back pages `first..=last` (no drain).
    fn writeback(&self, first: u64, last: u64, report: &mut FsyncReport) -> Result<(), DaxError> {
        let asked_first = first;
        // A range that starts inside a PMD entry covers the whole entry:
        // tag and walk from its first index.
        let first = if self.tree.get_order(first) > 0 {
            first & !(PMD_PAGES - 1)
        } else {
            first
        };
        let started = Instant::now();
        let mark = if self.bugs().contains(Bugs::NO_TOWRITE_SNAPSHOT) {
            Mark::DIRTY // no snapshot: nothing is tagged
        } else {
            report.tagged =
                self.tree
                    .tag_range(first..=last, Mark::DIRTY, Mark::TOWRITE) as u64;
            Mark::TOWRITE
        };
        self.add_walk(report, started.elapsed());
        point(Point::FsyncTagged);
        let mut resume = first;
        loop {
            let started = Instant::now();
            let (batch, next) = self.lock_batch(resume, last, mark)?;
            self.add_walk(report, started.elapsed());
            if !batch.is_empty() {
                point(Point::FsyncBatchLocked);
                let started = Instant::now();
                let results = self.flush_batch(&batch, asked_first, report);
                let flushed = started.elapsed();
                report.flush += flushed;
                Stats::add(&self.stats.flush_nanos, flushed.as_nanos() as u64);
                point(Point::FsyncBatchFlushed);
                let started = Instant::now();
                self.unlock_batch(&batch, results)?;
                self.add_walk(report, started.elapsed());
                point(Point::FsyncBatchDone);
            }
            match next {
                Some(next) => resume = next,
                None => return Ok(()),
            }
        }
    }

    fn add_walk(&self, report: &mut FsyncReport, time: Duration) {
        report.walk += time;
        Stats::add(&self.stats.walk_nanos, time.as_nanos() as u64);
    }

    /// Locks up to one batch of marked entries from `resume`, clearing
    /// their TOWRITE. Returns the batch and where to resume (`None`: the
    /// walk is done).
    fn lock_batch(
        &self,
        resume: u64,
        last: u64,
        mark: Mark,
    ) -> Result<(Vec<Locked>, Option<u64>), DaxError> {
        let mut batch = Vec::new();
        let locked = self.tree.lock();
        let mut cursor = locked.cursor_mut(resume);
        loop {
            let Some(entry) = cursor.next_marked(mark, last).and_then(|e| e.value()) else {
                return Ok((batch, None));
            };
            let index = cursor.index();
            let start = DaxFile::entry_start(index, entry);
            if entry.is_locked() {
                if !batch.is_empty() {
                    // Flush what we hold before sleeping (no deadlock
                    // with another fsync's batch).
                    return Ok((batch, Some(start)));
                }
                let (waited, next) = self.lock_after_wait(locked, index, entry, mark)?;
                return Ok((waited.into_iter().collect(), next));
            }
            if entry.has_block() {
                cursor.store(Entry::Value(entry.locked()))?;
                batch.push(Locked {
                    start,
                    current: entry,
                    flush: entry,
                });
            }
            // Zero-page and empty entries are never dirty; a mark on one
            // is dropped rather than "flushed".
            cursor.clear_mark(Mark::TOWRITE);
            if batch.len() >= self.options.batch {
                cursor.pause();
                let next = cursor.index();
                return Ok((batch, (next > index).then_some(next)));
            }
        }
    }

    /// Sleeps on the locked `old` entry met at `index`, then locks it if it
    /// still needs writing back (`dax_writeback_one`'s re-checks).
    ///
    /// Whatever it finds, the walk goes on *at `index`*, inclusive, as the
    /// kernel's `xas_reset` after `get_unlocked_entry` does: never past the
    /// old entry's end. While we slept, a punch may have split a PMD entry
    /// and deleted only some pieces: the entry at `index` is gone, but the
    /// other 511 indices still hold pieces marked DIRTY and TOWRITE, and
    /// jumping by the old entry's size would leave them all unflushed while
    /// this fsync returns `Ok` (issue 15). An entry reallocated meanwhile is
    /// not flushed through the block we remembered; if it carries TOWRITE
    /// the restarted walk meets it again and flushes its own block.
    fn lock_after_wait<'a>(
        &'a self,
        mut locked: TreeLock<'a>,
        index: u64,
        old: DaxEntry,
        mark: Mark,
    ) -> Result<(Option<Locked>, Option<u64>), DaxError> {
        let start = DaxFile::entry_start(index, old);
        let again = if self.bugs().contains(Bugs::RESUME_PAST_WAITED_ENTRY) {
            start.checked_add(1 << old.order())
        } else {
            Some(index)
        };
        locked = self.wait_for_entry(locked, index, old);
        let now = locked.load(index).and_then(|e| e.value());
        let Some(now) = now else {
            return Ok((None, again)); // punched meanwhile, perhaps only in part
        };
        if now.is_locked() {
            return Ok((None, Some(index))); // taken again: wait again
        }
        if !now.same_block(old) && !self.bugs().contains(Bugs::NO_PFN_RECHECK) {
            // Punched and reallocated while we slept: not the entry we
            // tagged. The restarted walk decides by its own marks.
            Stats::add(&self.stats.reallocated_skips, 1);
            return Ok((None, again));
        }
        if !now.has_block() || !locked.tree().get_mark(index, mark) {
            return Ok((None, again)); // another fsync wrote it back
        }
        let start = DaxFile::entry_start(index, now);
        locked.store(start, Entry::Value(now.locked()))?;
        locked.clear_mark(start, Mark::TOWRITE);
        // With bug 12 on, we flush the block we remembered, not the one
        // the entry maps now.
        let entry = Locked {
            start,
            current: now,
            flush: old.unlocked(),
        };
        Ok((Some(entry), start.checked_add(1 << now.order())))
    }

    /// Write-protects and flushes each entry of the batch, with no tree
    /// lock held. Returns each flush's result.
    fn flush_batch(
        &self,
        batch: &[Locked],
        asked_first: u64,
        report: &mut FsyncReport,
    ) -> Vec<io::Result<()>> {
        let bugs = self.bugs();
        let mmaps = self.all_mmaps();
        batch
            .iter()
            .map(|entry| {
                let pages = 1u64 << entry.current.order();
                let levels = Levels {
                    pte: !(entry.current.is_pmd() && bugs.contains(Bugs::NO_WRPROTECT_PTE_OF_PMD)),
                    pmd: !bugs.contains(Bugs::NO_WRPROTECT_PMD),
                };
                for mm in &mmaps {
                    mm.wrprotect(entry.start, entry.start + pages - 1, levels);
                }
                let mut offset = entry.flush.pmem_offset();
                let mut len = entry.flush.size();
                if bugs.contains(Bugs::FLUSH_FIRST_4K_ONLY) {
                    len = PTE_SIZE;
                }
                if bugs.contains(Bugs::MID_PMD_FLUSH_FROM_RANGE_START)
                    && entry.flush.is_pmd()
                    && asked_first > entry.start
                {
                    let skip = (asked_first - entry.start) * PTE_SIZE;
                    offset += skip;
                    len = len.saturating_sub(skip);
                }
                if bugs.contains(Bugs::SKIP_FLUSH) {
                    return Ok(());
                }
                let bytes = self.pmem.flush(offset, len)?;
                report.flushed += 1;
                report.bytes += bytes;
                Stats::add(&self.stats.entries_flushed, 1);
                Stats::add(&self.stats.bytes_flushed, bytes);
                Ok(())
            })
            .collect()
    }

    /// Clears DIRTY on the flushed entries and unlocks the batch, under one
    /// tree-lock hold. A failed flush is recorded and keeps DIRTY.
    fn unlock_batch(&self, batch: &[Locked], results: Vec<io::Result<()>>) -> Result<(), DaxError> {
        let bugs = self.bugs();
        let locked = self.tree.lock();
        for (entry, result) in batch.iter().zip(results) {
            let clean = match result {
                Ok(()) => !bugs.contains(Bugs::NEVER_CLEAR_DIRTY),
                Err(error) => {
                    self.record_error(error);
                    // Without the record, nothing tells anyone: the bug
                    // cleans the entry as if the flush had worked.
                    bugs.contains(Bugs::NO_ERROR_RECORD)
                }
            };
            if clean {
                locked.clear_mark(entry.start, Mark::DIRTY);
            }
            self.unlock_entry(&locked, entry.start, Some(entry.current), false)?;
        }
        Ok(())
    }
}
