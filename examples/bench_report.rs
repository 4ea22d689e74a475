//! Prints one Markdown table of the speed and memory goals of the
//! benchmarks (issue 5), from a short run: each number is the median of
//! several rounds timed with `std::time::Instant`, the structures compared
//! alternating round by round, all in the same process.
//!
//! ```text
//! cargo run --release --example bench_report
//! ```
//!
//! `XRADIX_REPORT_ROUNDS` sets the rounds (default 7); `XRADIX_BENCH_THREADS`
//! the threads of the concurrent row (default 2: one reader, one writer).
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
    dense, marked_keys, measure, run, shuffled, Congee, Counting, Locked, Map, Run, Scc, Xa,
};
use crossbeam_skiplist::SkipMap;
use xradix::{pin, Entry, Mark};

#[global_allocator]
static ALLOC: Counting = Counting;

const N: usize = 1_000_000;

fn rounds() -> usize {
    std::env::var("XRADIX_REPORT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
        .max(1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ns(d: Duration, ops: u64) -> f64 {
    d.as_nanos() as f64 / ops as f64
}

/// Times each closure once per round, alternating; returns the median ns
/// per op of each.
fn alternate(ops: u64, fs: &mut [&mut dyn FnMut() -> Duration]) -> Vec<f64> {
    for f in fs.iter_mut() {
        f(); // warm-up
    }
    let mut t = vec![Vec::new(); fs.len()];
    for _ in 0..rounds() {
        for (i, f) in fs.iter_mut().enumerate() {
            t[i].push(ns(f(), ops));
        }
    }
    t.into_iter().map(median).collect()
}

struct Row {
    goal: String,
    xradix: String,
    other: String,
    ratio: String,
    /// The ratio as a number, for the chart.
    value: f64,
    target: &'static str,
    met: bool,
}

fn row(
    goal: &str,
    xradix: String,
    other: String,
    ratio: f64,
    target: &'static str,
    met: bool,
) -> Row {
    let value = ratio;
    let ratio = if ratio < 0.1 {
        format!("{ratio:.4}×")
    } else {
        format!("{ratio:.2}×")
    };
    Row {
        goal: goal.into(),
        xradix,
        other,
        ratio,
        value,
        target,
        met,
    }
}

fn lookup_rows(rows: &mut Vec<Row>) {
    eprintln!("random load, dense 1e6 ...");
    let keys = dense(N);
    let rand = shuffled(&keys);
    let ops = 400_000u64;
    let xa = Xa::build(&keys);
    let bt = BTreeMap::<u64, u64>::build(&keys);
    let sk = SkipMap::<u64, u64>::build(&keys);
    let sc = Scc::build(&keys);
    let cg = Congee::build(&keys);
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
    let mut p = [0usize; 5];
    let [p0, p1, p2, p3, p4] = &mut p;
    let t = alternate(
        ops,
        &mut [
            &mut timer(&xa, &rand, p0, ops),
            &mut timer(&bt, &rand, p1, ops),
            &mut timer(&sk, &rand, p2, ops),
            &mut timer(&sc, &rand, p3, ops),
            &mut timer(&cg, &rand, p4, ops),
        ],
    );
    let x = t[0];
    for (i, (name, target, want)) in [
        ("BTreeMap", "≥ 3×", 3.0),
        ("SkipMap", "≥ 5×", 5.0),
        ("scc::TreeIndex", "> 1×", 1.0),
        ("congee", "> 1×", 1.0),
    ]
    .into_iter()
    .enumerate()
    {
        let r = t[i + 1] / x;
        rows.push(row(
            &format!("dense random load 1e6 vs {name}"),
            format!("{x:.1} ns"),
            format!("{:.1} ns", t[i + 1]),
            r,
            target,
            if want > 1.0 { r >= want } else { r > want },
        ));
    }
}

fn tag_rows(rows: &mut Vec<Row>) {
    let keys = dense(N);
    let map = BTreeMap::<u64, u64>::build(&keys);
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
        let t = alternate(
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
                &mut || {
                    let t = Instant::now();
                    black_box(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE));
                    let e = t.elapsed();
                    let l = xa.lock();
                    let mut c = l.cursor_mut(0);
                    while c.next_marked(Mark::TOWRITE, u64::MAX).is_some() {
                        c.clear_mark(Mark::TOWRITE);
                    }
                    e
                },
                &mut || {
                    let t = Instant::now();
                    let towrite: BTreeSet<u64> = dirty.iter().copied().collect();
                    let e = t.elapsed();
                    black_box(towrite);
                    e
                },
            ],
        );
        let x = t[0];
        rows.push(row(
            &format!("iter_marked 1 % ({layout}) vs full scan + get_mark"),
            format!("{x:.1} ns/marked"),
            format!("{:.1} ns/marked", t[1]),
            t[1] / x,
            "≥ 20×",
            t[1] / x >= 20.0,
        ));
        rows.push(row(
            &format!("iter_marked 1 % ({layout}) vs BTreeSet + BTreeMap::get"),
            format!("{x:.1} ns/marked"),
            format!("{:.1} ns/marked", t[2]),
            t[2] / x,
            "> 1×",
            t[2] > x,
        ));
        rows.push(row(
            &format!("tag_range 1 % ({layout}) vs rebuilding the BTreeSet"),
            format!("{:.1} ns/marked", t[3]),
            format!("{:.1} ns/marked", t[4]),
            t[4] / t[3],
            "> 1×",
            t[4] > t[3],
        ));
    }
}

fn concurrent_rows(rows: &mut Vec<Row>) {
    let threads: usize = std::env::var("XRADIX_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
        .max(2);
    let readers = threads - 1;
    eprintln!("concurrent, {readers} reader(s) + 1 writer ...");
    let keys = dense(N);
    let rand = shuffled(&keys);
    let ops = 1_000_000u64;
    let xa = Xa::build(&keys);
    let lk = Locked::build(&keys);
    let cg = Congee::build(&keys);
    // Wall time and the reader's CPU time, alternating the runs.
    let cases: [(&str, &dyn Fn() -> Run); 4] = [
        ("alone", &|| run(&xa, &rand, readers, false, ops)),
        ("writer", &|| run(&xa, &rand, readers, true, ops)),
        ("rwlock", &|| run(&lk, &rand, readers, true, ops)),
        ("congee", &|| run(&cg, &rand, readers, true, ops)),
    ];
    for (_, f) in &cases {
        f();
    }
    let mut wall = vec![Vec::new(); cases.len()];
    let mut cpu = vec![Vec::new(); cases.len()];
    let mut writes = vec![Vec::new(); cases.len()];
    for _ in 0..rounds() {
        for (i, (_, f)) in cases.iter().enumerate() {
            let r = f();
            wall[i].push(ns(r.wall, ops));
            cpu[i].push(ns(r.cpu, ops));
            writes[i].push(r.writes as f64 * 1e3 / r.wall.as_nanos() as f64);
        }
    }
    let wall: Vec<f64> = wall.into_iter().map(median).collect();
    let cpu: Vec<f64> = cpu.into_iter().map(median).collect();
    let writes: Vec<f64> = writes.into_iter().map(median).collect();
    let mops = |ns: f64| readers as f64 * 1e3 / ns;
    rows.push(row(
        "reader throughput with a writer vs alone (wall)",
        format!(
            "{:.1} Mops/s (writer {:.2} M changes/s)",
            mops(wall[1]),
            writes[1]
        ),
        format!("{:.1} Mops/s alone", mops(wall[0])),
        wall[0] / wall[1],
        "≥ 0.8×",
        wall[0] / wall[1] >= 0.8,
    ));
    rows.push(row(
        "reader throughput with a writer vs alone (reader CPU time)",
        format!("{:.1} ns/read", cpu[1]),
        format!("{:.1} ns/read alone", cpu[0]),
        cpu[0] / cpu[1],
        "≥ 0.8×",
        cpu[0] / cpu[1] >= 0.8,
    ));
    rows.push(row(
        "reader throughput with a writer vs RwLock<BTreeMap> (wall)",
        format!("{:.1} Mops/s", mops(wall[1])),
        format!("{:.2} Mops/s (writer {:.2} M/s)", mops(wall[2]), writes[2]),
        wall[2] / wall[1],
        "≥ 5×",
        wall[2] / wall[1] >= 5.0,
    ));
    rows.push(row(
        "reader throughput with a writer vs congee under its writer (wall)",
        format!("{:.1} Mops/s", mops(wall[1])),
        format!("{:.1} Mops/s (writer {:.2} M/s)", mops(wall[3]), writes[3]),
        wall[3] / wall[1],
        "–",
        true,
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
    rows.push(row(
        "dense 1e6 bytes per value entry (malloc'd; requested)",
        format!("{:.2} B ({:.2})", per(x.1), per(x.0)),
        format!("BTreeMap {:.2} B", per(b.1)),
        per(b.1) / per(x.1),
        "≤ 9.5 B",
        per(x.1) <= 9.5,
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
    let r = big.1 as f64 / small.1 as f64;
    rows.push(row(
        "1,000 order-9 entries vs 512,000 order-0 (memory)",
        format!("{} B", big.1),
        format!("{} B", small.1),
        r,
        "≤ 0.01×",
        r <= 0.01,
    ));
}

fn main() {
    let mut rows = Vec::new();
    lookup_rows(&mut rows);
    tag_rows(&mut rows);
    concurrent_rows(&mut rows);
    memory_rows(&mut rows);
    println!("| goal | xradix | compared with | ratio | target | met |");
    println!("|---|---:|---:|---:|---:|:---:|");
    if let Some(path) = std::env::args().skip_while(|a| a != "--svg").nth(1) {
        match std::fs::write(&path, chart(&rows)) {
            Ok(()) => eprintln!("chart written to {path}"),
            Err(e) => {
                eprintln!("cannot write the chart to {path}: {e}");
                std::process::exit(2);
            }
        }
    }
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.goal,
            r.xradix,
            r.other,
            r.ratio,
            r.target,
            if r.target == "–" {
                "–"
            } else if r.met {
                "yes"
            } else {
                "**no**"
            }
        );
    }
}

/// The rows as a bar chart (SVG), drawn from the measured ratios: one bar
/// per row on a log scale, green where the goal is met, red where not,
/// grey where the row has no goal; the line marks 1×.
fn chart(rows: &[Row]) -> String {
    const LABEL: f64 = 470.0;
    const DECADE: f64 = 100.0;
    const ROW: f64 = 24.0;
    let width = LABEL + 6.0 * DECADE + 80.0;
    let height = ROW * rows.len() as f64 + 50.0;
    let x = |ratio: f64| LABEL + (ratio.max(0.001).log10() + 3.0).clamp(0.0, 6.0) * DECADE;
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
    for (k, decade) in ["0.001×", "0.01×", "0.1×", "1×", "10×", "100×", "1000×"]
        .iter()
        .enumerate()
    {
        let gx = LABEL + k as f64 * DECADE;
        let stroke = if k == 3 { "#333" } else { "#ddd" };
        svg += &format!(
            "<line x1=\"{gx}\" y1=\"20\" x2=\"{gx}\" y2=\"{}\" stroke=\"{stroke}\"/>\n\
             <text x=\"{gx}\" y=\"14\" text-anchor=\"middle\" fill=\"#555\">{decade}</text>\n",
            height - 20.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = 24.0 + i as f64 * ROW;
        let color = if r.target == "–" {
            "#999"
        } else if r.met {
            "#2a8f3a"
        } else {
            "#c0392b"
        };
        let (x0, x1) = (x(1.0), x(r.value));
        let (left, w) = if x1 >= x0 {
            (x0, x1 - x0)
        } else {
            (x1, x0 - x1)
        };
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{left}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{color}\"/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"#333\">{}</text>\n",
            LABEL - 8.0,
            y + 14.0,
            escape(&r.goal),
            w.max(1.0),
            ROW - 6.0,
            x1.max(x0) + 4.0,
            y + 14.0,
            escape(&r.ratio)
        );
    }
    svg += &format!(
        "<text x=\"{LABEL}\" y=\"{}\" fill=\"#555\">ratio, log scale (above 1× for speed: xradix ahead; \
         memory rows: xradix's share)</text>\n</svg>\n",
        height - 4.0
    );
    svg
}
