//! Hole punch, truncate and invalidation: how entries leave the tree.
//!
//! Removing part of a file (`fallocate(PUNCH_HOLE)`, `truncate`) runs, as
//! in ext4 and xfs, with the file's `invalidate_lock` held exclusively, so
//! no fault can map a page of the range while it is being emptied:
//!
//! 1. wait until no page of the range is pinned for DMA
//!    (`dax_layout_busy_page`): a device may still be writing to the
//!    blocks, and freeing them would hand its writes to another file
//!    (DAX.md bug 13);
//! 2. a 2 MiB entry that lies only partly in the range is **split** into
//!    512 PTE entries first (`split`, which keeps DIRTY and TOWRITE on
//!    every piece), after zapping its huge mappings. Only the pieces in the
//!    range are then removed, and the rest keep their dirt for the next
//!    fsync. Deleting the whole entry instead loses every unflushed store
//!    to the part outside the hole — the 2016 bug this project started
//!    from (bug 6). A zero or empty PMD holds no data and is just deleted;
//! 3. unmap the range from every process;
//! 4. delete each entry in the range (waiting for it if locked: writeback
//!    may be flushing it), waking all its sleepers;
//! 5. free the blocks.
//!
//! Partial pages at the ends of a punch, and past a truncated size, are
//! zeroed in place.
//!
//! Invalidation (after write(2) allocated blocks under a range) is
//! gentler: it drops only *clean* entries, with their mappings, so that
//! zero-page mappings of former holes go away. A dirty entry is refused:
//! deleting it would make the next fsync skip stores made through mmap
//! (bug 5).

use crate::blocks::BLOCK_SIZE;
use crate::bugs::Bugs;
use crate::entry::DaxEntry;
use crate::mapping::{pages_of, DaxError, DaxFile, Stats, TreeLock};
use crate::sched::{point, Point};
use crate::vm::PMD_PAGES;
use core::sync::atomic::Ordering;
use std::sync::PoisonError;
use xradix::{Entry, Mark};

impl DaxFile {
    /// Punches a hole of `len` bytes at `offset`: whole pages lose their
    /// blocks, partial pages are zeroed. The part past the end of the file
    /// is ignored.
    pub(crate) fn punch_hole(&self, offset: u64, len: u64) -> Result<(), DaxError> {
        let end = offset
            .checked_add(len)
            .ok_or(DaxError::BadRange { offset, len })?;
        let _no_faults = self
            .invalidate_lock
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let end = end.min(self.size());
        if offset >= end {
            return Ok(());
        }
        let first = offset.div_ceil(BLOCK_SIZE);
        let end_page = end / BLOCK_SIZE;
        if first > end_page {
            // Inside one page.
            return self.zero_bytes(offset, end - offset);
        }
        self.zero_bytes(offset, first * BLOCK_SIZE - offset)?;
        self.zero_bytes(end_page * BLOCK_SIZE, end - end_page * BLOCK_SIZE)?;
        if first < end_page {
            self.remove_pages(first, end_page - 1)?;
        }
        Ok(())
    }

    /// Sets the file's size. Shrinking removes every page past the new
    /// end and zeroes the tail of a partial last page.
    pub(crate) fn truncate(&self, size: u64) -> Result<(), DaxError> {
        let _no_faults = self
            .invalidate_lock
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let old_pages = self.size_pages();
        // The size first: from here no fault beyond it can succeed.
        self.size.store(size, Ordering::Release);
        let first = size.div_ceil(BLOCK_SIZE);
        if size % BLOCK_SIZE != 0 {
            self.zero_bytes(size, first * BLOCK_SIZE - size)?;
        }
        if first < old_pages {
            self.remove_pages(first, old_pages - 1)?;
        }
        Ok(())
    }

    /// Durably zeroes bytes that have a block (holes read as zeros anyway).
    fn zero_bytes(&self, offset: u64, len: u64) -> Result<(), DaxError> {
        if len == 0 {
            return Ok(());
        }
        let zeros = vec![0u8; len as usize];
        for (page, at, chunk) in pages_of(offset, zeros.len())? {
            if let Some(block) = self.extents.lookup(page) {
                self.pmem
                    .write_durable(block * BLOCK_SIZE + at, &zeros[chunk])?;
            }
        }
        self.pmem.drain()?;
        Ok(())
    }

    /// Removes pages `first..=last`; the invalidate lock is held
    /// exclusively by the caller.
    fn remove_pages(&self, first: u64, last: u64) -> Result<(), DaxError> {
        if !self.bugs().contains(Bugs::IGNORE_PINS) {
            self.wait_unpinned(first, last);
        }
        self.split_edge(first, first, last)?;
        self.split_edge(last, first, last)?;
        self.unmap_all(first, last);
        let mut resume = first;
        while resume <= last {
            point(Point::PunchErase);
            let locked = self.tree.lock();
            let found = {
                let mut cursor = locked.cursor_mut(resume);
                let entry = cursor.find(last).and_then(|e| e.value());
                entry.map(|e| (cursor.index(), e))
            };
            let Some((index, entry)) = found else {
                break;
            };
            if entry.is_locked() {
                drop(self.wait_for_entry(locked, index, entry));
                continue;
            }
            let start = DaxFile::entry_start(index, entry);
            self.unlock_entry(&locked, start, None, false)?;
            Stats::add(&self.stats.punched_entries, 1);
            match start.checked_add(1 << entry.order()) {
                Some(next) => resume = next,
                None => break,
            }
        }
        let freed = self.extents.remove(first, last)?;
        Stats::add(&self.stats.blocks_freed, freed);
        Ok(())
    }

    /// Sleeps until no page of `first..=last` is pinned.
    fn wait_unpinned(&self, first: u64, last: u64) {
        let mut pins = self.pins.lock();
        if pins.range(first..=last).next().is_some() {
            Stats::add(&self.stats.pin_waits, 1);
        }
        while pins.range(first..=last).next().is_some() {
            pins = self
                .pins
                .released
                .wait(pins)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// If a PMD entry covers `edge` but reaches outside `first..=last`,
    /// splits it into PTE entries (or deletes it if it holds no data).
    fn split_edge(&self, edge: u64, first: u64, last: u64) -> Result<(), DaxError> {
        let (locked, entry) = self.get_unlocked_entry(self.tree.lock(), edge);
        let Some(entry) = entry.filter(|e| e.is_pmd()) else {
            return Ok(());
        };
        let start = edge & !(PMD_PAGES - 1);
        let inside = start >= first && start + PMD_PAGES - 1 <= last;
        if inside || (entry.has_block() && self.bugs().contains(Bugs::PUNCH_DELETES_WHOLE_PMD)) {
            // Wholly punched (or, with bug 6, treated as if it were): the
            // deletion walk removes it whole.
            return Ok(());
        }
        locked.store(start, Entry::Value(entry.locked()))?;
        drop(locked);
        point(Point::PunchSplitLocked);
        // Its huge mappings cannot survive: they would keep the punched
        // pages' blocks mapped. Processes re-fault the rest as 4 KiB.
        self.unmap_all(start, start + PMD_PAGES - 1);
        let locked = self.tree.lock();
        if !entry.has_block() {
            return self.unlock_entry(&locked, start, None, false);
        }
        match self.split_locked(&locked, start, entry) {
            Ok(()) => {
                self.waits.wake_all(start);
                Stats::add(&self.stats.splits, 1);
                drop(locked);
                point(Point::PunchSplitDone);
                Ok(())
            }
            Err(e) => {
                self.unlock_entry(&locked, start, Some(entry), false)?;
                Err(e)
            }
        }
    }

    /// Splits the locked PMD `entry` at `start` into 512 unlocked PTE
    /// entries, each mapping its own block, each keeping the marks.
    fn split_locked(
        &self,
        locked: &TreeLock<'_>,
        start: u64,
        entry: DaxEntry,
    ) -> Result<(), DaxError> {
        // Every piece is first a copy of the locked PMD entry, marks and
        // all; then each becomes a PTE entry for its own block. `store`
        // keeps marks, so DIRTY survives on every piece.
        locked.split(start, 0)?;
        for i in 0..PMD_PAGES {
            locked.store(start + i, Entry::Value(DaxEntry::pte(entry.block() + i)?))?;
        }
        Ok(())
    }

    /// Drops the clean entries of pages `first..=last` and their mappings
    /// (`invalidate_inode_pages2_range` on a DAX file); dirty ones stay.
    pub(crate) fn invalidate_pages(&self, first: u64, last: u64) -> Result<(), DaxError> {
        let mut resume = first;
        while resume <= last {
            let mut locked = self.tree.lock();
            let found = {
                let mut cursor = locked.cursor_mut(resume);
                let entry = cursor.find(last).and_then(|e| e.value());
                entry.map(|e| (cursor.index(), e))
            };
            let Some((index, entry)) = found else {
                break;
            };
            if entry.is_locked() {
                drop(self.wait_for_entry(locked, index, entry));
                continue;
            }
            let start = DaxFile::entry_start(index, entry);
            let pages = 1u64 << entry.order();
            let next = start.checked_add(pages);
            let tree = locked.tree();
            let dirty = tree.get_mark(start, Mark::DIRTY) || tree.get_mark(start, Mark::TOWRITE);
            if dirty && !self.bugs().contains(Bugs::INVALIDATE_DIRTY) {
                Stats::add(&self.stats.invalidate_refused, 1);
            } else {
                locked.store(start, Entry::Value(entry.locked()))?;
                drop(locked);
                self.unmap_all(start, start + pages - 1);
                locked = self.tree.lock();
                self.unlock_entry(&locked, start, None, false)?;
                Stats::add(&self.stats.invalidated, 1);
            }
            match next {
                Some(next) => resume = next,
                None => break,
            }
        }
        Ok(())
    }
}
