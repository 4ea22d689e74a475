//! DAX.md's concurrency scenarios (6, and 9 under threads): faults,
//! fsyncs and writers racing, stopped at exact points by a gated backend.

use super::scenarios::{stat, wait_until, Outcome, Synced};
use super::{data, ensure, op, rig, rig_with, Rig};
use crate::blocks::BLOCK_SIZE as PAGE;
use crate::bugs::Bugs;
use crate::crash::{CacheModel, SimulatedPmem};
use crate::mapping::{DaxFile, Options};
use crate::persist::Persist;
use crate::sched::{self, Point};
use crate::vm::PMD_PAGES;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;
use rand::rngs::StdRng;
use rand::SeedableRng;
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
    fn flush(&self, offset: u64, len: u64) -> io::Result<u64> {
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
        writeback_rechecks_block_after_refault,
        pmd_waiter_is_woken,
        fault_waits_for_fsync,
        second_fsync_waits_for_first,
        fsync_terminates_under_dirtying_writer,
        fsync_after_punch_split_it,
        concurrent_faults_and_fsync,
        fault_locking_under_threads,
    );

    #[test]
    fn store_through_a_pte_another_thread_faulted() {
        if let Err(e) = super::store_through_mapping_another_thread_faulted(Bugs::empty(), false) {
            panic!("{e}");
        }
    }

    #[test]
    fn store_through_a_pmd_another_thread_faulted() {
        if let Err(e) = super::store_through_mapping_another_thread_faulted(Bugs::empty(), true) {
            panic!("{e}");
        }
    }
}

/// A thread stopped at one scheduling point until the test lets it go: the
/// deterministic half of the [`sched`](crate::sched) hooks.
#[derive(Default)]
pub(crate) struct Park {
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Park {
    /// A hook that parks its thread the first time it reaches `at`.
    pub(crate) fn at(self: &Arc<Park>, at: Point) -> impl FnMut(Point) + 'static {
        let park = Arc::clone(self);
        let mut done = false;
        move |point| {
            if point != at || done {
                return;
            }
            done = true;
            let mut state = park.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = true;
            park.changed.notify_all();
            while !state.1 {
                state = park
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    pub(crate) fn parked(&self) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    pub(crate) fn release(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.changed.notify_all();
    }
}

/// Releases a [`Park`] when dropped, so that a failing test does not leave
/// a thread parked (and the scope joining it for ever).
pub(crate) struct ReleaseOnDrop<'a>(pub(crate) &'a Park);

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> Result<T, String> {
    handle.join().map_err(|_| "a thread panicked".to_string())
}

/// Issue 15, race 1, made deterministic: fsync sleeps on a dirty PMD entry
/// that a punch of its first 16 pages holds locked for the split; the
/// punch splits it, deletes the pieces in the hole and returns before
/// fsync looks again. fsync must still write back the other 496 pieces.
pub(crate) fn fsync_after_punch_split_it(bugs: Bugs) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let huge = f.mmap(true);
    let pages: Vec<(u64, Vec<u8>)> = (0..PMD_PAGES).map(|p| (p, data(p, 1))).collect();
    for (page, d) in &pages {
        op("store", f.store(&huge, page * PAGE, d))?;
    }
    ensure!(f.tree.get_order(0) == 9, "not one PMD entry");
    let (punch_park, fsync_park) = (Arc::new(Park::default()), Arc::new(Park::default()));
    let _release = (ReleaseOnDrop(&punch_park), ReleaseOnDrop(&fsync_park));
    std::thread::scope(|s| {
        let hook = punch_park.at(Point::PunchSplitLocked);
        let punch = s.spawn(move || {
            let _hook = sched::install(hook);
            f.punch_hole(0, 16 * PAGE)
        });
        wait_until("the punch to lock the PMD entry", || punch_park.parked())?;
        let hook = fsync_park.at(Point::EntryWaitWoken);
        let fsync = s.spawn(move || {
            let _hook = sched::install(hook);
            f.fsync()
        });
        wait_until("fsync to sleep on the entry", || {
            stat(&f.stats.entry_waits) >= 1
        })?;
        punch_park.release();
        op("punch", joined(punch)?)?;
        wait_until("fsync to wake", || fsync_park.parked())?;
        fsync_park.release();
        let report = op("fsync", joined(fsync)?)?;
        ensure!(
            report.flushed >= 496,
            "fsync returned Ok having flushed {} of the 496 pieces left",
            report.flushed
        );
        Ok::<(), String>(())
    })?;
    r.survives_crash(&pages[16..])
}

/// Issue 15, race 2, made deterministic: one thread write-faults a page of
/// a mapping it shares with another, and stops after the page is mapped
/// writable; the other stores through the mapping (no fault) and calls
/// fsync. That store must be durable when the fsync returns `Ok`. `huge`:
/// the fault is a 2 MiB one and the other thread stores to another page
/// of the same entry.
pub(crate) fn store_through_mapping_another_thread_faulted(bugs: Bugs, huge: bool) -> Outcome {
    let r = rig(bugs);
    let f = &r.file;
    let mm = f.mmap(huge);
    let (faulted, other) = if huge { (512, 600) } else { (5, 5) };
    let park = Arc::new(Park::default());
    let _release = ReleaseOnDrop(&park);
    let mine = [7u8; 64];
    let theirs = data(other, 1)[..64].to_vec();
    let at = other * PAGE + 64;
    std::thread::scope(|s| {
        let hook = park.at(Point::FaultMapped);
        let mm = &mm;
        let fault = s.spawn(move || {
            let _hook = sched::install(hook);
            f.store(mm, faulted * PAGE, &mine)
        });
        wait_until("the fault to map the page", || park.parked())?;
        ensure!(
            mm.lookup(other).is_some_and(|m| m.writable),
            "the page is not mapped writable yet"
        );
        let waits = stat(&f.stats.entry_waits);
        op("store through the shared mapping", f.store(mm, at, &theirs))?;
        let fsync = s.spawn(|| f.fsync());
        // Either fsync found nothing dirty and returned, or it sleeps on
        // the faulting thread's entry lock.
        wait_until("fsync to return or to wait for the fault", || {
            fsync.is_finished() || stat(&f.stats.entry_waits) > waits
        })?;
        park.release();
        op("fault", joined(fault)?)?;
        op("fsync", joined(fsync)?)?;
        Ok::<(), String>(())
    })?;
    let block = f.extents.lookup(other).ok_or("no block")?;
    let mut rng = StdRng::seed_from_u64(42);
    for image in 0..super::IMAGES {
        let image_bytes = r.sim.crash(&mut rng);
        let off = (block * PAGE + 64) as usize;
        ensure!(
            image_bytes[off..off + 64] == theirs[..],
            "crash image {image} lost a store made before an fsync that returned Ok \
             (through a page another thread's fault had just made writable)"
        );
    }
    Ok(())
}

/// Bug 12 in the state the real paths reach: fsync F1 sleeps on an entry
/// another fsync is flushing; meanwhile the page is punched, its old block
/// is reused by another page, the page is faulted again onto a new block
/// and stored to, and a third fsync F2 tags the new entry TOWRITE. When F1
/// looks again it must not clean the new entry by flushing the old block:
/// F2 would then find nothing to do and return `Ok` over the new store.
pub(crate) fn writeback_rechecks_block_after_refault(bugs: Bugs) -> Outcome {
    let (r, gate) = gated_rig(bugs, Duration::ZERO);
    let f = &r.file;
    let mm = f.mmap(false);
    op("store", f.store(&mm, 0, &data(0, 1)))?;
    op("store", f.store(&mm, PAGE, &data(1, 1)))?;
    let old = f.extents.lookup(0).ok_or("no block")?;
    let (f1_park, f2_park) = (Arc::new(Park::default()), Arc::new(Park::default()));
    let _release = (ReleaseOnDrop(&f1_park), ReleaseOnDrop(&f2_park));
    let d = data(0, 2);
    gate.close(true, 0);
    std::thread::scope(|s| {
        let _open = OpenOnDrop(&gate);
        let f0 = s.spawn(|| f.fsync());
        wait_until("fsync F0 to flush", || gate.in_flush.load(Ordering::SeqCst))?;
        let hook = f1_park.at(Point::EntryWaitWoken);
        let f1 = s.spawn(move || {
            let _hook = sched::install(hook);
            f.fsync()
        });
        wait_until("F1 to sleep on the entry", || {
            stat(&f.stats.entry_waits) >= 1
        })?;
        gate.open();
        wait_until("F1 to wake", || f1_park.parked())?;
        op("punch", f.punch_hole(0, PAGE))?;
        op("store to a hole", f.store(&mm, 5 * PAGE, &data(5, 1)))?;
        ensure!(
            f.extents.lookup(5) == Some(old),
            "the freed block was not reused (page 5 got {:?})",
            f.extents.lookup(5)
        );
        op("store after the punch", f.store(&mm, 0, &d))?;
        let hook = f2_park.at(Point::FsyncTagged);
        let f2 = s.spawn(move || {
            let _hook = sched::install(hook);
            f.fsync()
        });
        wait_until("F2 to tag", || f2_park.parked())?;
        ensure!(r.marked(0, Mark::TOWRITE), "F2 did not tag the new entry");
        f1_park.release();
        wait_until("F1 to take the new entry", || !r.marked(0, Mark::TOWRITE))?;
        f2_park.release();
        op("F2", joined(f2)?)?;
        r.survives_crash(&[(0, d.clone()), (5, data(5, 1))])?;
        op("F1", joined(f1)?)?;
        op("F0", joined(f0)?)?;
        Ok::<(), String>(())
    })
}

/// Opens a [`Gated`] backend when dropped.
struct OpenOnDrop<'a>(&'a Gated);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Scenario 6 / the TOWRITE snapshot, judged by its harm: a writer that
/// dirties new pages ahead of the walk after every batch fsync writes back
/// must not keep fsync going. The writer runs inside fsync's own thread, at
/// the point between batches, so the interleaving is exact; it has a
/// budget of [`WRITER_STEPS`] steps, and an fsync still walking when the
/// budget is spent would have walked for ever.
pub(crate) fn fsync_terminates_under_dirtying_writer(bugs: Bugs) -> Outcome {
    const WRITER_STEPS: u32 = 64;
    const BATCH: u64 = 8;
    let sim = Arc::new(op(
        "device",
        SimulatedPmem::new(super::DEVICE, CacheModel::Adr),
    )?);
    let options = Options {
        bugs,
        batch: BATCH as usize,
        ..Options::default()
    };
    let pmem: Arc<dyn Persist> = sim;
    let f = Arc::new(op("file", DaxFile::new(pmem, 6 << 20, options))?);
    let mm = f.mmap(false);
    for page in 0..64 {
        op("store", f.store(&mm, page * PAGE, &data(page, 1)))?;
    }
    let steps = Arc::new(AtomicU32::new(0));
    let failure = Arc::new(Mutex::new(None::<String>));
    let hook = {
        let (steps, failure, file, mm) = (
            Arc::clone(&steps),
            Arc::clone(&failure),
            Arc::clone(&f),
            Arc::clone(&mm),
        );
        let mut next = 64u64;
        move |point| {
            if point != Point::FsyncBatchDone
                || steps.fetch_add(1, Ordering::SeqCst) >= WRITER_STEPS
            {
                return; // budget spent: the writer stops, fsync may end
            }
            // One batch's worth of new dirty pages, ahead of the walk.
            for _ in 0..BATCH {
                if let Err(e) = file.store(&mm, next * PAGE, &data(next, 1)) {
                    failure
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert(e.to_string());
                }
                next += 1;
            }
        }
    };
    let report = {
        let _hook = sched::install(hook);
        op("fsync", f.fsync())?
    };
    if let Some(e) = failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(format!("writer: {e}"));
    }
    let steps = steps.load(Ordering::SeqCst);
    ensure!(
        steps < WRITER_STEPS,
        "fsync was still walking when the writer had spent its whole budget of \
         {WRITER_STEPS} steps ({} pages dirtied behind it, {} entries flushed): \
         under a writer that never stops it would never return",
        u64::from(WRITER_STEPS) * BATCH,
        report.flushed
    );
    ensure!(
        report.flushed == 64,
        "fsync flushed {} entries; 64 were dirty when it began",
        report.flushed
    );
    Ok(())
}
