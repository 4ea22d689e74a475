//! Deliberately wrong variants of the DAX path, one per historical bug.
//!
//! fs/dax.c reached its present shape through a string of data-loss and
//! hang bugs (DAX.md lists them). Each flag below switches one of them back
//! on, at the exact spot the kernel got it wrong, so that a test can show
//! the crash simulator (or an assertion) catching it — and the same test
//! with the flag off passing. That is the evidence that the tests test
//! something: a crash test that cannot fail proves nothing.
//!
//! Every flag is off by default. The command switches on those whose
//! data loss its crash check shows (`--bug NAME`, [`COMMAND_BUGS`]); the
//! rest need a scenario the command's workloads do not stage (an injected
//! flush error, two threads racing at one exact point, a hang), and their
//! tests show them.

use crate::workload::Workload;
use bitflags::bitflags;

bitflags! {
    /// Which historical bugs to reproduce. Empty (all off) by default.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub(crate) struct Bugs: u32 {
        /// DAX.md bug 1 (before Sept 2016): writeback never clears DIRTY, so
        /// every fsync flushes everything ever written; fsync cost grows
        /// without bound.
        const NEVER_CLEAR_DIRTY = 1 << 0;
        /// Bug 2 ("dax: wrprotect pmd_t in dax_mapping_entry_mkclean", Dec
        /// 2016): writeback leaves PMD mappings writable, so a later store
        /// does not fault, the entry is not re-dirtied, and the next fsync
        /// skips it.
        const NO_WRPROTECT_PMD = 1 << 1;
        /// Bug 3 ("dax: fix missing writeprotect the pte entry", 2022): for
        /// a PMD entry, only PMD mappings are write-protected; another
        /// process mapping a 4 KiB window of it with a PTE keeps writing
        /// unseen.
        const NO_WRPROTECT_PTE_OF_PMD = 1 << 2;
        /// Bug 4 ("fix cache flush on PMD-mapped pages", 2022): writeback
        /// flushes only the first 4 KiB of a 2 MiB entry.
        const FLUSH_FIRST_4K_ONLY = 1 << 3;
        /// Bug 5 ("Invalidate DAX radix tree entries only if appropriate",
        /// 2016): invalidation (after write(2) allocates blocks) deletes
        /// dirty entries too, so fsync misses data stored through mmap.
        const INVALIDATE_DIRTY = 1 << 4;
        /// Bug 6 (the Jan–Feb 2016 thread this project started from): a
        /// hole punched inside a dirty PMD entry deletes the whole entry
        /// and frees the whole extent, instead of splitting it.
        const PUNCH_DELETES_WHOLE_PMD = 1 << 5;
        /// Bug 12: after waiting for a locked entry, writeback does not
        /// check that the entry still maps the block it remembered, and
        /// flushes a stale block while cleaning the new entry.
        const NO_PFN_RECHECK = 1 << 6;
        /// A writeback that skips the cache flush altogether (the simplest
        /// way to lose data; shows the crash simulator can fail).
        const SKIP_FLUSH = 1 << 7;
        /// Bug 14 (2017): a flush error is not recorded in the mapping, so
        /// fsync reports success over data that never reached the medium.
        const NO_ERROR_RECORD = 1 << 8;
        /// Bug 8 (2017, generic/428): write(2) allocating blocks under a
        /// hole mapped to the zero page does not unmap it; mmap readers
        /// keep seeing zeros.
        const STALE_ZERO_PAGE = 1 << 9;
        /// Bug 10 (2019, the RocksDB hang): a waiter for a PMD entry
        /// sleeps on the faulting index instead of the PMD-aligned one, so
        /// the unlock's wake-up never reaches it.
        const PMD_WAIT_UNALIGNED = 1 << 10;
        /// Bug 13 (2018, generic/503): truncate and hole punch free blocks
        /// that are still pinned for DMA.
        const IGNORE_PINS = 1 << 11;
        /// Bug 11: the first DAX fsync patch used the byte offset as the
        /// page index and had no end bound.
        const BYTE_OFFSET_AS_INDEX = 1 << 12;
        /// Bug 11, second half: a range starting inside a PMD entry
        /// flushes from the range start instead of the entry start, yet
        /// cleans the whole entry.
        const MID_PMD_FLUSH_FROM_RANGE_START = 1 << 13;
        /// Walk DIRTY instead of the TOWRITE snapshot: a process that keeps
        /// dirtying pages ahead of the walk keeps fsync going.
        const NO_TOWRITE_SNAPSHOT = 1 << 14;
        /// Issue 15, race 1: after sleeping on a locked entry that is then
        /// gone or reallocated, writeback resumes past the *old* entry's
        /// end instead of at the index it waited on. When a punch split a
        /// dirty PMD entry and deleted only the pieces in the hole, the
        /// other pieces keep DIRTY and TOWRITE and this fsync skips them
        /// all, yet returns `Ok`.
        const RESUME_PAST_WAITED_ENTRY = 1 << 15;
        /// Issue 15, race 2: a write fault makes the page writable before
        /// it marks the entry DIRTY (which it then does only when it stores
        /// the entry back unlocked). Another thread sharing the mapping
        /// stores through it and calls fsync, which finds nothing dirty
        /// and returns `Ok` over the store. The kernel's `dax_insert_entry`
        /// sets the mark, under the tree lock with the entry locked,
        /// before the page-table entry is made writable.
        const WRITABLE_BEFORE_DIRTY = 1 << 16;
    }
}

/// A bug the command line can switch on (`--bug NAME`): its name, what it
/// does, and the workload that shows it (the default with `--bug`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CommandBug {
    pub(crate) name: &'static str,
    pub(crate) bug: Bugs,
    pub(crate) workload: Workload,
    pub(crate) what: &'static str,
}

/// The bugs whose data loss the command's crash check shows.
pub(crate) const COMMAND_BUGS: &[CommandBug] = &[
    CommandBug {
        name: "skip-flush",
        bug: Bugs::SKIP_FLUSH,
        workload: Workload::Seq,
        what: "writeback flushes no cache line at all",
    },
    CommandBug {
        name: "flush-first-4k-only",
        bug: Bugs::FLUSH_FIRST_4K_ONLY,
        workload: Workload::Pmd,
        what: "a 2 MiB entry is flushed only for its first 4 KiB (2022)",
    },
    CommandBug {
        name: "no-wrprotect-pmd",
        bug: Bugs::NO_WRPROTECT_PMD,
        workload: Workload::Pmd,
        what: "writeback leaves 2 MiB mappings writable, so later stores go unseen (2016)",
    },
    CommandBug {
        name: "byte-offset-as-index",
        bug: Bugs::BYTE_OFFSET_AS_INDEX,
        workload: Workload::Seq,
        what: "ranged fsync takes the byte offset for the page index (the first DAX fsync patch)",
    },
];

/// The bug named `name` on the command line.
pub(crate) fn command_bug(name: &str) -> Option<&'static CommandBug> {
    COMMAND_BUGS.iter().find(|b| b.name == name)
}
