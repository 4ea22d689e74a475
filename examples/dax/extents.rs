//! The file system's block map: which pmem block holds each file page.
//!
//! In a real DAX file system this is the extent tree on the medium (ext4,
//! xfs), asked through `iomap_begin`; the DAX mapping tree is only a cache
//! of what faults have mapped, plus the dirty tracking. Keeping the two
//! apart matters: invalidating a *clean* DAX entry loses nothing, because
//! the next fault finds the block here again; deleting a *dirty* one loses
//! the fact that its cache lines need flushing (DAX.md bug 5).
//!
//! Metadata durability is out of scope: a `MAP_SYNC` fault returns only
//! after the file system has committed the block map, so the example
//! treats this map as always durable, and the crash tests read data
//! through it.
//!
//! New blocks are handed out zeroed (durably, before anyone can map them),
//! as xfs does with `XFS_BMAPI_ZERO` for DAX: a fault on a hole must never
//! expose what a punched file page left in a reused block.

use crate::blocks::{BlockAllocator, BlockError, PMD_BLOCKS};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What the block map holds for one 2 MiB-aligned run of 512 pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PmdLookup {
    /// No page has a block.
    Hole,
    /// The pages map, in order, to the 512-aligned extent from this block:
    /// a PMD entry can map it.
    Extent(u64),
    /// Anything else: some pages, or blocks not in one aligned extent.
    Mixed,
}

/// The block map and the allocator behind it.
#[derive(Debug)]
pub(crate) struct Extents {
    blocks: BlockAllocator,
    map: Mutex<BTreeMap<u64, u64>>,
}

impl Extents {
    pub(crate) fn new(blocks: BlockAllocator) -> Extents {
        Extents {
            blocks,
            map: Mutex::new(BTreeMap::new()),
        }
    }

    #[cfg(test)]
    pub(crate) fn allocator(&self) -> &BlockAllocator {
        &self.blocks
    }

    /// The block of `page`, if it has one.
    pub(crate) fn lookup(&self, page: u64) -> Option<u64> {
        self.lock().get(&page).copied()
    }

    /// What maps the 512 pages from the aligned `start`.
    pub(crate) fn lookup_pmd(&self, start: u64) -> PmdLookup {
        classify(&self.lock(), start)
    }

    /// The block of `page`, allocating one if it has none; `new` says
    /// whether it was allocated now (the caller must zero it before anyone
    /// else can see it). `None` when the device is full.
    pub(crate) fn get_or_alloc_page(&self, page: u64) -> Option<(u64, bool)> {
        let mut map = self.lock();
        if let Some(&block) = map.get(&page) {
            return Some((block, false));
        }
        let block = self.blocks.alloc_block()?;
        map.insert(page, block);
        Some((block, true))
    }

    /// The aligned extent under the 512 pages from `start`: the existing
    /// one, or a newly allocated one when all 512 pages are holes (`new` is
    /// then true). `None` when the pages are mixed or no aligned extent is
    /// free: the fault falls back to 4 KiB pages.
    pub(crate) fn get_or_alloc_pmd(&self, start: u64) -> Option<(u64, bool)> {
        let mut map = self.lock();
        match classify(&map, start) {
            PmdLookup::Extent(block) => Some((block, false)),
            PmdLookup::Mixed => None,
            PmdLookup::Hole => {
                let block = self.blocks.alloc_pmd_extent()?;
                for i in 0..PMD_BLOCKS {
                    map.insert(start + i, block + i);
                }
                Some((block, true))
            }
        }
    }

    /// Removes pages `first..=last` from the map and frees their blocks;
    /// returns how many blocks were freed.
    pub(crate) fn remove(&self, first: u64, last: u64) -> Result<u64, BlockError> {
        let mut map = self.lock();
        let pages: Vec<(u64, u64)> = map.range(first..=last).map(|(&p, &b)| (p, b)).collect();
        let mut blocks: Vec<u64> = pages.iter().map(|&(_, b)| b).collect();
        for (page, _) in &pages {
            map.remove(page);
        }
        drop(map);
        // Free in runs: a whole PMD extent goes back in one call.
        blocks.sort_unstable();
        let mut freed = 0;
        let mut i = 0;
        while i < blocks.len() {
            let mut j = i + 1;
            while j < blocks.len() && blocks[j] == blocks[j - 1] + 1 {
                j += 1;
            }
            self.blocks.free(blocks[i], (j - i) as u64)?;
            freed += (j - i) as u64;
            i = j;
        }
        Ok(freed)
    }

    /// A copy of the whole map (page → block), for verification.
    pub(crate) fn snapshot(&self) -> BTreeMap<u64, u64> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, u64>> {
        // Each update completes before the guard drops.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn classify(map: &BTreeMap<u64, u64>, start: u64) -> PmdLookup {
    let mut pages = map.range(start..start + PMD_BLOCKS);
    let Some((&first_page, &first_block)) = pages.next() else {
        return PmdLookup::Hole;
    };
    if first_page != start || first_block % PMD_BLOCKS != 0 {
        return PmdLookup::Mixed;
    }
    let mut count = 1;
    for (&page, &block) in pages {
        if block != first_block + (page - start) || page != start + count {
            return PmdLookup::Mixed;
        }
        count += 1;
    }
    if count == PMD_BLOCKS {
        PmdLookup::Extent(first_block)
    } else {
        PmdLookup::Mixed
    }
}
