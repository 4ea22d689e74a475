//! Question: how many bytes does xradix spend per entry — dense 1e6 value
//! entries, sparse 1e6 (uniform in [0, 2^26)), and 1,000 order-9 entries
//! against the 512,000 order-0 entries they stand for — against
//! BTreeMap<u64, u64>, crossbeam SkipMap, scc::TreeIndex and congee?
//!
//! And after 90 % of the keys are erased in random order (uniform in 2^26,
//! and in 2^21): the bytes per entry left, beside a fresh tree of the keys
//! left.
//!
//! A counting global allocator adds up the bytes each structure holds after
//! it is built: "requested" is what the structure asked for, "malloc" what
//! glibc really reserves (`malloc_usable_size` + its 8-byte header). Times
//! nothing; prints a Markdown table. Runs under `cargo bench`.
//!
//! Then the memory a tree gives back: a 1e6-entry dense tree is dropped, or
//! cleared with `XArray::clear`, and the live bytes are read at once after,
//! with no pin and no flush of the collector; the residue is what was not
//! yet freed, as a share of what the tree held.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::collections::BTreeMap;

use common::{
    dense, flush_epoch, live_bytes, measure, shuffled, sparse, Congee, Counting, Map, Scc, Xa,
};
use crossbeam_skiplist::SkipMap;
use xradix::Entry;

#[global_allocator]
static ALLOC: Counting = Counting;

const N: usize = 1_000_000;

fn row(workload: &str, name: &str, entries: usize, bytes: (isize, isize)) {
    let per = |b: isize| b as f64 / entries as f64;
    println!(
        "| {workload} | {name} | {entries} | {} | {:.2} | {:.2} |",
        bytes.1,
        per(bytes.0),
        per(bytes.1)
    );
}

fn all<M: Map>(workload: &str, keys: &[u64]) {
    let (bytes, m) = measure(|| M::build(keys));
    row(workload, M::NAME, keys.len(), bytes);
    drop(m);
}

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter): nothing to parse.
    println!(
        "| workload | structure | entries | malloc bytes | requested B/entry | malloc B/entry |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for (workload, keys) in [("dense 1e6", dense(N)), ("sparse 1e6", sparse(N))] {
        all::<Xa>(workload, &keys);
        all::<BTreeMap<u64, u64>>(workload, &keys);
        all::<SkipMap<u64, u64>>(workload, &keys);
        all::<Scc>(workload, &keys);
        all::<Congee>(workload, &keys);
    }
    // What a tree keeps after most of it is erased: 90 % of the keys, in
    // random order, leave 100,000 entries in leaves that held ten times as
    // many (issue 14's shrink: compact leaves rebuilt smaller, Full ones
    // compact again). Uniform in 2^26 (the sparse rows: about one key per
    // bottom node, so mostly Singles, and the Full nodes above them are
    // most of the bytes), and uniform in 2^21 (about 30 keys per bottom
    // node: Full leaves, 3 keys each after the erase). "fresh": the keys
    // left, stored into a new tree, the floor for the same shape.
    let mid: Vec<u64> = shuffled(&(0..1u64 << 21).collect::<Vec<_>>())[..N].to_vec();
    for (name, keys) in [("sparse 1e6", sparse(N)), ("1e6 in 2^21", mid)] {
        let order = shuffled(&keys);
        let (gone, left) = order.split_at(N / 10 * 9);
        let workload = format!("{name}, 90 % erased");
        let (bytes, xa) = measure(|| {
            let xa = Xa::build(&keys);
            let locked = xa.lock();
            for &k in gone {
                locked.erase(k);
            }
            drop(locked);
            xa
        });
        row(&workload, Xa::NAME, left.len(), bytes);
        drop(xa);
        let (bytes, xa) = measure(|| Xa::build(left));
        row(
            &format!("{name}, the 10 % left, fresh"),
            Xa::NAME,
            left.len(),
            bytes,
        );
        drop(xa);
        let (bytes, map) = measure(|| {
            let mut map = BTreeMap::<u64, u64>::build(&keys);
            for k in gone {
                map.remove(k);
            }
            map
        });
        row(&workload, BTreeMap::<u64, u64>::NAME, map.len(), bytes);
        drop(map);
    }

    let (big, xa) = measure(|| {
        let xa = Xa::new();
        for e in 0..1_000u64 {
            xa.store_order(e << 9, 9, Entry::Value(e)).unwrap();
        }
        xa
    });
    drop(xa);
    row("1,000 order-9", "xradix", 1_000, big);
    let (small, xa) = measure(|| Xa::build(&dense(512_000)));
    drop(xa);
    row("512,000 order-0", "xradix", 512_000, small);
    println!();
    println!(
        "order-9 / order-0 memory (malloc bytes): {:.4} = 1/{:.0}",
        big.1 as f64 / small.1 as f64,
        small.1 as f64 / big.1 as f64
    );

    println!();
    println!("| dense 1e6 tree | tree bytes (malloc) | not freed right after | share |");
    println!("|---|---:|---:|---:|");
    let keys = dense(N);
    for how in ["drop", "clear"] {
        flush_epoch();
        let before = live_bytes().1;
        let xa = Xa::build(&keys);
        let held = live_bytes().1 - before;
        if how == "drop" {
            drop(xa);
        } else {
            xa.clear();
        }
        let left = live_bytes().1 - before;
        println!(
            "| {how} | {held} | {left} | {:.3} % |",
            left as f64 * 100.0 / held as f64
        );
    }
}
