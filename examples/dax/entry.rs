//! The DAX entry: what the mapping tree stores for each file page.
//!
//! A DAX file has no page cache pages, so the kernel's fs/dax.c stores in
//! the mapping's XArray, for each mapped file offset, a *value entry* (a
//! small integer in the slot itself, no allocation) that says where on the
//! pmem device the page lives, plus four flag bits:
//!
//! ```text
//!   63 62 61                                    4   3     2      1     0
//!  [ tag ][ block number (58 bits)              ][EMPTY|ZERO_PAGE|PMD|LOCKED]
//! ```
//!
//! * `LOCKED`: a fault or writeback owns the entry. The lock is this bit in
//!   the tree, not a separate mutex: set it under the tree lock, drop the
//!   tree lock, do the slow work, store the entry back without the bit.
//! * `PMD`: the entry covers 2 MiB (512 pages, order 9) and its block is
//!   2 MiB aligned; otherwise it covers one 4 KiB page (a PTE entry).
//! * `ZERO_PAGE`: a read fault on a hole mapped the shared zero page; there
//!   is no block yet. A write fault must replace it.
//! * `EMPTY`: a placeholder, locked while a fault allocates the block, so
//!   that other faults on the same index wait rather than allocate too.
//!
//! Marks (DIRTY, TOWRITE) are not in the entry: the tree keeps them beside
//! it, which is what makes "visit every dirty entry" cheap.
//!
//! The kernel stores a pfn here; the example stores the block number in the
//! pmem file, which is the same thing for a file standing in for a device.
//! [`DaxEntry`] implements xradix's `Value`: 4 flag bits and a 58-bit block
//! fit the 62 payload bits, and the constructors refuse a block that does
//! not, so a stored entry can never be truncated.

use bitflags::bitflags;
use core::fmt;
use xradix::Value;

/// Flag bits below the block number (the kernel's `DAX_SHIFT`).
pub(crate) const FLAG_BITS: u32 = 4;

/// Payload bits of a DAX entry: all that a value entry carries.
pub(crate) const ENTRY_BITS: u32 = 62;

/// The largest block number an entry can hold.
pub(crate) const MAX_BLOCK: u64 = (1 << (ENTRY_BITS - FLAG_BITS)) - 1;

/// Bytes mapped by a PTE entry.
pub(crate) const PTE_SIZE: u64 = 4096;

/// Order of a PMD entry: it covers 2^9 pages.
pub(crate) const PMD_ORDER: u32 = 9;

/// Bytes mapped by a PMD entry.
pub(crate) const PMD_SIZE: u64 = PTE_SIZE << PMD_ORDER;

bitflags! {
    /// The flag bits, with the kernel's values (fs/dax.c `DAX_LOCKED`...).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub(crate) struct EntryFlags: u64 {
        const LOCKED = 1 << 0;
        const PMD = 1 << 1;
        const ZERO_PAGE = 1 << 2;
        const EMPTY = 1 << 3;
    }
}

/// Why an entry could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryError {
    /// The block number does not fit in 58 bits.
    BlockTooLarge { block: u64 },
    /// A PMD entry's block is not 2 MiB (512-block) aligned.
    MisalignedPmd { block: u64 },
    /// A zero-page or empty entry was given a block: it has none.
    HasNoBlock { block: u64, flags: EntryFlags },
    /// Both ZERO_PAGE and EMPTY: an entry is one or the other.
    ZeroAndEmpty,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::BlockTooLarge { block } => {
                write!(
                    f,
                    "block {block} does not fit in a DAX entry (max {MAX_BLOCK})"
                )
            }
            EntryError::MisalignedPmd { block } => {
                write!(f, "PMD entry at block {block}, which is not 2 MiB aligned")
            }
            EntryError::HasNoBlock { block, flags } => {
                write!(f, "{flags:?} entry cannot point at block {block}")
            }
            EntryError::ZeroAndEmpty => write!(f, "an entry cannot be both ZERO_PAGE and EMPTY"),
        }
    }
}

impl core::error::Error for EntryError {}

/// A DAX mapping entry: block number shifted left 4, or'ed with flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DaxEntry(u64);

impl DaxEntry {
    /// An entry for `block` with `flags` (the kernel's `dax_make_entry`).
    /// Refuses a block that does not fit, a misaligned PMD, and a zero or
    /// empty entry with a block.
    pub(crate) fn new(block: u64, flags: EntryFlags) -> Result<DaxEntry, EntryError> {
        if block > MAX_BLOCK {
            return Err(EntryError::BlockTooLarge { block });
        }
        if flags.contains(EntryFlags::ZERO_PAGE | EntryFlags::EMPTY) {
            return Err(EntryError::ZeroAndEmpty);
        }
        if block != 0 && flags.intersects(EntryFlags::ZERO_PAGE | EntryFlags::EMPTY) {
            return Err(EntryError::HasNoBlock { block, flags });
        }
        if flags.contains(EntryFlags::PMD) && block % (PMD_SIZE / PTE_SIZE) != 0 {
            return Err(EntryError::MisalignedPmd { block });
        }
        Ok(DaxEntry(block << FLAG_BITS | flags.bits()))
    }

    /// A 4 KiB entry for `block`.
    pub(crate) fn pte(block: u64) -> Result<DaxEntry, EntryError> {
        DaxEntry::new(block, EntryFlags::empty())
    }

    /// A 2 MiB entry for the 512 blocks from `block`, which must be
    /// 512-aligned.
    pub(crate) fn pmd(block: u64) -> Result<DaxEntry, EntryError> {
        DaxEntry::new(block, EntryFlags::PMD)
    }

    /// A 4 KiB hole mapped to the zero page by a read fault.
    pub(crate) const fn zero_page() -> DaxEntry {
        DaxEntry(EntryFlags::ZERO_PAGE.bits())
    }

    /// A 2 MiB hole mapped to the huge zero page by a PMD read fault.
    pub(crate) const fn zero_pmd() -> DaxEntry {
        DaxEntry(EntryFlags::ZERO_PAGE.bits() | EntryFlags::PMD.bits())
    }

    /// A 4 KiB placeholder, held locked while its fault allocates a block.
    pub(crate) const fn empty() -> DaxEntry {
        DaxEntry(EntryFlags::EMPTY.bits())
    }

    /// A 2 MiB placeholder, held locked while its fault allocates.
    pub(crate) const fn empty_pmd() -> DaxEntry {
        DaxEntry(EntryFlags::EMPTY.bits() | EntryFlags::PMD.bits())
    }

    /// The block the entry maps (0 for zero-page and empty entries).
    pub(crate) const fn block(self) -> u64 {
        self.0 >> FLAG_BITS
    }

    pub(crate) const fn flags(self) -> EntryFlags {
        EntryFlags::from_bits_truncate(self.0)
    }

    pub(crate) const fn is_locked(self) -> bool {
        self.0 & EntryFlags::LOCKED.bits() != 0
    }

    pub(crate) const fn is_pmd(self) -> bool {
        self.0 & EntryFlags::PMD.bits() != 0
    }

    pub(crate) const fn is_zero_page(self) -> bool {
        self.0 & EntryFlags::ZERO_PAGE.bits() != 0
    }

    pub(crate) const fn is_empty(self) -> bool {
        self.0 & EntryFlags::EMPTY.bits() != 0
    }

    /// Whether the entry maps a real block (neither zero page nor empty):
    /// the only kind that can be dirty and that writeback flushes.
    pub(crate) const fn has_block(self) -> bool {
        !self.is_zero_page() && !self.is_empty()
    }

    /// A copy with LOCKED set (the kernel's `dax_lock_entry` stores this).
    pub(crate) const fn locked(self) -> DaxEntry {
        DaxEntry(self.0 | EntryFlags::LOCKED.bits())
    }

    /// A copy with LOCKED clear, to store back when the work is done.
    pub(crate) const fn unlocked(self) -> DaxEntry {
        DaxEntry(self.0 & !EntryFlags::LOCKED.bits())
    }

    /// Whether both entries map the same block, whatever their lock bit.
    /// Writeback checks this after waiting for a locked entry: if the entry
    /// was punched and reallocated meanwhile, flushing the block it
    /// remembered would flush someone else's data (DAX.md bug 12; the
    /// kernel compares `dax_to_pfn` in `dax_writeback_one`).
    pub(crate) const fn same_block(self, other: DaxEntry) -> bool {
        self.block() == other.block()
    }

    /// Bytes the entry maps: 4 KiB, or 2 MiB for a PMD entry.
    pub(crate) const fn size(self) -> u64 {
        if self.is_pmd() {
            PMD_SIZE
        } else {
            PTE_SIZE
        }
    }

    /// The entry's order in the tree: it covers 2^order indices.
    pub(crate) const fn order(self) -> u32 {
        if self.is_pmd() {
            PMD_ORDER
        } else {
            0
        }
    }

    /// Where the entry's data starts in the pmem file.
    pub(crate) const fn pmem_offset(self) -> u64 {
        self.block() * PTE_SIZE
    }
}

impl fmt::Debug for DaxEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaxEntry")
            .field("block", &self.block())
            .field("flags", &self.flags())
            .finish()
    }
}

impl Value for DaxEntry {
    const BITS: u32 = ENTRY_BITS;

    fn into_raw(self) -> u64 {
        // Constructors keep the block within MAX_BLOCK, so this fits.
        self.0
    }

    fn from_raw(raw: u64) -> DaxEntry {
        // The tree only gives back what `into_raw` produced; masking makes
        // even a corrupt word decode to some entry instead of panicking.
        DaxEntry(raw & ((1 << ENTRY_BITS) - 1))
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
            "entry_layout_matches_the_kernel",
            entry_layout_matches_the_kernel,
        ),
        (
            "entry_round_trips_through_raw",
            entry_round_trips_through_raw,
        ),
        ("entry_kinds_and_sizes", entry_kinds_and_sizes),
        ("entry_bad_input_is_an_error", entry_bad_input_is_an_error),
        ("entry_lock_bit_is_a_copy", entry_lock_bit_is_a_copy),
    ];

    macro_rules! ensure {
        ($cond:expr, $($why:tt)+) => {
            if !$cond {
                return Err(format!($($why)+));
            }
        };
    }

    /// Block << 4 | flags, with the kernel's flag values.
    pub(crate) fn entry_layout_matches_the_kernel() -> Result<(), String> {
        let flag_values = [
            (EntryFlags::LOCKED, 1),
            (EntryFlags::PMD, 2),
            (EntryFlags::ZERO_PAGE, 4),
            (EntryFlags::EMPTY, 8),
        ];
        for (flag, value) in flag_values {
            ensure!(
                flag.bits() == value,
                "{flag:?} is {}, the kernel's is {value}",
                flag.bits()
            );
        }
        let entry =
            DaxEntry::new(1024, EntryFlags::PMD | EntryFlags::LOCKED).map_err(|e| e.to_string())?;
        ensure!(
            entry.into_raw() == 1024 << 4 | 3,
            "raw {:#x}",
            entry.into_raw()
        );
        ensure!(
            DaxEntry::zero_page().into_raw() == 4,
            "zero page raw {:#x}",
            DaxEntry::zero_page().into_raw()
        );
        ensure!(
            DaxEntry::empty_pmd().into_raw() == 10,
            "empty PMD raw {:#x}",
            DaxEntry::empty_pmd().into_raw()
        );
        Ok(())
    }

    /// `from_raw(into_raw(e)) == e`, and the raw value fits in `BITS`.
    pub(crate) fn entry_round_trips_through_raw() -> Result<(), String> {
        let blocks = [0, 1, 511, 512, 1 << 20, MAX_BLOCK - 511, MAX_BLOCK];
        for block in blocks {
            for bits in 0..16u64 {
                let flags = EntryFlags::from_bits_truncate(bits);
                let Ok(entry) = DaxEntry::new(block, flags) else {
                    continue;
                };
                let raw = entry.into_raw();
                ensure!(
                    raw >> DaxEntry::BITS == 0,
                    "{entry:?} raw {raw:#x} exceeds {} bits",
                    DaxEntry::BITS
                );
                ensure!(
                    DaxEntry::from_raw(raw) == entry,
                    "{entry:?} did not round-trip"
                );
                ensure!(
                    entry.block() == block && entry.flags() == flags,
                    "{entry:?} fields"
                );
            }
        }
        ensure!(
            DaxEntry::BITS <= 62,
            "BITS {} is more than a value entry holds",
            DaxEntry::BITS
        );
        let garbage = DaxEntry::from_raw(u64::MAX);
        ensure!(
            garbage.into_raw() >> DaxEntry::BITS == 0,
            "from_raw kept bits past BITS"
        );
        Ok(())
    }

    /// What each constructor makes, and its size and order.
    pub(crate) fn entry_kinds_and_sizes() -> Result<(), String> {
        let pte = DaxEntry::pte(7).map_err(|e| e.to_string())?;
        let pmd = DaxEntry::pmd(1024).map_err(|e| e.to_string())?;
        ensure!(
            pte.has_block() && !pte.is_pmd() && pte.size() == 4096 && pte.order() == 0,
            "{pte:?}"
        );
        ensure!(
            pmd.has_block() && pmd.is_pmd() && pmd.size() == 2 << 20 && pmd.order() == 9,
            "{pmd:?}"
        );
        ensure!(
            pte.pmem_offset() == 7 * 4096 && pmd.pmem_offset() == 4 << 20,
            "offsets"
        );
        for (entry, zero, empty, is_pmd) in [
            (DaxEntry::zero_page(), true, false, false),
            (DaxEntry::zero_pmd(), true, false, true),
            (DaxEntry::empty(), false, true, false),
            (DaxEntry::empty_pmd(), false, true, true),
        ] {
            ensure!(
                entry.is_zero_page() == zero
                    && entry.is_empty() == empty
                    && entry.is_pmd() == is_pmd
                    && !entry.has_block()
                    && !entry.is_locked()
                    && entry.size() == if is_pmd { PMD_SIZE } else { PTE_SIZE },
                "{entry:?}"
            );
        }
        Ok(())
    }

    /// Blocks too large, misaligned PMDs and contradictory flags are errors.
    pub(crate) fn entry_bad_input_is_an_error() -> Result<(), String> {
        let cases = [
            (
                MAX_BLOCK + 1,
                EntryFlags::empty(),
                EntryError::BlockTooLarge {
                    block: MAX_BLOCK + 1,
                },
            ),
            (
                u64::MAX,
                EntryFlags::PMD,
                EntryError::BlockTooLarge { block: u64::MAX },
            ),
            (
                513,
                EntryFlags::PMD,
                EntryError::MisalignedPmd { block: 513 },
            ),
            (
                0,
                EntryFlags::ZERO_PAGE | EntryFlags::EMPTY,
                EntryError::ZeroAndEmpty,
            ),
            (
                5,
                EntryFlags::ZERO_PAGE,
                EntryError::HasNoBlock {
                    block: 5,
                    flags: EntryFlags::ZERO_PAGE,
                },
            ),
            (
                5,
                EntryFlags::EMPTY,
                EntryError::HasNoBlock {
                    block: 5,
                    flags: EntryFlags::EMPTY,
                },
            ),
        ];
        for (block, flags, want) in cases {
            let got = DaxEntry::new(block, flags);
            ensure!(
                got == Err(want),
                "new({block}, {flags:?}) = {got:?}, want {want:?}"
            );
            ensure!(!want.to_string().is_empty(), "empty message for {want:?}");
        }
        ensure!(
            DaxEntry::pmd(512).is_ok() && DaxEntry::pmd(100).is_err(),
            "pmd alignment"
        );
        Ok(())
    }

    /// `locked`/`unlocked` return copies; `same_block` ignores the lock.
    pub(crate) fn entry_lock_bit_is_a_copy() -> Result<(), String> {
        let entry = DaxEntry::pmd(512).map_err(|e| e.to_string())?;
        let locked = entry.locked();
        ensure!(
            !entry.is_locked() && locked.is_locked(),
            "locked() changed the original"
        );
        ensure!(
            locked.unlocked() == entry,
            "unlocked() did not undo locked()"
        );
        ensure!(
            locked.is_pmd() && locked.block() == 512,
            "lock lost other bits: {locked:?}"
        );
        ensure!(locked.same_block(entry), "same_block must ignore LOCKED");
        let moved = DaxEntry::pmd(1024).map_err(|e| e.to_string())?;
        ensure!(!moved.same_block(entry), "same_block of different blocks");
        ensure!(
            DaxEntry::empty().locked().unlocked() == DaxEntry::empty(),
            "empty lock round trip"
        );
        Ok(())
    }
}
