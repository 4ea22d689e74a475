//! The command's workloads, and the model that verifies them.
//!
//! Each thread owns whole 2 MiB regions of the file (region `r` belongs to
//! thread `r % threads`), or in `shared` every `threads`-th page, so
//! threads never write the same page and each can keep an exact model of
//! its pages: the *version* last written to
//! each (0: never written, or punched). A page's content is a function of
//! its index and version ([`fill_page`]), so verification needs no copy of
//! the data, only the versions.
//!
//! * `seq`    — 4 KiB mappings; every owned page in order; a ranged fsync
//!   of what was written every `--fsync-every` pages.
//! * `pmd`    — huge mappings; every owned page in order, so the first
//!   store in each 2 MiB region takes a PMD fault; whole-file fsyncs.
//! * `random` — 4 KiB mappings; random owned pages.
//! * `punch`  — huge mappings; fill each region, fsync, punch holes in it
//!   (splitting the dirty PMD entry), rewrite some of the punched pages;
//!   at the end, truncate the file in the middle of its last region.
//! * `mixed`  — a huge and a 4 KiB mapping per thread: stores, loads
//!   and read(2)s checked against the model (holes read zeros through the
//!   zero page), write(2), DMA writes to pinned pages, punches, fsyncs.
//! * `shared` — threads of one process: all of them store through the
//!   *same* two mappings (one huge, one 4 KiB) to interleaved pages (page
//!   `p` belongs to thread `p % threads`), so a fault by one thread makes a
//!   2 MiB run writable for all, and each fsyncs the whole file; loads
//!   through either mapping are checked. This is the sharing that issue
//!   15's second race needs: a thread storing through a page another
//!   thread's fault has just made writable, then calling fsync.

use crate::blocks::BLOCK_SIZE;
use crate::fsync::FsyncReport;
use crate::mapping::{DaxError, DaxFile, Stats};
use crate::vm::{Mmap, PMD_PAGES};
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use indicatif::ProgressBar;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

/// Which workload to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Workload {
    /// 4 KiB mappings, every page in order, ranged fsyncs
    Seq,
    /// 4 KiB mappings, random pages
    Random,
    /// 2 MiB mappings, every page in order, whole-file fsyncs
    Pmd,
    /// fill, fsync and punch holes in dirty 2 MiB entries; truncate at the end
    Punch,
    /// stores, loads, read(2), write(2), DMA, punches and fsyncs at random
    Mixed,
    /// every thread stores through the same two mappings
    Shared,
}

impl Workload {
    #[cfg(test)]
    pub(crate) const ALL: [Workload; 6] = [
        Workload::Seq,
        Workload::Random,
        Workload::Pmd,
        Workload::Punch,
        Workload::Mixed,
        Workload::Shared,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Seq => "seq",
            Workload::Random => "random",
            Workload::Pmd => "pmd",
            Workload::Punch => "punch",
            Workload::Mixed => "mixed",
            Workload::Shared => "shared",
        }
    }
}

/// How to run a workload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) workload: Workload,
    pub(crate) threads: usize,
    /// Pages stored by a thread between its fsyncs.
    pub(crate) fsync_every: u64,
    pub(crate) seed: u64,
}

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Version of each page of the file (see the module documentation).
    pub(crate) versions: Vec<u32>,
    pub(crate) pages_stored: u64,
    pub(crate) fsyncs: u64,
    pub(crate) fsync: FsyncReport,
    pub(crate) punches: u64,
    pub(crate) loads_checked: u64,
    pub(crate) elapsed: Duration,
}

/// A workload's failure: which thread, and what went wrong.
#[derive(Debug)]
pub(crate) struct WorkloadError(pub(crate) String);

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DaxError> for WorkloadError {
    fn from(e: DaxError) -> WorkloadError {
        WorkloadError(e.to_string())
    }
}

/// What a workload tells an onlooker (the crash check, crash_check.rs)
/// about its pages, in the order it happens.
pub(crate) trait Observer: Sync {
    /// `page` is about to get its content of `version` (a store through a
    /// mapping, a write(2), a DMA write); until it is durable again, a
    /// crash may leave either content, or a mix.
    fn changing(&self, page: u64, version: u32);
    /// `page`'s content is durable: a write(2) or DMA write returned.
    fn durable(&self, file: &DaxFile, page: u64);
    /// An fsync of pages `first..=last` (`None`: the whole file) returned
    /// `Ok`: every page stored before it in that range is durable.
    fn fsynced(&self, file: &DaxFile, range: Option<(u64, u64)>);
    /// Pages `first..first + pages` are about to be punched out (or cut
    /// off by truncate): they hold no data any more.
    fn punching(&self, first: u64, pages: u64);
}

/// The content of `page` at `version`: 4 KiB from a seeded generator.
///
/// Word `i` is a bijection of `base + (i + 1)·φ`, where `base` mixes the
/// seed, the page and the version: two contents with different bases (any
/// two pages at one version, any two versions below 2^24 of one page)
/// differ in every word, so a line that lost its store, or came from
/// another page, is told apart. That is all the checks need. One multiply
/// and one xor-shift per word, not
/// splitmix64's two of each: the run stores every page, verification reads
/// every page back, and the crash check generates every synced page again,
/// so this loop is a large part of what they cost (62 MiB: about 7 ms on
/// the 2-core VM it was measured on, against 28 ms for the first version).
pub(crate) fn fill_page(seed: u64, page: u64, version: u32, out: &mut [u8]) {
    const PHI: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut x = seed ^ page.wrapping_mul(PHI) ^ u64::from(version) << 40;
    let mut next = || {
        x = x.wrapping_add(PHI);
        (x ^ x >> 29)
            .wrapping_mul(0xbf58_476d_1ce4_e5b9)
            .to_le_bytes()
    };
    let mut words = out.chunks_exact_mut(8);
    for word in &mut words {
        word.copy_from_slice(&next());
    }
    let tail = words.into_remainder();
    let len = tail.len();
    tail.copy_from_slice(&next()[..len]);
}

/// A small, fast generator (splitmix64): the workloads need no crate.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One thread's share of the file and its model.
struct Worker<'a> {
    file: &'a DaxFile,
    plan: Plan,
    /// First page of each owned region (empty for `shared`).
    regions: Vec<u64>,
    /// This thread's number and how many there are.
    thread: (u64, u64),
    /// The mappings every thread uses in `shared`: one huge, one 4 KiB.
    shared: Option<(Arc<Mmap>, Arc<Mmap>)>,
    /// Versions of the owned pages, by page index.
    versions: std::collections::BTreeMap<u64, u32>,
    rng: u64,
    buf: Vec<u8>,
    /// What a load or read(2) returned: kept, not allocated per check
    /// (a zeroed 4 KiB allocation cost as much as the load it held).
    got: Vec<u8>,
    since_fsync: u64,
    /// First and last page stored since the last fsync (for ranged fsync).
    dirty_span: Option<(u64, u64)>,
    outcome: Outcome,
    observer: Option<&'a dyn Observer>,
}

impl<'a> Worker<'a> {
    /// Thread `t` of `threads`, with its share of the file's regions.
    fn new(
        file: &'a DaxFile,
        plan: Plan,
        t: usize,
        shared: Option<(Arc<Mmap>, Arc<Mmap>)>,
        observer: Option<&'a dyn Observer>,
    ) -> Worker<'a> {
        let regions = file.size_pages() / PMD_PAGES;
        let threads = plan.threads.max(1);
        Worker {
            file,
            plan,
            regions: (0..regions)
                .filter(|r| r % threads as u64 == t as u64)
                .map(|r| r * PMD_PAGES)
                .collect(),
            thread: (t as u64, threads as u64),
            shared,
            versions: Default::default(),
            rng: plan.seed ^ (t as u64 + 1).wrapping_mul(0x5851_f42d_4c95_7f2d),
            buf: vec![0; BLOCK_SIZE as usize],
            got: vec![0; BLOCK_SIZE as usize],
            since_fsync: 0,
            dirty_span: None,
            outcome: Outcome::default(),
            observer,
        }
    }

    fn changing(&self, page: u64, version: u32) {
        if let Some(observer) = self.observer {
            observer.changing(page, version);
        }
    }

    fn durable(&self, page: u64) {
        if let Some(observer) = self.observer {
            observer.durable(self.file, page);
        }
    }

    fn random(&mut self, below: u64) -> u64 {
        splitmix64(&mut self.rng) % below.max(1)
    }

    fn owned_pages(&self) -> Vec<u64> {
        if self.plan.workload == Workload::Shared {
            let (t, threads) = self.thread;
            return (0..self.file.size_pages())
                .filter(|p| p % threads == t)
                .collect();
        }
        self.regions
            .iter()
            .flat_map(|&r| r..r + PMD_PAGES)
            .collect()
    }

    fn store_page(&mut self, mm: &crate::vm::Mmap, page: u64) -> Result<(), WorkloadError> {
        let version = self.versions.get(&page).copied().unwrap_or(0) + 1;
        fill_page(self.plan.seed, page, version, &mut self.buf);
        self.changing(page, version);
        self.file.store(mm, page * BLOCK_SIZE, &self.buf)?;
        self.versions.insert(page, version);
        self.outcome.pages_stored += 1;
        self.dirty_span = Some(match self.dirty_span {
            Some((a, b)) => (a.min(page), b.max(page)),
            None => (page, page),
        });
        self.since_fsync += 1;
        if self.since_fsync >= self.plan.fsync_every {
            self.fsync(self.plan.workload == Workload::Seq)?;
        }
        Ok(())
    }

    fn fsync(&mut self, ranged: bool) -> Result<(), WorkloadError> {
        let range = self.dirty_span.filter(|_| ranged);
        let report = match range {
            Some((a, b)) => self
                .file
                .fsync_range(a * BLOCK_SIZE, (b - a + 1) * BLOCK_SIZE)?,
            None => self.file.fsync()?,
        };
        if let Some(observer) = self.observer {
            observer.fsynced(self.file, range);
        }
        self.outcome.fsyncs += 1;
        let total = &mut self.outcome.fsync;
        total.tagged += report.tagged;
        total.flushed += report.flushed;
        total.bytes += report.bytes;
        total.walk += report.walk;
        total.flush += report.flush;
        self.since_fsync = 0;
        self.dirty_span = None;
        Ok(())
    }

    /// Loads `page` through `mm` and compares it with the model.
    fn check_page(&mut self, mm: &crate::vm::Mmap, page: u64) -> Result<(), WorkloadError> {
        self.file.load(mm, page * BLOCK_SIZE, &mut self.got)?;
        match self.versions.get(&page).copied().unwrap_or(0) {
            0 => self.buf.fill(0),
            v => fill_page(self.plan.seed, page, v, &mut self.buf),
        }
        if self.got != self.buf {
            return Err(WorkloadError(format!(
                "page {page}: a load through the mapping returned other data than was stored"
            )));
        }
        self.outcome.loads_checked += 1;
        Ok(())
    }

    /// Reads `page` with read(2) and compares it with the model.
    fn check_read(&mut self, page: u64) -> Result<(), WorkloadError> {
        self.file.read(page * BLOCK_SIZE, &mut self.got)?;
        match self.versions.get(&page).copied().unwrap_or(0) {
            0 => self.buf.fill(0),
            v => fill_page(self.plan.seed, page, v, &mut self.buf),
        }
        if self.got != self.buf {
            return Err(WorkloadError(format!(
                "page {page}: read(2) returned other data than was stored"
            )));
        }
        self.outcome.loads_checked += 1;
        Ok(())
    }

    fn punch(&mut self, first: u64, pages: u64) -> Result<(), WorkloadError> {
        if let Some(observer) = self.observer {
            observer.punching(first, pages);
        }
        self.file
            .punch_hole(first * BLOCK_SIZE, pages * BLOCK_SIZE)?;
        for page in first..first + pages {
            self.versions.remove(&page);
        }
        self.outcome.punches += 1;
        Ok(())
    }

    fn run(&mut self) -> Result<(), WorkloadError> {
        let huge = matches!(
            self.plan.workload,
            Workload::Pmd | Workload::Punch | Workload::Mixed
        );
        let mm = self.file.mmap(huge);
        let pages = self.owned_pages();
        match self.plan.workload {
            Workload::Seq | Workload::Pmd => {
                for page in pages {
                    self.store_page(&mm, page)?;
                }
            }
            Workload::Random => {
                for _ in 0..pages.len() {
                    let page = pages[self.random(pages.len() as u64) as usize];
                    self.store_page(&mm, page)?;
                }
            }
            Workload::Punch => {
                for region in self.regions.clone() {
                    for page in region..region + PMD_PAGES {
                        self.store_page(&mm, page)?;
                    }
                    self.fsync(false)?;
                    for _ in 0..4 {
                        let len = 1 + self.random(16);
                        let first = region + self.random(PMD_PAGES - len);
                        self.punch(first, len)?;
                        if self.random(2) == 0 {
                            self.store_page(&mm, first)?;
                        }
                    }
                    for page in region..region + PMD_PAGES {
                        self.check_page(&mm, page)?;
                    }
                }
            }
            Workload::Mixed => self.mixed(&mm, &pages)?,
            Workload::Shared => {
                let (huge, small) = self.shared.clone().ok_or_else(|| {
                    WorkloadError("the shared workload needs shared mappings".into())
                })?;
                for _ in 0..pages.len() {
                    let page = pages[self.random(pages.len() as u64) as usize];
                    let mm = if self.random(2) == 0 { &huge } else { &small };
                    if self.random(5) == 0 {
                        self.check_page(mm, page)?;
                    } else {
                        self.store_page(mm, page)?;
                    }
                }
            }
        }
        self.fsync(false)
    }

    fn mixed(&mut self, huge: &crate::vm::Mmap, pages: &[u64]) -> Result<(), WorkloadError> {
        let small = self.file.mmap(false);
        for _ in 0..pages.len() {
            let page = pages[self.random(pages.len() as u64) as usize];
            let mm = if self.random(2) == 0 { huge } else { &small };
            match self.random(100) {
                0..=59 => self.store_page(mm, page)?,
                60..=69 => self.check_page(mm, page)?,
                70..=79 => self.check_read(page)?,
                80..=86 => {
                    // write(2) of the page's next version.
                    let version = self.versions.get(&page).copied().unwrap_or(0) + 1;
                    fill_page(self.plan.seed, page, version, &mut self.buf);
                    self.changing(page, version);
                    self.file.write(page * BLOCK_SIZE, &self.buf)?;
                    self.durable(page);
                    self.versions.insert(page, version);
                    self.outcome.pages_stored += 1;
                }
                87..=89 => {
                    // A device writes the page by DMA while it is pinned.
                    let version = self.versions.get(&page).copied().unwrap_or(0) + 1;
                    fill_page(self.plan.seed, page, version, &mut self.buf);
                    let pin = self.file.pin(mm, page)?;
                    self.changing(page, version);
                    pin.dma_write(0, &self.buf)?;
                    drop(pin);
                    self.durable(page);
                    self.versions.insert(page, version);
                    self.outcome.pages_stored += 1;
                }
                90..=94 => {
                    let region = page & !(PMD_PAGES - 1);
                    let len = 1 + self.random(8);
                    let first = region + self.random(PMD_PAGES - len);
                    self.punch(first, len)?;
                }
                _ => self.fsync(false)?,
            }
        }
        Ok(())
    }
}

/// Runs `plan` on `file`, whose size must be a whole number of 2 MiB
/// regions: one thread per worker, at once. `progress` (if any) shows
/// the pages stored and the fsyncs as they go.
pub(crate) fn run(
    file: &DaxFile,
    plan: Plan,
    progress: Option<&ProgressBar>,
) -> Result<Outcome, WorkloadError> {
    let threads = plan.threads.max(1);
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let wake = (Mutex::new(()), Condvar::new());
    let shared = (plan.workload == Workload::Shared).then(|| (file.mmap(true), file.mmap(false)));
    let shared = &shared;
    let results: Vec<Result<Outcome, WorkloadError>> = std::thread::scope(|scope| {
        if let Some(bar) = progress {
            let (done, wake) = (&done, &wake);
            scope.spawn(move || show_progress(file, bar, done, wake));
        }
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut worker = Worker::new(file, plan, t, shared.clone(), None);
                    worker
                        .run()
                        .map_err(|e| WorkloadError(format!("thread {t}: {e}")))?;
                    Ok::<_, WorkloadError>(worker.finish())
                })
            })
            .collect();
        let joined = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(WorkloadError("a worker thread panicked".into())))
            })
            .collect();
        done.store(true, Ordering::Release);
        wake.1.notify_all();
        joined
    });
    let mut total = Outcome::default();
    for result in results {
        total.add(file, result?);
    }
    finish(file, plan, &mut total, None)?;
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Runs `plan` on `file` again, its workers one after another on the
/// calling thread, telling `observer` what happens to each page. Each
/// worker does what it did in [`run`] (same seed, same share of the file);
/// only the interleaving of workers is gone, so the replay is the same on
/// every run, and at any instant the observer knows exactly which content
/// of every page an fsync has returned for.
pub(crate) fn replay(
    file: &DaxFile,
    plan: Plan,
    observer: &dyn Observer,
) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let shared = (plan.workload == Workload::Shared).then(|| (file.mmap(true), file.mmap(false)));
    let mut total = Outcome::default();
    for t in 0..plan.threads.max(1) {
        let mut worker = Worker::new(file, plan, t, shared.clone(), Some(observer));
        worker
            .run()
            .map_err(|e| WorkloadError(format!("thread {t}: {e}")))?;
        total.add(file, worker.finish());
    }
    finish(file, plan, &mut total, Some(observer))?;
    total.elapsed = started.elapsed();
    Ok(total)
}

impl Worker<'_> {
    /// The worker's outcome, its versions as a vector by page.
    fn finish(self) -> Outcome {
        let mut outcome = self.outcome;
        outcome.versions = versions_to_vec(self.versions);
        outcome
    }
}

impl Outcome {
    /// Adds one worker's outcome (its pages are its own).
    fn add(&mut self, file: &DaxFile, outcome: Outcome) {
        if self.versions.is_empty() {
            self.versions = vec![0; file.size_pages() as usize];
        }
        for (page, &v) in outcome.versions.iter().enumerate() {
            if v != 0 {
                self.versions[page] = v;
            }
        }
        self.pages_stored += outcome.pages_stored;
        self.fsyncs += outcome.fsyncs;
        self.punches += outcome.punches;
        self.loads_checked += outcome.loads_checked;
        self.fsync.tagged += outcome.fsync.tagged;
        self.fsync.flushed += outcome.fsync.flushed;
        self.fsync.bytes += outcome.fsync.bytes;
        self.fsync.walk += outcome.fsync.walk;
        self.fsync.flush += outcome.fsync.flush;
    }
}

/// What follows the workers: for `punch`, a truncate in the middle of the
/// last region and a last fsync.
fn finish(
    file: &DaxFile,
    plan: Plan,
    total: &mut Outcome,
    observer: Option<&dyn Observer>,
) -> Result<(), WorkloadError> {
    if total.versions.is_empty() {
        total.versions = vec![0; file.size_pages() as usize];
    }
    let regions = file.size_pages() / PMD_PAGES;
    if plan.workload == Workload::Punch && regions > 0 {
        // Finally cut the file in the middle of its last 2 MiB region:
        // truncate splits that region's entry and frees the tail.
        let new_size = file.size() - PMD_PAGES / 2 * BLOCK_SIZE;
        let first_gone = new_size / BLOCK_SIZE;
        if let Some(observer) = observer {
            observer.punching(first_gone, file.size_pages() - first_gone);
        }
        file.truncate(new_size)?;
        for v in &mut total.versions[first_gone as usize..] {
            *v = 0;
        }
        let report = file.fsync()?;
        if let Some(observer) = observer {
            observer.fsynced(file, None);
        }
        total.fsyncs += 1;
        total.fsync.flushed += report.flushed;
        total.fsync.bytes += report.bytes;
    }
    Ok(())
}

fn versions_to_vec(versions: std::collections::BTreeMap<u64, u32>) -> Vec<u32> {
    let len = versions.keys().next_back().map_or(0, |&p| p as usize + 1);
    let mut out = vec![0; len];
    for (page, v) in versions {
        out[page as usize] = v;
    }
    out
}

/// Moves `bar` along (pages stored, fsyncs) ten times a second until
/// `done`.
fn show_progress(
    file: &DaxFile,
    bar: &ProgressBar,
    done: &AtomicBool,
    wake: &(Mutex<()>, Condvar),
) {
    let mut guard = wake.0.lock().unwrap_or_else(PoisonError::into_inner);
    while !done.load(Ordering::Acquire) {
        let stats = &file.stats;
        bar.set_position(Stats::get(&stats.bytes_stored) / BLOCK_SIZE);
        bar.set_message(format!("{} fsyncs", Stats::get(&stats.fsyncs)));
        let (g, _) = wake
            .1
            .wait_timeout(guard, Duration::from_millis(100))
            .unwrap_or_else(PoisonError::into_inner);
        guard = g;
    }
}
