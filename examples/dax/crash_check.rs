//! The command's crash check: the run's workload replayed through the
//! crash simulator, cut at hundreds of points, every cut checked for the
//! data fsync promised.
//!
//! ```text
//!  the run (real file)            the replay (crash.rs, same seed)
//!  stores, flushes, fences  ──►  count N events      each worker in turn
//!                                  │                  │ every store, flush, fence
//!                                  ▼                  ▼ is an event
//!                        IMAGES cut points in 1..=N ─► at a cut point: draw a crash
//!                                                      image, check every page
//!                                                      whose fsync (or write(2))
//!                                                      returned is in it
//! ```
//!
//! Re-reading the file after the run (the `verify` line) shows the data
//! path works, not that fsync makes data durable: the page cache keeps
//! stores that no flush wrote back. The crash simulator does show it, so
//! the command replays its workload through one: the same plan and seed,
//! each worker's operations in the order that worker did them, the
//! workers one after another on one thread (so the replay is the same on
//! every run, and at every instant the check knows exactly which content
//! of each page an fsync has returned for). The flush method of the run is
//! kept: cache lines for CLWB and friends, whole pages for msync, nothing
//! for `--flush none`. So are the bugs switched on with `--bug`.
//!
//! # What a cut checks
//!
//! A cut is taken just before the replay's k-th store, flush or fence (the
//! cut points spread at random over the count of the real run's events),
//! as [`SimulatedPmem::crash_lines`]: a crash image that differs from the
//! durable image only in the lines with unpersisted data. It has *lost
//! fsynced data* if some page whose last content an fsync (or a write(2)
//! or DMA write, which are durable on return) has returned for, and not
//! stored to since, reads differently in it; it has *lost unsynced data*
//! if some line in it lacks a store that loads saw. A check that never
//! loses unsynced data proves nothing, so the report gives both counts.
//!
//! # Cost
//!
//! A whole image per cut would be a copy of the device; instead each cut
//! draws only the lines pending, and of those only the blocks that can
//! still change its answers (once an image is known to lose unsynced data,
//! unsynced blocks are passed over; once it loses fsynced data, synced
//! ones). The durable image changes only where a fence writes back, so a
//! synced page is compared with its content when it becomes synced and
//! again only when a fence wrote its block back. The simulator keeps one
//! copy of the device, plus the 4 KiB groups with lines pending. What is
//! left is the DAX path itself, replayed over memory on one thread: on the
//! default 64 MiB run it costs less than the run's own wall time (the
//! `crash` line prints both). The device is at most [`MAX_DEVICE`] (a
//! larger run replays its plan on a file of that size).

use crate::blocks::BLOCK_SIZE;
use crate::bugs::Bugs;
use crate::crash::{CacheModel, SimulatedPmem};
use crate::flush::FlushMethod;
use crate::mapping::{DaxFile, Options};
use crate::persist::{Persist, CACHE_LINE};
use crate::pmem::PAGE_SIZE;
use crate::workload::{fill_page, Observer, Plan};
use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use indicatif::ProgressBar;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Crash images a check draws.
pub(crate) const IMAGES: usize = 200;

/// The largest device the replay simulates (the simulator keeps a copy of
/// it in memory).
pub(crate) const MAX_DEVICE: u64 = 256 << 20;

/// What the check found.
#[derive(Debug, Default)]
pub(crate) struct CrashReport {
    /// Images drawn.
    pub(crate) images: usize,
    /// Images missing data an fsync had returned for.
    pub(crate) fsynced_lost: usize,
    /// Images missing some store that no fsync had covered yet.
    pub(crate) unsynced_lost: usize,
    /// The first loss of fsynced data, described.
    pub(crate) first_loss: Option<String>,
    /// Stores, flushes and fences of the replay.
    pub(crate) events: u64,
    /// Bytes of the simulated device.
    pub(crate) device: u64,
    /// Wall time of the replay and the check.
    pub(crate) elapsed: Duration,
}

/// A [`Persist`] that counts stores, flushes and fences, for the cut
/// points of the replay.
pub(crate) struct Counting {
    inner: Arc<dyn Persist>,
    events: AtomicU64,
}

impl Counting {
    pub(crate) fn new(inner: Arc<dyn Persist>) -> Counting {
        Counting {
            inner,
            events: AtomicU64::new(0),
        }
    }

    /// Stores, flushes and fences so far.
    pub(crate) fn events(&self) -> u64 {
        // Relaxed: read after the workers are joined.
        self.events.load(Ordering::Relaxed)
    }

    fn count(&self, n: u64) {
        self.events.fetch_add(n, Ordering::Relaxed);
    }
}

impl Persist for Counting {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.count(1);
        self.inner.write(offset, data)
    }

    fn write_durable(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        // What the replay counts for it: a store and a flush.
        self.count(2);
        self.inner.write_durable(offset, data)
    }

    fn flush(&self, offset: u64, len: u64) -> io::Result<u64> {
        self.count(1);
        self.inner.flush(offset, len)
    }

    fn drain(&self) -> io::Result<()> {
        self.count(1);
        self.inner.drain()
    }

    fn flush_name(&self) -> &'static str {
        self.inner.flush_name()
    }
}

/// How the replay is set up.
pub(crate) struct Setup {
    pub(crate) plan: Plan,
    pub(crate) bugs: Bugs,
    /// The run's flush method, emulated on the simulator.
    pub(crate) method: FlushMethod,
    /// Bytes of the run's device; the replay's is at most [`MAX_DEVICE`].
    pub(crate) device: u64,
    /// Stores, flushes and fences of the run (cut points spread over them).
    pub(crate) events: u64,
    pub(crate) progress: Option<ProgressBar>,
}

/// Replays `setup.plan` through the crash simulator and checks
/// [`IMAGES`] crash images cut from it (see the module documentation).
pub(crate) fn check(setup: Setup) -> Result<CrashReport, String> {
    let started = Instant::now();
    let region = crate::vm::PMD_PAGES * BLOCK_SIZE;
    let device = setup.device.min(MAX_DEVICE) / region * region;
    let sim = Arc::new(
        SimulatedPmem::new(device as usize, CacheModel::Adr)
            .map_err(|e| format!("simulated device: {e}"))?,
    );
    let mut rng = SmallRng::seed_from_u64(setup.plan.seed ^ 0xc4a5_11c8);
    // Scale the run's count to the replay's device, then spread the cuts.
    let scaled = u128::from(setup.events) * u128::from(device) / u128::from(setup.device.max(1));
    let events = u64::try_from(scaled).unwrap_or(u64::MAX).max(1);
    let mut schedule: Vec<u64> = (0..IMAGES).map(|_| rng.random_range(1..=events)).collect();
    schedule.sort_unstable();
    let cuts = Arc::new(Cuts {
        state: Mutex::new(CutState {
            sim: Arc::clone(&sim),
            seed: setup.plan.seed,
            events: 0,
            schedule,
            next: 0,
            rng,
            unsynced: BTreeMap::new(),
            synced: Dense::default(),
            by_block: Dense::default(),
            recheck: Queue::default(),
            durable_bad: BTreeSet::new(),
            drained: Vec::new(),
            report: CrashReport {
                device,
                ..CrashReport::default()
            },
            progress: setup.progress,
            page: vec![0; BLOCK_SIZE as usize],
            want: vec![0; BLOCK_SIZE as usize],
        }),
    });
    let recorder = Recorder {
        sim,
        method: setup.method,
        cuts: Arc::clone(&cuts),
    };
    let file_size = (device / region).saturating_sub(1) * region;
    let options = Options {
        bugs: setup.bugs,
        ..Options::default()
    };
    let file =
        DaxFile::new(Arc::new(recorder), file_size, options).map_err(|e| format!("replay: {e}"))?;
    crate::workload::replay(&file, setup.plan, &*cuts).map_err(|e| format!("replay: {e}"))?;
    let mut state = cuts.lock();
    // Cut points past the replay's end: crashes after the last fsync.
    while state.next < state.schedule.len() {
        state.next += 1;
        state.cut();
    }
    if let Some(bar) = &state.progress {
        bar.finish_and_clear();
    }
    let mut report = core::mem::take(&mut state.report);
    report.events = state.events;
    // Giving the simulated device's memory back is part of the cost.
    drop(state);
    drop(file);
    drop(cuts);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The replay's backend: the crash simulator, flushing as the run's method
/// does, with a cut taken before an event when one is due.
struct Recorder {
    sim: Arc<SimulatedPmem>,
    method: FlushMethod,
    cuts: Arc<Cuts>,
}

impl Recorder {
    /// Counts an event; takes the cuts that are due before it.
    fn event(&self) {
        self.cuts.lock().event();
    }
}

impl Persist for Recorder {
    fn len(&self) -> u64 {
        self.sim.len()
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.sim.read(offset, buf)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.event();
        self.sim.write(offset, data)
    }

    fn write_durable(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write(offset, data)?;
        self.flush(offset, data.len() as u64).map(drop)
    }

    fn flush(&self, offset: u64, len: u64) -> io::Result<u64> {
        self.event();
        let range = match self.method {
            // A fence-only method writes nothing back.
            FlushMethod::FenceOnly => return Ok(0),
            // msync writes back whole pages.
            FlushMethod::Msync => {
                let start = offset / PAGE_SIZE * PAGE_SIZE;
                let end = offset.saturating_add(len).div_ceil(PAGE_SIZE) * PAGE_SIZE;
                start..end.min(self.sim.len())
            }
            _ => offset..offset.saturating_add(len),
        };
        self.sim.flush(range.start, range.end - range.start)
    }

    fn drain(&self) -> io::Result<()> {
        self.event();
        // The simulator's 4 KiB groups are blocks.
        const _: () = assert!(BLOCK_SIZE == PAGE_SIZE);
        let written_back = self.sim.drain_groups();
        let mut state = self.cuts.lock();
        state
            .drained
            .extend(written_back.into_iter().map(|g| g as u64));
        Ok(())
    }

    fn flush_name(&self) -> &'static str {
        self.method.name()
    }
}

/// The check's state, shared by the backend (cuts) and the workload
/// (what each page holds).
struct Cuts {
    state: Mutex<CutState>,
}

impl Cuts {
    fn lock(&self) -> MutexGuard<'_, CutState> {
        // Every update completes before the guard drops.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A page an fsync has returned for: its content's version and its block.
#[derive(Clone, Copy, Debug)]
struct Synced {
    version: u32,
    block: u64,
}

struct CutState {
    sim: Arc<SimulatedPmem>,
    seed: u64,
    /// Events so far, and the events before which to cut.
    events: u64,
    schedule: Vec<u64>,
    next: usize,
    rng: SmallRng,
    /// Pages stored since their last fsync, with the version stored.
    unsynced: BTreeMap<u64, u32>,
    /// Pages whose content is durable by an fsync's word, by page; and the
    /// same by block.
    synced: Dense<Synced>,
    by_block: Dense<u64>,
    /// Synced pages whose durable image must be compared again.
    recheck: Queue,
    /// Synced pages whose durable image differs from their content.
    durable_bad: BTreeSet<u64>,
    /// Blocks a fence wrote back since the last cut: the only places the
    /// durable image can have changed. (A flush of a range covers clean
    /// lines too, whole 2 MiB entries for a PMD: only the lines written
    /// back count, or every fsync would send whole synced extents to be
    /// compared again.)
    drained: Vec<u64>,
    report: CrashReport,
    progress: Option<ProgressBar>,
    /// Scratch pages.
    page: Vec<u8>,
    want: Vec<u8>,
}

impl CutState {
    fn event(&mut self) {
        self.events += 1;
        while self.schedule.get(self.next) == Some(&self.events) {
            self.next += 1;
            self.cut();
        }
    }

    /// Draws one crash image now and checks it.
    fn cut(&mut self) {
        // The durable image changed only where a fence wrote.
        for block in core::mem::take(&mut self.drained) {
            if let Some(page) = self.by_block.get(block) {
                self.recheck.insert(page);
            }
        }
        for page in self.recheck.take() {
            let Some(synced) = self.synced.get(page) else {
                continue;
            };
            if self.durable_page(page, synced) {
                self.durable_bad.remove(&page);
            } else {
                self.durable_bad.insert(page);
            }
        }
        // A synced page reads as the durable image except where the crash
        // drew a pending line. Where the durable image is right, only
        // those lines can be wrong; a page whose durable image is wrong is
        // lost unless pending lines cover every wrong word, which takes a
        // full comparison (only bugs get there).
        let lines_per_block = BLOCK_SIZE as usize / CACHE_LINE;
        let sim = Arc::clone(&self.sim);
        let mut lost: Option<(u64, u64)> = None;
        let mut bad_lines: BTreeMap<u64, Vec<(usize, [u8; CACHE_LINE])>> = BTreeMap::new();
        let mut current: Option<u64> = None;
        let (seed, want) = (self.seed, &mut self.want);
        let (by_block, synced, durable_bad) = (&self.by_block, &self.synced, &self.durable_bad);
        let synced_page = |block: u64| by_block.get(block);
        // Each answer, once known, stops the draw of the blocks that could
        // only give it again: after a loss of fsynced data the synced
        // blocks, after a loss of unsynced data the others. A correct run
        // never loses fsynced data, so every synced line is drawn in every
        // image; the unsynced ones are most of what is pending, and the
        // first one drawn usually answers for them (a dirty line keeps its
        // store only if all 8 of its words do).
        let condemned = Cell::new(false);
        let unsynced_lost = Cell::new(false);
        // The simulator skips by its 4 KiB pages: blocks.
        const _: () = assert!(BLOCK_SIZE == PAGE_SIZE);
        let skip = |block: usize| match synced_page(block as u64) {
            Some(_) => condemned.get(),
            None => unsynced_lost.get(),
        };
        sim.crash_visit(&mut self.rng, skip, |line, bytes, lost_store| {
            let block = (line / lines_per_block) as u64;
            match synced_page(block) {
                Some(page) => {
                    let version = synced.get(page).map_or(0, |s| s.version);
                    if current != Some(page) {
                        fill_page(seed, page, version, want);
                        current = Some(page);
                    }
                    let offset = line % lines_per_block * CACHE_LINE;
                    if want[offset..offset + CACHE_LINE] != bytes[..] {
                        lost.get_or_insert((page, block));
                        condemned.set(true);
                    } else if durable_bad.contains(&page) {
                        bad_lines.entry(page).or_default().push((line, *bytes));
                    }
                }
                None => unsynced_lost.set(unsynced_lost.get() | lost_store),
            }
            // Both answers known: the rest of the draw changes neither.
            !(lost.is_some() && unsynced_lost.get())
        });
        let unsynced_lost = unsynced_lost.get();
        // A page whose durable image is wrong, with no line pending to
        // cover it, reads wrong in every image.
        if lost.is_none() {
            lost = self
                .durable_bad
                .iter()
                .find(|page| !bad_lines.contains_key(page))
                .map(|&page| (page, self.synced.get(page).map_or(0, |s| s.block)));
        }
        for (page, lines) in bad_lines {
            if lost.is_some() {
                break;
            }
            let Some(synced) = self.synced.get(page) else {
                continue;
            };
            let at = (synced.block * BLOCK_SIZE) as usize;
            if self.sim.read_durable(at as u64, &mut self.page).is_err() {
                lost = Some((page, synced.block));
                continue;
            }
            for (line, bytes) in lines {
                let offset = line * CACHE_LINE - at;
                self.page[offset..offset + CACHE_LINE].copy_from_slice(&bytes);
            }
            fill_page(self.seed, page, synced.version, &mut self.want);
            if self.page != self.want {
                lost = Some((page, synced.block));
            }
        }
        let report = &mut self.report;
        report.images += 1;
        report.unsynced_lost += usize::from(unsynced_lost);
        if let Some((page, block)) = lost {
            report.fsynced_lost += 1;
            report.first_loss.get_or_insert_with(|| {
                format!(
                    "image {} (a crash before event {}) lacks page {page} (block {block}), which an fsync had returned for",
                    report.images, self.events
                )
            });
        }
        if let Some(bar) = &self.progress {
            bar.inc(1);
        }
    }

    /// Whether the durable image holds `page`'s synced content.
    fn durable_page(&mut self, page: u64, synced: Synced) -> bool {
        fill_page(self.seed, page, synced.version, &mut self.want);
        self.sim
            .durable_equals(synced.block * BLOCK_SIZE, &self.want)
            .unwrap_or(false)
    }

    /// `page` no longer holds the content an fsync returned for.
    fn forget(&mut self, page: u64) {
        if let Some(synced) = self.synced.remove(page) {
            if self.by_block.get(synced.block) == Some(page) {
                self.by_block.remove(synced.block);
            }
            self.durable_bad.remove(&page);
            self.recheck.remove(page);
        }
    }

    /// `page`'s stored content is durable now, at the block the file maps.
    fn settle(&mut self, file: &DaxFile, page: u64, version: u32) {
        if let Some(block) = file.extents.lookup(page) {
            if let Some(old) = self.by_block.insert(block, page) {
                if old != page {
                    // The block moved to another page: the old one's claim
                    // went with its punch, which forgot it already.
                    self.synced.remove(old);
                }
            }
            self.synced.insert(page, Synced { version, block });
            self.recheck.insert(page);
        }
    }
}

impl Observer for Cuts {
    fn changing(&self, page: u64, version: u32) {
        let mut state = self.lock();
        state.forget(page);
        state.unsynced.insert(page, version);
    }

    fn durable(&self, file: &DaxFile, page: u64) {
        let mut state = self.lock();
        if let Some(version) = state.unsynced.remove(&page) {
            state.settle(file, page, version);
        }
    }

    fn fsynced(&self, file: &DaxFile, range: Option<(u64, u64)>) {
        let mut state = self.lock();
        let (first, last) = range.unwrap_or((0, u64::MAX));
        let pages: Vec<(u64, u32)> = state
            .unsynced
            .range(first..=last)
            .map(|(&p, &v)| (p, v))
            .collect();
        for (page, version) in pages {
            state.unsynced.remove(&page);
            state.settle(file, page, version);
        }
    }

    fn punching(&self, first: u64, pages: u64) {
        let mut state = self.lock();
        for page in first..first.saturating_add(pages) {
            state.forget(page);
            state.unsynced.remove(&page);
        }
    }
}

/// A map from page or block numbers to values, kept as a vector: the
/// numbers are dense (below the device's page count), and the replay looks
/// them up at every store, fsync and cut, where a hash map cost more than
/// the lookups it stood for.
struct Dense<T>(Vec<Option<T>>);

impl<T> Default for Dense<T> {
    fn default() -> Dense<T> {
        Dense(Vec::new())
    }
}

impl<T: Copy> Dense<T> {
    fn get(&self, key: u64) -> Option<T> {
        usize::try_from(key)
            .ok()
            .and_then(|k| self.0.get(k))
            .copied()
            .flatten()
    }

    fn insert(&mut self, key: u64, value: T) -> Option<T> {
        let k = usize::try_from(key).unwrap_or(usize::MAX);
        if k >= self.0.len() {
            self.0.resize_with(k + 1, || None);
        }
        self.0[k].replace(value)
    }

    fn remove(&mut self, key: u64) -> Option<T> {
        let k = usize::try_from(key).ok()?;
        self.0.get_mut(k).and_then(Option::take)
    }
}

/// Pages queued for a comparison, each once: a flag per page and the list
/// of pages queued (a removed page keeps its list entry, skipped when the
/// queue is taken).
#[derive(Default)]
struct Queue {
    queued: Vec<bool>,
    list: Vec<u64>,
}

impl Queue {
    fn insert(&mut self, page: u64) {
        let p = usize::try_from(page).unwrap_or(usize::MAX);
        if p >= self.queued.len() {
            self.queued.resize(p + 1, false);
        }
        if !core::mem::replace(&mut self.queued[p], true) {
            self.list.push(page);
        }
    }

    fn remove(&mut self, page: u64) {
        if let Some(queued) = self.queued.get_mut(page as usize) {
            *queued = false;
        }
    }

    /// The pages queued, in the order they were; the queue is empty after.
    fn take(&mut self) -> Vec<u64> {
        let mut list = core::mem::take(&mut self.list);
        list.retain(|&page| core::mem::replace(&mut self.queued[page as usize], false));
        list
    }
}
