//! Page faults: how entries get into the tree.
//!
//! A load or store to a page the process has not mapped (or a store to a
//! read-only mapping) faults. The handler, as fs/dax.c's
//! `dax_iomap_pte_fault` / `dax_iomap_pmd_fault`:
//!
//! 1. takes the tree lock and finds the entry, sleeping while another
//!    thread holds it locked (`grab_mapping_entry`); a hole gets a locked
//!    EMPTY placeholder, so that a second fault on the same hole waits
//!    instead of allocating a second block (DAX.md bug 7);
//! 2. drops the tree lock and, holding only the entry lock, asks the block
//!    map for a block (allocating and zeroing one for a write), replaces a
//!    zero-page entry (unmapping the zero page everywhere, bug 8), for a
//!    write marks the entry DIRTY (under the tree lock, the entry still
//!    locked), and only then installs the page-table entry;
//! 3. stores the final entry unlocked (the mark stays) and wakes the
//!    sleepers.
//!
//! DIRTY comes before the writable mapping because a mapping is shared by
//! every thread of a process: once it is writable, another thread can
//! store through it and call fsync without ever faulting. Marking the
//! entry only when it is stored back left that fsync nothing to flush, and
//! it returned `Ok` over the store (issue 15; the variant is kept as
//! [`Bugs::WRITABLE_BEFORE_DIRTY`]).
//!
//! The page-table entry is installed while the entry is still locked, so a
//! writeback that write-protects the entry's mappings (it must lock the
//! entry first) always runs after the mapping exists and catches it.
//!
//! A fault in a process that allows huge mappings first tries a PMD fault
//! for the 2 MiB-aligned run around the page. It falls back to 4 KiB when
//! the run passes the end of the file, when 4 KiB entries already sit in
//! it, when the block map under it is not one aligned extent, or when no
//! aligned extent is free. A 4 KiB fault that meets a zero or empty PMD
//! entry *downgrades* it (unmaps and deletes it: it holds no data) and
//! proceeds as on a hole; one that meets a real PMD entry maps its 4 KiB
//! slice and dirties the whole PMD entry.

use crate::bugs::Bugs;
use crate::entry::DaxEntry;
use crate::extents::PmdLookup;
use crate::mapping::{DaxError, DaxFile, Stats};
use crate::sched::{point, Point};
use crate::vm::{Frame, Mmap, PMD_PAGES};
use xradix::{Entry, Mark};

/// What a PMD fault did.
enum PmdOutcome {
    Done,
    Fallback,
}

/// What the slow part of a fault decided, applied when the entry is
/// unlocked.
struct Finish {
    /// The entry to store back (`None`: delete the placeholder).
    entry: Option<DaxEntry>,
    dirty: bool,
}

impl DaxFile {
    /// Handles a fault on `page` by process `mm`.
    pub(crate) fn fault(&self, mm: &Mmap, page: u64, write: bool) -> Result<(), DaxError> {
        // Shared: punch and truncate wait for us, and we for them.
        let _faults_in = self.invalidate_read();
        let size = self.size();
        if page >= self.size_pages() {
            return Err(DaxError::OutOfRange {
                offset: page * crate::blocks::BLOCK_SIZE,
                size,
            });
        }
        if mm.huge() && self.options.pmd {
            match self.pmd_fault(mm, page, write)? {
                PmdOutcome::Done => return Ok(()),
                PmdOutcome::Fallback => Stats::add(&self.stats.pmd_fallbacks, 1),
            }
        }
        self.pte_fault(mm, page, write)
    }

    /// A 4 KiB fault.
    fn pte_fault(&self, mm: &Mmap, page: u64, write: bool) -> Result<(), DaxError> {
        let mut locked = self.tree.lock();
        let (entry, start) = loop {
            let (relocked, found) = self.get_unlocked_entry(locked, page);
            locked = relocked;
            match found {
                Some(entry) if entry.is_pmd() && !entry.has_block() => {
                    // A zero or empty PMD under a 4 KiB fault: it holds no
                    // data, so unmap and delete it and start on a hole.
                    let start = page & !(PMD_PAGES - 1);
                    locked.store(start, Entry::Value(entry.locked()))?;
                    drop(locked);
                    self.unmap_all(start, start + PMD_PAGES - 1);
                    locked = self.tree.lock();
                    self.unlock_entry(&locked, start, None, false)?;
                    Stats::add(&self.stats.downgrades, 1);
                }
                Some(entry) => {
                    let start = DaxFile::entry_start(page, entry);
                    locked.store(page, Entry::Value(entry.locked()))?;
                    break (entry, start);
                }
                None => {
                    locked.store(page, Entry::Value(DaxEntry::empty().locked()))?;
                    break (DaxEntry::empty(), page);
                }
            }
        };
        drop(locked);
        point(Point::FaultEntryLocked);
        let result = self.pte_fault_locked(mm, page, write, entry);
        point(Point::FaultMapped);
        let locked = self.tree.lock();
        match result {
            Ok(finish) => {
                self.unlock_entry(&locked, start, finish.entry, finish.dirty)?;
                Stats::add(&self.stats.pte_faults, 1);
                Ok(())
            }
            Err(e) => {
                // Leave the tree as we found it: a placeholder goes.
                let restore = (!entry.is_empty()).then_some(entry);
                self.unlock_entry(&locked, start, restore, false)?;
                Err(e)
            }
        }
    }

    /// The slow part of a 4 KiB fault, with `entry` locked.
    fn pte_fault_locked(
        &self,
        mm: &Mmap,
        page: u64,
        write: bool,
        entry: DaxEntry,
    ) -> Result<Finish, DaxError> {
        if entry.has_block() {
            // A PTE entry, or a 4 KiB slice of a PMD entry (another process
            // with a small window): map it, and a write dirties the entry.
            let block = if entry.is_pmd() {
                entry.block() + (page & (PMD_PAGES - 1))
            } else {
                entry.block()
            };
            if write {
                self.dirty_before_mapping(DaxFile::entry_start(page, entry));
            }
            mm.map_pte(page, Frame::Block(block), write);
            return Ok(Finish {
                entry: Some(entry),
                dirty: write,
            });
        }
        if !write {
            // A read of a hole. write(2) may have given the page a block
            // since the entry was made; map that, else the zero page.
            if let Some(block) = self.extents.lookup(page) {
                mm.map_pte(page, Frame::Block(block), false);
                return Ok(Finish {
                    entry: Some(DaxEntry::pte(block)?),
                    dirty: false,
                });
            }
            mm.map_pte(page, Frame::Zero, false);
            Stats::add(&self.stats.zero_faults, 1);
            return Ok(Finish {
                entry: Some(DaxEntry::zero_page()),
                dirty: false,
            });
        }
        let (block, _) = self.block_for_write(page)?;
        if entry.is_zero_page() {
            // Every process that read the hole maps the zero page: unmap
            // it, or they keep reading zeros over the new data.
            self.unmap_all(page, page);
        }
        self.dirty_before_mapping(page);
        mm.map_pte(page, Frame::Block(block), true);
        Ok(Finish {
            entry: Some(DaxEntry::pte(block)?),
            dirty: true,
        })
    }

    /// Marks the entry at `start`, which this fault holds locked, DIRTY,
    /// under the tree lock, before a write fault makes any page of it
    /// writable (the kernel's `dax_insert_entry` does the same before
    /// `vmf_insert_mixed_mkwrite` / `vmf_insert_pfn_pmd`). Once the mapping
    /// is writable, any thread sharing it can store and call fsync without
    /// faulting; fsync must then find the entry dirty, and it will (it waits
    /// for our entry lock, then flushes). A fault that fails afterwards
    /// leaves at worst a clean entry marked dirty: one needless flush.
    fn dirty_before_mapping(&self, start: u64) {
        if self.bugs().contains(Bugs::WRITABLE_BEFORE_DIRTY) {
            return; // issue 15, race 2: DIRTY only at unlock
        }
        self.tree.lock().set_mark(start, Mark::DIRTY);
    }

    /// A 2 MiB fault for the aligned run holding `page`.
    fn pmd_fault(&self, mm: &Mmap, page: u64, write: bool) -> Result<PmdOutcome, DaxError> {
        let start = page & !(PMD_PAGES - 1);
        if start + PMD_PAGES > self.size_pages() {
            return Ok(PmdOutcome::Fallback);
        }
        let mut locked = self.tree.lock();
        let entry = loop {
            let found = {
                let mut cursor = locked.cursor_mut(start);
                let entry = cursor.find(start + PMD_PAGES - 1).and_then(|e| e.value());
                entry.map(|e| (cursor.index(), e))
            };
            match found {
                None => {
                    let placeholder = DaxEntry::empty_pmd().locked();
                    locked.store_order(
                        start,
                        crate::entry::PMD_ORDER,
                        Entry::Value(placeholder),
                    )?;
                    break DaxEntry::empty_pmd();
                }
                // 4 KiB entries already in the run: no PMD here.
                Some((_, entry)) if !entry.is_pmd() => return Ok(PmdOutcome::Fallback),
                Some((index, entry)) if entry.is_locked() => {
                    locked = self.wait_for_entry(locked, index, entry);
                }
                Some((_, entry)) => {
                    locked.store(start, Entry::Value(entry.locked()))?;
                    break entry;
                }
            }
        };
        drop(locked);
        point(Point::FaultEntryLocked);
        let result = self.pmd_fault_locked(mm, start, write, entry);
        point(Point::FaultMapped);
        let locked = self.tree.lock();
        let restore = (!entry.is_empty()).then_some(entry);
        match result {
            Ok(Some(finish)) => {
                self.unlock_entry(&locked, start, finish.entry, finish.dirty)?;
                Stats::add(&self.stats.pmd_faults, 1);
                Ok(PmdOutcome::Done)
            }
            Ok(None) => {
                self.unlock_entry(&locked, start, restore, false)?;
                Ok(PmdOutcome::Fallback)
            }
            Err(e) => {
                self.unlock_entry(&locked, start, restore, false)?;
                Err(e)
            }
        }
    }

    /// The slow part of a PMD fault, with `entry` locked; `None` means
    /// fall back to 4 KiB.
    fn pmd_fault_locked(
        &self,
        mm: &Mmap,
        start: u64,
        write: bool,
        entry: DaxEntry,
    ) -> Result<Option<Finish>, DaxError> {
        if entry.has_block() {
            if write {
                self.dirty_before_mapping(start);
            }
            mm.map_pmd(start, Frame::Block(entry.block()), write);
            return Ok(Some(Finish {
                entry: Some(entry),
                dirty: write,
            }));
        }
        if !write {
            return Ok(match self.extents.lookup_pmd(start) {
                PmdLookup::Hole => {
                    mm.map_pmd(start, Frame::Zero, false);
                    Stats::add(&self.stats.zero_faults, 1);
                    Some(Finish {
                        entry: Some(DaxEntry::zero_pmd()),
                        dirty: false,
                    })
                }
                PmdLookup::Extent(block) => {
                    mm.map_pmd(start, Frame::Block(block), false);
                    Some(Finish {
                        entry: Some(DaxEntry::pmd(block)?),
                        dirty: false,
                    })
                }
                PmdLookup::Mixed => None,
            });
        }
        let Some((block, new)) = self.extents.get_or_alloc_pmd(start) else {
            return Ok(None);
        };
        if new {
            self.zero_blocks(block, PMD_PAGES)?;
        }
        if entry.is_zero_page() {
            self.unmap_all(start, start + PMD_PAGES - 1);
        }
        self.dirty_before_mapping(start);
        mm.map_pmd(start, Frame::Block(block), true);
        Ok(Some(Finish {
            entry: Some(DaxEntry::pmd(block)?),
            dirty: true,
        }))
    }
}
