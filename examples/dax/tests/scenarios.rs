//! DAX.md's scenarios 2–11 (the concurrent ones are in concurrency.rs),
//! each a function of the bugs switched on.

use super::{data, ensure, op, rig, rig_with};
use crate::blocks::BLOCK_SIZE as PAGE;
use crate::bugs::Bugs;
use crate::crash::CacheModel;
use crate::entry::DaxEntry;
use crate::mapping::{DaxError, Stats};
use crate::vm::PMD_PAGES;
use core::time::Duration;
use std::time::Instant;
use xradix::Mark;

pub(crate) type Outcome = Result<(), String>;

/// Pages and the content an fsync made durable.
pub(crate) type Synced = Vec<(u64, Vec<u8>)>;

pub(crate) fn stat(counter: &core::sync::atomic::AtomicU64) -> u64 {
    Stats::get(counter)
}

/// Waits (up to 10 s) until `cond` holds.
pub(crate) fn wait_until(what: &str, cond: impl Fn() -> bool) -> Outcome {
    let started = Instant::now();
    while !cond() {
        ensure!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Scenario 2: a read fault on a hole maps the zero page (a ZERO_PAGE
/// entry); a write fault replaces it and unmaps the zero page from every
/// process; mmap and read(2) agree.
pub(crate) fn hole_read_then_write_fault(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let (reader, writer) = (f.mmap(false), f.mmap(false));
    let mut buf = vec![1u8; PAGE as usize];
    op("load of a hole", f.load(&reader, 5 * PAGE, &mut buf))?;
    ensure!(buf.iter().all(|&b| b == 0), "a hole did not read as zeros");
    ensure!(
        f.entry(5).is_some_and(DaxEntry::is_zero_page),
        "no zero-page entry: {:?}",
        f.entry(5)
    );
    ensure!(
        stat(&f.stats.zero_faults) == 1,
        "zero faults {}",
        stat(&f.stats.zero_faults)
    );
    let d = data(5, 1);
    op("store", f.store(&writer, 5 * PAGE, &d))?;
    let entry = f.entry(5).ok_or("entry gone after the write fault")?;
    ensure!(
        entry.has_block() && !entry.is_zero_page(),
        "write fault left {entry:?}"
    );
    ensure!(r.marked(5, Mark::DIRTY), "write fault did not set DIRTY");
    ensure!(
        reader.lookup(5).is_none(),
        "the reader still maps the zero page"
    );
    op("load", f.load(&reader, 5 * PAGE, &mut buf))?;
    ensure!(buf == d, "mmap load after the write differs");
    op("read(2)", f.read(5 * PAGE, &mut buf))?;
    ensure!(buf == d, "read(2) and mmap disagree");
    Ok(())
}

/// Scenario 2 / bug 8: write(2) that allocates under a mapped hole must
/// unmap the zero page, or mmap keeps reading zeros.
pub(crate) fn write_syscall_over_mapped_hole(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let reader = f.mmap(false);
    let mut buf = vec![1u8; PAGE as usize];
    op("load of a hole", f.load(&reader, 9 * PAGE, &mut buf))?;
    let d = data(9, 1);
    op("write(2)", f.write(9 * PAGE, &d))?;
    op("load", f.load(&reader, 9 * PAGE, &mut buf))?;
    ensure!(
        buf == d,
        "mmap reads stale zeros after write(2) filled the hole"
    );
    r.survives_crash(&[(9, d)])
}

/// Scenario 3: a write fault sets DIRTY; fsync flushes exactly the dirty
/// entries, clears both marks and write-protects; a second fsync flushes
/// nothing; a store after fsync re-faults and re-dirties.
pub(crate) fn fsync_cleans_and_write_protects(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let (small, huge) = (f.mmap(false), f.mmap(true));
    let mut pages = Vec::new();
    for page in 0..8 {
        let d = data(page, 1);
        op("store", f.store(&small, page * PAGE, &d))?;
        pages.push((page, d));
    }
    let d = data(512, 1);
    op("store", f.store(&huge, 512 * PAGE, &d))?;
    pages.push((512, d));
    ensure!(
        f.dirty_entries() == 9,
        "{} dirty entries, want 9",
        f.dirty_entries()
    );
    let first = op("fsync", f.fsync())?;
    r.survives_crash(&pages)?;
    ensure!(
        first.flushed == 9 && first.bytes == 8 * PAGE + PMD_PAGES * PAGE,
        "first fsync flushed {} entries, {} bytes",
        first.flushed,
        first.bytes
    );
    ensure!(
        !f.tree.has_mark(Mark::DIRTY) && !f.tree.has_mark(Mark::TOWRITE),
        "marks left after fsync"
    );
    ensure!(
        small.writable_mappings() == (0, 0) && huge.writable_mappings() == (0, 0),
        "writable mappings left: {:?} {:?}",
        small.writable_mappings(),
        huge.writable_mappings()
    );
    let second = op("fsync", f.fsync())?;
    ensure!(
        second.flushed == 0,
        "a second fsync flushed {} entries",
        second.flushed
    );
    let faults = stat(&f.stats.pte_faults);
    let d = data(3, 2);
    op("store", f.store(&small, 3 * PAGE, &d))?;
    ensure!(
        stat(&f.stats.pte_faults) == faults + 1,
        "a store after fsync did not fault"
    );
    ensure!(r.marked(3, Mark::DIRTY), "the re-fault did not re-dirty");
    let third = op("fsync", f.fsync())?;
    ensure!(third.flushed == 1, "third fsync flushed {}", third.flushed);
    r.survives_crash(&[(3, d)])
}

/// Scenario 9: a whole dirty PMD entry written and fsynced survives
/// every crash.
pub(crate) fn pmd_write_fsync_crash(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let huge = f.mmap(true);
    let mut pages = Vec::new();
    for page in 0..PMD_PAGES {
        let d = data(page, 1);
        op("store", f.store(&huge, page * PAGE, &d))?;
        pages.push((page, d));
    }
    ensure!(
        f.tree.len() == 1 && f.tree.get_order(0) == 9,
        "not one PMD entry"
    );
    op("fsync", f.fsync())?;
    r.survives_crash(&pages)?;
    ensure!(
        r.sim.unpersisted_lines() == 0,
        "{} lines unpersisted",
        r.sim.unpersisted_lines()
    );
    Ok(())
}

/// Scenario 4: a ranged fsync flushes the range and leaves dirty entries
/// outside it dirty.
pub(crate) fn ranged_fsync(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let mm = f.mmap(false);
    let pages: Vec<(u64, Vec<u8>)> = (0..16).map(|p| (p, data(p, 1))).collect();
    for (page, d) in &pages {
        op("store", f.store(&mm, page * PAGE, d))?;
    }
    let report = op("fsync_range", f.fsync_range(4 * PAGE, 4 * PAGE))?;
    r.survives_crash(&pages[4..8])?;
    ensure!(
        report.flushed == 4,
        "ranged fsync flushed {}",
        report.flushed
    );
    for (page, _) in &pages {
        let inside = (4..8).contains(page);
        ensure!(
            r.marked(*page, Mark::DIRTY) != inside,
            "page {page}: DIRTY is {} after a fsync of pages 4..8",
            r.marked(*page, Mark::DIRTY)
        );
    }
    ensure!(
        r.can_lose(&pages[..1]),
        "a page outside the range survived every crash"
    );
    Ok(())
}

/// Scenario 4 / bug 11: a range starting inside a PMD entry flushes the
/// whole entry, so a later whole-file fsync may skip it.
pub(crate) fn mid_pmd_fsync(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let huge = f.mmap(true);
    let pages: Vec<(u64, Vec<u8>)> = (0..PMD_PAGES).map(|p| (p, data(p, 1))).collect();
    for (page, d) in &pages {
        op("store", f.store(&huge, page * PAGE, d))?;
    }
    let ranged = op("fsync_range", f.fsync_range(100 * PAGE + 10, 10 * PAGE))?;
    let whole = op("fsync", f.fsync())?;
    r.survives_crash(&pages)?;
    ensure!(
        ranged.flushed == 1 && ranged.bytes == PMD_PAGES * PAGE,
        "mid-PMD fsync flushed {} entries, {} bytes",
        ranged.flushed,
        ranged.bytes
    );
    ensure!(
        whole.flushed == 0,
        "the whole-file fsync found {} dirty",
        whole.flushed
    );
    Ok(())
}

/// Scenario 5: PMD entries: an aligned fault makes one order-9 entry; a
/// PTE fault inside it dirties it; a PMD fault over PTEs falls back; a PTE
/// fault under a zero PMD downgrades it.
pub(crate) fn pmd_entries(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let (huge, small) = (f.mmap(true), f.mmap(false));
    op("store", f.store(&huge, 700 * PAGE, &data(700, 1)))?;
    let entry = f.entry(700).ok_or("no entry")?;
    ensure!(
        entry.is_pmd() && f.tree.get_order(700) == 9,
        "not a PMD entry: {entry:?}"
    );
    ensure!(
        f.tree.len() == 1 && r.marked(512, Mark::DIRTY),
        "len {} or not dirty",
        f.tree.len()
    );
    ensure!(
        huge.lookup(700).is_some_and(|m| m.huge && m.writable),
        "not PMD-mapped"
    );
    op("fsync", f.fsync())?;
    op("store", f.store(&small, 800 * PAGE, &data(800, 1)))?;
    ensure!(
        f.entry(800) == Some(entry),
        "PTE fault changed the PMD entry"
    );
    ensure!(
        r.marked(512, Mark::DIRTY),
        "PTE fault inside the PMD did not dirty it"
    );
    ensure!(
        small.lookup(800).is_some_and(|m| !m.huge && m.writable),
        "no PTE mapping"
    );

    op("store", f.store(&small, 1030 * PAGE, &data(1030, 1)))?;
    op("store", f.store(&huge, 1100 * PAGE, &data(1100, 1)))?;
    ensure!(
        f.tree.get_order(1100) == 0,
        "PMD fault over PTEs made order {}",
        f.tree.get_order(1100)
    );
    ensure!(stat(&f.stats.pmd_fallbacks) >= 1, "no fallback counted");

    let mut buf = vec![1u8; PAGE as usize];
    op("load", f.load(&huge, 20 * PAGE, &mut buf))?;
    let zero = f.entry(20).ok_or("no zero PMD")?;
    ensure!(
        zero.is_pmd() && zero.is_zero_page(),
        "read fault made {zero:?}"
    );
    op("store", f.store(&small, 30 * PAGE, &data(30, 1)))?;
    ensure!(stat(&f.stats.downgrades) == 1, "no downgrade");
    ensure!(
        f.entry(20).is_none() && f.tree.get_order(30) == 0,
        "zero PMD not replaced"
    );
    ensure!(huge.lookup(20).is_none(), "zero PMD still mapped");
    op("load", f.load(&huge, 20 * PAGE, &mut buf))?;
    ensure!(buf.iter().all(|&b| b == 0), "hole after downgrade not zero");
    op("load", f.load(&huge, 30 * PAGE, &mut buf))?;
    ensure!(buf == data(30, 1), "data after downgrade differs");
    Ok(())
}

/// Scenario 7: two processes map one PMD entry, one with a PMD, one with
/// a 4 KiB window; fsync write-protects both, and later stores through
/// either are flushed by the next fsync.
pub(crate) fn two_mappings(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let (huge, small) = (f.mmap(true), f.mmap(false));
    op("store", f.store(&huge, 0, &data(0, 1)))?;
    op("store", f.store(&small, 5 * PAGE, &data(5, 1)))?;
    op("fsync", f.fsync())?;
    // Only the 4 KiB window stores, to the page it already maps: its PTE
    // must have been write-protected, so the store faults and re-dirties.
    let d5 = data(5, 2);
    op("store", f.store(&small, 5 * PAGE, &d5))?;
    op("fsync", f.fsync())?;
    r.survives_crash(&[(5, d5)])?;
    // Only the PMD mapping stores.
    let d1 = data(1, 3);
    op("store", f.store(&huge, PAGE, &d1))?;
    op("fsync", f.fsync())?;
    r.survives_crash(&[(1, d1)])?;
    ensure!(
        huge.writable_mappings() == (0, 0) && small.writable_mappings() == (0, 0),
        "writable after fsync: huge {:?}, small {:?}",
        huge.writable_mappings(),
        small.writable_mappings()
    );
    Ok(())
}

/// Scenario 8 / bug 6: a hole punched inside a dirty PMD entry splits it;
/// the pieces outside the hole stay dirty and the next fsync keeps them.
pub(crate) fn punch_inside_dirty_pmd(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let huge = f.mmap(true);
    let pages: Vec<(u64, Vec<u8>)> = (0..PMD_PAGES).map(|p| (p, data(p, 1))).collect();
    for (page, d) in &pages {
        op("store", f.store(&huge, page * PAGE, d))?;
    }
    let punched: Vec<u64> = (100..110)
        .map(|p| f.extents.lookup(p).unwrap_or(0))
        .collect();
    op("punch", f.punch_hole(100 * PAGE, 10 * PAGE))?;
    let report = op("fsync", f.fsync())?;
    let kept: Vec<(u64, Vec<u8>)> = pages
        .iter()
        .filter(|(p, _)| !(100..110).contains(p))
        .cloned()
        .collect();
    r.survives_crash(&kept)?;
    ensure!(
        report.flushed == 502,
        "fsync after the punch flushed {}",
        report.flushed
    );
    ensure!(
        f.tree.get_order(0) == 0 && stat(&f.stats.splits) == 1,
        "PMD not split"
    );
    for page in 100..110 {
        ensure!(
            f.entry(page).is_none() && f.extents.lookup(page).is_none(),
            "page {page} left"
        );
    }
    for block in punched {
        ensure!(
            f.extents.allocator().is_free(block),
            "punched block {block} not freed"
        );
    }
    let mut buf = vec![1u8; PAGE as usize];
    op("load", f.load(&huge, 105 * PAGE, &mut buf))?;
    ensure!(buf.iter().all(|&b| b == 0), "punched page not zero");
    op("load", f.load(&huge, 99 * PAGE, &mut buf))?;
    ensure!(buf == pages[99].1, "page next to the hole changed");
    Ok(())
}

/// Scenario 8: truncate removes everything past the new size (splitting
/// a PMD entry across it), zeroes the partial last page, frees the
/// blocks, and faults past the end fail.
pub(crate) fn truncate(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let (huge, small) = (f.mmap(true), f.mmap(false));
    let mut pages: Vec<(u64, Vec<u8>)> = (0..PMD_PAGES).map(|p| (p, data(p, 1))).collect();
    for (page, d) in &pages {
        op("store", f.store(&huge, page * PAGE, d))?;
    }
    for page in 600..610 {
        op("store", f.store(&small, page * PAGE, &data(page, 1)))?;
    }
    let free_before = f.extents.allocator().free_blocks();
    op("truncate", f.truncate(300 * PAGE + 100))?;
    op("fsync", f.fsync())?;
    pages.truncate(301);
    pages[300].1[100..].fill(0);
    r.survives_crash(&pages)?;
    ensure!(
        f.tree.len() == 301,
        "{} entries after truncate, want 301",
        f.tree.len()
    );
    ensure!(
        f.extents.allocator().free_blocks() == free_before + (PMD_PAGES - 301) + 10,
        "blocks not freed"
    );
    let mut buf = vec![0u8; 16];
    ensure!(
        matches!(
            f.load(&small, 400 * PAGE, &mut buf),
            Err(DaxError::OutOfRange { .. })
        ),
        "a load past the end did not fail"
    );
    Ok(())
}

/// Scenario 8 / bug 5: write(2) that allocates blocks invalidates the
/// range, but only clean entries: a page dirtied through mmap keeps its
/// entry and the next fsync flushes it.
pub(crate) fn invalidate_keeps_dirty(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let mm = f.mmap(false);
    let mut page0 = vec![0u8; PAGE as usize];
    page0[..100].copy_from_slice(&data(0, 1)[..100]);
    op("store", f.store(&mm, 0, &page0[..100]))?;
    let tail = [data(1, 7), data(2, 7)].concat();
    op("write(2)", f.write(2000, &tail[..2096 + 4096]))?;
    page0[2000..].copy_from_slice(&tail[..2096]);
    let page1 = tail[2096..2096 + 4096].to_vec();
    op("fsync", f.fsync())?;
    r.survives_crash(&[(0, page0), (1, page1)])?;
    ensure!(stat(&f.stats.invalidate_refused) >= 1, "nothing refused");
    Ok(())
}

/// Scenario 8 / bug 13, judged by its harm: a hole punched over a page
/// pinned for DMA must not free the page's block while the pin lasts, or
/// the device's write lands in whatever page the block is given to next.
/// The punch either waits for the pin (counted in `pin_waits`) or returns;
/// the test goes on from whichever happened, with no timing involved.
pub(crate) fn pinned_page_blocks_punch(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let mm = f.mmap(false);
    op("store", f.store(&mm, 10 * PAGE, &data(10, 1)))?;
    // A neighbour keeps the block group in use, so a freed block is the
    // first one the allocator hands out again.
    op("store", f.store(&mm, 11 * PAGE, &data(11, 1)))?;
    let pin = op("pin", f.pin(&mm, 10))?;
    let dma = data(10, 2);
    let page20 = data(20, 1);
    std::thread::scope(|s| {
        let punch = s.spawn(|| f.punch_hole(10 * PAGE, PAGE));
        wait_until("the punch to wait for the pin, or to return", || {
            punch.is_finished() || stat(&f.stats.pin_waits) >= 1
        })?;
        let freed_while_pinned = punch.is_finished();
        if freed_while_pinned {
            // Another process faults a hole and is given a block.
            op("store", f.store(&mm, 20 * PAGE, &page20))?;
        }
        let written = pin.dma_write(0, &dma);
        drop(pin);
        op("DMA", written)?;
        op(
            "punch",
            punch.join().map_err(|_| "punch panicked".to_string())?,
        )?;
        if !freed_while_pinned {
            op("store", f.store(&mm, 20 * PAGE, &page20))?;
        }
        Ok::<(), String>(())
    })?;
    ensure!(
        f.extents.lookup(10).is_none() && f.entry(10).is_none(),
        "page 10 was not punched"
    );
    let mut got = vec![0u8; PAGE as usize];
    op("read", f.read(20 * PAGE, &mut got))?;
    ensure!(
        got == page20,
        "page 20 holds the DMA write made to pinned page 10: the punch freed \
         the pinned block and it was reused"
    );
    op("fsync", f.fsync())?;
    r.survives_crash(&[(20, page20)])
}

/// Scenario 11 / bug 14: a failing flush makes fsync fail; the entry stays
/// dirty and the next fsync writes it back.
pub(crate) fn flush_error_reported(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let mm = f.mmap(false);
    let d = data(0, 1);
    op("store", f.store(&mm, 0, &d))?;
    r.sim.fail_next_flushes(1);
    let failed = f.fsync();
    ensure!(
        r.can_lose(&[(0, d.clone())]),
        "the failed flush persisted anyway"
    );
    ensure!(
        matches!(failed, Err(DaxError::Writeback(_))),
        "fsync over a failed flush returned {failed:?}"
    );
    ensure!(
        r.marked(0, Mark::DIRTY),
        "entry cleaned despite the failed flush"
    );
    let retry = op("fsync after the error", f.fsync())?;
    ensure!(retry.flushed == 1, "retry flushed {}", retry.flushed);
    r.survives_crash(&[(0, d)])
}

/// Scenario 9: stores not yet fsynced can be lost; on an eADR platform
/// (caches inside the persistence domain) they cannot.
pub(crate) fn unsynced_writes(model: CacheModel) -> Outcome {
    let r = rig_with(Bugs::empty(), model, |sim| sim);
    let f = &r.file;
    let mm = f.mmap(false);
    let d = data(3, 1);
    op("store", f.store(&mm, 3 * PAGE, &d))?;
    let lost = r.can_lose(&[(3, d)]);
    ensure!(
        lost == (model == CacheModel::Adr),
        "{model:?}: unsynced store lost = {lost}"
    );
    Ok(())
}

macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            if let Err(e) = super::$name(Bugs::empty()) {
                panic!("{e}");
            }
        }
    )*};
}

mod tests {
    use crate::bugs::Bugs;
    use crate::crash::CacheModel;

    scenario_tests!(
        hole_read_then_write_fault,
        write_syscall_over_mapped_hole,
        fsync_cleans_and_write_protects,
        pmd_write_fsync_crash,
        ranged_fsync,
        mid_pmd_fsync,
        pmd_entries,
        two_mappings,
        punch_inside_dirty_pmd,
        truncate,
        invalidate_keeps_dirty,
        pinned_page_blocks_punch,
        flush_error_reported,
    );

    #[test]
    fn unsynced_writes_can_be_lost() {
        super::unsynced_writes(CacheModel::Adr).unwrap();
    }

    #[test]
    fn eadr_keeps_unsynced_writes() {
        super::unsynced_writes(CacheModel::Eadr).unwrap();
    }
}
