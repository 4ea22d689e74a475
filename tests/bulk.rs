//! Bulk builds (`try_extend`, `collect`, `extend`): ascending input fills
//! whole bottom nodes privately and links them once; whatever the input,
//! the result is exactly that of storing the entries one by one.

use std::sync::Arc;
use xradix::{pin, Entry, Error, Flags, Mark, XArray};

fn contents(xa: &XArray) -> Vec<(u64, u64, u32)> {
    let g = pin();
    xa.iter(&g)
        .map(|(i, e)| (i, e.value().unwrap(), xa.get_order(i)))
        .collect()
}

fn one_by_one(base: &[(u64, u32, u64)], input: &[(u64, u64)]) -> XArray {
    let xa = XArray::new();
    for &(i, order, v) in base {
        xa.store_order(i, order, Entry::Value(v)).unwrap();
    }
    for &(i, v) in input {
        xa.store(i, Entry::Value(v)).unwrap();
    }
    xa
}

fn bulk(base: &[(u64, u32, u64)], input: &[(u64, u64)]) -> XArray {
    let mut xa = XArray::new();
    for &(i, order, v) in base {
        xa.store_order(i, order, Entry::Value(v)).unwrap();
    }
    xa.try_extend(input.iter().map(|&(i, v)| (i, Entry::Value(v))))
        .unwrap();
    xa
}

#[test]
fn ascending_dense_input_builds_the_same_tree() {
    let input: Vec<(u64, u64)> = (0..10_000).map(|i| (i, i * 2)).collect();
    let a = bulk(&[], &input);
    a.check_invariants();
    assert_eq!(a.len(), 10_000);
    assert_eq!(contents(&a), contents(&one_by_one(&[], &input)));
}

#[test]
fn sparse_unsorted_and_overlapping_input_builds_the_same_tree() {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut rng = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..40 {
        // What the tree holds first: order-0 entries, a multi-order entry
        // over some blocks, an entry at 0 alone in the head now and then.
        let mut base = vec![];
        if round % 3 == 0 {
            base.push((0, 0, 99));
        }
        base.push(((rng() % 8) << 12, 12, 7));
        for _ in 0..(round % 5) * 10 {
            base.push((rng() % 70_000, 0, 5));
        }
        // Input: ascending runs, runs going back, repeats, far indices.
        let mut input = vec![];
        let mut i = rng() % 1000;
        for _ in 0..2_000 {
            input.push((i, rng() % 1000));
            i = match rng() % 20 {
                0 => rng() % 70_000,
                1 => i,
                2 => i + (1 << 20),
                _ => i + 1 + rng() % 3,
            };
        }
        let a = bulk(&base, &input);
        a.check_invariants();
        let b = one_by_one(&base, &input);
        assert_eq!(a.len(), b.len(), "round {round}");
        assert_eq!(contents(&a), contents(&b), "round {round}");
    }
}

#[test]
fn bulk_build_keeps_marks_and_multi_order_entries_around_it() {
    let mut xa: XArray = XArray::new();
    xa.store_order(1024, 9, Entry::Value(1)).unwrap();
    xa.set_mark(1024, Mark::DIRTY);
    xa.try_extend((0..4096).map(|i| (i, Entry::Value(i))))
        .unwrap();
    xa.check_invariants();
    // The stores inside the multi-order entry replaced it whole, keeping
    // its order and its mark, as one-by-one stores do.
    assert_eq!(xa.get_order(1500), 9);
    assert!(xa.get_mark(1100, Mark::DIRTY));
    assert_eq!(xa.get(1535), Some(Entry::Value(1535)));
    assert_eq!(xa.len(), 4096 - 512 + 1);
}

#[test]
fn bulk_build_of_items_in_an_alloc_tree_and_an_error_midway() {
    let mut xa: XArray<String> = XArray::with_flags(Flags::ALLOC);
    xa.try_extend((0..300).map(|i| (i, Entry::Item(Arc::new(i.to_string())))))
        .unwrap();
    xa.check_invariants();
    assert_eq!(xa.alloc(Entry::Value(1), 0..=u64::MAX).unwrap(), 300);

    let mut xa: XArray = XArray::new();
    let err = xa
        .try_extend((0..200).map(|i| (i, Entry::Value(if i == 150 { 1 << 62 } else { i }))))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }));
    xa.check_invariants();
    assert_eq!(xa.len(), 150);
    assert_eq!(xa.get(149), Some(Entry::Value(149)));
    assert_eq!(xa.get(150), None);
}

#[test]
fn readers_see_bulk_built_nodes_whole() {
    let xa: XArray = XArray::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            let g = pin();
            for _ in 0..200 {
                // Each entry present is the one stored there.
                for (i, e) in xa.iter(&g) {
                    assert_eq!(e.value(), Some(i + 1));
                }
            }
        });
        xa.lock()
            .try_extend((0..50_000).map(|i| (i, Entry::Value(i + 1))))
            .unwrap();
    });
    xa.check_invariants();
    assert_eq!(xa.len(), 50_000);
}
