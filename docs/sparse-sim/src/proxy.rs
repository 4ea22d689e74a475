//! A timed proxy: the node layouts of a configuration built for real in
//! memory (each node its own allocation of its real size, through the
//! system allocator, as `Box<Node>` would be), and random lookups walked
//! through them the way the design's reader walks: the header word, then
//! for a compact node the present bitmap and a popcount, the slot, and the
//! prefix word of a node that skips levels.
//!
//! No atomics, no epoch guard, no retry handling: on x86_64 an Acquire
//! load is a plain load, and what is compared here is where the cache
//! misses fall, which the proxy reproduces. The absolute times are not
//! xradix's; the ratio between two layouts in the same process is the
//! estimate.

use std::alloc::{alloc_zeroed, Layout};
use std::time::Instant;

use crate::{Config, Kind, CHUNK, FULL, FULL_SLOTS_AT, SLOTS};

const KIND_FULL: u8 = 0;
const KIND_SINGLE: u8 = 1;
const KIND_COMPACT: u8 = 2;

unsafe fn w8(p: *mut u8, at: usize, v: u8) {
    unsafe { p.add(at).write(v) }
}
unsafe fn w64(p: *mut u8, at: usize, v: u64) {
    unsafe { p.add(at).cast::<u64>().write(v) }
}

/// Builds the node whose slots sit at `shift` over `keys` (sorted); returns
/// it and whether it is Full. Values are `key << 1 | 1`.
fn build(cfg: &Config, keys: &[u64], shift: u32, compressed: bool) -> (*mut u8, bool) {
    let mut groups: Vec<(usize, usize, usize)> = Vec::new();
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
    let mut words = Vec::with_capacity(groups.len());
    let mut full_child = false;
    for &(_, from, to) in &groups {
        if shift == 0 {
            words.push(keys[from] << 1 | 1);
            continue;
        }
        let child = &keys[from..to];
        let cs = if cfg.compress {
            let x = child[0] ^ child[child.len() - 1];
            if x == 0 {
                0
            } else {
                ((63 - x.leading_zeros()) / CHUNK * CHUNK).min(shift - CHUNK)
            }
        } else {
            shift - CHUNK
        };
        let (c, full) = build(cfg, child, cs, cs + CHUNK < shift);
        full_child |= full;
        words.push(c as u64);
    }
    let mut kind = match cfg.classes.iter().find(|&&c| c >= groups.len()) {
        Some(&c) => Kind::Compact(c),
        None => Kind::Full,
    };
    if full_child && cfg.full_parents {
        kind = Kind::Full;
    }
    let singleton = cfg.singleton && kind == Kind::Compact(1);
    let (slots_at, size) = match kind {
        Kind::Full => (FULL_SLOTS_AT, FULL),
        Kind::Compact(_) if singleton => (8, 16),
        Kind::Compact(c) => (cfg.header, cfg.header + 8 * c),
    };
    let total = size + 8 * compressed as usize;
    // SAFETY: a non-zero size, align 8; written below before use.
    let p = unsafe { alloc_zeroed(Layout::from_size_align(total, 8).unwrap()) };
    assert!(!p.is_null());
    // SAFETY: every write lies inside the `total` bytes just allocated.
    unsafe {
        w8(p, 0, shift as u8);
        match kind {
            Kind::Full => {
                w8(p, 1, KIND_FULL);
                for (&(d, _, _), &w) in groups.iter().zip(&words) {
                    w64(p, slots_at + 8 * d, w);
                }
            }
            _ if singleton => {
                w8(p, 1, KIND_SINGLE);
                w8(p, 4, groups[0].0 as u8);
                w64(p, slots_at, words[0]);
            }
            Kind::Compact(_) => {
                w8(p, 1, KIND_COMPACT);
                let mut present = 0u64;
                for (i, (&(d, _, _), &w)) in groups.iter().zip(&words).enumerate() {
                    present |= 1 << d;
                    w64(p, slots_at + 8 * i, w);
                }
                w64(p, 8, present);
            }
        }
        if compressed {
            // The prefix: the index bits above this node's span.
            let span = shift + CHUNK;
            w64(p, size, keys[0] & !((1u64 << span) - 1));
        }
        // Where the prefix lies, for the reader: byte 2 (Full: 0 = none).
        w8(p, 2, (size / 8) as u8);
    }
    (p, kind == Kind::Full)
}

/// The design's lookup, with plain loads.
///
/// # Safety
/// `top` came from `build`.
#[inline]
unsafe fn lookup(top: *const u8, top_shift: u32, index: u64) -> u64 {
    let mut node = top;
    let mut parent_shift = top_shift + CHUNK;
    loop {
        // SAFETY: `node` is a node of the built tree; reads stay inside it.
        unsafe {
            let header = node.cast::<u64>().read();
            let shift = (header & 0xff) as u32;
            let kind = (header >> 8) as u8;
            if shift + CHUNK < parent_shift {
                // Skips levels: the prefix must match.
                let base_at = ((header >> 16) & 0xff) as usize * 8;
                let base = node.add(base_at).cast::<u64>().read();
                if (index ^ base) >> (shift + CHUNK) != 0 {
                    return 0;
                }
            }
            let off = ((index >> shift) & (SLOTS as u64 - 1)) as usize;
            let w = match kind {
                KIND_FULL => node.add(FULL_SLOTS_AT + 8 * off).cast::<u64>().read(),
                KIND_SINGLE => {
                    if (header >> 32) as u8 as usize != off {
                        return 0;
                    }
                    node.add(8).cast::<u64>().read()
                }
                _ => {
                    let present = node.add(8).cast::<u64>().read();
                    if present & (1 << off) == 0 {
                        return 0;
                    }
                    let pos = (present & ((1u64 << off) - 1)).count_ones() as usize;
                    node.add(24 + 8 * pos).cast::<u64>().read()
                }
            };
            if w & 1 == 1 || w == 0 {
                return w;
            }
            node = w as *const u8;
            parent_shift = shift;
        }
    }
}

/// Builds the tree of `keys` (sorted) in `cfg`'s layout; returns its top
/// node and the top's shift. The tree is leaked (the process ends soon).
pub fn build_tree(cfg: &Config, keys: &[u64]) -> (*const u8, u32) {
    let max = *keys.last().unwrap();
    let mut shift = 0;
    while shift + CHUNK < 64 && max >> (shift + CHUNK) != 0 {
        shift += CHUNK;
    }
    (build(cfg, keys, shift, false).0, shift)
}

/// Looks up every index of `order` (all present): the best of `rounds`
/// passes, in ns per lookup.
pub fn time_lookups(tree: (*const u8, u32), order: &[u64], rounds: usize) -> f64 {
    let want = order.iter().fold(0u64, |s, &k| s.wrapping_add(k));
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        let mut sum = 0u64;
        for &k in order {
            // SAFETY: the tree came from `build_tree`.
            sum = sum.wrapping_add(unsafe { lookup(tree.0, tree.1, k) } >> 1);
        }
        let ns = t.elapsed().as_nanos() as f64 / order.len() as f64;
        assert_eq!(std::hint::black_box(sum), want, "a lookup went wrong");
        best = best.min(ns);
    }
    best
}
