//! The block allocator for the pmem file's data area.
//!
//! A DAX fault maps file pages straight onto blocks of the pmem file, so
//! the file system needs an allocator for those blocks, like ext4's or
//! xfs's. Two sizes are asked for:
//!
//! * a 4 KiB block for a PTE entry;
//! * a 2 MiB extent of 512 blocks for a PMD entry. The CPU can only map a
//!   2 MiB page at a 2 MiB-aligned physical address, so the extent must
//!   start at a block number that is a multiple of 512 (of the file, which
//!   stands for the device). A 2 MiB run that is free but not aligned is no
//!   use: the fault falls back to 4 KiB entries, as `dax_iomap_pmd_fault`
//!   does when the file system returns a misaligned extent.
//!
//! The design is a bitmap (one bit per block, set = free) cut into groups of
//! 512 blocks aligned like PMD extents, each with a free count. A PMD extent
//! is a group whose count is 512; a single block comes preferably from a
//! group that is already partly used, so that 4 KiB allocations do not
//! break up whole extents while partial groups still have room (ext4's
//! mballoc makes the same choice with its buddy groups). A 4 GiB file has
//! 2048 groups: a scan of the counts is a few microseconds, and hints keep
//! the usual case to one group.
//!
//! Blocks are numbered as in the file: block `b` is bytes
//! `b * 4096 .. (b + 1) * 4096`. The data area is any block range; groups at
//! its ends that it covers only in part hold single blocks, never extents.
//!
//! Bad frees (out of range, already free, empty) are errors, not panics,
//! and change nothing: a file system that frees a block twice has lost
//! track of who owns it, and must be told (the kernel's ext4 reports it as
//! corruption rather than crash).

use core::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Bytes in a block: one 4 KiB page.
pub(crate) const BLOCK_SIZE: u64 = 4096;

/// Blocks in a PMD extent (2 MiB / 4 KiB).
pub(crate) const PMD_BLOCKS: u64 = 512;

/// Bitmap words per group.
const WORDS_PER_GROUP: usize = (PMD_BLOCKS / 64) as usize;

/// What went wrong with an allocator call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlockError {
    /// Some of `block .. block + count` is outside the data area.
    OutOfRange {
        block: u64,
        count: u64,
        area: (u64, u64),
    },
    /// `block` was already free: the caller freed it twice.
    DoubleFree { block: u64 },
    /// `block` is in use and cannot be reserved.
    InUse { block: u64 },
    /// A free or reserve of zero blocks.
    Empty { block: u64 },
    /// An area too large for this machine's memory to track.
    TooLarge { count: u64 },
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::OutOfRange { block, count, area } => write!(
                f,
                "blocks {block}..{} are outside the data area {}..{}",
                block.saturating_add(*count),
                area.0,
                area.1
            ),
            BlockError::DoubleFree { block } => write!(f, "block {block} is already free"),
            BlockError::InUse { block } => write!(f, "block {block} is already in use"),
            BlockError::Empty { block } => write!(f, "empty block range at {block}"),
            BlockError::TooLarge { count } => {
                write!(f, "cannot allocate the bitmap for {count} blocks")
            }
        }
    }
}

impl core::error::Error for BlockError {}

/// Hands out blocks of the data area; safe to share between threads.
#[derive(Debug)]
pub(crate) struct BlockAllocator {
    /// First block of the data area.
    start: u64,
    /// One past the last block.
    end: u64,
    bitmap: Mutex<Bitmap>,
}

#[derive(Debug)]
struct Bitmap {
    /// First block of group 0: `start` rounded down to a group.
    base: u64,
    /// One bit per block from `base`, set when free. Blocks outside the
    /// data area stay clear for ever.
    words: Vec<u64>,
    /// Free blocks in each group.
    group_free: Vec<u16>,
    /// Whether a group lies wholly inside the data area (can be an extent).
    whole: Vec<bool>,
    free: u64,
    /// Where the last single block came from.
    block_hint: usize,
    /// Where the last extent came from.
    extent_hint: usize,
}

impl BlockAllocator {
    /// An allocator over blocks `start .. start + count`, all free.
    pub(crate) fn new(start: u64, count: u64) -> Result<BlockAllocator, BlockError> {
        let area_error = BlockError::OutOfRange {
            block: start,
            count,
            area: (start, start.saturating_add(count)),
        };
        let end = start.checked_add(count).ok_or(area_error.clone())?;
        if count == 0 {
            return Err(BlockError::Empty { block: start });
        }
        let base = start - start % PMD_BLOCKS;
        // One bit per block: 32 KiB of bitmap per GiB of data. An area too
        // large to track is an error, not an abort in the allocator.
        let too_large = BlockError::TooLarge { count };
        let groups =
            usize::try_from((end - base).div_ceil(PMD_BLOCKS)).map_err(|_| too_large.clone())?;
        let mut words = Vec::new();
        words
            .try_reserve_exact(
                groups
                    .checked_mul(WORDS_PER_GROUP)
                    .ok_or(too_large.clone())?,
            )
            .map_err(|_| too_large)?;
        words.resize(groups * WORDS_PER_GROUP, 0);
        let mut bitmap = Bitmap {
            base,
            words,
            group_free: vec![0; groups],
            whole: (0..groups)
                .map(|g| {
                    let first = base + g as u64 * PMD_BLOCKS;
                    first >= start && first + PMD_BLOCKS <= end
                })
                .collect(),
            free: 0,
            block_hint: 0,
            extent_hint: 0,
        };
        bitmap.set_free(start, count, true);
        Ok(BlockAllocator {
            start,
            end,
            bitmap: Mutex::new(bitmap),
        })
    }

    /// An allocator over the whole blocks of a `file_len`-byte file that
    /// follow the first `reserved` bytes (the file's header).
    pub(crate) fn for_file(file_len: u64, reserved: u64) -> Result<BlockAllocator, BlockError> {
        let start = reserved.div_ceil(BLOCK_SIZE);
        let end = file_len / BLOCK_SIZE;
        BlockAllocator::new(start, end.saturating_sub(start))
    }

    /// The data area: blocks `start .. end`.
    pub(crate) fn area(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    pub(crate) fn total_blocks(&self) -> u64 {
        self.end - self.start
    }

    pub(crate) fn free_blocks(&self) -> u64 {
        self.lock().free
    }

    /// Aligned 512-block extents that are wholly free.
    pub(crate) fn free_pmd_extents(&self) -> u64 {
        let bitmap = self.lock();
        bitmap
            .group_free
            .iter()
            .filter(|&&n| u64::from(n) == PMD_BLOCKS)
            .count() as u64
    }

    /// Whether `block` is in the data area and free.
    pub(crate) fn is_free(&self, block: u64) -> bool {
        (self.start..self.end).contains(&block) && self.lock().is_free(block)
    }

    /// One 4 KiB block, or `None` when the area is full.
    pub(crate) fn alloc_block(&self) -> Option<u64> {
        let mut bitmap = self.lock();
        let group = bitmap.group_for_block()?;
        let block = bitmap.first_free_in(group)?;
        bitmap.set_free(block, 1, false);
        bitmap.block_hint = group;
        Some(block)
    }

    /// The first block of a free 2 MiB-aligned extent of 512 blocks, or
    /// `None` when no aligned extent is wholly free (the caller falls back
    /// to 4 KiB blocks).
    pub(crate) fn alloc_pmd_extent(&self) -> Option<u64> {
        let mut bitmap = self.lock();
        let groups = bitmap.group_free.len();
        let hint = bitmap.extent_hint;
        let group = (0..groups)
            .map(|i| (hint + i) % groups)
            .find(|&g| u64::from(bitmap.group_free[g]) == PMD_BLOCKS)?;
        let first = bitmap.base + group as u64 * PMD_BLOCKS;
        bitmap.set_free(first, PMD_BLOCKS, false);
        bitmap.extent_hint = group;
        Some(first)
    }

    /// Returns `block .. block + count` to the free pool. Refused, with
    /// nothing changed, if any of it is outside the area or already free.
    pub(crate) fn free(&self, block: u64, count: u64) -> Result<(), BlockError> {
        self.check_range(block, count)?;
        let mut bitmap = self.lock();
        if let Some(already) = bitmap.first_with_state(block, count, true) {
            return Err(BlockError::DoubleFree { block: already });
        }
        bitmap.set_free(block, count, true);
        Ok(())
    }

    /// Marks `block .. block + count` in use without allocating it: for
    /// blocks a re-opened file already uses. Refused, with nothing changed,
    /// if any of it is outside the area or already in use.
    pub(crate) fn reserve(&self, block: u64, count: u64) -> Result<(), BlockError> {
        self.check_range(block, count)?;
        let mut bitmap = self.lock();
        if let Some(used) = bitmap.first_with_state(block, count, false) {
            return Err(BlockError::InUse { block: used });
        }
        bitmap.set_free(block, count, false);
        Ok(())
    }

    fn check_range(&self, block: u64, count: u64) -> Result<(), BlockError> {
        if count == 0 {
            return Err(BlockError::Empty { block });
        }
        match block.checked_add(count) {
            Some(end) if block >= self.start && end <= self.end => Ok(()),
            _ => Err(BlockError::OutOfRange {
                block,
                count,
                area: (self.start, self.end),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Bitmap> {
        // Every update completes before the lock drops, so a panic in
        // another thread cannot leave the bitmap half-changed.
        self.bitmap.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Bitmap {
    fn bit(&self, block: u64) -> (usize, u64) {
        let i = block - self.base;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn is_free(&self, block: u64) -> bool {
        let (word, mask) = self.bit(block);
        self.words[word] & mask != 0
    }

    /// The first block of the (in-range) run whose free bit equals `free`.
    fn first_with_state(&self, block: u64, count: u64, free: bool) -> Option<u64> {
        (block..block + count).find(|&b| self.is_free(b) == free)
    }

    /// Sets the free bit of an in-range run whose bits are all `!free`, and
    /// keeps the counts in step.
    fn set_free(&mut self, block: u64, count: u64, free: bool) {
        for b in block..block + count {
            let (word, mask) = self.bit(b);
            let group = word / WORDS_PER_GROUP;
            if free {
                self.words[word] |= mask;
                self.group_free[group] += 1;
            } else {
                self.words[word] &= !mask;
                self.group_free[group] -= 1;
            }
        }
        if free {
            self.free += count;
        } else {
            self.free -= count;
        }
    }

    /// The group a single block should come from: the hinted group if it
    /// has room, else a partly used group, else any group with a free
    /// block (breaking up a whole extent only when nothing else is left).
    fn group_for_block(&self) -> Option<usize> {
        let groups = self.group_free.len();
        let partial = |g: usize| {
            let free = u64::from(self.group_free[g]);
            free > 0 && (free < PMD_BLOCKS || !self.whole[g])
        };
        if partial(self.block_hint) {
            return Some(self.block_hint);
        }
        let from_hint = (0..groups).map(|i| (self.block_hint + i) % groups);
        from_hint
            .clone()
            .find(|&g| partial(g))
            .or_else(|| from_hint.clone().find(|&g| self.group_free[g] > 0))
    }

    fn first_free_in(&self, group: usize) -> Option<u64> {
        let words = &self.words[group * WORDS_PER_GROUP..][..WORDS_PER_GROUP];
        words.iter().enumerate().find_map(|(i, &word)| {
            (word != 0).then(|| {
                self.base
                    + ((group * WORDS_PER_GROUP + i) * 64) as u64
                    + u64::from(word.trailing_zeros())
            })
        })
    }
}

/// Checks for the example's self-test and the integration tests.
pub(crate) mod checks {
    use super::*;

    /// A check: `Err` describes the first thing that went wrong.
    pub(crate) type Check = fn() -> Result<(), String>;

    /// `(name, check)` for every check in this module.
    pub(crate) const CHECKS: &[(&str, Check)] = &[
        (
            "blocks_alloc_until_full_then_free",
            blocks_alloc_until_full_then_free,
        ),
        (
            "blocks_pmd_extents_are_aligned",
            blocks_pmd_extents_are_aligned,
        ),
        (
            "blocks_single_blocks_spare_whole_extents",
            blocks_single_blocks_spare_whole_extents,
        ),
        (
            "blocks_no_extent_when_fragmented",
            blocks_no_extent_when_fragmented,
        ),
        ("blocks_bad_frees_are_errors", blocks_bad_frees_are_errors),
        ("blocks_reserve_and_for_file", blocks_reserve_and_for_file),
    ];

    macro_rules! ensure {
        ($cond:expr, $($why:tt)+) => {
            if !$cond {
                return Err(format!($($why)+));
            }
        };
    }

    fn allocator(start: u64, count: u64) -> Result<BlockAllocator, String> {
        BlockAllocator::new(start, count).map_err(|e| e.to_string())
    }

    /// Every block is handed out once, then `None`; freeing all restores
    /// the counts.
    pub(crate) fn blocks_alloc_until_full_then_free() -> Result<(), String> {
        let blocks = allocator(3, 1500)?;
        let mut seen = vec![false; 1503];
        let mut handed_out = Vec::new();
        while let Some(b) = blocks.alloc_block() {
            ensure!((3..1503).contains(&b), "block {b} outside 3..1503");
            ensure!(!seen[b as usize], "block {b} handed out twice");
            seen[b as usize] = true;
            handed_out.push(b);
        }
        ensure!(
            handed_out.len() == 1500,
            "{} blocks handed out, want 1500",
            handed_out.len()
        );
        ensure!(
            blocks.free_blocks() == 0,
            "free count {}",
            blocks.free_blocks()
        );
        ensure!(
            blocks.alloc_pmd_extent().is_none(),
            "extent from a full area"
        );
        for b in handed_out {
            blocks.free(b, 1).map_err(|e| e.to_string())?;
        }
        ensure!(
            blocks.free_blocks() == 1500,
            "free count {}",
            blocks.free_blocks()
        );
        // 3..1503 wholly covers only the group 512..1024.
        ensure!(
            blocks.free_pmd_extents() == 1,
            "extents {}",
            blocks.free_pmd_extents()
        );
        Ok(())
    }

    /// Extents start at multiples of 512, never overlap, and run out.
    pub(crate) fn blocks_pmd_extents_are_aligned() -> Result<(), String> {
        let blocks = allocator(100, 5000)?; // whole groups: 512..4608 = 8
        ensure!(
            blocks.free_pmd_extents() == 8,
            "extents {}",
            blocks.free_pmd_extents()
        );
        let mut extents = Vec::new();
        while let Some(first) = blocks.alloc_pmd_extent() {
            ensure!(
                first % PMD_BLOCKS == 0,
                "extent at {first} is not 2 MiB aligned"
            );
            ensure!(
                first >= 100 && first + PMD_BLOCKS <= 5100,
                "extent {first} outside area"
            );
            extents.push(first);
        }
        extents.sort_unstable();
        extents.dedup();
        ensure!(
            extents.len() == 8,
            "{} distinct extents, want 8",
            extents.len()
        );
        ensure!(
            blocks.free_blocks() == 5000 - 8 * 512,
            "free {}",
            blocks.free_blocks()
        );
        // The edges still serve single blocks.
        ensure!(
            blocks.alloc_block().is_some(),
            "no single block left at the edges"
        );
        blocks
            .free(extents[3], PMD_BLOCKS)
            .map_err(|e| e.to_string())?;
        ensure!(
            blocks.alloc_pmd_extent() == Some(extents[3]),
            "freed extent not reused"
        );
        Ok(())
    }

    /// Single blocks fill partial groups before breaking whole extents.
    pub(crate) fn blocks_single_blocks_spare_whole_extents() -> Result<(), String> {
        let blocks = allocator(0, 4 * 512)?;
        let first = blocks.alloc_block().ok_or("no block")?;
        for _ in 1..512 {
            blocks.alloc_block().ok_or("no block")?;
        }
        ensure!(
            blocks.free_pmd_extents() == 3,
            "extents after 512 single blocks: {}",
            blocks.free_pmd_extents()
        );
        blocks.free(first, 1).map_err(|e| e.to_string())?;
        ensure!(
            blocks.alloc_block() == Some(first),
            "the partial group's hole was not reused"
        );
        ensure!(
            blocks.free_pmd_extents() == 3,
            "extents {}",
            blocks.free_pmd_extents()
        );
        Ok(())
    }

    /// A free 2 MiB run that is not aligned is no PMD extent.
    pub(crate) fn blocks_no_extent_when_fragmented() -> Result<(), String> {
        let blocks = allocator(0, 2 * 512)?;
        let a = blocks.alloc_pmd_extent().ok_or("first extent")?;
        let b = blocks.alloc_pmd_extent().ok_or("second extent")?;
        // Free the second half of one and the first half of the other:
        // 512 contiguous free blocks straddling the 2 MiB boundary.
        let (low, high) = (a.min(b), a.max(b));
        blocks.free(low + 256, 256).map_err(|e| e.to_string())?;
        blocks.free(high, 256).map_err(|e| e.to_string())?;
        ensure!(blocks.free_blocks() == 512, "free {}", blocks.free_blocks());
        ensure!(
            blocks.alloc_pmd_extent().is_none(),
            "a misaligned run was handed out as an extent"
        );
        ensure!(
            blocks.alloc_block().is_some(),
            "single blocks must still work"
        );
        Ok(())
    }

    /// Double, out-of-range and empty frees are errors that change nothing.
    pub(crate) fn blocks_bad_frees_are_errors() -> Result<(), String> {
        let blocks = allocator(10, 100)?;
        let b = blocks.alloc_block().ok_or("no block")?;
        let c = blocks.alloc_block().ok_or("no block")?;
        blocks.free(b, 1).map_err(|e| e.to_string())?;
        ensure!(
            blocks.free(b, 1) == Err(BlockError::DoubleFree { block: b }),
            "double free accepted"
        );
        let lo = b.min(c);
        let before = blocks.free_blocks();
        ensure!(
            blocks.free(lo, 2).is_err(),
            "free of a range with a free block accepted"
        );
        ensure!(
            blocks.free_blocks() == before && !blocks.is_free(c),
            "a refused free changed the bitmap"
        );
        for (block, count) in [(9, 1), (110, 1), (100, 20), (u64::MAX, 2)] {
            ensure!(
                matches!(
                    blocks.free(block, count),
                    Err(BlockError::OutOfRange { .. })
                ),
                "free({block}, {count}) must be out of range"
            );
        }
        ensure!(
            blocks.free(c, 0) == Err(BlockError::Empty { block: c }),
            "empty free accepted"
        );
        ensure!(
            BlockAllocator::new(u64::MAX, 2).is_err(),
            "overflowing area accepted"
        );
        ensure!(BlockAllocator::new(5, 0).is_err(), "empty area accepted");
        ensure!(
            matches!(
                BlockAllocator::new(0, 1 << 62),
                Err(BlockError::TooLarge { .. })
            ),
            "an area too large to track must be refused"
        );
        let msg = BlockError::DoubleFree { block: 42 }.to_string();
        ensure!(msg.contains("42"), "{msg}");
        Ok(())
    }

    /// `reserve` takes specific blocks; `for_file` skips the header.
    pub(crate) fn blocks_reserve_and_for_file() -> Result<(), String> {
        let blocks = BlockAllocator::for_file(8 << 20, 4096 + 1).map_err(|e| e.to_string())?;
        ensure!(blocks.area() == (2, 2048), "area {:?}", blocks.area());
        ensure!(
            blocks.total_blocks() == 2046,
            "total {}",
            blocks.total_blocks()
        );
        ensure!(
            blocks.free_pmd_extents() == 3,
            "extents {}",
            blocks.free_pmd_extents()
        );
        blocks.reserve(600, 10).map_err(|e| e.to_string())?;
        ensure!(
            blocks.free_pmd_extents() == 2,
            "a reserve inside an extent left it whole"
        );
        ensure!(
            blocks.reserve(605, 1) == Err(BlockError::InUse { block: 605 }),
            "double reserve"
        );
        blocks.free(600, 10).map_err(|e| e.to_string())?;
        ensure!(
            blocks.free_pmd_extents() == 3,
            "extents {}",
            blocks.free_pmd_extents()
        );
        ensure!(
            BlockAllocator::for_file(4096, 4096).is_err(),
            "file with no data blocks accepted"
        );
        Ok(())
    }
}
