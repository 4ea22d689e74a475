//! The randomized race test: faults, stores, fsyncs and punches from
//! several threads over a few 2 MiB regions, under many seeds, checked
//! after every fsync for the one property fsync exists for:
//!
//! > every store that completed before an fsync was called is durable
//! > when that fsync returns `Ok`.
//!
//! # The run
//!
//! Four threads share two mappings of the file (one that takes 2 MiB
//! faults, one with 4 KiB pages) and each has a private 4 KiB mapping, so
//! a fault by one thread makes a page writable for the others, as threads
//! of one process see it. They work on a few hot pages in each of three
//! PMD regions. Thread `t` owns cache line `t` of every page (a *slot*):
//! only it stores there, so its content is always known exactly, while
//! faults, entries, blocks and marks are shared by all. Each thread picks,
//! at random, a store to one of its slots, a load (a read fault), an fsync
//! of the whole file or of one region, or a hole punch (through the first
//! page of a region half of the time, or a whole region).
//!
//! # Schedules
//!
//! Every thread installs a [`sched`](crate::sched) hook with its own seed.
//! Each seed also draws a *profile*: for every scheduling point, how often
//! a thread pauses there (never, sometimes, mostly) and how (a few yields,
//! or a sleep of up to half a millisecond). One seed may widen a fault's
//! "mapped but not yet dirty" window, another fsync's "woken but not yet
//! re-locked" one, another punch's split. The schedules are not replayable
//! (the OS still decides between points), but they are many and varied.
//!
//! # The check
//!
//! Every operation takes a ticket from one sequentially consistent
//! counter when it is invoked and another when it completes, and records
//! both in a model (a store's invocation is recorded *before* it touches
//! memory). When an fsync `F` returns `Ok`, its thread locks the model —
//! no store or punch can start while it is held — and checks each slot in
//! `F`'s range whose last store `S` completed before `F` was invoked, with
//! no punch of the page in flight or completed since `S` began: the
//! slot's bytes at the page's block must be `S`'s data, and
//! [`SimulatedPmem::is_persistent`] must say every crash image holds them.
//! Anything else is a lost store. A final fsync at the end of each seed is
//! checked the same way, and lost wake-ups are counted.
//!
//! A checker is trusted only after it has caught a planted bug: the two
//! races of issue 15 are kept as switchable variants
//! ([`Bugs::RESUME_PAST_WAITED_ENTRY`], [`Bugs::WRITABLE_BEFORE_DIRTY`]), and
//! the tests below show this one catching each of them.
//!
//! `DAX_RACE_SEEDS` sets how many seeds each test runs (the bounded run in
//! `.ci/test` uses the defaults; `.ci/dax-race.sh` runs thousands).

use super::{rig, Rig};
use crate::blocks::BLOCK_SIZE as PAGE;
use crate::bugs::Bugs;
use crate::mapping::{DaxError, Stats};
use crate::persist::Persist;
use crate::sched::{self, Point};
use crate::vm::{Mmap, PMD_PAGES};
use crate::workload::fill_page;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Worker threads per seed.
const THREADS: usize = 6;
/// Operations per thread per seed.
const OPS: usize = 32;
/// PMD regions the threads work in (the rig's file has three; two make
/// threads meet more often).
const REGIONS: u64 = 2;
/// Bytes of a slot: one cache line, so slots of different threads never
/// share a line of the crash simulator.
const SLOT: u64 = 64;
/// Hot pages of each region, relative to its first page: the first pages
/// (where punches start, and where a waiting fsync finds a PMD entry), a
/// few in the middle and the last.
const HOT: [u64; 5] = [0, 1, 2, 100, 511];

/// Seeds a test runs unless `DAX_RACE_SEEDS` says otherwise.
fn seeds(default: u64) -> u64 {
    std::env::var("DAX_RACE_SEEDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The last store invoked on one slot.
#[derive(Clone, Copy, Debug)]
struct SlotStore {
    version: u32,
    invoked: u64,
    done: Option<u64>,
}

/// Punches of one page: in flight, and the latest completion ticket.
#[derive(Clone, Copy, Debug, Default)]
struct PagePunches {
    in_flight: u32,
    last_done: u64,
}

#[derive(Debug, Default)]
struct ModelState {
    slots: BTreeMap<(u64, u64), SlotStore>,
    punches: BTreeMap<u64, PagePunches>,
}

/// What the threads did, and the tickets that order it.
#[derive(Debug, Default)]
struct Model {
    clock: AtomicU64,
    state: Mutex<ModelState>,
}

impl Model {
    fn ticket(&self) -> u64 {
        // SeqCst read-modify-writes of one counter: a ticket taken after an
        // operation completed happens-after that operation.
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ModelState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The content of `slot` of `page` at `version`.
fn slot_data(seed: u64, page: u64, slot: u64, version: u32) -> Vec<u8> {
    let mut out = vec![0u8; SLOT as usize];
    fill_page(seed ^ (slot + 1) << 56, page, version, &mut out);
    out
}

/// What one seed found.
#[derive(Debug, Default)]
pub(crate) struct SeedReport {
    pub(crate) fsyncs_checked: u64,
    pub(crate) slots_checked: u64,
    /// fsyncs that returned `Ok` with a store before them not durable.
    pub(crate) bad_fsyncs: u64,
    /// Slots lost, summed over those fsyncs.
    pub(crate) lost: u64,
    /// The first few losses, described.
    pub(crate) examples: Vec<String>,
    pub(crate) lost_wakeups: u64,
    pub(crate) splits: u64,
    pub(crate) waits: u64,
}

/// How often and how a thread pauses at each scheduling point, drawn per
/// seed.
#[derive(Clone, Debug)]
struct Profile {
    at: Vec<(Point, Pause)>,
}

/// How a thread behaves at one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pause {
    /// Runs straight through.
    Never,
    /// Now and then yields the CPU a few times.
    Light,
    /// Mostly sleeps there, long enough for the other threads to run
    /// several operations: a seed's *focus*.
    Focus,
}

const POINTS: [Point; 11] = [
    Point::FaultEntryLocked,
    Point::FaultMapped,
    Point::StoreRefault,
    Point::FsyncTagged,
    Point::FsyncBatchLocked,
    Point::FsyncBatchFlushed,
    Point::FsyncBatchDone,
    Point::EntryWaitWoken,
    Point::PunchSplitLocked,
    Point::PunchSplitDone,
    Point::PunchErase,
];

impl Profile {
    /// About a quarter of the points are a focus, half light, a quarter
    /// never pause.
    fn draw(rng: &mut StdRng) -> Profile {
        let at = POINTS
            .iter()
            .map(|&p| {
                let pause = match rng.random_range(0..4) {
                    0 => Pause::Never,
                    1 | 2 => Pause::Light,
                    _ => Pause::Focus,
                };
                (p, pause)
            })
            .collect();
        Profile { at }
    }

    /// The hook a thread installs: pauses at points as the profile says.
    fn hook(&self, seed: u64) -> impl FnMut(Point) + 'static {
        let at = self.at.clone();
        let mut rng = StdRng::seed_from_u64(seed);
        move |point| {
            let pause = at
                .iter()
                .find(|(p, _)| *p == point)
                .map(|&(_, pause)| pause);
            match pause {
                Some(Pause::Light) if rng.random_range(0..8) == 0 => {
                    for _ in 0..rng.random_range(1..8) {
                        std::thread::yield_now();
                    }
                }
                Some(Pause::Focus) if rng.random_range(0..4) != 0 => {
                    std::thread::sleep(Duration::from_micros(rng.random_range(20..1000)));
                }
                _ => {}
            }
        }
    }
}

/// One worker's view of the shared run.
struct Worker<'a> {
    r: &'a Rig,
    model: &'a Model,
    seed: u64,
    slot: u64,
    shared: [&'a Arc<Mmap>; 2],
    private: Arc<Mmap>,
    rng: StdRng,
    versions: BTreeMap<u64, u32>,
    report: SeedReport,
}

impl Worker<'_> {
    fn mapping(&mut self) -> Arc<Mmap> {
        match self.rng.random_range(0..6) {
            0..=2 => Arc::clone(self.shared[0]),
            3 | 4 => Arc::clone(self.shared[1]),
            _ => Arc::clone(&self.private),
        }
    }

    fn hot_page(&mut self) -> u64 {
        let region = self.rng.random_range(0..REGIONS);
        region * PMD_PAGES + HOT[self.rng.random_range(0..HOT.len())]
    }

    fn store(&mut self) -> Result<(), DaxError> {
        let page = self.hot_page();
        let mm = self.mapping();
        let version = self.versions.get(&page).copied().unwrap_or(0) + 1;
        self.versions.insert(page, version);
        let data = slot_data(self.seed, page, self.slot, version);
        {
            let mut state = self.model.lock();
            let invoked = self.model.ticket();
            state.slots.insert(
                (page, self.slot),
                SlotStore {
                    version,
                    invoked,
                    done: None,
                },
            );
        }
        self.r
            .file
            .store(&mm, page * PAGE + self.slot * SLOT, &data)?;
        let done = self.model.ticket();
        if let Some(s) = self.model.lock().slots.get_mut(&(page, self.slot)) {
            s.done = Some(done);
        }
        Ok(())
    }

    fn load(&mut self) -> Result<(), DaxError> {
        let page = self.hot_page();
        let mm = self.mapping();
        let mut buf = [0u8; SLOT as usize];
        let other = self.rng.random_range(0..THREADS as u64);
        self.r.file.load(&mm, page * PAGE + other * SLOT, &mut buf)
    }

    fn punch(&mut self) -> Result<(), DaxError> {
        let region = self.rng.random_range(0..REGIONS) * PMD_PAGES;
        let (first, len) = match self.rng.random_range(0..3) {
            0 => (region, PMD_PAGES),
            1 => (region, self.rng.random_range(1..=16)),
            _ => {
                let len = self.rng.random_range(1..=16);
                (region + self.rng.random_range(0..PMD_PAGES - len), len)
            }
        };
        {
            let mut state = self.model.lock();
            for page in first..first + len {
                state.punches.entry(page).or_default().in_flight += 1;
            }
        }
        let result = self.r.file.punch_hole(first * PAGE, len * PAGE);
        let done = self.model.ticket();
        let mut state = self.model.lock();
        for page in first..first + len {
            let p = state.punches.entry(page).or_default();
            p.in_flight -= 1;
            p.last_done = p.last_done.max(done);
        }
        result
    }

    fn fsync(&mut self) -> Result<(), DaxError> {
        let (pages, result, invoked) = if self.rng.random_bool(0.7) {
            let invoked = self.model.ticket();
            (0..u64::MAX, self.r.file.fsync(), invoked)
        } else {
            let region = self.rng.random_range(0..REGIONS) * PMD_PAGES;
            let invoked = self.model.ticket();
            let result = self.r.file.fsync_range(region * PAGE, PMD_PAGES * PAGE);
            (region..region + PMD_PAGES, result, invoked)
        };
        result?;
        check(
            self.r,
            self.model,
            self.seed,
            invoked,
            pages,
            &mut self.report,
        );
        Ok(())
    }

    fn run(&mut self) -> Result<(), DaxError> {
        // This thread's mix of operations, drawn per seed: some seeds
        // have a thread that mostly fsyncs, or mostly punches.
        // Not every thread fsyncs (fewer concurrent fsyncs also means
        // fewer that would write back what another one skipped), but the
        // first always does.
        let weights = [
            self.rng.random_range(2..10),
            self.rng.random_range(0..3),
            self.rng.random_range(u32::from(self.slot == 0)..6),
            self.rng.random_range(0..5),
        ];
        let sync_after_store = self.rng.random_bool(0.5);
        let total: u32 = weights.iter().sum();
        for _ in 0..OPS {
            let mut pick = self.rng.random_range(0..total);
            let op = weights
                .iter()
                .position(|&w| {
                    let here = pick < w;
                    pick = pick.saturating_sub(w);
                    here
                })
                .unwrap_or(0);
            match op {
                0 => {
                    self.store()?;
                    // Store, then fsync at once: what an application that
                    // wants its data safe does.
                    if sync_after_store && self.rng.random_range(0..3) == 0 {
                        self.fsync()?;
                    }
                }
                1 => self.load()?,
                2 => self.fsync()?,
                _ => self.punch()?,
            }
        }
        Ok(())
    }
}

/// Checks, after an fsync invoked at ticket `invoked` returned `Ok`, that
/// every slot of `pages` whose last store completed before it (and whose
/// page no punch touched since) is durable. See the module documentation.
fn check(
    r: &Rig,
    model: &Model,
    seed: u64,
    invoked: u64,
    pages: core::ops::Range<u64>,
    report: &mut SeedReport,
) {
    // Held for the whole check: no store or punch can start meanwhile.
    let state = model.lock();
    report.fsyncs_checked += 1;
    let mut lost = 0;
    for (&(page, slot), s) in state.slots.range((pages.start, 0)..) {
        if page >= pages.end {
            break;
        }
        let Some(done) = s.done.filter(|&d| d < invoked) else {
            continue;
        };
        let punched = state
            .punches
            .get(&page)
            .is_some_and(|p| p.in_flight > 0 || p.last_done > s.invoked);
        if punched {
            continue;
        }
        let _ = done;
        report.slots_checked += 1;
        let want = slot_data(seed, page, slot, s.version);
        let problem = match r.file.extents.lookup(page) {
            None => Some("its page has no block".to_string()),
            Some(block) => {
                let at = block * PAGE + slot * SLOT;
                let mut got = vec![0u8; SLOT as usize];
                match r.sim.read(at, &mut got) {
                    Err(e) => Some(format!("reading it: {e}")),
                    Ok(()) if got != want => Some(format!("block {block} holds other bytes")),
                    Ok(()) => match r.sim.is_persistent(at, SLOT as usize) {
                        Ok(true) => None,
                        Ok(false) => Some(format!(
                            "block {block}: some crash image lacks it (not flushed)"
                        )),
                        Err(e) => Some(e.to_string()),
                    },
                }
            }
        };
        if let Some(problem) = problem {
            lost += 1;
            if report.examples.len() < 3 {
                report.examples.push(format!(
                    "page {page} slot {slot} version {}: stored before an fsync that returned Ok, but {problem}",
                    s.version
                ));
            }
        }
    }
    if lost > 0 {
        report.bad_fsyncs += 1;
        report.lost += lost;
    }
}

/// Runs one seed with `bugs` switched on. `Err` is a failed operation (an
/// error, not a lost store).
pub(crate) fn run_seed(seed: u64, bugs: Bugs) -> Result<SeedReport, String> {
    let r = rig(bugs);
    let model = Model::default();
    let mut rng = StdRng::seed_from_u64(seed);
    let huge = r.file.mmap(true);
    let small = r.file.mmap(false);
    let reports: Vec<Result<SeedReport, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                let (r, model, huge, small) = (&r, &model, &huge, &small);
                let hook = Profile::draw(&mut rng).hook(rng.random());
                s.spawn(move || -> Result<SeedReport, String> {
                    let _hook = sched::install(hook);
                    let mut worker = Worker {
                        r,
                        model,
                        seed,
                        slot: t,
                        shared: [huge, small],
                        private: r.file.mmap(false),
                        rng: StdRng::seed_from_u64(seed ^ (t + 1) << 40),
                        versions: BTreeMap::new(),
                        report: SeedReport::default(),
                    };
                    worker
                        .run()
                        .map_err(|e| format!("seed {seed} thread {t}: {e}"))?;
                    Ok(worker.report)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let mut total = SeedReport::default();
    for report in reports {
        let report = report?;
        total.fsyncs_checked += report.fsyncs_checked;
        total.slots_checked += report.slots_checked;
        total.bad_fsyncs += report.bad_fsyncs;
        total.lost += report.lost;
        total.examples.extend(report.examples);
    }
    let invoked = model.ticket();
    r.file
        .fsync()
        .map_err(|e| format!("seed {seed}: final fsync: {e}"))?;
    check(&r, &model, seed, invoked, 0..u64::MAX, &mut total);
    total.lost_wakeups = Stats::get(&r.file.stats.lost_wakeups);
    total.splits = Stats::get(&r.file.stats.splits);
    total.waits = Stats::get(&r.file.stats.entry_waits);
    Ok(total)
}

/// Totals over many seeds.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) seeds: u64,
    /// Seeds in which some fsync returned `Ok` over a lost store.
    pub(crate) failing_seeds: u64,
    pub(crate) fsyncs_checked: u64,
    pub(crate) slots_checked: u64,
    pub(crate) bad_fsyncs: u64,
    pub(crate) lost: u64,
    pub(crate) lost_wakeups: u64,
    pub(crate) splits: u64,
    pub(crate) waits: u64,
    pub(crate) first_failure: Option<String>,
}

impl Tally {
    fn add(&mut self, seed: u64, report: SeedReport) {
        self.seeds += 1;
        self.fsyncs_checked += report.fsyncs_checked;
        self.slots_checked += report.slots_checked;
        self.bad_fsyncs += report.bad_fsyncs;
        self.lost += report.lost;
        self.lost_wakeups += report.lost_wakeups;
        self.splits += report.splits;
        self.waits += report.waits;
        if report.bad_fsyncs > 0 || report.lost_wakeups > 0 {
            self.failing_seeds += 1;
            if self.first_failure.is_none() {
                self.first_failure = Some(format!(
                    "seed {seed}: {} lost wake-ups; {}",
                    report.lost_wakeups,
                    report.examples.join("; ")
                ));
            }
        }
    }

    fn summary(&self, what: &str) -> String {
        format!(
            "{what}: {} of {} seeds lost a store ({} fsyncs returned Ok over {} lost stores; \
             {} fsyncs and {} slots checked; {} PMD splits, {} entry-lock sleeps, {} lost wake-ups)",
            self.failing_seeds,
            self.seeds,
            self.bad_fsyncs,
            self.lost,
            self.fsyncs_checked,
            self.slots_checked,
            self.splits,
            self.waits,
            self.lost_wakeups
        )
    }
}

/// Runs seeds `first..first + count` with `bugs`; stops early once
/// `stop_after` seeds have failed (0: never).
pub(crate) fn run_seeds(first: u64, count: u64, bugs: Bugs, stop_after: u64) -> Tally {
    let mut tally = Tally::default();
    for seed in first..first + count {
        match run_seed(seed, bugs) {
            Ok(report) => tally.add(seed, report),
            Err(e) => panic!("{e}"),
        }
        if stop_after > 0 && tally.failing_seeds >= stop_after {
            break;
        }
    }
    tally
}

#[test]
fn race_no_store_is_lost_after_fsync() {
    let tally = run_seeds(0, seeds(24), Bugs::empty(), 0);
    eprintln!("{}", tally.summary("race, no bug"));
    assert!(tally.fsyncs_checked > 0 && tally.slots_checked > 0);
    assert_eq!(
        tally.failing_seeds,
        0,
        "{}\nfirst: {}",
        tally.summary("race"),
        tally.first_failure.unwrap_or_default()
    );
}

/// Runs the race test with `bug` switched on: it must lose a store. Stops
/// at the first seed that does unless `DAX_RACE_SEEDS` is set, when it
/// runs them all and reports how many failed.
fn race_catches(bug: Bugs, default_seeds: u64) {
    let counting = std::env::var_os("DAX_RACE_SEEDS").is_some();
    let tally = run_seeds(10_000, seeds(default_seeds), bug, u64::from(!counting));
    eprintln!("{}", tally.summary(&format!("race, {bug:?}")));
    assert!(
        tally.failing_seeds > 0,
        "{bug:?} went unnoticed: {}",
        tally.summary("race")
    );
    eprintln!("first: {}", tally.first_failure.unwrap_or_default());
}

#[test]
fn race_catches_resume_past_waited_entry() {
    race_catches(Bugs::RESUME_PAST_WAITED_ENTRY, 200);
}

#[test]
fn race_catches_writable_before_dirty() {
    race_catches(Bugs::WRITABLE_BEFORE_DIRTY, 200);
}
