//! One DAX file: its mapping tree, block map, page tables and entry locks.
//!
//! [`DaxFile`] is the example's `struct address_space` plus the bits of the
//! inode and file system that fs/dax.c talks to. It owns:
//!
//! * `tree`, an `XArray<(), DaxEntry>`: page index → [`DaxEntry`] (block
//!   and flags as a value entry), with the DIRTY and TOWRITE marks beside
//!   each entry. A 2 MiB entry is one order-9 entry. This is the structure
//!   the whole example exists to exercise.
//! * `extents`, the file system's block map ([`crate::extents`]);
//! * the processes' page tables ([`Mmap`]), so writeback can write-protect;
//! * the wait table for entry locks ([`crate::wait`]), a pin table for
//!   DMA, the recorded write-back error, and counters.
//!
//! # Entry locking
//!
//! As in fs/dax.c, an entry is locked by storing it back with its `LOCKED`
//! bit set, under the tree lock. The tree lock is then dropped and the slow
//! work (allocating and zeroing a block, changing page tables, flushing)
//! runs with only the entry lock held; the unlocked entry is stored back
//! and the waiters woken. A thread that meets a locked entry sleeps in the
//! wait table ([`DaxFile::get_unlocked_entry`]). Faults, writeback, punch
//! and invalidation all follow this protocol; lock-free readers of the
//! tree never need it.
//!
//! Lock order: `invalidate_lock` (faults shared; punch and truncate
//! exclusive) → entry lock → page-table locks; the tree lock is only ever
//! held briefly, with nothing but a wait-table bucket taken under it.
//!
//! The fault handlers are in [`crate::fault`], writeback in
//! [`crate::fsync`], hole punch, truncate and invalidation in
//! [`crate::punch`].

use crate::blocks::{BlockAllocator, BlockError, BLOCK_SIZE};
use crate::bugs::Bugs;
use crate::entry::{DaxEntry, EntryError};
use crate::extents::Extents;
use crate::fsync::Passes;
use crate::persist::Persist;
use crate::sched::{point, Point};
use crate::vm::{Frame, Mmap, PageMapping, PMD_PAGES};
use crate::wait::{WaitTable, Woken};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use xradix::{Entry, Locked, XArray};

/// The pmem blocks before this offset hold no file data (a header).
pub(crate) const HEADER_BYTES: u64 = BLOCK_SIZE;

/// A store or load that faults this many times in a row gives up: some
/// other thread keeps taking the page away (only a bug does that).
const MAX_FAULT_RETRIES: u32 = 10_000;

/// The mapping tree's type.
pub(crate) type Tree = XArray<(), DaxEntry>;
/// The tree, locked.
pub(crate) type TreeLock<'a> = Locked<'a, (), DaxEntry>;

/// Why a DAX operation failed.
#[derive(Debug)]
pub(crate) enum DaxError {
    /// An access at or past the end of the file (SIGBUS for a fault).
    OutOfRange { offset: u64, size: u64 },
    /// A range whose end overflows, or an empty range where one is needed.
    BadRange { offset: u64, len: u64 },
    /// The device has no free block left.
    NoSpace,
    /// The pmem backend failed (a read, write or drain).
    Io(io::Error),
    /// A write-back (flush) failed; reported by the fsync after it.
    Writeback(io::Error),
    /// The mapping tree refused an operation.
    Tree(xradix::Error),
    /// An entry could not be built (block out of range).
    Entry(EntryError),
    /// The block allocator refused (a double free: the map is corrupt).
    Block(BlockError),
    /// A page kept losing its mapping between fault and access.
    FaultLoop { page: u64 },
}

impl fmt::Display for DaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaxError::OutOfRange { offset, size } => {
                write!(
                    f,
                    "offset {offset} is beyond the end of the {size}-byte file"
                )
            }
            DaxError::BadRange { offset, len } => {
                write!(f, "bad range: {len} bytes at offset {offset}")
            }
            DaxError::NoSpace => write!(f, "no space left on the pmem device"),
            DaxError::Io(e) => write!(f, "pmem I/O error: {e}"),
            DaxError::Writeback(e) => write!(f, "write-back error: {e}"),
            DaxError::Tree(e) => write!(f, "mapping tree: {e}"),
            DaxError::Entry(e) => write!(f, "DAX entry: {e}"),
            DaxError::Block(e) => write!(f, "block allocator: {e}"),
            DaxError::FaultLoop { page } => {
                write!(
                    f,
                    "page {page} lost its mapping {MAX_FAULT_RETRIES} times in a row"
                )
            }
        }
    }
}

impl core::error::Error for DaxError {}

impl From<io::Error> for DaxError {
    fn from(e: io::Error) -> DaxError {
        DaxError::Io(e)
    }
}

impl From<xradix::Error> for DaxError {
    fn from(e: xradix::Error) -> DaxError {
        DaxError::Tree(e)
    }
}

impl From<EntryError> for DaxError {
    fn from(e: EntryError) -> DaxError {
        DaxError::Entry(e)
    }
}

impl From<BlockError> for DaxError {
    fn from(e: BlockError) -> DaxError {
        DaxError::Block(e)
    }
}

/// Tunables; the defaults are what the command uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    /// Historical bugs to switch on (tests only).
    pub(crate) bugs: Bugs,
    /// How long a sleeper waits before re-checking a locked entry.
    pub(crate) wait_timeout: Duration,
    /// Entries writeback locks and flushes per tree-lock acquisition.
    pub(crate) batch: usize,
    /// Whether faults may use 2 MiB entries at all.
    pub(crate) pmd: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            bugs: Bugs::empty(),
            wait_timeout: Duration::from_secs(1),
            batch: 64,
            pmd: true,
        }
    }
}

/// Counters for the report and the tests. Relaxed: they are statistics,
/// read after the threads that bump them are joined.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) pte_faults: AtomicU64,
    pub(crate) pmd_faults: AtomicU64,
    /// Read faults on holes that mapped the zero page (4 KiB or 2 MiB).
    pub(crate) zero_faults: AtomicU64,
    /// PMD faults that fell back to 4 KiB.
    pub(crate) pmd_fallbacks: AtomicU64,
    /// Zero or empty PMD entries replaced by PTEs for a 4 KiB fault.
    pub(crate) downgrades: AtomicU64,
    pub(crate) entry_waits: AtomicU64,
    pub(crate) lost_wakeups: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) entries_flushed: AtomicU64,
    pub(crate) bytes_flushed: AtomicU64,
    pub(crate) flush_errors: AtomicU64,
    /// Writeback skipped an entry reallocated while it waited for it.
    pub(crate) reallocated_skips: AtomicU64,
    /// Time fsync spent in the tree (tagging, locking, unlocking), ns.
    pub(crate) walk_nanos: AtomicU64,
    /// Time fsync spent write-protecting, flushing and draining, ns.
    pub(crate) flush_nanos: AtomicU64,
    pub(crate) splits: AtomicU64,
    pub(crate) punched_entries: AtomicU64,
    pub(crate) blocks_freed: AtomicU64,
    pub(crate) invalidated: AtomicU64,
    pub(crate) invalidate_refused: AtomicU64,
    /// Punches and truncates that waited for a page pinned for DMA.
    pub(crate) pin_waits: AtomicU64,
    pub(crate) bytes_stored: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Pages pinned for DMA (`get_user_pages` references): truncate and hole
/// punch must wait for them (the kernel's `dax_layout_busy_page`).
#[derive(Debug, Default)]
pub(crate) struct Pins {
    pub(crate) counts: Mutex<BTreeMap<u64, u32>>,
    pub(crate) released: Condvar,
}

impl Pins {
    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, u32>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A page pinned for DMA: the device may write its block at any time,
/// bypassing page tables and the tree, until this is dropped.
pub(crate) struct Pin<'a> {
    file: &'a DaxFile,
    page: u64,
    block: u64,
}

impl Pin<'_> {
    /// The "device" writes `data` at `offset` in the pinned page. DMA
    /// goes to memory, not through the CPU cache: durable when it
    /// completes, whatever the file's dirty marks say.
    pub(crate) fn dma_write(&self, offset: u64, data: &[u8]) -> Result<(), DaxError> {
        if offset.saturating_add(data.len() as u64) > BLOCK_SIZE {
            return Err(DaxError::BadRange {
                offset,
                len: data.len() as u64,
            });
        }
        let pmem = &self.file.pmem;
        pmem.write_durable(self.block * BLOCK_SIZE + offset, data)?;
        pmem.drain()?;
        Ok(())
    }
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        let mut pins = self.file.pins.lock();
        if let Some(count) = pins.get_mut(&self.page) {
            *count -= 1;
            if *count == 0 {
                pins.remove(&self.page);
            }
        }
        self.file.pins.released.notify_all();
    }
}

/// One DAX file; see the module documentation.
pub(crate) struct DaxFile {
    pub(crate) tree: Tree,
    pub(crate) pmem: Arc<dyn Persist>,
    pub(crate) extents: Extents,
    /// i_size in bytes.
    pub(crate) size: AtomicU64,
    /// The kernel's `invalidate_lock`: faults hold it shared, so that
    /// punch and truncate (exclusive) see no new mapping appear in the
    /// range they are emptying.
    pub(crate) invalidate_lock: RwLock<()>,
    pub(crate) mmaps: RwLock<Vec<Arc<Mmap>>>,
    pub(crate) waits: WaitTable,
    pub(crate) pins: Pins,
    /// The write-back error not yet reported (the kernel's `wb_err`).
    pub(crate) wb_error: Mutex<Option<io::Error>>,
    pub(crate) passes: Passes,
    pub(crate) stats: Stats,
    pub(crate) options: Options,
}

impl DaxFile {
    /// A file of `size` bytes (sparse: no block yet) on `pmem`, whose
    /// blocks after the header are all free.
    pub(crate) fn new(
        pmem: Arc<dyn Persist>,
        size: u64,
        options: Options,
    ) -> Result<DaxFile, DaxError> {
        let blocks = BlockAllocator::for_file(pmem.len(), HEADER_BYTES)?;
        Ok(DaxFile {
            tree: XArray::new(),
            pmem,
            extents: Extents::new(blocks),
            size: AtomicU64::new(size),
            invalidate_lock: RwLock::new(()),
            mmaps: RwLock::new(Vec::new()),
            waits: WaitTable::default(),
            pins: Pins::default(),
            wb_error: Mutex::new(None),
            passes: Passes::default(),
            stats: Stats::default(),
            options,
        })
    }

    pub(crate) fn bugs(&self) -> Bugs {
        self.options.bugs
    }

    /// i_size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Pages below i_size (a partial last page counts).
    pub(crate) fn size_pages(&self) -> u64 {
        self.size().div_ceil(BLOCK_SIZE)
    }

    /// Maps the file into a new "process". `huge`: PMD faults allowed.
    pub(crate) fn mmap(&self, huge: bool) -> Arc<Mmap> {
        let mm = Arc::new(Mmap::new(huge));
        self.mmaps_write().push(Arc::clone(&mm));
        mm
    }

    /// Every mapping, for write-protect and unmap (the kernel's rmap walk
    /// of `i_mmap`).
    pub(crate) fn all_mmaps(&self) -> Vec<Arc<Mmap>> {
        self.mmaps
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn mmaps_write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Mmap>>> {
        self.mmaps.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes every mapping of pages `first..=last` in every process
    /// (`unmap_mapping_pages`).
    pub(crate) fn unmap_all(&self, first: u64, last: u64) {
        for mm in self.all_mmaps() {
            mm.unmap(first, last);
        }
    }

    // ------------------------------------------------------------------
    // The data path: what a process's loads and stores do.

    /// A process stores `data` at byte `offset` through its mapping: each
    /// page it touches must be mapped writable, else it faults first.
    pub(crate) fn store(&self, mm: &Mmap, offset: u64, data: &[u8]) -> Result<(), DaxError> {
        for (page, at, chunk) in pages_of(offset, data.len())? {
            let bytes = &data[chunk];
            let mut tries = 0;
            loop {
                // The store itself runs with the page table held shared:
                // write-protection cannot complete in the middle of it.
                let done = mm.with_page(page, |mapping| match mapping {
                    Some(PageMapping {
                        frame: Frame::Block(block),
                        writable: true,
                        ..
                    }) => Some(self.pmem.write(block * BLOCK_SIZE + at, bytes)),
                    _ => None,
                });
                match done {
                    Some(result) => {
                        result?;
                        break;
                    }
                    None => {
                        self.retry_fault(mm, page, true, &mut tries)?;
                        point(Point::StoreRefault);
                    }
                }
            }
            Stats::add(&self.stats.bytes_stored, bytes.len() as u64);
        }
        Ok(())
    }

    /// A process loads `buf.len()` bytes from `offset` through its
    /// mapping, read-faulting unmapped pages (a hole reads as zeros).
    pub(crate) fn load(&self, mm: &Mmap, offset: u64, buf: &mut [u8]) -> Result<(), DaxError> {
        for (page, at, chunk) in pages_of(offset, buf.len())? {
            let out = &mut buf[chunk];
            let mut tries = 0;
            loop {
                let done = mm.with_page(page, |mapping| match mapping {
                    Some(PageMapping {
                        frame: Frame::Block(block),
                        ..
                    }) => Some(self.pmem.read(block * BLOCK_SIZE + at, out)),
                    Some(PageMapping {
                        frame: Frame::Zero, ..
                    }) => {
                        out.fill(0);
                        Some(Ok(()))
                    }
                    None => None,
                });
                match done {
                    Some(result) => {
                        result?;
                        break;
                    }
                    None => self.retry_fault(mm, page, false, &mut tries)?,
                }
            }
        }
        Ok(())
    }

    fn retry_fault(
        &self,
        mm: &Mmap,
        page: u64,
        write: bool,
        tries: &mut u32,
    ) -> Result<(), DaxError> {
        *tries += 1;
        if *tries > MAX_FAULT_RETRIES {
            return Err(DaxError::FaultLoop { page });
        }
        self.fault(mm, page, write)
    }

    /// read(2): straight from the blocks, through the block map (DAX
    /// reads need no mapping entry). Holes read as zeros; reading past the
    /// end is an error rather than a short read, to keep callers simple.
    pub(crate) fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), DaxError> {
        let end = offset.saturating_add(buf.len() as u64);
        if end > self.size() {
            return Err(DaxError::OutOfRange {
                offset: end,
                size: self.size(),
            });
        }
        for (page, at, chunk) in pages_of(offset, buf.len())? {
            match self.extents.lookup(page) {
                Some(block) => self.pmem.read(block * BLOCK_SIZE + at, &mut buf[chunk])?,
                None => buf[chunk].fill(0),
            }
        }
        Ok(())
    }

    /// write(2): allocates blocks for holes, copies with non-temporal
    /// stores (durable after the drain at the end, so no entry is
    /// dirtied), and extends i_size. If it allocated blocks, the range is
    /// invalidated: zero-page entries and their mappings are dropped, or a
    /// process that mapped the hole keeps reading zeros (DAX.md bug 8).
    pub(crate) fn write(&self, offset: u64, data: &[u8]) -> Result<(), DaxError> {
        let pages = pages_of(offset, data.len())?;
        let _faults_out = self.invalidate_read();
        let mut allocated = false;
        for (page, at, chunk) in pages.clone() {
            let (block, new) = self.block_for_write(page)?;
            allocated |= new;
            self.pmem
                .write_durable(block * BLOCK_SIZE + at, &data[chunk])?;
        }
        self.pmem.drain()?;
        self.size
            .fetch_max(offset + data.len() as u64, Ordering::AcqRel);
        if allocated && !self.bugs().contains(Bugs::STALE_ZERO_PAGE) {
            if let (Some(&(first, ..)), Some(&(last, ..))) = (pages.first(), pages.last()) {
                self.invalidate_pages(first, last)?;
            }
        }
        Ok(())
    }

    pub(crate) fn invalidate_read(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.invalidate_lock
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The block of `page`, allocated and durably zeroed if it had none.
    pub(crate) fn block_for_write(&self, page: u64) -> Result<(u64, bool), DaxError> {
        let (block, new) = self
            .extents
            .get_or_alloc_page(page)
            .ok_or(DaxError::NoSpace)?;
        if new {
            self.zero_blocks(block, 1)?;
        }
        Ok((block, new))
    }

    /// Durably zeroes `count` blocks from `block`.
    pub(crate) fn zero_blocks(&self, block: u64, count: u64) -> Result<(), DaxError> {
        const ZEROS: [u8; BLOCK_SIZE as usize] = [0; BLOCK_SIZE as usize];
        for b in block..block + count {
            self.pmem.write_durable(b * BLOCK_SIZE, &ZEROS)?;
        }
        self.pmem.drain()?;
        Ok(())
    }

    /// Pins `page` for DMA: faults it in for writing (as
    /// `get_user_pages(FOLL_WRITE)` does) and holds a reference on its
    /// block until the [`Pin`] is dropped.
    pub(crate) fn pin(&self, mm: &Mmap, page: u64) -> Result<Pin<'_>, DaxError> {
        let mut tries = 0;
        loop {
            let _faults_out = self.invalidate_read();
            if let Some(PageMapping {
                frame: Frame::Block(block),
                writable: true,
                ..
            }) = mm.lookup(page)
            {
                *self.pins.lock().entry(page).or_insert(0) += 1;
                return Ok(Pin {
                    file: self,
                    page,
                    block,
                });
            }
            drop(_faults_out);
            self.retry_fault(mm, page, true, &mut tries)?;
        }
    }

    // ------------------------------------------------------------------
    // Entry locking (fs/dax.c: get_unlocked_entry, dax_lock_entry,
    // dax_unlock_entry, dax_wake_entry).

    /// The index a sleeper for `entry` (met at `index`) waits on: the
    /// entry's first index, PMD-aligned for a PMD entry (DAX.md bug 10).
    pub(crate) fn wait_key(&self, index: u64, entry: DaxEntry) -> u64 {
        if entry.is_pmd() && !self.bugs().contains(Bugs::PMD_WAIT_UNALIGNED) {
            index & !(PMD_PAGES - 1)
        } else {
            index
        }
    }

    /// Sleeps until the entry met at `index` may have been unlocked; the
    /// tree lock is dropped for the sleep and taken again.
    pub(crate) fn wait_for_entry<'a>(
        &'a self,
        locked: TreeLock<'a>,
        index: u64,
        entry: DaxEntry,
    ) -> TreeLock<'a> {
        let key = self.wait_key(index, entry);
        // Registered under the tree lock: an unlock after this point bumps
        // the bucket and wakes us (wait.rs, rule 1).
        let ticket = self.waits.prepare(key);
        let seen = ticket.seen();
        drop(locked);
        Stats::add(&self.stats.entry_waits, 1);
        let woken = ticket.sleep(self.options.wait_timeout);
        point(Point::EntryWaitWoken);
        let locked = self.tree.lock();
        if woken == Woken::TimedOut {
            let now = locked.load(index).and_then(|e| e.value());
            // Unlocks and deletes wake under the tree lock, so an entry
            // that is no longer locked while our bucket was never woken
            // means the wake-up went elsewhere: the kernel would hang here.
            if !now.is_some_and(DaxEntry::is_locked) && self.waits.wakes(key) == seen {
                Stats::add(&self.stats.lost_wakeups, 1);
            }
        }
        locked
    }

    /// The entry at `index` once it is unlocked (or `None` for a hole),
    /// sleeping as long as another thread holds it; the tree is locked on
    /// return (`get_unlocked_entry`).
    pub(crate) fn get_unlocked_entry<'a>(
        &'a self,
        mut locked: TreeLock<'a>,
        index: u64,
    ) -> (TreeLock<'a>, Option<DaxEntry>) {
        loop {
            match locked.load(index).and_then(|e| e.value()) {
                Some(entry) if entry.is_locked() => {
                    locked = self.wait_for_entry(locked, index, entry);
                }
                found => return (locked, found),
            }
        }
    }

    /// Stores `entry` unlocked at its first index `start` (or erases it
    /// for `None`), sets DIRTY if asked, and wakes every sleeper on it
    /// (`dax_unlock_entry` + `dax_wake_entry`). Tree lock held by caller.
    pub(crate) fn unlock_entry(
        &self,
        locked: &TreeLock<'_>,
        start: u64,
        entry: Option<DaxEntry>,
        dirty: bool,
    ) -> Result<(), DaxError> {
        match entry {
            Some(entry) => {
                locked.store(start, Entry::Value(entry.unlocked()))?;
                if dirty {
                    locked.set_mark(start, xradix::Mark::DIRTY);
                }
            }
            None => {
                locked.erase(start);
            }
        }
        self.waits.wake_all(start);
        Ok(())
    }

    /// Entries currently marked DIRTY (for reports and tests).
    pub(crate) fn dirty_entries(&self) -> usize {
        let guard = xradix::pin();
        self.tree
            .iter_marked(.., xradix::Mark::DIRTY, &guard)
            .count()
    }

    /// The entry at `index`, read lock-free.
    #[cfg(test)]
    pub(crate) fn entry(&self, index: u64) -> Option<DaxEntry> {
        let guard = xradix::pin();
        self.tree.load(index, &guard).and_then(|e| e.value())
    }

    /// The first index of the entry `entry` found at `index`.
    pub(crate) fn entry_start(index: u64, entry: DaxEntry) -> u64 {
        index & !((1u64 << entry.order()) - 1)
    }

    /// Records a write-back error for the next fsync (`mapping_set_error`).
    pub(crate) fn record_error(&self, error: io::Error) {
        Stats::add(&self.stats.flush_errors, 1);
        if self.bugs().contains(Bugs::NO_ERROR_RECORD) {
            return;
        }
        let mut slot = self.wb_error.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(error);
    }
}

/// Splits `len` bytes from `offset` into `(page, offset in page, range in
/// the caller's buffer)`.
pub(crate) fn pages_of(
    offset: u64,
    len: usize,
) -> Result<Vec<(u64, u64, core::ops::Range<usize>)>, DaxError> {
    let end = offset.checked_add(len as u64).ok_or(DaxError::BadRange {
        offset,
        len: len as u64,
    })?;
    let mut out = Vec::new();
    let mut at = offset;
    while at < end {
        let page = at / BLOCK_SIZE;
        let in_page = at % BLOCK_SIZE;
        let n = (BLOCK_SIZE - in_page).min(end - at);
        let from = (at - offset) as usize;
        out.push((page, in_page, from..from + n as usize));
        at += n;
    }
    Ok(out)
}
