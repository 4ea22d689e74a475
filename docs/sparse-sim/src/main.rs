//! sparse-sim: the memory and lookup cost of the node kinds proposed in
//! `docs/sparse-nodes.md`, computed from the shape a tree with those kinds
//! would have, for the key shapes of issue 14.
//!
//! For every key set the program builds the tree's shape the way the
//! writers of the design would leave it after the keys are stored (in any
//! order: the shape of a radix tree does not depend on the order, and the
//! kind of a node is the smallest capacity class that holds its slots, as
//! the grow-by-class rule leaves it), counts the nodes of each kind,
//! multiplies by their sizes, and divides by the number of entries. It
//! also walks every key once through that shape and counts what a lookup
//! loads: the words it reads and the 64-byte cache lines they lie on.
//!
//! The same program with the "today" configuration (64-slot nodes only, no
//! path compression) reproduces the issue's table (dense 8.64, sparse 361
//! bytes per entry), which is what makes the other rows believable.
//!
//! Run: `cargo run --release` (no dependencies; well under a minute), and
//! `cargo run --release -- --time` to add the timed proxy (`proxy.rs`):
//! random lookups through both layouts built for real in memory.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

mod proxy;

/// Alternating timed passes per layout (`--time`).
const PAIRS: usize = 9;

/// The seed of shared/ANCHORS.md and benches/common.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Slots of a full node, log2.
const CHUNK: u32 = 6;
const SLOTS: usize = 1 << CHUNK;

/// Bytes of today's node: 8 header + 3 x 8 mark bitmaps + 64 x 8 slots.
const FULL: usize = 8 + 3 * 8 + SLOTS * 8;
/// Where a full node's slots begin.
const FULL_SLOTS_AT: usize = 32;

/// xorshift64 13/7/17, as in benches/common.
struct XorShift(u64);

impl XorShift {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A node layout to evaluate.
#[derive(Clone, Copy)]
struct Config {
    name: &'static str,
    /// Capacity classes of the compact kind, ascending; empty: full nodes
    /// only (today's tree).
    classes: &'static [usize],
    /// Bytes of a compact node before its slots: kind/shift/counts (8),
    /// the present bitmap (8), the packed positional marks (8).
    header: usize,
    /// Whether every compact node carries the prefix word, or only those
    /// that skip levels (path compression).
    base_always: bool,
    /// Path compression: a child that would hold a single child of its own
    /// is skipped, and the node below carries its prefix.
    compress: bool,
    /// C1 is the singleton layout (header word with the offset and the
    /// marks, then the slot: 16 bytes) instead of the general compact
    /// layout (24 + 8).
    singleton: bool,
    /// A node with a Full child is Full itself (so that a dense tree is
    /// all Full nodes, exactly today's shape).
    full_parents: bool,
}

const TODAY: Config = Config {
    name: "today (64-slot only)",
    classes: &[],
    header: 0,
    base_always: false,
    compress: false,
    singleton: false,
    full_parents: false,
};

const PROPOSED: Config = Config {
    name: "proposed: C1/2/4/8/16 + Full, compression",
    classes: &[1, 2, 4, 8, 16],
    header: 24,
    base_always: false,
    compress: true,
    singleton: true,
    full_parents: true,
};

const VARIANTS: [Config; 6] = [
    Config {
        name: "  C1 in the general layout (32 B)",
        singleton: false,
        ..PROPOSED
    },
    Config {
        name: "  compact parents above Full children allowed",
        full_parents: false,
        ..PROPOSED
    },
    Config {
        name: "  without path compression",
        compress: false,
        ..PROPOSED
    },
    Config {
        name: "  prefix word in every compact node",
        base_always: true,
        ..PROPOSED
    },
    Config {
        name: "  classes 2/4/8/16 (no C1)",
        classes: &[2, 4, 8, 16],
        ..PROPOSED
    },
    Config {
        name: "  classes 1/2/3/4/6/8/12/16",
        classes: &[1, 2, 3, 4, 6, 8, 12, 16],
        ..PROPOSED
    },
];

/// The kind a node gets.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Compact(usize),
    Full,
}

#[derive(Default)]
struct Stats {
    /// (kind, compressed) -> (nodes, bytes)
    kinds: BTreeMap<(Kind, bool), (u64, u64)>,
    bytes: u64,
    malloc: u64,
    /// Bytes per depth (0 = top).
    per_depth: Vec<u64>,
    entries: u64,
    /// Sums over all keys of a lookup's node visits, word loads and
    /// expected cache lines (averaged over the four 16-byte alignments).
    visits: u64,
    loads: u64,
    lines: f64,
    /// The same sums for the bottom node (the one holding the entry).
    last_lines: f64,
}

/// What glibc reserves for a request of `n` bytes (8-byte chunk header,
/// 16-byte granules, 32-byte minimum).
fn malloc_size(n: usize) -> usize {
    ((n + 8 + 15) & !15).max(32)
}

/// Expected number of 64-byte lines that the byte ranges `touched` (offsets
/// within a node) fall on, over the four 16-byte-aligned node placements
/// malloc can give.
fn expected_lines(touched: &[(usize, usize)]) -> f64 {
    let mut total = 0;
    for a in [0, 16, 32, 48] {
        let mut lines: Vec<usize> = Vec::new();
        for &(from, len) in touched {
            for l in (a + from) / 64..=(a + from + len - 1) / 64 {
                if !lines.contains(&l) {
                    lines.push(l);
                }
            }
        }
        total += lines.len();
    }
    total as f64 / 4.0
}

struct Sim<'c> {
    cfg: &'c Config,
    st: Stats,
}

impl Sim<'_> {
    fn kind_for(&self, used: usize) -> Kind {
        match self.cfg.classes.iter().find(|&&c| c >= used) {
            Some(&c) => Kind::Compact(c),
            None => Kind::Full,
        }
    }

    /// Accounts the node whose slots sit at `shift` and which holds `keys`
    /// (sorted, non-empty, all sharing the node's prefix), and its
    /// children. `compressed`: the node skips levels below its parent.
    /// Returns whether the node is Full.
    fn node(&mut self, keys: &[u64], shift: u32, compressed: bool, depth: usize) -> bool {
        if self.st.per_depth.len() <= depth {
            self.st.per_depth.resize(depth + 1, 0);
        }
        // The slots in use: one per distinct digit at `shift`.
        let mut groups: Vec<(usize, usize, usize)> = Vec::new(); // (digit, from, to)
        let mut from = 0;
        while from < keys.len() {
            let d = ((keys[from] >> shift) & (SLOTS as u64 - 1)) as usize;
            let mut to = from + 1;
            while to < keys.len() && ((keys[to] >> shift) & (SLOTS as u64 - 1)) as usize == d {
                to += 1;
            }
            groups.push((d, from, to));
            from = to;
        }
        // The children first: a node with a Full child is Full.
        let mut full_child = false;
        if shift > 0 {
            for &(_, from, to) in &groups {
                let child = &keys[from..to];
                let cs = if self.cfg.compress {
                    // The highest level at which the child's keys differ:
                    // the levels above it would each hold one child only.
                    let x = child[0] ^ child[child.len() - 1];
                    if x == 0 {
                        0
                    } else {
                        ((63 - x.leading_zeros()) / CHUNK * CHUNK).min(shift - CHUNK)
                    }
                } else {
                    shift - CHUNK
                };
                full_child |= self.node(child, cs, cs + CHUNK < shift, depth + 1);
            }
        }
        let mut kind = self.kind_for(groups.len());
        if full_child && self.cfg.full_parents {
            kind = Kind::Full;
        }
        let singleton = self.cfg.singleton && kind == Kind::Compact(1);
        let has_base = compressed || (self.cfg.base_always && matches!(kind, Kind::Compact(_)));
        // Where the slots and the prefix word lie.
        let (slots_at, size) = match kind {
            Kind::Full => (FULL_SLOTS_AT, FULL),
            Kind::Compact(_) if singleton => (8, 16),
            Kind::Compact(c) => (self.cfg.header, self.cfg.header + 8 * c),
        };
        let base_at = size;
        let size = size + 8 * has_base as usize;
        let e = self.st.kinds.entry((kind, compressed)).or_default();
        e.0 += 1;
        e.1 += size as u64;
        self.st.bytes += size as u64;
        self.st.malloc += malloc_size(size) as u64;
        self.st.per_depth[depth] += size as u64;

        for (pos, &(digit, from, to)) in groups.iter().enumerate() {
            let n = (to - from) as u64;
            // What a lookup of each of these keys reads in this node: the
            // header word (shift, kind; a singleton's offset), the present
            // bitmap of a general compact node, the slot (by offset in a
            // Full node, by position in a compact one), and the prefix
            // word of a node that skips levels.
            let mut t = vec![(0, 8)];
            let mut loads = 2;
            match kind {
                Kind::Full => t.push((slots_at + 8 * digit, 8)),
                Kind::Compact(_) if singleton => t.push((slots_at, 8)),
                Kind::Compact(_) => {
                    t.push((8, 8));
                    t.push((slots_at + 8 * pos, 8));
                    loads += 1;
                }
            }
            if compressed {
                t.push((base_at, 8));
                loads += 1;
            }
            let lines = expected_lines(&t);
            self.st.visits += n;
            self.st.loads += loads * n;
            self.st.lines += lines * n as f64;
            if shift == 0 {
                debug_assert_eq!(n, 1);
                self.st.entries += 1;
                self.st.last_lines += lines;
            }
        }
        kind == Kind::Full
    }
}

fn simulate(cfg: &Config, keys: &[u64]) -> Stats {
    let max = *keys.last().unwrap();
    // The top node: the lowest level that reaches the largest index, as
    // `shift_for` picks it. It is never compressed (its prefix is zero).
    let mut shift = 0;
    while shift + CHUNK < 64 && max >> (shift + CHUNK) != 0 {
        shift += CHUNK;
    }
    let mut sim = Sim {
        cfg,
        st: Stats::default(),
    };
    sim.node(keys, shift, false, 0);
    // The head load.
    sim.st.loads += keys.len() as u64;
    sim.st
}

// ---------------------------------------------------------------------------
// Key shapes.

fn dense(n: u64) -> Vec<u64> {
    (0..n).collect()
}

/// benches/common `sparse`: `n` distinct keys uniform in [0, 2^26).
fn uniform(n: usize) -> Vec<u64> {
    let mut rng = XorShift(SEED.rotate_left(17));
    let mut set = BTreeSet::new();
    while set.len() < n {
        set.insert(rng.next_u64() >> (64 - 26));
    }
    set.into_iter().collect()
}

/// `n` distinct random multiples of 64 in [0, 2^40): keys spread like
/// pointers to 64-byte objects.
fn pointers(n: usize) -> Vec<u64> {
    let mut rng = XorShift(SEED.rotate_left(29));
    let mut set = BTreeSet::new();
    while set.len() < n {
        set.insert((rng.next_u64() >> (64 - 34)) << 6);
    }
    set.into_iter().collect()
}

/// `n` distinct keys in runs of 4..=8 consecutive keys at random starts in
/// [0, 2^bits).
fn clustered(n: usize, bits: u32) -> Vec<u64> {
    let mut rng = XorShift(SEED.rotate_left(41));
    let mut set = BTreeSet::new();
    'fill: loop {
        let start = rng.next_u64() >> (64 - bits);
        let len = 4 + rng.next_u64() % 5;
        for k in start..start + len {
            if set.len() == n {
                break 'fill;
            }
            set.insert(k);
        }
    }
    set.into_iter().collect()
}

// ---------------------------------------------------------------------------

fn kind_name(k: Kind, compressed: bool) -> String {
    let s = match k {
        Kind::Full => "Full".to_string(),
        Kind::Compact(c) => format!("C{c}"),
    };
    if compressed {
        s + "+prefix"
    } else {
        s
    }
}

fn main() {
    let shapes: Vec<(&str, Vec<u64>, &str)> = vec![
        ("dense 0..1e6", dense(1_000_000), "8.26"),
        ("dense 0..1e7", dense(10_000_000), "-"),
        ("uniform 1e6 in 2^26", uniform(1_000_000), "27.7"),
        ("pointers: 1e6 x64 in 2^40", pointers(1_000_000), "-"),
        (
            "clustered 4-8, starts in 2^26",
            clustered(1_000_000, 26),
            "-",
        ),
        (
            "clustered 4-8, starts in 2^40",
            clustered(1_000_000, 40),
            "-",
        ),
    ];
    let issue: BTreeMap<&str, &str> = [("dense 0..1e6", "8.64"), ("uniform 1e6 in 2^26", "361")]
        .into_iter()
        .collect();

    println!("## Bytes per entry (requested; glibc chunk size in brackets)\n");
    println!("| key shape | today (sim) | issue's table | proposed | goal | congee |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut results = Vec::new();
    for (name, keys, congee) in &shapes {
        let today = simulate(&TODAY, keys);
        let prop = simulate(&PROPOSED, keys);
        let per = |s: &Stats| s.bytes as f64 / s.entries as f64;
        let perm = |s: &Stats| s.malloc as f64 / s.entries as f64;
        let goal = match *name {
            n if n.starts_with("dense") => "<= 8.7",
            "uniform 1e6 in 2^26" => "<= 40",
            _ => "report",
        };
        println!(
            "| {name} | {:.2} ({:.2}) | {} | **{:.2}** ({:.2}) | {goal} | {congee} |",
            per(&today),
            perm(&today),
            issue.get(name).unwrap_or(&"-"),
            per(&prop),
            perm(&prop),
        );
        results.push((*name, keys, today, prop));
    }

    println!("\n## Nodes per kind (proposed)\n");
    for (name, _, _, prop) in &results {
        let parts: Vec<String> = prop
            .kinds
            .iter()
            .map(|(&(k, c), &(n, b))| {
                format!(
                    "{} {} ({:.2} B/entry)",
                    kind_name(k, c),
                    n,
                    b as f64 / prop.entries as f64
                )
            })
            .collect();
        println!("- {name}: {}", parts.join(", "));
    }

    println!("\n## Bytes per level, top first (MiB): what a random lookup walks through\n");
    println!("| key shape | today | proposed |");
    println!("|---|---|---|");
    for (name, _, today, prop) in &results {
        let f = |s: &Stats| {
            s.per_depth
                .iter()
                .map(|&b| format!("{:.2}", b as f64 / (1 << 20) as f64))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!("| {name} | {} | {} |", f(today), f(prop));
    }

    println!("\n## A lookup's cost (mean over the stored keys)\n");
    println!("| key shape | nodes today / proposed | word loads today / proposed | cache lines today / proposed | lines in the bottom node today / proposed |");
    println!("|---|---:|---:|---:|---:|");
    for (name, keys, today, prop) in &results {
        let n = keys.len() as f64;
        println!(
            "| {name} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} |",
            today.visits as f64 / n,
            prop.visits as f64 / n,
            today.loads as f64 / n,
            prop.loads as f64 / n,
            today.lines / n,
            prop.lines / n,
            today.last_lines / n,
            prop.last_lines / n,
        );
    }

    if std::env::args().any(|a| a == "--time") {
        println!("\n## Timed proxy: random-order lookups of every key, ns per lookup\n");
        println!(
            "{PAIRS} alternating passes per layout in one process; min and median. The dense rows"
        );
        println!("build the same layout twice (all Full), so their ratio shows the noise.\n");
        println!("| key shape | today's layout min / median | proposed layout min / median | today / proposed (min) | (median) |");
        println!("|---|---:|---:|---:|---:|");
        for (name, keys, _, _) in &results {
            if keys.len() > 1_000_000 {
                continue;
            }
            let mut order = keys.to_vec();
            let mut rng = XorShift(SEED);
            for i in (1..order.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let a = proxy::build_tree(&TODAY, keys);
            let b = proxy::build_tree(&PROPOSED, keys);
            let (mut ta, mut tb) = (Vec::new(), Vec::new());
            for _ in 0..PAIRS {
                ta.push(proxy::time_lookups(a, &order, 1));
                tb.push(proxy::time_lookups(b, &order, 1));
            }
            ta.sort_by(f64::total_cmp);
            tb.sort_by(f64::total_cmp);
            let (mina, minb, meda, medb) = (ta[0], tb[0], ta[PAIRS / 2], tb[PAIRS / 2]);
            println!(
                "| {name} | {mina:.0} / {meda:.0} | {minb:.0} / {medb:.0} | {:.2} | {:.2} |",
                mina / minb,
                meda / medb
            );
        }
    }

    println!("\n## Variants of the proposal (bytes per entry, requested)\n");
    let mut header = String::from("| layout |");
    let mut rule = String::from("|---|");
    for (name, _, _, _) in &results {
        header += &format!(" {name} |");
        rule += "---:|";
    }
    println!("{header}\n{rule}");
    for cfg in std::iter::once(&PROPOSED).chain(VARIANTS.iter()) {
        let mut row = format!("| {} |", cfg.name);
        for (_, keys, _, _) in &results {
            let s = simulate(cfg, keys);
            row += &format!(" {:.2} |", s.bytes as f64 / s.entries as f64);
        }
        println!("{row}");
    }
}
