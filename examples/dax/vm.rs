//! Simulated page tables: what each process has mapped of the file.
//!
//! DAX has no page cache: a fault installs a page-table entry that points
//! straight at the pmem block, and from then on the CPU stores to it with
//! no kernel involvement. The file system only hears of a store again if
//! the mapping is read-only and the store faults. That is why writeback
//! must *write-protect* every mapping of an entry before it flushes it: a
//! store after the flush then faults, re-dirties the entry, and the next
//! fsync flushes it again. Forget one mapping (DAX.md bugs 2 and 3) and
//! stores through it are never flushed.
//!
//! So the example models page tables. Each [`Mmap`] is one process's
//! mapping of the file: a table of 4 KiB mappings (PTEs) and 2 MiB mappings
//! (PMDs), each pointing at a block or at the shared zero page, writable or
//! not. Stores and loads of the workload go through it
//! ([`DaxFile::store`](crate::mapping::DaxFile::store)); a missing or
//! read-only mapping is a fault.
//!
//! The table's `RwLock` plays the TLB: a store holds it shared while it
//! writes to pmem, write-protection and unmapping take it exclusively. So
//! once `wrprotect` returns, no store that began before it is still
//! writing — the guarantee the kernel gets from flushing the TLB.

use crate::entry::PMD_ORDER;
use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Pages covered by one PMD mapping.
pub(crate) const PMD_PAGES: u64 = 1 << PMD_ORDER;

/// What a page-table entry points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A pmem block (for a PMD: the first of 512).
    Block(u64),
    /// The shared zero page (or huge zero page): always read-only.
    Zero,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pte {
    frame: Frame,
    writable: bool,
}

/// Which levels of mapping `wrprotect` touches (all, except when a
/// historical bug is switched on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Levels {
    pub(crate) pte: bool,
    pub(crate) pmd: bool,
}

/// How a page is mapped, as a store or load sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageMapping {
    /// The block holding this page (for a PMD mapping: the extent's block
    /// plus the page's offset in it), or the zero page.
    pub(crate) frame: Frame,
    pub(crate) writable: bool,
    /// Mapped by a 2 MiB PMD rather than a 4 KiB PTE.
    pub(crate) huge: bool,
}

#[derive(Debug, Default)]
struct Table {
    /// 4 KiB mappings by page index.
    ptes: BTreeMap<u64, Pte>,
    /// 2 MiB mappings by their first (512-aligned) page index.
    pmds: BTreeMap<u64, Pte>,
}

/// One process's mapping of the file (a VMA and its page tables).
#[derive(Debug)]
pub(crate) struct Mmap {
    huge: bool,
    table: RwLock<Table>,
}

impl Mmap {
    /// A mapping with nothing mapped yet. `huge`: the mapping may use PMD
    /// faults (a 2 MiB-aligned VMA, as `vma_is_dax` + THP allow); `false`
    /// models a process with a small, unaligned window onto the file.
    pub(crate) fn new(huge: bool) -> Mmap {
        Mmap {
            huge,
            table: RwLock::new(Table::default()),
        }
    }

    /// Whether faults in this mapping may install 2 MiB mappings.
    pub(crate) fn huge(&self) -> bool {
        self.huge
    }

    /// The mapping of `page`, if any.
    pub(crate) fn lookup(&self, page: u64) -> Option<PageMapping> {
        lookup(&self.read(), page)
    }

    /// Runs `f` on the page's mapping with the table held shared, so that
    /// no write-protect or unmap can complete while `f` runs: `f` is the
    /// CPU's load or store, and the lock is the TLB.
    pub(crate) fn with_page<R>(&self, page: u64, f: impl FnOnce(Option<PageMapping>) -> R) -> R {
        let table = self.read();
        f(lookup(&table, page))
    }

    /// Maps one page (the kernel's `vmf_insert_mixed`). A PMD mapping
    /// covering it is zapped first: a PMD slot holds either a huge mapping
    /// or a table of PTEs, never both (DAX.md bug 9 was two faults
    /// disagreeing about which).
    pub(crate) fn map_pte(&self, page: u64, frame: Frame, writable: bool) {
        let mut table = self.write();
        table.pmds.remove(&(page & !(PMD_PAGES - 1)));
        let writable = writable && frame != Frame::Zero;
        table.ptes.insert(page, Pte { frame, writable });
    }

    /// Maps 512 pages from the aligned `start` with one PMD
    /// (`vmf_insert_pfn_pmd`); PTEs below it go (the PTE table is freed).
    pub(crate) fn map_pmd(&self, start: u64, frame: Frame, writable: bool) {
        debug_assert_eq!(start % PMD_PAGES, 0);
        let mut table = self.write();
        let stale: Vec<u64> = table
            .ptes
            .range(start..start + PMD_PAGES)
            .map(|(&page, _)| page)
            .collect();
        for page in stale {
            table.ptes.remove(&page);
        }
        let writable = writable && frame != Frame::Zero;
        table.pmds.insert(start, Pte { frame, writable });
    }

    /// Makes every mapping of pages `first..=last` at the given levels
    /// read-only (the kernel's `dax_entry_mkclean`); returns how many
    /// mappings changed.
    pub(crate) fn wrprotect(&self, first: u64, last: u64, levels: Levels) -> usize {
        let mut table = self.write();
        let mut changed = 0;
        if levels.pte {
            for (_, pte) in table.ptes.range_mut(first..=last) {
                changed += usize::from(pte.writable);
                pte.writable = false;
            }
        }
        if levels.pmd {
            for (_, pmd) in table.pmds.range_mut(pmd_keys(first, last)) {
                changed += usize::from(pmd.writable);
                pmd.writable = false;
            }
        }
        changed
    }

    /// Removes every mapping of pages `first..=last`; a PMD mapping that
    /// overlaps the range goes whole (DAX zaps, it cannot split a huge
    /// mapping of a block it does not own page by page). Returns how many
    /// mappings went.
    pub(crate) fn unmap(&self, first: u64, last: u64) -> usize {
        let mut table = self.write();
        let ptes: Vec<u64> = table
            .ptes
            .range(first..=last)
            .map(|(&page, _)| page)
            .collect();
        let pmds: Vec<u64> = table
            .pmds
            .range(pmd_keys(first, last))
            .map(|(&start, _)| start)
            .collect();
        for page in &ptes {
            table.ptes.remove(page);
        }
        for start in &pmds {
            table.pmds.remove(start);
        }
        ptes.len() + pmds.len()
    }

    /// How many PTE and PMD mappings are writable (for tests).
    #[cfg(test)]
    pub(crate) fn writable_mappings(&self) -> (usize, usize) {
        let table = self.read();
        let count = |map: &BTreeMap<u64, Pte>| map.values().filter(|p| p.writable).count();
        (count(&table.ptes), count(&table.pmds))
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        // Every table update completes before its guard drops, so a panic
        // elsewhere cannot leave the table half-changed.
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The PMD keys whose 512 pages overlap `first..=last`.
fn pmd_keys(first: u64, last: u64) -> core::ops::RangeInclusive<u64> {
    (first & !(PMD_PAGES - 1))..=last
}

fn lookup(table: &Table, page: u64) -> Option<PageMapping> {
    let start = page & !(PMD_PAGES - 1);
    if let Some(pmd) = table.pmds.get(&start) {
        let frame = match pmd.frame {
            Frame::Block(block) => Frame::Block(block + (page - start)),
            Frame::Zero => Frame::Zero,
        };
        return Some(PageMapping {
            frame,
            writable: pmd.writable,
            huge: true,
        });
    }
    table.ptes.get(&page).map(|pte| PageMapping {
        frame: pte.frame,
        writable: pte.writable,
        huge: false,
    })
}
