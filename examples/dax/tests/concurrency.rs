//! DAX.md's concurrency scenarios (6, and 9 under threads): faults,
//! fsyncs and writers racing, stopped at exact points by a gated backend.

use super::scenarios::{stat, wait_until, Outcome, Synced};
use super::{data, ensure, op, rig, rig_with, Rig};
use crate::blocks::BLOCK_SIZE as PAGE;
use crate::bugs::Bugs;
use crate::crash::{CacheModel, SimulatedPmem};
use crate::entry::DaxEntry;
use crate::mapping::DaxError;
use crate::persist::Persist;
use crate::vm::PMD_PAGES;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use xradix::Mark;

/// A backend that can hold a flush or a drain until the test opens the
/// gate, and can make every flush slow: the tests' way to stop fsync at
/// an exact point.
pub(crate) struct Gated {
    inner: Arc<SimulatedPmem>,
    hold_flushes: AtomicBool,
    hold_drains: AtomicU32,
    flush_delay: Duration,
    open: Mutex<bool>,
    opened: Condvar,
    pub(crate) in_flush: AtomicBool,
    pub(crate) in_drain: AtomicBool,
}

impl Gated {
    pub(crate) fn new(inner: Arc<SimulatedPmem>, flush_delay: Duration) -> Arc<Gated> {
        Arc::new(Gated {
            inner,
            hold_flushes: AtomicBool::new(false),
            hold_drains: AtomicU32::new(0),
            flush_delay,
            open: Mutex::new(true),
            opened: Condvar::new(),
            in_flush: AtomicBool::new(false),
            in_drain: AtomicBool::new(false),
        })
    }

    /// Holds every flush (or the next `drains` drains) until `open`.
    pub(crate) fn close(&self, flushes: bool, drains: u32) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.hold_flushes.store(flushes, Ordering::SeqCst);
        self.hold_drains.store(drains, Ordering::SeqCst);
    }

    pub(crate) fn open(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }

    fn hold(&self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        while !*open {
            open = self
                .opened
                .wait(open)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Persist for Gated {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, buf)
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write(offset, data)
    }
    fn flush(&self, offset: u64, len: u64) -> io::Result<()> {
        if self.hold_flushes.load(Ordering::SeqCst) {
            self.in_flush.store(true, Ordering::SeqCst);
            self.hold();
        }
        std::thread::sleep(self.flush_delay);
        self.inner.flush(offset, len)
    }
    fn drain(&self) -> io::Result<()> {
        let held = self
            .hold_drains
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if held {
            self.in_drain.store(true, Ordering::SeqCst);
            self.hold();
        }
        self.inner.drain()
    }
    fn flush_name(&self) -> &'static str {
        "gated simulator"
    }
}

fn gated_rig(bugs: Bugs, delay: Duration) -> (Rig, Arc<Gated>) {
    let mut gate = None;
    let rig = rig_with(bugs, CacheModel::Adr, |sim| {
        let g = Gated::new(sim, delay);
        gate = Some(Arc::clone(&g));
        g
    });
    (rig, gate.expect("gate made"))
}

/// Scenario 6 / bug 12: writeback that slept on a locked entry re-checks
/// it: an entry reallocated meanwhile is skipped, not cleaned.
pub(crate) fn writeback_rechecks_block(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let mm = f.mmap(false);
    op("store", f.store(&mm, 0, &data(0, 1)))?;
    // Hold the entry, as a fault or punch in progress would.
    let entry = f.entry(0).ok_or("no entry")?;
    op(
        "lock",
        f.tree.lock().store(0, xradix::Entry::Value(entry.locked())),
    )?;
    let d = data(0, 2);
    std::thread::scope(|s| {
        let fsync = s.spawn(|| f.fsync());
        wait_until("fsync to sleep on the entry", || {
            stat(&f.stats.entry_waits) >= 1
        })?;
        // Punched and faulted again: a new block, new data, and the marks
        // (DIRTY, and TOWRITE from the fsync's tag) on the new entry.
        let block = f.extents.reallocate(0).ok_or("reallocate")?;
        op("write", r.sim.write(block * PAGE, &d))?;
        let new = op("entry", DaxEntry::pte(block))?;
        op("unlock", f.unlock_entry(&f.tree.lock(), 0, Some(new), true))?;
        op(
            "fsync",
            fsync.join().map_err(|_| "fsync panicked".to_string())?,
        )?;
        Ok::<(), String>(())
    })?;
    op("second fsync", f.fsync())?;
    r.survives_crash(&[(0, d)])
}

/// Scenario 6 / bug 10: a 4 KiB fault sleeping on a locked PMD entry is
/// woken by its unlock (no lost wake-up).
pub(crate) fn pmd_waiter_is_woken(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let (huge, small) = (f.mmap(true), f.mmap(false));
    op("store", f.store(&huge, 512 * PAGE, &data(512, 1)))?;
    let entry = f.entry(512).ok_or("no entry")?;
    op(
        "lock",
        f.tree
            .lock()
            .store(512, xradix::Entry::Value(entry.locked())),
    )?;
    std::thread::scope(|s| {
        let fault = s.spawn(|| f.store(&small, 700 * PAGE, &data(700, 1)));
        wait_until("the fault to sleep", || stat(&f.stats.entry_waits) >= 1)?;
        op(
            "unlock",
            f.unlock_entry(&f.tree.lock(), 512, Some(entry), false),
        )?;
        op(
            "fault",
            fault.join().map_err(|_| "fault panicked".to_string())?,
        )?;
        Ok::<(), String>(())
    })?;
    let lost = stat(&f.stats.lost_wakeups);
    ensure!(
        lost == 0,
        "{lost} lost wake-up(s): the kernel would have hung"
    );
    Ok(())
}

/// Scenario 6: a fault on an entry fsync is flushing waits for it, and
/// its dirt is not lost: the entry is dirty again afterwards.
pub(crate) fn fault_waits_for_fsync(bugs: Bugs) -> Outcome {
    let (r, gate) = gated_rig(bugs, Duration::ZERO);
    let f = &r.file;
    let mm = f.mmap(false);
    op("store", f.store(&mm, 0, &data(0, 1)))?;
    let d = data(0, 2);
    gate.close(true, 0);
    std::thread::scope(|s| {
        let fsync = s.spawn(|| f.fsync());
        wait_until("fsync to flush", || gate.in_flush.load(Ordering::SeqCst))?;
        let store = s.spawn(|| f.store(&mm, 0, &d));
        wait_until("the store's fault to sleep", || {
            stat(&f.stats.entry_waits) >= 1
        })?;
        gate.open();
        op(
            "fsync",
            fsync.join().map_err(|_| "fsync panicked".to_string())?,
        )?;
        op(
            "store",
            store.join().map_err(|_| "store panicked".to_string())?,
        )?;
        Ok::<(), String>(())
    })?;
    ensure!(
        r.marked(0, Mark::DIRTY),
        "the store during fsync left its entry clean"
    );
    op("fsync", f.fsync())?;
    r.survives_crash(&[(0, d)])
}

/// Scenario 6: a second fsync that finds the entry already cleaned by a
/// first one still in flight does not return before that one drained.
pub(crate) fn second_fsync_waits_for_first(bugs: Bugs) -> Outcome {
    let (r, gate) = gated_rig(bugs, Duration::ZERO);
    let f = &r.file;
    let mm = f.mmap(false);
    let d = data(0, 1);
    op("store", f.store(&mm, 0, &d))?;
    gate.close(false, 1);
    let second_done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let first = s.spawn(|| f.fsync());
        wait_until("the first fsync to drain", || {
            gate.in_drain.load(Ordering::SeqCst)
        })?;
        let second = s.spawn(|| {
            let result = f.fsync();
            second_done.store(true, Ordering::SeqCst);
            result
        });
        std::thread::sleep(Duration::from_millis(100));
        let early = second_done.load(Ordering::SeqCst);
        gate.open();
        op("first", first.join().map_err(|_| "panicked".to_string())?)?;
        let second = op("second", second.join().map_err(|_| "panicked".to_string())?)?;
        ensure!(
            second.flushed == 0,
            "the second fsync flushed {}",
            second.flushed
        );
        ensure!(
            !early,
            "the second fsync returned before the first one's drain"
        );
        Ok::<(), String>(())
    })?;
    r.survives_crash(&[(0, d)])
}

/// Scenario 6: fsync terminates while a writer keeps dirtying new pages:
/// it writes back its TOWRITE snapshot, nothing more.
pub(crate) fn fsync_terminates_under_writer(bugs: Bugs) -> Outcome {
    let (r, _gate) = gated_rig(bugs, Duration::from_millis(1));
    let f = &r.file;
    let mm = f.mmap(false);
    for page in 0..64 {
        op("store", f.store(&mm, page * PAGE, &data(page, 1)))?;
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let writer = s.spawn(|| -> Result<u64, DaxError> {
            let mut page = 64;
            while !stop.load(Ordering::SeqCst) && page < 1000 {
                f.store(&mm, page * PAGE, &data(page, 1))?;
                page += 1;
            }
            Ok(page - 64)
        });
        // Let the writer get going, then fsync under it.
        wait_until("the writer", || f.tree.len() > 64)?;
        let report = f.fsync();
        stop.store(true, Ordering::SeqCst);
        op(
            "writer",
            writer.join().map_err(|_| "writer panicked".to_string())?,
        )?;
        let report = op("fsync", report)?;
        ensure!(
            report.flushed <= report.tagged,
            "fsync flushed {} entries but only {} were dirty when it began",
            report.flushed,
            report.tagged
        );
        Ok::<(), String>(())
    })
}

/// Scenarios 6 and 9: threads fault, store and fsync their own pages (PTE
/// and PMD) while another fsyncs the whole file and reads; after a crash
/// every write that an fsync covered is there.
pub(crate) fn concurrent_faults_and_fsync(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let stop = AtomicBool::new(false);
    let results: Vec<Result<Synced, String>> = std::thread::scope(|s| {
        let background = s.spawn(|| -> Result<(), String> {
            let mm = f.mmap(true);
            let mut buf = vec![0u8; PAGE as usize];
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                op("fsync", f.fsync())?;
                op("load", f.load(&mm, (i * 37 % 1536) * PAGE, &mut buf))?;
                i += 1;
            }
            Ok(())
        });
        let workers: Vec<_> = (0..3u64)
            .map(|t| {
                s.spawn(move || -> Result<Synced, String> {
                    let mm = f.mmap(t != 1);
                    let region = t * PMD_PAGES;
                    let mut synced = Vec::new();
                    for round in 0..12u32 {
                        let pages: Vec<u64> = (0..8)
                            .map(|i| region + (u64::from(round) * 53 + i * 61) % PMD_PAGES)
                            .collect();
                        for &page in &pages {
                            op("store", f.store(&mm, page * PAGE, &data(page, round + 1)))?;
                        }
                        op("fsync", f.fsync_range(region * PAGE, PMD_PAGES * PAGE))?;
                        synced.retain(|(p, _): &(u64, Vec<u8>)| !pages.contains(p));
                        synced.extend(pages.iter().map(|&p| (p, data(p, round + 1))));
                    }
                    Ok(synced)
                })
            })
            .collect();
        let results: Vec<Result<Synced, String>> = workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect();
        stop.store(true, Ordering::SeqCst);
        let background = background.join().unwrap_or_else(|_| Err("panicked".into()));
        results
            .into_iter()
            .chain([background.map(|()| Vec::new())])
            .collect()
    });
    let mut synced = Vec::new();
    for result in results {
        synced.extend(result?);
    }
    r.survives_crash(&synced)?;
    let lost = stat(&f.stats.lost_wakeups);
    ensure!(lost == 0, "{lost} lost wake-ups");
    Ok(())
}

/// Threads fault the same few pages (reads and writes, PTE and PMD) and
/// fsync: every fault completes, no wake-up is lost, no entry stays
/// locked, and after a final fsync every store is on the medium.
pub(crate) fn fault_locking_under_threads(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let hot = [0u64, 1, 2, 513, 700, 1100];
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                s.spawn(move || -> Result<(), String> {
                    let mm = f.mmap(t % 2 == 0);
                    let mut buf = vec![0u8; 64];
                    for i in 0..150u64 {
                        let page = hot[((t * 7 + i * 5) % hot.len() as u64) as usize];
                        if (i + t) % 3 == 0 {
                            op("load", f.load(&mm, page * PAGE + 64 * t, &mut buf))?;
                        } else {
                            op(
                                "store",
                                f.store(&mm, page * PAGE + 64 * t, &[t as u8 + 1; 64]),
                            )?;
                        }
                        if i % 25 == 0 {
                            op("fsync", f.fsync())?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        threads
            .into_iter()
            .try_for_each(|t| t.join().unwrap_or_else(|_| Err("thread panicked".into())))
    })?;
    op("fsync", f.fsync())?;
    let lost = stat(&f.stats.lost_wakeups);
    ensure!(lost == 0, "{lost} lost wake-ups");
    let guard = xradix::pin();
    for (index, entry) in f.tree.iter(&guard) {
        let entry = entry.value().ok_or("an item in the tree")?;
        ensure!(!entry.is_locked(), "entry at {index} left locked");
    }
    ensure!(
        r.sim.unpersisted_lines() == 0,
        "{} lines not persisted",
        r.sim.unpersisted_lines()
    );
    Ok(())
}

mod tests {
    use crate::bugs::Bugs;

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

    scenario_tests!(
        writeback_rechecks_block,
        pmd_waiter_is_woken,
        fault_waits_for_fsync,
        second_fsync_waits_for_first,
        fsync_terminates_under_writer,
        concurrent_faults_and_fsync,
        fault_locking_under_threads,
    );
}
