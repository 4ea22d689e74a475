//! `load_many` returns exactly what `load` returns, index by index, in the
//! order given, across batch boundaries and every tree shape.

use xradix::{pin, Entry, XArray};

fn values(xa: &XArray, indices: &[u64]) -> (Vec<Option<u64>>, Vec<Option<u64>>) {
    let g = pin();
    let many = xa
        .load_many(indices.iter().copied(), &g)
        .map(|e| e.and_then(|e| e.value()))
        .collect();
    let one = indices
        .iter()
        .map(|&i| xa.load(i, &g).and_then(|e| e.value()))
        .collect();
    (many, one)
}

#[test]
fn load_many_matches_load_on_every_shape() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rng = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let xa: XArray = XArray::new();
    // Empty tree, then a lone entry at 0 (held in the head), then more.
    let probe: Vec<u64> = (0..40).chain([u64::MAX, 1 << 40]).collect();
    let (a, b) = values(&xa, &probe);
    assert_eq!(a, b);
    xa.store(0, Entry::Value(1)).unwrap();
    let (a, b) = values(&xa, &probe);
    assert_eq!(a, b);
    assert_eq!(a[0], Some(1));
    // Under miri, fewer rounds: each still grows the tree, adds the
    // multi-order entries and probes every batch length.
    let rounds = if cfg!(miri) { 6 } else { 30u64 };
    for round in 0..rounds {
        for _ in 0..200 {
            let i = rng() % 5000;
            xa.store(i, Entry::Value(i)).unwrap();
        }
        let base = (rng() % 64) << 9;
        xa.store_order(base, 9, Entry::Value(round)).unwrap();
        xa.store_order(1 << 33, 6, Entry::Value(7)).unwrap();
        xa.reserve(4999 + round).ok();
        for _ in 0..50 {
            xa.erase(rng() % 5000);
        }
        // Lengths around the batch size, repeats, and far indices.
        for len in [0usize, 1, 15, 16, 17, 33, 100] {
            let idx: Vec<u64> = (0..len)
                .map(|k| match k % 5 {
                    0 => rng() % 6000,
                    1 => (1 << 33) + rng() % 128,
                    2 => rng(),
                    3 => base + rng() % 512,
                    _ => k as u64,
                })
                .collect();
            let (a, b) = values(&xa, &idx);
            assert_eq!(a, b, "round {round}, {len} indices");
        }
    }
}

#[test]
fn load_many_yields_items_and_knows_its_length() {
    let xa: XArray<String> = XArray::new();
    xa.store(3, Entry::Item(std::sync::Arc::new("three".into())))
        .unwrap();
    let g = pin();
    let it = xa.load_many(0..20, &g);
    assert_eq!(it.size_hint(), (20, Some(20)));
    let got: Vec<Option<String>> = it.map(|e| e.and_then(|e| e.item().cloned())).collect();
    assert_eq!(got.len(), 20);
    assert_eq!(got[3].as_deref(), Some("three"));
    assert!(got.iter().enumerate().all(|(i, e)| (i == 3) == e.is_some()));
}
