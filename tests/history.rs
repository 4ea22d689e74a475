//! The history checker: lock-free readers against serialised writers, every
//! observation proved to match a state the tree was in (../shared/API.md,
//! "What a reader may see").
//!
//! ```text
//!   writers ──gate──▶ op k on the tree, seq 2k-1 → 2k, log[k]
//!   readers ─────────▶ (index, result, seq before, seq after) per load,
//!                       get, get_order, get_mark and iterator step
//!   after each round: replay log through the model (common/model.rs)
//!                     → per-index versions → check (common/history.rs;
//!                       the operations: common/history_ops.rs)
//! ```
//!
//! Scenarios: three aimed at the races issue 10 found (a multi-order
//! entry erased and an order-0 entry stored at its first index while
//! readers look inside it; a sibling run written while readers ask the
//! order; an iterator over a range that starts inside a multi-order entry
//! that comes and goes), and a random mix of every write against every
//! read. Each runs in rounds on a fresh tree, alternating the region at 0
//! with the one straddling 2^32.
//!
//! Why each step:
//! - writers go through a gate and bump `seq` around each operation, so
//!   every observation has a window of states it may have seen;
//! - stored entries carry their operation's number, so a result names the
//!   store that made it;
//! - readers hammer indices inside multi-order ranges, where the sibling →
//!   canonical walk races with the writer;
//! - checking is per index (a binary search in a version list), cheap
//!   enough for millions of observations a second.
//!
//! Budget: `XRADIX_HISTORY_OPS` writer operations per scenario (by
//! default 100,000 to 200,000 for the aimed scenarios and 30,000 for the
//! random one in debug builds, ten times that in release builds: seconds
//! each in debug), or `XRADIX_HISTORY_SECS`
//! seconds per scenario (then operations are unbounded unless
//! `XRADIX_HISTORY_OPS` is set too). `XRADIX_HISTORY_SEED` fixes the
//! writers' choices. A scenario stops at its first violation, unless
//! `XRADIX_HISTORY_KEEP_GOING=1`: then it runs its budget and reports,
//! per kind of violation, how many and how long the first took to find. `.ci/history.sh` is the long run. A summary line per
//! scenario is printed to stderr (`--nocapture` shows it).

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

#[path = "common/history.rs"]
mod history;
#[path = "common/model.rs"]
mod model;
#[path = "common/rng.rs"]
mod rng;
#[macro_use]
#[path = "common/history_ops.rs"]
mod history_ops;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use xradix::{pin, Guard, Mark};

use history::{
    check, check_iter, check_obs, item_of, value_of, IterRec, Kind, Obs, Rec, Report, Step,
    Versions, Xa, KIND_NAMES, REGIONS, REGION_B, REGION_LEN,
};
use history_ops::{apply_model, Op, Out};
use model::{mask, MVal, Model, E};
use rng::Rng;

// ---------------------------------------------------------------------------
// The shared state of a round.

struct Gate {
    /// The writers' model, where they choose operations by the state.
    model: Option<Model>,
    log: Vec<Op>,
}

struct Shared {
    xa: Xa,
    seq: AtomicU64,
    stop: AtomicBool,
    gate: Mutex<Gate>,
}

impl Shared {
    fn new(online_model: bool) -> Shared {
        Shared {
            xa: Xa::new(),
            seq: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            gate: Mutex::new(Gate {
                model: online_model.then(Model::default),
                log: Vec::new(),
            }),
        }
    }

    fn ops(&self) -> u64 {
        self.seq.load(Relaxed) / 2
    }

    /// One writer operation: `make` gets the model (if kept) and the
    /// operation's number `k`, which new entries carry. Every fourth goes
    /// through `lock()`.
    fn write(&self, make: impl FnOnce(Option<&Model>, u64) -> Op) {
        let mut g = self.gate.lock().unwrap();
        let k = g.log.len() as u64 + 1;
        let op = make(g.model.as_ref(), k);
        let s = 2 * (k - 1);
        self.seq.store(s + 1, SeqCst);
        let got = if k % 4 == 0 {
            let l = self.xa.lock();
            apply_tree!(&l, &op)
        } else {
            apply_tree!(&self.xa, &op)
        };
        self.seq.store(s + 2, SeqCst);
        if let Some(m) = g.model.as_mut() {
            let want = apply_model(m, &op);
            assert!(
                want == Out::Any || got == Out::Any || got == want,
                "operation {k} {op:?} returned {got:?}, the model says {want:?}"
            );
        }
        g.log.push(op);
    }
}

/// A new entry for operation `k`: mostly a value, sometimes an item.
fn entry(rng: &mut Rng, k: u64) -> E {
    if rng.pct(15) {
        item_of(k)
    } else {
        value_of(k)
    }
}

// ---------------------------------------------------------------------------
// Scenarios.

type Setup = fn(&Shared, u64);
type Write = fn(&Shared, &mut Rng, u64);
type Read = fn(&Shared, &mut Rec, &Guard, &mut Rng, u64);

struct Scenario {
    name: &'static str,
    writers: usize,
    readers: usize,
    online_model: bool,
    /// Writer operations of a default run: (debug build, release build).
    default_ops: (u64, u64),
    setup: Setup,
    write: Write,
    read: Read,
    /// Whether the scenario must make every conversion of bottom nodes
    /// (docs/sparse-nodes.md) at least once: it is there to race them.
    converts: bool,
}

/// Keeps the leaf alive: marked entries at `base + 15` and `base + 63`,
/// the last index of the first leaf with 16-slot and with 64-slot nodes.
fn keep_leaf(sh: &Shared, base: u64) {
    for i in [15, 63] {
        sh.write(|_, k| Op::Store(base + i, value_of(k)));
        sh.write(|_, _| Op::SetMark(base + i, Mark::DIRTY));
    }
}

/// Issue 10, case 1: a multi-order entry erased and an order-0 entry
/// stored at its first index while readers load its last index.
const LOAD_INSIDE: Scenario = Scenario {
    name: "load_inside_multi_order",
    writers: 1,
    readers: 2,
    online_model: false,
    default_ops: (200_000, 2_000_000),
    setup: keep_leaf,
    write: |sh, rng, base| {
        sh.write(|_, k| Op::StoreOrder(base, 3, entry(rng, k)));
        sh.write(|_, _| Op::Erase(base));
        sh.write(|_, k| Op::Store(base, entry(rng, k)));
        if rng.pct(25) {
            sh.write(|_, _| Op::SetMark(base, Mark::DIRTY));
        }
        sh.write(|_, _| Op::Erase(base));
    },
    read: |sh, rec, g, rng, base| {
        for _ in 0..64 {
            rec.load(&sh.seq, &sh.xa, g, base + 7);
        }
        rec.load_many(
            &sh.seq,
            &sh.xa,
            g,
            &[base + 7, base + 3, base + 63, base + 5],
        );
        rec.load(&sh.seq, &sh.xa, g, base + 1 + rng.below(7));
        rec.get(&sh.seq, &sh.xa, base + 1 + rng.below(7));
        rec.order(&sh.seq, &sh.xa, base + 7);
        rec.mark(&sh.seq, &sh.xa, base + 7, Mark::DIRTY);
    },
    converts: false,
};

/// Issue 10, case 3: the order asked while a sibling run is written.
const ORDER_OF_RUN: Scenario = Scenario {
    name: "get_order_while_run_written",
    writers: 1,
    readers: 2,
    online_model: false,
    default_ops: (200_000, 2_000_000),
    setup: keep_leaf,
    write: |sh, rng, base| {
        sh.write(|_, _| Op::Erase(base));
        for i in 0..8 {
            sh.write(|_, k| Op::Store(base + i, entry(rng, k)));
        }
        sh.write(|_, k| Op::StoreOrder(base, 3, entry(rng, k)));
    },
    read: |sh, rec, g, rng, base| {
        for _ in 0..64 {
            rec.order(&sh.seq, &sh.xa, base + 5);
        }
        rec.order(&sh.seq, &sh.xa, base + 1 + rng.below(7));
        rec.load(&sh.seq, &sh.xa, g, base + 5);
    },
    converts: false,
};

/// Issue 10, case 2: iterators over a range that starts inside a
/// multi-order entry that comes and goes, an order-0 entry at 1 between.
const RANGE_RESTART: Scenario = Scenario {
    name: "range_inside_multi_order",
    writers: 1,
    readers: 2,
    online_model: false,
    default_ops: (100_000, 1_000_000),
    setup: keep_leaf,
    write: |sh, rng, base| {
        sh.write(|_, k| Op::StoreOrder(base, 3, entry(rng, k)));
        if rng.pct(30) {
            sh.write(|_, _| Op::SetMark(base, Mark::DIRTY));
        }
        sh.write(|_, _| Op::Erase(base));
        sh.write(|_, k| Op::Store(base + 1, entry(rng, k)));
        if rng.pct(30) {
            sh.write(|_, _| Op::SetMark(base + 1, Mark::DIRTY));
        }
        sh.write(|_, _| Op::Erase(base + 1));
    },
    read: |sh, rec, g, rng, base| {
        for _ in 0..8 {
            let hi = base + rng.pick(&[62, 63]);
            let mark = rng.pct(25).then_some(Mark::DIRTY);
            rec.iterate(&sh.seq, &sh.xa, g, base + 5..=hi, mark, rng.pct(40));
        }
        rec.load(&sh.seq, &sh.xa, g, base + 5);
    },
    converts: false,
};

/// An index, mostly near the start of a region (or near 2^32 in the
/// second), where multi-order entries collide.
fn index(rng: &mut Rng) -> u64 {
    if rng.pct(70) {
        if rng.pct(60) {
            rng.below(72)
        } else {
            rng.below(REGION_LEN)
        }
    } else if rng.pct(60) {
        REGION_B + 96 + rng.below(64)
    } else {
        REGION_B + rng.below(REGION_LEN)
    }
}

/// The last index of `i`'s region.
fn region_end(i: u64) -> u64 {
    if i < REGION_LEN {
        REGION_LEN - 1
    } else {
        REGION_B + REGION_LEN - 1
    }
}

/// A random write, chosen by the model's state.
fn random_op(m: &Model, rng: &mut Rng, k: u64) -> Op {
    if rng.below(2000) == 0 {
        return Op::Clear;
    }
    let i = index(rng);
    let base = if i < REGION_LEN { 0 } else { REGION_B };
    match rng.below(100) {
        0..=14 => Op::Store(i, entry(rng, k)),
        15..=26 => Op::Erase(i),
        27..=41 => {
            let most = if base == 0 { 8 } else { 7 };
            let order = if rng.pct(60) {
                rng.below(4) as u32
            } else {
                rng.below(most + 1) as u32
            };
            Op::StoreOrder(base + ((i - base) & !mask(order)), order, entry(rng, k))
        }
        42..=47 => {
            let to = match m.at(i) {
                Some(e) if e.order > 0 => rng.below(e.order as u64) as u32,
                _ => rng.below(3) as u32,
            };
            Op::Split(i, to)
        }
        48..=52 => {
            let last = (i + rng.below(40)).min(region_end(i));
            Op::StoreRange(i, last, entry(rng, k))
        }
        53..=56 => {
            let hi = if rng.pct(10) {
                REGION_B + 200
            } else {
                (i + rng.below(100)).min(region_end(i))
            };
            Op::TagRange(i, hi, rng.pick(&Mark::ALL), rng.pick(&Mark::ALL))
        }
        57..=60 => Op::Reserve(i),
        61..=63 => Op::Release(i),
        64..=73 if !m.is_reserved(i) => Op::SetMark(i, rng.pick(&Mark::ALL)),
        64..=79 => Op::ClearMark(i, rng.pick(&Mark::ALL)),
        80..=85 => Op::Insert(i, entry(rng, k)),
        _ => {
            let cur = m.at(i).map(|e| e.val.clone());
            let old = match rng.below(4) {
                0 | 1 => cur.as_ref().and_then(MVal::to_entry),
                2 => None,
                _ => Some(value_of(rng.below(k))),
            };
            let mut new = rng.pct(80).then(|| entry(rng, k));
            if matches!(cur, Some(MVal::Reserved)) && old.is_none() && new.is_none() {
                new = Some(entry(rng, k)); // None -> None on a reservation: unsettled
            }
            Op::Cmpxchg(i, old, new)
        }
    }
}

/// Random reads of every kind.
fn random_reads(sh: &Shared, rec: &mut Rec, g: &Guard, rng: &mut Rng) {
    for _ in 0..16 {
        let i = index(rng);
        let (seq, xa) = (&sh.seq, &sh.xa);
        match rng.below(100) {
            0..=19 => rec.load(seq, xa, g, i),
            20..=24 => rec.steps(seq, xa, g, i, 1 + rng.below(100), rng.pct(50)),
            25..=29 => {
                let many: Vec<u64> = (0..1 + rng.below(40)).map(|_| index(rng)).collect();
                rec.load_many(seq, xa, g, &many);
            }
            30..=37 => rec.get(seq, xa, i),
            38..=52 => rec.order(seq, xa, i),
            53..=67 => rec.mark(seq, xa, i, rng.pick(&Mark::ALL)),
            68..=91 => {
                let hi = i + rng.below(80);
                let mark = rng.pct(25).then(|| rng.pick(&Mark::ALL));
                rec.iterate(seq, xa, g, i..=hi, mark, rng.pct(35));
            }
            92..=96 => {
                let hi = i + rng.below(80);
                let mark = rng.pct(40).then(|| rng.pick(&Mark::ALL));
                rec.cursor_find(seq, xa, g, i..=hi, mark);
            }
            _ => rec.iterate(seq, xa, g, 0..=u64::MAX, None, rng.pct(50)),
        }
    }
}

/// Every write against every read, two writers.
const RANDOM: Scenario = Scenario {
    name: "random_mix",
    writers: 2,
    readers: 2,
    online_model: true,
    default_ops: (30_000, 300_000),
    setup: |_, _| {},
    write: |sh, rng, _| {
        for _ in 0..16 {
            sh.write(|m, k| random_op(m.unwrap(), rng, k));
        }
    },
    read: |sh, rec, g, rng, _| random_reads(sh, rec, g, rng),
    converts: false,
};

/// The compact bottom nodes (docs/sparse-nodes.md): writers fill a block
/// of 64 indices (four bottom nodes with 16-slot nodes) with a count swept
/// across the class boundaries, at offsets in random order (so stores land
/// below the highest offset present and rebuild the node), mark some,
/// now and then store a multi-order entry in it (which turns the node
/// Full), erase some back to tombstones and often the whole block to
/// empty, so that the next fill starts from a Single again; on the way
/// down the nodes shrink (Full to compact at 8 entries, 2 with 16-slot
/// nodes; a compact class at a quarter live). Readers load,
/// ask orders and marks, iterate both ways (marked too) and batch-load
/// across the blocks meanwhile.
const SPARSE_CHURN: Scenario = Scenario {
    name: "sparse_churn",
    writers: 2,
    readers: 2,
    online_model: true,
    default_ops: (30_000, 300_000),
    setup: |_, _| {},
    write: |sh, rng, base| {
        let block = base + 64 * rng.below(REGION_LEN / 64);
        let n = rng.pick(&[1u64, 2, 3, 4, 5, 8, 9, 16, 17]);
        let mut offsets: Vec<u64> = (0..64).collect();
        for k in (1..offsets.len()).rev() {
            let j = rng.below(k as u64 + 1) as usize;
            offsets.swap(k, j);
        }
        let offsets = &offsets[..n as usize];
        for &o in offsets {
            sh.write(|_, k| Op::Store(block + o, entry(rng, k)));
            if rng.pct(20) {
                sh.write(|_, _| Op::SetMark(block + o, rng.pick(&Mark::ALL)));
            }
        }
        if rng.pct(10) {
            let order = 1 + rng.below(3) as u32;
            let at = (block + rng.below(64)) & !mask(order);
            sh.write(|_, k| Op::StoreOrder(at, order, entry(rng, k)));
        }
        for &o in offsets {
            if rng.pct(30) {
                sh.write(|_, _| Op::Erase(block + o));
            }
        }
        if rng.pct(60) {
            for o in 0..64 {
                sh.write(|_, _| Op::Erase(block + o));
            }
        }
    },
    read: |sh, rec, g, rng, base| {
        let (seq, xa) = (&sh.seq, &sh.xa);
        for _ in 0..8 {
            let i = base + rng.below(REGION_LEN);
            match rng.below(9) {
                0..=1 => rec.load(seq, xa, g, i),
                2 => rec.steps(seq, xa, g, i, 1 + rng.below(80), rng.pct(50)),
                3 => rec.order(seq, xa, i),
                4 => rec.mark(seq, xa, i, rng.pick(&Mark::ALL)),
                5 => {
                    let many: Vec<u64> = (0..1 + rng.below(16))
                        .map(|_| base + rng.below(REGION_LEN))
                        .collect();
                    rec.load_many(seq, xa, g, &many);
                }
                6 => {
                    let hi = (i + rng.below(128)).min(base + REGION_LEN - 1);
                    let mark = rng.pct(30).then(|| rng.pick(&Mark::ALL));
                    rec.cursor_find(seq, xa, g, i..=hi, mark);
                }
                _ => {
                    let hi = (i + rng.below(128)).min(base + REGION_LEN - 1);
                    let mark = rng.pct(30).then(|| rng.pick(&Mark::ALL));
                    rec.iterate(seq, xa, g, i..=hi, mark, rng.pct(50));
                }
            }
        }
    },
    converts: true,
};

// ---------------------------------------------------------------------------
// Driving it.

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

/// Totals over a scenario's rounds.
#[derive(Default)]
struct Totals {
    rounds: u64,
    ops: u64,
    made: [u64; 4],
    report: Report,
    versions: u64,
    /// Conversions of bottom nodes: insert-below, grow, grow to Full, to
    /// Full for siblings, shrink, Full to compact.
    conversions: [usize; 6],
    /// With XRADIX_HISTORY_KEEP_GOING: violations per kind, and when each
    /// kind was first seen.
    violations: HashMap<&'static str, u64>,
    first_seen: HashMap<&'static str, String>,
}

impl Totals {
    fn add(&mut self, r: Report) {
        for k in 0..4 {
            self.report.checked[k] += r.checked[k];
        }
        self.report.iters += r.iters;
        self.report.steps += r.steps;
        self.report.stable += r.stable;
    }

    fn summary(&self) -> String {
        let r = &self.report;
        let kinds: Vec<String> = (0..4)
            .map(|k| format!("{} {} ({} made)", KIND_NAMES[k], r.checked[k], self.made[k]))
            .collect();
        format!(
            "{} rounds, {} writer ops, {} versions; checked: {}; {} iterations, {} steps, \
             {} stable entries yielded once",
            self.rounds,
            self.ops,
            self.versions,
            kinds.join(", "),
            r.iters,
            r.steps,
            r.stable
        )
    }
}

/// Ops of the log in states `lo..=hi` (state k is after log[k - 1]).
fn show_ops(log: &[Op], lo: u32, hi: u32) -> String {
    let lo = lo.saturating_sub(2).max(1);
    let hi = (hi + 1).min(log.len() as u32).min(lo + 16);
    (lo..=hi)
        .map(|k| format!("    op {k} (state {k}): {:?}\n", log[k as usize - 1]))
        .collect()
}

/// One round on a fresh tree; returns the log and the readers' records.
/// One round: the writers' log, the readers' records and the tree's
/// conversions of bottom nodes (`conversion_stats`).
fn round(
    sc: &Scenario,
    seed: u64,
    base: u64,
    ops: u64,
    cap: usize,
) -> (Vec<Op>, Vec<Rec>, [usize; 6]) {
    let sh = Shared::new(sc.online_model);
    (sc.setup)(&sh, base);
    let start = Barrier::new(sc.writers + sc.readers);
    let recs = std::thread::scope(|s| {
        for w in 0..sc.writers {
            let (sh, start) = (&sh, &start);
            s.spawn(move || {
                let mut rng = Rng::new(seed ^ ((w as u64 + 1) << 40));
                start.wait();
                while !sh.stop.load(Relaxed) && sh.ops() < ops {
                    (sc.write)(sh, &mut rng, base);
                }
                sh.stop.store(true, Relaxed);
            });
        }
        let readers: Vec<_> = (0..sc.readers)
            .map(|r| {
                let (sh, start) = (&sh, &start);
                s.spawn(move || {
                    let mut rng = Rng::new(seed ^ ((r as u64 + 1) << 50));
                    let mut rec = Rec::new(cap);
                    start.wait();
                    while !sh.stop.load(Relaxed) {
                        let g = pin();
                        (sc.read)(sh, &mut rec, &g, &mut rng, base);
                        if rec.full() {
                            sh.stop.store(true, Relaxed);
                        }
                    }
                    rec
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    sh.xa.check_invariants();
    let log = std::mem::take(&mut sh.gate.lock().unwrap().log);
    (log, recs, sh.xa.conversion_stats())
}

fn run(sc: &Scenario) {
    let secs = env_u64("XRADIX_HISTORY_SECS");
    let default_ops = if cfg!(debug_assertions) {
        sc.default_ops.0
    } else {
        sc.default_ops.1
    };
    let budget = env_u64("XRADIX_HISTORY_OPS").unwrap_or(if secs.is_some() {
        u64::MAX
    } else {
        default_ops
    });
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let seed = env_u64("XRADIX_HISTORY_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let keep_going = env_u64("XRADIX_HISTORY_KEEP_GOING").is_some_and(|k| k != 0);
    let cap = 1 << 20;
    let started = Instant::now();
    let mut t = Totals::default();
    while t.ops < budget && deadline.is_none_or(|d| Instant::now() < d) {
        let base = REGIONS[t.rounds as usize % 2];
        let round_seed = seed.wrapping_add(t.rounds);
        let ops = (budget - t.ops).min(50_000);
        let (log, recs, conversions) = round(sc, round_seed, base, ops, cap);
        for (t, n) in t.conversions.iter_mut().zip(conversions) {
            *t += n;
        }
        let v = Versions::replay(&log);
        let report = check(&v, &recs);
        t.rounds += 1;
        t.ops += log.len() as u64;
        t.versions += v.len() as u64;
        for rec in &recs {
            for k in 0..4 {
                t.made[k] += rec.made[k];
            }
        }
        if report.violations() > 0 && keep_going {
            // Detection statistics: the first counterexample of each kind,
            // with how long it took to find; the run goes on.
            let mut kinds: Vec<_> = report.first_by_kind.iter().collect();
            kinds.sort_by_key(|k| k.0);
            for (kind, (example, (lo, hi))) in kinds {
                *t.violations.entry(kind).or_default() += report.kinds[kind];
                if t.first_seen.contains_key(kind) {
                    continue;
                }
                let when = format!(
                    "after {:.1} s, round {}, {} writer ops, {} observations made",
                    started.elapsed().as_secs_f64(),
                    t.rounds,
                    t.ops,
                    t.made.iter().sum::<u64>() + t.report.steps + report.steps
                );
                eprintln!(
                    "\nhistory {}: first [{kind}] {when}\n{example}\n  the writer's operations \
                     around it:\n{}",
                    sc.name,
                    show_ops(&log, *lo, *hi)
                );
                t.first_seen.insert(kind, when);
            }
        } else if report.violations() > 0 {
            let mut kinds: Vec<_> = report.kinds.iter().collect();
            kinds.sort();
            let mut msg = format!(
                "\nhistory {}: VIOLATION after {:.1} s, in round {} (base {base}, round seed \
                 {round_seed}; XRADIX_HISTORY_SEED={seed} repeats the writers' choices)\n\
                 violations in this round: {kinds:?}\n",
                sc.name,
                started.elapsed().as_secs_f64(),
                t.rounds,
            );
            for e in &report.examples {
                msg.push_str(e);
                msg.push('\n');
            }
            if let Some((lo, hi)) = report.first_window {
                msg.push_str("  the writer's operations around the first one:\n");
                msg.push_str(&show_ops(&log, lo, hi));
            }
            t.add(report);
            msg.push_str(&format!("  so far: {}\n", t.summary()));
            eprintln!("{msg}");
            panic!(
                "history {}: a reader saw a state the tree was never in",
                sc.name
            );
        }
        t.add(report);
    }
    if !t.violations.is_empty() {
        let mut kinds: Vec<_> = t.violations.iter().collect();
        kinds.sort();
        eprintln!(
            "history {}: FAILED in {:.1} s (seed {seed}): {}\nviolations: {kinds:?}",
            sc.name,
            started.elapsed().as_secs_f64(),
            t.summary()
        );
        for (kind, when) in &t.first_seen {
            eprintln!("  first [{kind}] {when}");
        }
        panic!(
            "history {}: readers saw states the tree was never in",
            sc.name
        );
    }
    eprintln!(
        "history {}: ok in {:.1} s (seed {seed}): {}; conversions [insert-below, grow, grow to \
         Full, to Full for siblings, shrink, Full to compact] {:?}",
        sc.name,
        started.elapsed().as_secs_f64(),
        t.summary(),
        t.conversions
    );
    if sc.converts {
        assert!(
            t.conversions.iter().all(|&n| n > 0),
            "history {}: not every conversion happened: {:?}",
            sc.name,
            t.conversions
        );
    }
}

#[test]
fn load_inside_multi_order_entry() {
    run(&LOAD_INSIDE);
}

#[test]
fn get_order_while_sibling_run_written() {
    run(&ORDER_OF_RUN);
}

#[test]
fn range_starting_inside_multi_order_entry() {
    run(&RANGE_RESTART);
}

#[test]
fn sparse_churn() {
    run(&SPARSE_CHURN);
}

#[test]
fn random_mix_of_every_write_and_read() {
    run(&RANDOM);
}

// ---------------------------------------------------------------------------
// The checker's own checks: a correct history passes, planted bad ones
// fail. A checker is trusted only after it has caught a planted bug.

/// Writes and reads in one thread: every observation is of the current
/// state, so the check must pass, for every scenario's reads.
#[test]
fn checker_accepts_sequential_histories() {
    for sc in [&LOAD_INSIDE, &ORDER_OF_RUN, &RANGE_RESTART, &RANDOM] {
        for (n, &base) in REGIONS.iter().enumerate() {
            let sh = Shared::new(sc.online_model);
            (sc.setup)(&sh, base);
            let mut wrng = Rng::new(n as u64 + 1);
            let mut rrng = Rng::new(n as u64 + 100);
            let mut rec = Rec::new(usize::MAX);
            for _ in 0..300 {
                (sc.write)(&sh, &mut wrng, base);
                let g = pin();
                (sc.read)(&sh, &mut rec, &g, &mut rrng, base);
            }
            let log = std::mem::take(&mut sh.gate.lock().unwrap().log);
            let v = Versions::replay(&log);
            let r = check(&v, std::slice::from_ref(&rec));
            assert_eq!(
                r.violations(),
                0,
                "{}: {:?}\n{}",
                sc.name,
                r.kinds,
                r.examples.join("\n")
            );
            assert!(r.checked.iter().sum::<u64>() >= 300, "{}", sc.name);
            if sc.name == RANDOM.name {
                assert!(r.checked.iter().all(|&c| c > 100), "{:?}", r.checked);
                assert!(r.iters > 100 && r.steps > 1000 && r.stable > 1000);
            }
        }
    }
}

/// The three shapes issue 10 found, written as histories by hand.
#[test]
fn checker_rejects_planted_bad_histories() {
    // States: 1 = order-3 entry V1 at 0..=7 marked DIRTY at 2, erased at 3,
    // V4 at 0 at 4, erased at 5; an entry at 63 from state 6.
    let log = vec![
        Op::StoreOrder(0, 3, value_of(1)),
        Op::SetMark(0, Mark::DIRTY),
        Op::Erase(0),
        Op::Store(0, value_of(4)),
        Op::Erase(0),
        Op::Store(63, value_of(6)),
        Op::Store(1, value_of(7)),
    ];
    let v = Versions::replay(&log);
    let id = |k: u64| (k << 1) + 1; // load result of Value(k)
    let obs = |index, kind, res, before, after| Obs {
        index,
        kind,
        res,
        before,
        after,
    };
    let point = |o: Obs| {
        let mut r = Report::default();
        check_obs(&v, &o, &mut r);
        r
    };
    // Good: V1 at 7 while it was there, None after, the order 3, the mark.
    for o in [
        obs(7, Kind::Load, id(1), 2, 2),
        obs(7, Kind::Load, id(1), 0, 6),
        obs(7, Kind::Load, 0, 6, 10),
        obs(7, Kind::Get, 0, 0, 0),
        obs(5, Kind::Order, 3, 1, 3),
        obs(5, Kind::Order, 0, 5, 5),
        obs(7, Kind::Mark(1), 1, 3, 5),
        obs(1 << 40, Kind::Load, 0, 0, 14),
    ] {
        let r = point(o);
        assert_eq!(r.violations(), 0, "{o:?}: {:?}", r.examples);
    }
    // Bad: V4 (stored at 0 only) returned by load(7); V1 after it was
    // erased; an order never stored; a mark never set; an entry at an
    // index no writer uses.
    for (o, kind) in [
        (obs(7, Kind::Load, id(4), 5, 10), "load"),
        (obs(7, Kind::Load, id(1), 6, 8), "load"),
        (obs(7, Kind::Get, id(4), 0, 14), "get"),
        (obs(5, Kind::Order, 1, 0, 14), "get_order"),
        (obs(7, Kind::Mark(1), 1, 7, 14), "get_mark"),
        (obs(1 << 40, Kind::Load, id(1), 0, 14), "load"),
    ] {
        let r = point(o);
        assert_eq!(r.kinds.get(kind), Some(&1), "{o:?} must fail as {kind}");
        assert!(r.examples[0].contains("no state"), "{}", r.examples[0]);
    }
    // Iterations over 5..=63 between states 0 and 7.
    let step = |index, k: u64, before, after| Step {
        index,
        id: k << 1,
        before,
        after,
    };
    let iter = |steps: Vec<Step>, rev: bool, before, after| IterRec {
        lo: 5,
        hi: 63,
        mark: None,
        rev,
        before,
        after,
        steps,
    };
    let check_it = |it: IterRec| {
        let mut r = Report::default();
        check_iter(&v, &it, &mut r);
        r
    };
    let good = [
        iter(vec![step(5, 1, 0, 2), step(63, 6, 12, 12)], false, 0, 12),
        iter(vec![step(63, 6, 12, 12), step(5, 1, 0, 2)], true, 0, 12),
        iter(vec![step(63, 6, 12, 12)], false, 12, 14),
    ];
    for it in good {
        let r = check_it(it.clone());
        assert_eq!(r.violations(), 0, "{it:?}: {:?}", r.examples);
    }
    // Entry 63 is there from state 6 on: an iteration from 12 to 14 must
    // yield it once.
    let bad = [
        (
            iter(vec![step(1, 7, 12, 12), step(63, 6, 12, 12)], false, 12, 14),
            "iterator left its range",
        ),
        (
            iter(vec![step(63, 6, 12, 12), step(7, 1, 12, 12)], false, 0, 14),
            "iterator not monotonic",
        ),
        (
            iter(vec![step(7, 4, 8, 10), step(63, 6, 12, 12)], false, 8, 14),
            "iterator yielded an entry not there",
        ),
        (
            iter(vec![], false, 12, 14),
            "iterator missed or repeated an entry",
        ),
        (
            iter(vec![step(63, 6, 12, 12), step(63, 6, 12, 12)], true, 12, 14),
            "iterator missed or repeated an entry",
        ),
    ];
    for (it, kind) in bad {
        let r = check_it(it.clone());
        assert!(
            r.kinds.contains_key(kind),
            "{it:?} must fail as {kind}: {:?}",
            r.kinds
        );
    }
}
