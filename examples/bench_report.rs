//! Prints one Markdown table of the speed and memory goals of the
//! benchmarks (issues 5 and 11), from a short run, and optionally draws it
//! as a chart.
//!
//! ```text
//! cargo run --release --example bench_report -- --help
//! cargo run --release --example bench_report -- --svg docs/bench.svg
//! ```
//!
//! How it measures: every workload is timed once per round with
//! `std::time::Instant`, the structures compared alternating within the
//! round, in one process; each timed run directly follows an untimed run of
//! the same workload, so it starts with the caches that workload leaves (as
//! criterion's repeated iterations do). Each cell is the **median over the
//! rounds with the min–max** in brackets; ratios are taken within each
//! round (comparator time ÷ xradix time: above 1 means xradix is faster)
//! and reported the same way. A goal is "yes" only when the whole min–max
//! of the ratio clears it, "within noise" when the median clears it but
//! not every round does, "**no**" when the median does not.
//!
//! The `tag_range` rows time the call alone: before each timed call,
//! TOWRITE is cleared (untimed) by a cursor walk of the TOWRITE entries, so
//! the call finds the marked nodes in the cache as that walk left them
//! (warm, as in `cargo bench --bench tags` and the kxa harness). One extra
//! row times it after a 64 MiB sweep has pushed the nodes out of the
//! private caches (cold), the case of a writeback pass over pages dirtied
//! long before.
//!
//! Progress goes to stderr, the table to stdout. The workloads are those of
//! `benches/` (shared code in `benches/common/mod.rs`); the criterion
//! benches there give the full picture.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{
    clustered, dense, flat_lookups, flush_epoch, live_bytes, load_many_sum, marked_keys, measure,
    pointers, run, run_with, shuffled, sparse, Congee, Counting, Locked, Map, Run, Scc, Xa,
    XorShift, SEED,
};
use crossbeam_skiplist::SkipMap;
use xradix::{pin, Entry, Mark, XArray};

#[global_allocator]
static ALLOC: Counting = Counting;

const N: usize = 1_000_000;

const SECTIONS: &[(&str, &str)] = &[
    ("lookup", "random loads on dense 1e6 against the other maps"),
    (
        "iterate",
        "full iteration of dense 1e6: forward, reverse, Cursor::next",
    ),
    (
        "marks",
        "iter_marked and tag_range with 1 % marked (random, clustered)",
    ),
    (
        "load_many",
        "load_many vs a loop of load vs a flat array, dense 1e6 and 1e7",
    ),
    (
        "bulk",
        "try_extend and collect of 1e6 ascending entries vs a store loop",
    ),
    ("memory", "bytes per entry; order-9 entries"),
    (
        "release",
        "drop and clear of a 1e6 tree: time, and bytes not freed at once",
    ),
    (
        "concurrent",
        "readers with a writer (erase + store, overwrite in place)",
    ),
    (
        "keys",
        "memory and random loads per key shape (dense, uniform, pointers, clustered) vs BTreeMap and congee",
    ),
];

const HELP: &str = "\
bench_report: the goal table of xradix's benchmarks (see README, Performance)

USAGE:
    cargo run --release --example bench_report -- [OPTIONS]

OPTIONS:
    --rounds N      rounds per measurement (default 7, or XRADIX_REPORT_ROUNDS);
                    cells are the median over the rounds with the min-max
    --svg PATH      also draw the table as a bar chart (SVG) at PATH
    --only LIST     run only these sections (comma-separated), of:
                    lookup, iterate, marks, load_many, bulk, memory, release,
                    concurrent, keys
    --threads N     threads of the concurrent rows, one of them the writer
                    (default 2, or XRADIX_BENCH_THREADS)
    --no-1e7        skip the 1e7-entry rows of load_many and keys (about 0.5 GB)
    -h, --help      print this help

A goal is met (\"yes\") only when the ratio clears it in every round;
\"within noise\" when the median clears it but some round does not.
Progress goes to stderr, the Markdown table to stdout.";

struct Opts {
    rounds: usize,
    svg: Option<String>,
    only: Option<Vec<String>>,
    threads: usize,
    big: bool,
}

fn env_num(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn usage_error(msg: &str) -> ! {
    eprintln!("bench_report: {msg}\n\n{HELP}");
    std::process::exit(2)
}

fn opts() -> Opts {
    let mut o = Opts {
        rounds: env_num("XRADIX_REPORT_ROUNDS").unwrap_or(7),
        svg: None,
        only: None,
        threads: env_num("XRADIX_BENCH_THREADS").unwrap_or(2),
        big: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage_error(&format!("{name} needs a value")))
        };
        let number = |name: &str, v: String| {
            v.parse::<usize>()
                .unwrap_or_else(|_| usage_error(&format!("{name}: not a number: {v}")))
        };
        match a.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                println!("\nSECTIONS:");
                for (name, what) in SECTIONS {
                    println!("    {name:<12}{what}");
                }
                std::process::exit(0)
            }
            "--rounds" => o.rounds = number("--rounds", value("--rounds")),
            "--threads" => o.threads = number("--threads", value("--threads")),
            "--svg" => o.svg = Some(value("--svg")),
            "--no-1e7" => o.big = false,
            "--only" => {
                let list: Vec<String> = value("--only").split(',').map(str::to_owned).collect();
                for s in &list {
                    if !SECTIONS.iter().any(|(n, _)| n == s) {
                        usage_error(&format!("unknown section {s}"));
                    }
                }
                o.only = Some(list);
            }
            // `cargo bench` passes `--bench`; nothing else is expected.
            "--bench" => {}
            _ => usage_error(&format!("unknown argument {a}")),
        }
    }
    o.rounds = o.rounds.max(1);
    o.threads = o.threads.max(2);
    o
}

// ---------------------------------------------------------------------------
// Statistics over rounds.

/// The median and the min–max of some rounds' values.
#[derive(Clone, Copy)]
struct Spread {
    min: f64,
    med: f64,
    max: f64,
}

impl Spread {
    fn of(v: &[f64]) -> Spread {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let med = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            min: v[0],
            med,
            max: v[n - 1],
        }
    }

    fn one(x: f64) -> Spread {
        Spread {
            min: x,
            med: x,
            max: x,
        }
    }

    /// Per-round ratios `a[i] / b[i]`.
    fn ratio(a: &[f64], b: &[f64]) -> Spread {
        let r: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
        Spread::of(&r)
    }

    /// "24.3 ns (23.9–25.1)", with `unit` after the number.
    fn show(&self, digits: usize, unit: &str) -> String {
        let d = digits;
        if self.min == self.max {
            format!("{:.d$}{unit}", self.med)
        } else {
            format!("{:.d$}{unit} ({:.d$}–{:.d$})", self.med, self.min, self.max)
        }
    }

    fn ratio_text(&self) -> String {
        let digits = if self.med < 0.1 { 4 } else { 2 };
        self.show(digits, "×")
    }
}

fn ns(d: Duration, ops: u64) -> f64 {
    d.as_nanos() as f64 / ops as f64
}

type Timed<'a> = &'a mut dyn FnMut() -> Duration;

/// Runs each closure once per round, alternating, each timed run directly
/// after an untimed one of the same closure; returns each closure's ns per
/// op, one value per round.
fn alternate(rounds: usize, ops: u64, fs: &mut [Timed<'_>]) -> Vec<Vec<f64>> {
    let mut t = vec![Vec::new(); fs.len()];
    for _ in 0..rounds {
        for (i, f) in fs.iter_mut().enumerate() {
            f();
            t[i].push(ns(f(), ops));
        }
    }
    t
}

// ---------------------------------------------------------------------------
// Rows.

#[derive(Clone, Copy)]
enum Target {
    /// No goal: the row is information.
    None,
    /// The ratio must be at least this.
    AtLeast(f64),
    /// The ratio must be above this.
    Above(f64),
    /// The ratio must be at most this.
    AtMost(f64),
}

#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    NoGoal,
    Met,
    Noise,
    NotMet,
}

struct Row {
    goal: String,
    xradix: String,
    other: String,
    ratio: Spread,
    target: Target,
}

impl Row {
    fn new(goal: &str, xradix: String, other: String, ratio: Spread, target: Target) -> Row {
        Row {
            goal: goal.into(),
            xradix,
            other,
            ratio,
            target,
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::None => "–".into(),
            Target::AtLeast(t) => format!("≥ {t}×"),
            Target::Above(t) => format!("> {t}×"),
            Target::AtMost(t) => format!("≤ {t}×"),
        }
    }

    fn verdict(&self) -> Verdict {
        let r = self.ratio;
        let (all, median) = match self.target {
            Target::None => return Verdict::NoGoal,
            Target::AtLeast(t) => (r.min >= t, r.med >= t),
            Target::Above(t) => (r.min > t, r.med > t),
            Target::AtMost(t) => (r.max <= t, r.med <= t),
        };
        if all {
            Verdict::Met
        } else if median {
            Verdict::Noise
        } else {
            Verdict::NotMet
        }
    }
}

/// A timed run of `ops` lookups of `keys` in `m`, from `*pos` on.
fn timer<'a, M: Map>(
    m: &'a M,
    keys: &'a [u64],
    pos: &'a mut usize,
    ops: u64,
) -> impl FnMut() -> Duration + 'a {
    move || {
        let t = Instant::now();
        m.lookups(keys, pos, ops);
        t.elapsed()
    }
}

fn lookup_rows(o: &Opts, rows: &mut Vec<Row>) {
    eprintln!("random load, dense 1e6 ...");
    let keys = dense(N);
    let rand = shuffled(&keys);
    let ops = 400_000u64;
    let xa = Xa::build(&keys);
    let bt = BTreeMap::<u64, u64>::build(&keys);
    let sk = SkipMap::<u64, u64>::build(&keys);
    let sc = Scc::build(&keys);
    let cg = Congee::build(&keys);
    let mut p = [0usize; 5];
    let [p0, p1, p2, p3, p4] = &mut p;
    let t = alternate(
        o.rounds,
        ops,
        &mut [
            &mut timer(&xa, &rand, p0, ops),
            &mut timer(&bt, &rand, p1, ops),
            &mut timer(&sk, &rand, p2, ops),
            &mut timer(&sc, &rand, p3, ops),
            &mut timer(&cg, &rand, p4, ops),
        ],
    );
    let x = Spread::of(&t[0]);
    for (i, (name, target)) in [
        ("BTreeMap", Target::AtLeast(3.0)),
        ("SkipMap", Target::AtLeast(5.0)),
        ("scc::TreeIndex", Target::Above(1.0)),
        ("congee", Target::Above(1.0)),
    ]
    .into_iter()
    .enumerate()
    {
        rows.push(Row::new(
            &format!("dense random load 1e6 vs {name}"),
            x.show(1, " ns"),
            Spread::of(&t[i + 1]).show(1, " ns"),
            Spread::ratio(&t[i + 1], &t[0]),
            target,
        ));
    }
}

fn iterate_rows(o: &Opts, rows: &mut Vec<Row>) {
    eprintln!("full iteration, dense 1e6 ...");
    let keys = dense(N);
    let xa = Xa::build(&keys);
    let bt = BTreeMap::<u64, u64>::build(&keys);
    let want: u64 = keys.iter().sum();
    let check = |sum: u64| assert_eq!(black_box(sum), want, "iteration sum");
    let t = alternate(
        o.rounds,
        N as u64,
        &mut [
            &mut || {
                let t = Instant::now();
                let g = pin();
                let s = xa
                    .iter(&g)
                    .fold(0u64, |a, (_, e)| a.wrapping_add(e.value().unwrap_or(0)));
                let e = t.elapsed();
                check(s);
                e
            },
            &mut || {
                let t = Instant::now();
                let g = pin();
                let s = xa
                    .iter(&g)
                    .rev()
                    .fold(0u64, |a, (_, e)| a.wrapping_add(e.value().unwrap_or(0)));
                let e = t.elapsed();
                check(s);
                e
            },
            &mut || {
                let t = Instant::now();
                let g = pin();
                let mut c = xa.cursor(0, &g);
                let mut s = 0u64;
                for _ in 0..N {
                    s = s.wrapping_add(c.next().and_then(|e| e.value()).unwrap_or(0));
                }
                let e = t.elapsed();
                check(s);
                e
            },
            &mut || {
                let t = Instant::now();
                let s = bt.values().fold(0u64, |a, v| a.wrapping_add(*v));
                let e = t.elapsed();
                check(s);
                e
            },
            &mut || {
                let t = Instant::now();
                let s = bt.values().rev().fold(0u64, |a, v| a.wrapping_add(*v));
                let e = t.elapsed();
                check(s);
                e
            },
        ],
    );
    for (name, x, b) in [
        ("forward (iter) vs BTreeMap iter", 0, 3),
        ("reverse (iter().rev()) vs BTreeMap iter().rev()", 1, 4),
        ("Cursor::next vs BTreeMap iter", 2, 3),
    ] {
        rows.push(Row::new(
            &format!("full iteration 1e6, {name}"),
            Spread::of(&t[x]).show(2, " ns/entry"),
            Spread::of(&t[b]).show(2, " ns/entry"),
            Spread::ratio(&t[b], &t[x]),
            Target::Above(1.0),
        ));
    }
}

/// Clears TOWRITE with a cursor walk of the TOWRITE entries.
fn clear_towrite(xa: &Xa) {
    let l = xa.lock();
    let mut c = l.cursor_mut(0);
    while c.next_marked(Mark::TOWRITE, u64::MAX).is_some() {
        c.clear_mark(Mark::TOWRITE);
    }
}

/// Reads `junk` through, pushing what came before out of the private
/// caches (and most of it out of the L3).
fn sweep(junk: &[u64]) {
    black_box(junk.iter().fold(0u64, |a, b| a.wrapping_add(*b)));
}

fn mark_rows(o: &Opts, rows: &mut Vec<Row>) {
    let keys = dense(N);
    let map = BTreeMap::<u64, u64>::build(&keys);
    let junk: Vec<u64> = (0..8u64 << 20).collect();
    for clustered in [false, true] {
        let layout = if clustered { "clustered" } else { "random" };
        eprintln!("marks, 1 % {layout} ...");
        let marked = marked_keys(N, 1.0, clustered);
        let k = marked.len() as u64;
        let xa = Xa::build(&keys);
        {
            let l = xa.lock();
            for &i in &marked {
                l.set_mark(i, Mark::DIRTY);
            }
        }
        let dirty: BTreeSet<u64> = marked.iter().copied().collect();
        let sum = |it: &mut dyn Iterator<Item = u64>| it.fold(0u64, u64::wrapping_add);
        let tag = |cold: bool| {
            clear_towrite(&xa);
            if cold {
                sweep(&junk);
            }
            let t = Instant::now();
            let n = xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE);
            let e = t.elapsed();
            assert_eq!(n as u64, k, "tag_range count");
            e
        };
        let t = alternate(
            o.rounds,
            k,
            &mut [
                &mut || {
                    let t = Instant::now();
                    let g = pin();
                    black_box(sum(&mut xa
                        .iter_marked(.., Mark::DIRTY, &g)
                        .map(|(_, e)| e.value().unwrap_or(0))));
                    t.elapsed()
                },
                &mut || {
                    let t = Instant::now();
                    let g = pin();
                    black_box(sum(&mut xa
                        .iter(&g)
                        .filter(|&(i, _)| xa.get_mark(i, Mark::DIRTY))
                        .map(|(_, e)| e.value().unwrap_or(0))));
                    t.elapsed()
                },
                &mut || {
                    let t = Instant::now();
                    black_box(sum(&mut dirty
                        .iter()
                        .map(|k| map.get(k).copied().unwrap_or(0))));
                    t.elapsed()
                },
                &mut || tag(false),
                &mut || {
                    let t = Instant::now();
                    let towrite: BTreeSet<u64> = dirty.iter().copied().collect();
                    let e = t.elapsed();
                    black_box(towrite);
                    e
                },
            ],
        );
        // Cold against warm on their own, so that the sweep leaves the
        // other workloads' caches alone.
        let cold = alternate(o.rounds, k, &mut [&mut || tag(false), &mut || tag(true)]);
        let x = Spread::of(&t[0]);
        let unit = " ns/marked";
        if !clustered {
            rows.push(Row::new(
                "iter_marked 1 % (random) vs the ANCHORS goal of 17 ns/marked",
                x.show(1, unit),
                "17 ns/marked".into(),
                Spread::ratio(&vec![17.0; t[0].len()], &t[0]),
                Target::AtLeast(1.0),
            ));
        }
        rows.push(Row::new(
            &format!("iter_marked 1 % ({layout}) vs full scan + get_mark"),
            x.show(1, unit),
            Spread::of(&t[1]).show(1, unit),
            Spread::ratio(&t[1], &t[0]),
            Target::AtLeast(20.0),
        ));
        rows.push(Row::new(
            &format!("iter_marked 1 % ({layout}) vs BTreeSet + BTreeMap::get"),
            x.show(1, unit),
            Spread::of(&t[2]).show(1, unit),
            Spread::ratio(&t[2], &t[0]),
            Target::Above(1.0),
        ));
        rows.push(Row::new(
            &format!("tag_range 1 % ({layout}) vs rebuilding the BTreeSet"),
            Spread::of(&t[3]).show(1, unit),
            Spread::of(&t[4]).show(1, unit),
            Spread::ratio(&t[4], &t[3]),
            Target::Above(1.0),
        ));
        rows.push(Row::new(
            &format!("tag_range 1 % ({layout}), cold (after a 64 MiB sweep) vs warm"),
            Spread::of(&cold[1]).show(1, unit),
            Spread::of(&cold[0]).show(1, " ns warm"),
            Spread::ratio(&cold[0], &cold[1]),
            Target::None,
        ));
    }
}

fn load_many_rows(o: &Opts, rows: &mut Vec<Row>) {
    let sizes: &[usize] = if o.big { &[N, 10 * N] } else { &[N] };
    for &n in sizes {
        let label = if n == N { "1e6" } else { "1e7" };
        eprintln!("load_many, dense {label} ...");
        let keys = dense(n);
        let rand = shuffled(&keys);
        let xa = Xa::build(&keys);
        let flat = keys.clone();
        drop(keys);
        let ops = 1_000_000u64;
        let mut p = [0usize; 3];
        let [p0, p1, p2] = &mut p;
        let t = alternate(
            o.rounds,
            ops,
            &mut [
                &mut timer(&xa, &rand, p0, ops),
                &mut || {
                    let t = Instant::now();
                    load_many_sum(&xa, &rand, p1, ops);
                    t.elapsed()
                },
                &mut || {
                    let t = Instant::now();
                    flat_lookups(&flat, &rand, p2, ops);
                    t.elapsed()
                },
            ],
        );
        let many = Spread::of(&t[1]);
        rows.push(Row::new(
            &format!("load_many vs a loop of load, dense {label}, random"),
            many.show(1, " ns"),
            Spread::of(&t[0]).show(1, " ns"),
            Spread::ratio(&t[0], &t[1]),
            Target::AtLeast(3.0),
        ));
        rows.push(Row::new(
            &format!("load_many vs the flat-array floor, dense {label}, random"),
            many.show(1, " ns"),
            Spread::of(&t[2]).show(2, " ns Vec<u64>"),
            Spread::ratio(&t[2], &t[1]),
            Target::None,
        ));
    }
}

fn bulk_rows(o: &Opts, rows: &mut Vec<Row>) {
    eprintln!("bulk build, 1e6 ascending ...");
    let keys = dense(N);
    /// Times `build`; drops what it built untimed.
    fn timed<S>(build: impl FnOnce() -> S) -> Duration {
        let t = Instant::now();
        let s = build();
        let e = t.elapsed();
        drop(black_box(s));
        e
    }
    let t = alternate(
        o.rounds,
        N as u64,
        &mut [
            &mut || {
                timed(|| {
                    let xa = Xa::new();
                    for &k in &keys {
                        xa.store(k, Entry::Value(k)).unwrap();
                    }
                    xa
                })
            },
            &mut || timed(|| Xa::build(&keys)),
            &mut || {
                timed(|| {
                    let mut xa = Xa::new();
                    xa.try_extend(keys.iter().map(|&k| (k, Entry::Value(k))))
                        .unwrap();
                    xa
                })
            },
            &mut || {
                timed(|| -> XArray<(), u32> {
                    keys.iter().map(|&k| (k, Entry::Value(k as u32))).collect()
                })
            },
        ],
    );
    let unit = " ns/entry";
    let store = Spread::of(&t[0]).show(1, unit);
    rows.push(Row::new(
        "bulk build 1e6 ascending: try_extend vs a store loop",
        Spread::of(&t[2]).show(2, unit),
        store.clone(),
        Spread::ratio(&t[0], &t[2]),
        Target::AtLeast(5.0),
    ));
    rows.push(Row::new(
        "bulk build 1e6 ascending: collect() (u32 values) vs a store loop",
        Spread::of(&t[3]).show(2, unit),
        store,
        Spread::ratio(&t[0], &t[3]),
        Target::AtLeast(5.0),
    ));
    rows.push(Row::new(
        "bulk build 1e6 ascending: try_extend vs one lock() + store loop",
        Spread::of(&t[2]).show(2, unit),
        Spread::of(&t[1]).show(1, unit),
        Spread::ratio(&t[1], &t[2]),
        Target::None,
    ));
}

fn memory_rows(rows: &mut Vec<Row>) {
    eprintln!("memory ...");
    let keys = dense(N);
    let (x, xa) = measure(|| Xa::build(&keys));
    drop(xa);
    let (b, bt) = measure(|| BTreeMap::<u64, u64>::build(&keys));
    drop(bt);
    let per = |v: isize| v as f64 / N as f64;
    rows.push(Row::new(
        "dense 1e6 bytes per value entry (malloc'd; requested) vs the goal of 9.5 B",
        format!("{:.2} B ({:.2})", per(x.1), per(x.0)),
        format!("9.5 B (BTreeMap {:.2} B)", per(b.1)),
        Spread::one(9.5 / per(x.1)),
        Target::AtLeast(1.0),
    ));
    let (big, xa) = measure(|| {
        let xa = Xa::new();
        for e in 0..1_000u64 {
            xa.store_order(e << 9, 9, Entry::Value(e)).unwrap();
        }
        xa
    });
    drop(xa);
    let (small, xa) = measure(|| Xa::build(&dense(512_000)));
    drop(xa);
    rows.push(Row::new(
        "1,000 order-9 entries vs 512,000 order-0 (memory)",
        format!("{} B", big.1),
        format!("{} B", small.1),
        Spread::one(big.1 as f64 / small.1 as f64),
        Target::AtMost(0.01),
    ));
}

/// Bytes per entry and random loads for each key shape of issue 14, beside
/// `BTreeMap` and congee. Memory is what each structure holds once built
/// (requested bytes, and what malloc reserved for them); loads are random
/// hits in the ANCHORS order, the three alternating in each round.
fn key_shape_rows(o: &Opts, rows: &mut Vec<Row>) {
    let mut shapes: Vec<(&str, Vec<u64>)> = vec![
        ("dense 0..1e6", dense(N)),
        ("uniform 1e6 in 2^26", sparse(N)),
        ("pointers: 1e6 multiples of 64 in 2^40", pointers(N)),
        (
            "clustered: 1e6 in runs of 4-8, starts in 2^26",
            clustered(N, 26),
        ),
    ];
    if o.big {
        shapes.push(("dense 0..1e7", dense(10 * N)));
    }
    for (name, keys) in shapes {
        eprintln!("key shape {name} ...");
        let n = keys.len();
        // Issue 14's goals are set on the uniform shape.
        let goals = name.starts_with("uniform");
        let rand = shuffled(&keys);
        let per = |b: (isize, isize)| (b.0 as f64 / n as f64, b.1 as f64 / n as f64);
        let (xm, xa) = measure(|| Xa::build(&keys));
        let (bm, bt) = measure(|| BTreeMap::<u64, u64>::build(&keys));
        let (cm, cg) = measure(|| Congee::build(&keys));
        let (xm, bm, cm) = (per(xm), per(bm), per(cm));
        rows.push(Row::new(
            &format!("{name}: bytes per entry (requested; malloc'd), xradix ÷ congee"),
            format!("{:.1} B ({:.1})", xm.0, xm.1),
            format!("congee {:.1} B ({:.1}); BTreeMap {:.1} B", cm.0, cm.1, bm.0),
            Spread::one(xm.0 / cm.0),
            if goals {
                // Issue 14: within 1.5× congee's bytes.
                Target::AtMost(1.5)
            } else {
                Target::None
            },
        ));
        if goals {
            rows.push(Row::new(
                &format!("{name}: bytes per entry (requested), xradix ÷ the goal of 40 B"),
                format!("{:.1} B", xm.0),
                "40 B".into(),
                Spread::one(xm.0 / 40.0),
                Target::AtMost(1.0),
            ));
        }
        let ops = 400_000u64;
        let mut p = [0usize; 3];
        let [p0, p1, p2] = &mut p;
        let t = alternate(
            o.rounds,
            ops,
            &mut [
                &mut timer(&xa, &rand, p0, ops),
                &mut timer(&cg, &rand, p1, ops),
                &mut timer(&bt, &rand, p2, ops),
            ],
        );
        let x = Spread::of(&t[0]);
        rows.push(Row::new(
            &format!("{name}: random load vs congee"),
            x.show(1, " ns"),
            Spread::of(&t[1]).show(1, " ns"),
            Spread::ratio(&t[1], &t[0]),
            if goals {
                // Issue 14: at least 1.3× faster than congee.
                Target::AtLeast(1.3)
            } else {
                Target::None
            },
        ));
        rows.push(Row::new(
            &format!("{name}: random load vs BTreeMap"),
            x.show(1, " ns"),
            Spread::of(&t[2]).show(1, " ns"),
            Spread::ratio(&t[2], &t[0]),
            Target::None,
        ));
        drop((xa, bt, cg));
        flush_epoch();
    }
}

fn release_rows(o: &Opts, rows: &mut Vec<Row>) {
    eprintln!("drop and clear, dense 1e6 ...");
    let keys = dense(N);
    // Per round: ns per entry for xradix drop, BTreeMap drop, xradix clear,
    // BTreeMap clear; and for xradix drop and clear, the share of the
    // tree's bytes not freed when the call returns (no pin in between).
    let mut t = vec![Vec::new(); 4];
    let mut left = vec![Vec::new(); 2];
    let mut held = 0isize;
    // Builds a tree, then drops or clears it: (ns per entry, bytes held,
    // bytes not freed when the call returned).
    let xradix = |clear: bool| {
        flush_epoch();
        let before = live_bytes().1;
        let xa = Xa::build(&keys);
        let h = live_bytes().1 - before;
        let s = Instant::now();
        if clear {
            xa.clear();
        } else {
            drop(xa);
        }
        let e = s.elapsed();
        let l = live_bytes().1 - before;
        (ns(e, N as u64), h, l)
    };
    let btree = |clear: bool| {
        let mut bt = BTreeMap::<u64, u64>::build(&keys);
        let s = Instant::now();
        if clear {
            bt.clear();
        } else {
            drop(bt);
        }
        ns(s.elapsed(), N as u64)
    };
    for round in 0..=o.rounds {
        for (i, clear) in [false, true].into_iter().enumerate() {
            let (e, h, l) = xradix(clear);
            let b = btree(clear);
            if round > 0 {
                t[2 * i].push(e);
                t[2 * i + 1].push(b);
                left[i].push(l as f64 / h as f64);
                held = h;
            }
        }
    }
    let unit = " ns/entry";
    for (i, name) in ["drop", "clear"].into_iter().enumerate() {
        rows.push(Row::new(
            &format!("{name} of a 1e6 tree: time vs BTreeMap {name}"),
            Spread::of(&t[2 * i]).show(2, unit),
            Spread::of(&t[2 * i + 1]).show(2, unit),
            Spread::ratio(&t[2 * i + 1], &t[2 * i]),
            Target::None,
        ));
        let share = Spread::of(&left[i]);
        rows.push(Row::new(
            &format!("{name} of a 1e6 tree: bytes not freed when it returns (no pin)"),
            format!(
                "{} B",
                Spread {
                    min: share.min * held as f64,
                    med: share.med * held as f64,
                    max: share.max * held as f64,
                }
                .show(0, "")
            ),
            format!("of {:.1} MB held", held as f64 / 1e6),
            share,
            Target::AtMost(0.01),
        ));
    }
}

/// One writer kind of the concurrent rows: its name and its step.
type Writer<'a> = (&'a str, Option<&'a (dyn Fn(&mut XorShift) + Sync)>);

/// Runs each case once untimed, then `rounds` times alternating; returns
/// per case the reader CPU ns per read, wall ns per read per reader, and
/// writer changes per µs of wall time, one value per round. With `pinned`
/// (one reader, Linux), the reader runs on CPU 0 and the writer on CPU 1,
/// so that when other work shares the CPUs the two still never share a
/// core's private caches by taking turns on it.
fn conc_cases<M: common::ConcurrentMap>(
    rounds: usize,
    cases: &[(&M, &[u64], Writer<'_>)],
    readers: usize,
    ops: u64,
    pinned: bool,
) -> Vec<[Vec<f64>; 3]> {
    let pinned = pinned && readers == 1 && cpus::available();
    let go = |(m, keys, (_, w)): &(&M, &[u64], Writer<'_>)| {
        if !pinned {
            return run_with(*m, keys, readers, *w, ops);
        }
        let wrapped = w.map(|w| {
            move |rng: &mut XorShift| {
                cpus::pin_once(1);
                w(rng)
            }
        });
        let saved = cpus::pin(0);
        let r = run_with(
            *m,
            keys,
            readers,
            wrapped
                .as_ref()
                .map(|w| w as &(dyn Fn(&mut XorShift) + Sync)),
            ops,
        );
        cpus::restore(saved);
        r
    };
    for c in cases {
        go(c);
    }
    let mut out = vec![[Vec::new(), Vec::new(), Vec::new()]; cases.len()];
    for _ in 0..rounds {
        for (i, c) in cases.iter().enumerate() {
            let r: Run = go(c);
            out[i][0].push(ns(r.cpu, ops));
            out[i][1].push(ns(r.wall, ops));
            out[i][2].push(r.writes as f64 * 1e3 / r.wall.as_nanos() as f64);
        }
    }
    out
}

/// Thread CPU affinity (Linux; elsewhere nothing is pinned).
#[cfg(target_os = "linux")]
mod cpus {
    use std::cell::Cell;

    /// Whether CPUs 0 and 1 may both be used.
    pub fn available() -> bool {
        let set = get();
        // SAFETY: `set` is a valid cpu_set_t.
        unsafe { libc::CPU_ISSET(0, &set) && libc::CPU_ISSET(1, &set) }
    }

    fn get() -> libc::cpu_set_t {
        // SAFETY: a zeroed cpu_set_t is valid; the call writes at most
        // its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set);
            set
        }
    }

    /// Pins the calling thread to `cpu`; returns the mask it had.
    pub fn pin(cpu: usize) -> libc::cpu_set_t {
        let saved = get();
        // SAFETY: as in `get`.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        }
        saved
    }

    pub fn restore(set: libc::cpu_set_t) {
        // SAFETY: `set` came from `sched_getaffinity`.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    }

    thread_local! {
        static PINNED: Cell<bool> = const { Cell::new(false) };
    }

    /// Pins the calling thread to `cpu` the first time it calls this.
    #[inline]
    pub fn pin_once(cpu: usize) {
        PINNED.with(|p| {
            if !p.get() {
                pin(cpu);
                p.set(true);
            }
        });
    }
}

#[cfg(not(target_os = "linux"))]
mod cpus {
    pub fn available() -> bool {
        false
    }
    pub fn pin(_: usize) {}
    pub fn restore(_: ()) {}
    pub fn pin_once(_: usize) {}
}

fn concurrent_rows(o: &Opts, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let readers = o.threads - 1;
    eprintln!("concurrent, {readers} reader(s) + 1 writer ...");
    let n = N as u64;
    let keys = dense(N);
    let rand = shuffled(&keys);
    let ops = 1_000_000u64;
    let xa = Xa::build(&keys);
    let lk = Locked::build(&keys);
    let cg = Congee::build(&keys);
    let churn = |rng: &mut XorShift| {
        let k = rng.next_u64() % n;
        xa.erase(k);
        xa.store(k, Entry::Value(k)).unwrap();
    };
    let overwrite = |rng: &mut XorShift| {
        let k = rng.next_u64() % n;
        xa.store(k, Entry::Value(k)).unwrap();
    };
    let main_cases: [(&Xa, &[u64], Writer<'_>); 3] = [
        (&xa, &rand, ("alone", None)),
        (&xa, &rand, ("erase + store", Some(&churn))),
        (&xa, &rand, ("overwrite", Some(&overwrite))),
    ];
    let x = conc_cases(o.rounds, &main_cases, readers, ops, false);
    // The others with their erase + store writer (`run`).
    let other = |f: &dyn Fn() -> Run| {
        f();
        let mut wall = Vec::new();
        let mut w = Vec::new();
        for _ in 0..o.rounds {
            let r = f();
            wall.push(ns(r.wall, ops));
            w.push(r.writes as f64 * 1e3 / r.wall.as_nanos() as f64);
        }
        (wall, Spread::of(&w).med)
    };
    let (lk_wall, lk_w) = other(&|| run(&lk, &rand, readers, true, ops));
    let (cg_wall, cg_w) = other(&|| run(&cg, &rand, readers, true, ops));
    let mops = |s: Spread| Spread {
        min: readers as f64 * 1e3 / s.max,
        med: readers as f64 * 1e3 / s.med,
        max: readers as f64 * 1e3 / s.min,
    };
    let wall = |i: usize| Spread::of(&x[i][1]);
    let writes = |i: usize| Spread::of(&x[i][2]).med;
    rows.push(Row::new(
        "readers with an erase + store writer vs alone (wall)",
        format!(
            "{} (writer {:.2} M changes/s)",
            mops(wall(1)).show(1, " Mops/s"),
            writes(1)
        ),
        format!("{} alone", mops(wall(0)).show(1, " Mops/s")),
        Spread::ratio(&x[0][1], &x[1][1]),
        Target::AtLeast(0.8),
    ));
    for (i, kind) in [(1, "an erase + store"), (2, "an overwrite-in-place")] {
        rows.push(Row::new(
            &format!("readers with {kind} writer vs alone (reader CPU time)"),
            format!(
                "{} (writer {:.2} M changes/s; reader on a CPU {:.0} % of wall)",
                Spread::of(&x[i][0]).show(1, " ns/read"),
                writes(i),
                Spread::ratio(&x[i][0], &x[i][1]).med * 100.0
            ),
            format!("{} alone", Spread::of(&x[0][0]).show(1, " ns/read")),
            Spread::ratio(&x[0][0], &x[i][0]),
            Target::AtLeast(0.8),
        ));
    }
    rows.push(Row::new(
        "readers with an erase + store writer vs RwLock<BTreeMap> (wall)",
        mops(wall(1)).show(1, " Mops/s"),
        format!(
            "{} (writer {lk_w:.2} M/s)",
            mops(Spread::of(&lk_wall)).show(2, " Mops/s")
        ),
        Spread::ratio(&lk_wall, &x[1][1]),
        Target::AtLeast(5.0),
    ));
    rows.push(Row::new(
        "readers with an erase + store writer vs congee under its writer (wall)",
        mops(wall(1)).show(1, " Mops/s"),
        format!(
            "{} (writer {cg_w:.2} M/s)",
            mops(Spread::of(&cg_wall)).show(1, " Mops/s")
        ),
        Spread::ratio(&cg_wall, &x[1][1]),
        Target::None,
    ));

    // What the reader pays for. The reader reads 256 keys: slots 60..63
    // (one cache line of slots) of each of 64 bottom nodes, in random
    // order, over and over; alone, they stay in its private cache. A writer
    // then changes, at random: the very keys it reads; other slots (another
    // cache line) of the same nodes; or keys of 64 nodes far away. An
    // overwrite in place that dirtied only its slot's line would cost the
    // reader nothing in the second case.
    eprintln!("concurrent, what the reader pays for ...");
    let key = |leaf: u64, slot: u64| leaf * 64 + slot;
    let mut lower: Vec<u64> = (0..64)
        .flat_map(|l| (60..64).map(move |s| key(l, s)))
        .collect();
    XorShift::new(SEED).shuffle(&mut lower);
    let lower = &lower;
    let same = |rng: &mut XorShift| key(rng.next_u64() % 64, 60 + rng.next_u64() % 4);
    let line = |rng: &mut XorShift| key(rng.next_u64() % 64, 20 + rng.next_u64() % 8);
    let far = |rng: &mut XorShift| key(4096 + rng.next_u64() % 64, 60 + rng.next_u64() % 4);
    let ow = |k: u64| {
        xa.store(k, Entry::Value(k)).unwrap();
    };
    let es = |k: u64| {
        xa.erase(k);
        xa.store(k, Entry::Value(k)).unwrap();
    };
    let ow_same = |rng: &mut XorShift| ow(same(rng));
    let ow_line = |rng: &mut XorShift| ow(line(rng));
    let ow_far = |rng: &mut XorShift| ow(far(rng));
    let es_same = |rng: &mut XorShift| es(same(rng));
    let es_line = |rng: &mut XorShift| es(line(rng));
    let es_far = |rng: &mut XorShift| es(far(rng));
    let spin = |rng: &mut XorShift| {
        for _ in 0..64 {
            black_box(rng.next_u64());
        }
    };
    let cases: [(&Xa, &[u64], Writer<'_>); 11] = [
        (&xa, &rand, ("1e6 random keys: none (reader alone)", None)),
        (
            &xa,
            &rand,
            ("1e6 random keys: overwrite in place", Some(&overwrite)),
        ),
        (&xa, &rand, ("1e6 random keys: erase + store", Some(&churn))),
        (&xa, lower, ("none (reader alone)", None)),
        (&xa, lower, ("spinning, no memory writes", Some(&spin))),
        (
            &xa,
            lower,
            ("overwrite in place: the keys read", Some(&ow_same)),
        ),
        (
            &xa,
            lower,
            (
                "overwrite in place: other slots, same nodes",
                Some(&ow_line),
            ),
        ),
        (
            &xa,
            lower,
            ("overwrite in place: other nodes", Some(&ow_far)),
        ),
        (&xa, lower, ("erase + store: the keys read", Some(&es_same))),
        (
            &xa,
            lower,
            ("erase + store: other slots, same nodes", Some(&es_line)),
        ),
        (&xa, lower, ("erase + store: other nodes", Some(&es_far))),
    ];
    let d = conc_cases(o.rounds, &cases, readers, 4 * ops, true);
    notes.push(String::new());
    notes.push(format!(
        "Readers with a writer: what the reader pays for ({readers} reader(s), one \
         writer{}; first on random keys of the whole 1e6 tree, then reading 256 keys, \
         slots 60..63 of 64 bottom nodes, at random; reader CPU time per read, \
         median (min–max) of {} rounds; \"extra ns per change\" is the reader's \
         extra CPU time per read divided by the writer's changes per read)",
        if readers == 1 && cpus::available() {
            ", reader pinned to CPU 0 and writer to CPU 1"
        } else {
            ", not pinned"
        },
        o.rounds
    ));
    notes.push(String::new());
    notes.push(
        "| writer | reader CPU ns/read | × alone | reader on a CPU, % of wall | writer M changes/s | changes per read | extra reader ns per change |"
            .into(),
    );
    notes.push("|---|---:|---:|---:|---:|---:|---:|".into());
    for (i, (_, _, (name, w))) in cases.iter().enumerate() {
        let alone = Spread::of(&d[if i < 3 { 0 } else { 3 }][0]).med;
        let cpu = Spread::of(&d[i][0]);
        let wps = Spread::of(&d[i][2]).med;
        // Changes per read: changes per µs ÷ reads per µs (all readers).
        let per_read = wps * Spread::of(&d[i][1]).med / 1e3 / readers as f64;
        let (rate, pr, extra) = if w.is_some() && !name.starts_with("spinning") {
            (
                format!("{wps:.2}"),
                format!("{per_read:.3}"),
                format!("{:.1}", (cpu.med - alone) / per_read),
            )
        } else {
            ("–".into(), "–".into(), "–".into())
        };
        let on_cpu = Spread::ratio(&d[i][0], &d[i][1]);
        notes.push(format!(
            "| {name} | {} | {:.2} | {:.0} | {rate} | {pr} | {extra} |",
            cpu.show(1, ""),
            cpu.med / alone,
            on_cpu.med * 100.0,
        ));
    }
}

fn main() {
    let o = opts();
    let on = |s: &str| o.only.as_ref().is_none_or(|l| l.iter().any(|x| x == s));
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_start: String = load.split(' ').take(3).collect::<Vec<_>>().join(" ");
    let start = Instant::now();
    if on("lookup") {
        lookup_rows(&o, &mut rows);
    }
    if on("iterate") {
        iterate_rows(&o, &mut rows);
    }
    if on("marks") {
        mark_rows(&o, &mut rows);
    }
    if on("load_many") {
        load_many_rows(&o, &mut rows);
    }
    if on("bulk") {
        bulk_rows(&o, &mut rows);
    }
    if on("memory") {
        memory_rows(&mut rows);
    }
    if on("release") {
        release_rows(&o, &mut rows);
    }
    if on("concurrent") {
        concurrent_rows(&o, &mut rows, &mut notes);
    }
    if on("keys") {
        key_shape_rows(&o, &mut rows);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_end: String = load.split(' ').take(3).collect::<Vec<_>>().join(" ");
    if let Some(path) = &o.svg {
        match std::fs::write(path, chart(&rows)) {
            Ok(()) => eprintln!("chart written to {path}"),
            Err(e) => {
                eprintln!("cannot write the chart to {path}: {e}");
                std::process::exit(2);
            }
        }
    }
    println!(
        "{} rounds; load average {load_start} at the start, {load_end} at the end; {:.0} s",
        o.rounds,
        start.elapsed().as_secs_f64()
    );
    println!();
    println!("| goal | xradix | compared with | ratio | target | met |");
    println!("|---|---:|---:|---:|---:|:---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.goal,
            r.xradix,
            r.other,
            r.ratio.ratio_text(),
            r.target_text(),
            match r.verdict() {
                Verdict::NoGoal => "–",
                Verdict::Met => "yes",
                Verdict::Noise => "within noise",
                Verdict::NotMet => "**no**",
            }
        );
    }
    for n in notes {
        println!("{n}");
    }
}

/// The rows as a bar chart (SVG), drawn from the measured ratios: one bar
/// per row on a log scale to the median, a whisker over the min–max of the
/// rounds; green where the goal is met in every round, amber where only the
/// median meets it, red where not, grey where the row has no goal; the
/// line marks 1×.
fn chart(rows: &[Row]) -> String {
    const LABEL: f64 = 520.0;
    const DECADE: f64 = 100.0;
    const ROW: f64 = 24.0;
    let width = LABEL + 7.0 * DECADE + 80.0;
    let height = ROW * rows.len() as f64 + 50.0;
    let x = |ratio: f64| LABEL + (ratio.max(0.0001).log10() + 4.0).clamp(0.0, 7.0) * DECADE;
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (k, decade) in [
        "0.0001×", "0.001×", "0.01×", "0.1×", "1×", "10×", "100×", "1000×",
    ]
    .iter()
    .enumerate()
    {
        let gx = LABEL + k as f64 * DECADE;
        let stroke = if k == 4 { "#333" } else { "#ddd" };
        svg += &format!(
            "<line x1=\"{gx}\" y1=\"20\" x2=\"{gx}\" y2=\"{}\" stroke=\"{stroke}\"/>\n\
             <text x=\"{gx}\" y=\"14\" text-anchor=\"middle\" fill=\"#555\">{decade}</text>\n",
            height - 20.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = 24.0 + i as f64 * ROW;
        let color = match r.verdict() {
            Verdict::NoGoal => "#999",
            Verdict::Met => "#2a8f3a",
            Verdict::Noise => "#d68910",
            Verdict::NotMet => "#c0392b",
        };
        let (x0, x1) = (x(1.0), x(r.ratio.med));
        let (left, w) = if x1 >= x0 {
            (x0, x1 - x0)
        } else {
            (x1, x0 - x1)
        };
        let mid = y + (ROW - 6.0) / 2.0;
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{left}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{color}\"/>\n\
             <line x1=\"{}\" y1=\"{mid}\" x2=\"{}\" y2=\"{mid}\" stroke=\"#222\"/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"#333\">{}</text>\n",
            LABEL - 8.0,
            y + 14.0,
            escape(&r.goal),
            w.max(1.0),
            ROW - 6.0,
            x(r.ratio.min),
            x(r.ratio.max).max(x(r.ratio.min) + 1.0),
            x1.max(x0).max(x(r.ratio.max)) + 4.0,
            y + 14.0,
            escape(&format!("{:.2}×", r.ratio.med))
        );
    }
    svg += &format!(
        "<text x=\"{LABEL}\" y=\"{}\" fill=\"#555\">ratio, log scale; bar: median, whisker: \
         min–max over the rounds (speed: above 1× xradix ahead; memory shares: below)</text>\n</svg>\n",
        height - 4.0
    );
    svg
}
