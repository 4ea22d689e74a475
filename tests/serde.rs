//! The `serde` feature: round trips through JSON, and every kind of bad
//! input refused with an error instead of a panic.
//!
//! Run with `cargo test --features serde --test serde`.
#![cfg(feature = "serde")]

use std::sync::Arc;

use serde::de::DeserializeSeed;
use xradix::{pin, Entry, Flags, Mark, Value, XArray};

type Picture<T, V> = Vec<(u64, u32, Option<Entry<T, V>>, [bool; 3])>;

/// Everything a reader can observe of every entry.
fn picture<T: Send + Sync + 'static, V: Value>(xa: &XArray<T, V>) -> Picture<T, V> {
    let guard = pin();
    xa.iter(&guard)
        .map(|(i, _)| {
            (
                i,
                xa.get_order(i),
                xa.get(i),
                Mark::ALL.map(|m| xa.get_mark(i, m)),
            )
        })
        .collect()
}

fn sample() -> XArray<String, u32> {
    let xa: XArray<String, u32> = XArray::new();
    xa.store(0, Entry::Item(Arc::new("zero".into()))).unwrap();
    xa.store(1, Entry::Value(0)).unwrap();
    xa.store(7, Entry::Value(u32::MAX)).unwrap();
    xa.store_order(512, 9, Entry::Item(Arc::new("huge page".into())))
        .unwrap();
    xa.store_order(4096, 4, Entry::Value(44)).unwrap();
    xa.store(1 << 40, Entry::Item(Arc::new("far".into())))
        .unwrap();
    xa.store(u64::MAX, Entry::Value(9)).unwrap();
    xa.reserve(100).unwrap();
    xa.set_mark(0, Mark::DIRTY);
    xa.set_mark(7, Mark::DIRTY);
    xa.set_mark(7, Mark::TOWRITE);
    xa.set_mark(700, Mark::MARK_2);
    xa.set_mark(4100, Mark::TOWRITE);
    xa.set_mark(u64::MAX, Mark::MARK_2);
    xa
}

#[test]
fn round_trip_keeps_items_values_orders_marks_and_reservations() {
    let xa = sample();
    let json = serde_json::to_string(&xa).unwrap();
    let back: XArray<String, u32> = serde_json::from_str(&json).unwrap();
    back.check_invariants();
    assert_eq!(picture(&back), picture(&xa));
    assert_eq!(back.len(), xa.len());
    assert_eq!(back.len(), 8);
    for m in Mark::ALL {
        assert_eq!(back.has_mark(m), xa.has_mark(m));
    }
    // The reservation came back as a reservation.
    assert!(back.get(100).is_none());
    assert!(back.insert(100, Entry::Value(1)).is_err());
    // And serialising again gives the same text.
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
}

#[test]
fn the_format_is_a_sequence_of_records_in_index_order() {
    let xa: XArray<String, u8> = XArray::new();
    xa.store_order(8, 3, Entry::Value(200)).unwrap();
    xa.store(2, Entry::Item(Arc::new("two".into()))).unwrap();
    xa.reserve(3).unwrap();
    xa.set_mark(9, Mark::TOWRITE);
    xa.set_mark(9, Mark::MARK_2);
    let json = serde_json::to_value(&xa).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"index": 2, "order": 0, "entry": {"Item": "two"}, "marks": 0},
            {"index": 3, "order": 0, "entry": "Reserved", "marks": 0},
            {"index": 8, "order": 3, "entry": {"Value": 200}, "marks": 6},
        ])
    );
}

#[test]
fn an_empty_tree_is_an_empty_sequence() {
    let xa: XArray<String> = XArray::new();
    assert_eq!(serde_json::to_string(&xa).unwrap(), "[]");
    let back: XArray<String> = serde_json::from_str("[]").unwrap();
    assert!(back.is_empty());
}

#[test]
fn records_may_be_arrays_and_may_leave_out_order_and_marks() {
    let xa: XArray<String> =
        serde_json::from_str(r#"[[0, 2, {"Value": 5}, 1], {"index": 9, "entry": {"Item": "x"}}]"#)
            .unwrap();
    assert_eq!(xa.get_order(3), 2);
    assert!(xa.get_mark(3, Mark::DIRTY));
    assert_eq!(xa.get(9).unwrap().item().map(|s| s.as_str()), Some("x"));
    assert!(!xa.get_mark(9, Mark::DIRTY));
}

#[test]
fn custom_value_types_round_trip_through_their_raw_payload() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Block {
        sector: u32,
        dirty: bool,
    }
    impl Value for Block {
        const BITS: u32 = 33;
        fn into_raw(self) -> u64 {
            u64::from(self.sector) << 1 | u64::from(self.dirty)
        }
        fn from_raw(raw: u64) -> Self {
            Block {
                sector: (raw >> 1) as u32,
                dirty: raw & 1 == 1,
            }
        }
    }
    let xa: XArray<(), Block> = XArray::new();
    xa.store(
        5,
        Entry::Value(Block {
            sector: u32::MAX,
            dirty: true,
        }),
    )
    .unwrap();
    let json = serde_json::to_string(&xa).unwrap();
    assert_eq!(
        json,
        format!(
            r#"[{{"index":5,"order":0,"entry":{{"Value":{}}},"marks":0}}]"#,
            (u64::from(u32::MAX) << 1) | 1
        )
    );
    let back: XArray<(), Block> = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.get(5),
        Some(Entry::Value(Block {
            sector: u32::MAX,
            dirty: true
        }))
    );
}

#[test]
fn serialising_the_locked_handle_works_under_a_held_lock() {
    let xa = sample();
    let locked = xa.lock();
    let json = serde_json::to_string(&locked).unwrap();
    drop(locked);
    assert_eq!(json, serde_json::to_string(&xa).unwrap());
}

#[test]
fn deserialize_seed_rebuilds_into_an_allocating_tree() {
    let ids: XArray<String, u32> = XArray::with_flags(Flags::ALLOC1);
    for i in 0..5 {
        ids.alloc(Entry::Value(i), 0..=100).unwrap();
    }
    ids.erase(2);
    ids.set_mark(3, Mark::TOWRITE);
    let json = serde_json::to_string(&ids).unwrap();
    assert!(
        !json.contains("\"marks\":1"),
        "the free-slot mark is not written: {json}"
    );

    let back: XArray<String, u32> = XArray::with_flags(Flags::ALLOC1);
    back.deserialize(&mut serde_json::Deserializer::from_str(&json))
        .unwrap();
    back.check_invariants();
    assert_eq!(picture(&back), picture(&ids));
    assert_eq!(back.alloc(Entry::Value(0), 0..=100).unwrap(), 2);
    assert_eq!(back.alloc(Entry::Value(0), 0..=100).unwrap(), 6);
}

#[test]
fn deserialize_seed_works_with_a_custom_collector() {
    let xa: XArray<String, u32> = XArray::with_collector(xradix::Collector::new(), Flags::empty());
    let handle = xa.handle();
    xa.deserialize(&mut serde_json::Deserializer::from_str(
        r#"[{"index":3,"entry":{"Value":3},"marks":4}]"#,
    ))
    .unwrap();
    let guard = handle.pin();
    assert_eq!(xa.load(3, &guard).and_then(|e| e.value()), Some(3));
    assert!(xa.get_mark(3, Mark::MARK_2));
}

/// Parses `json` as a tree and returns the error message.
fn refused<V: Value>(json: &str) -> String {
    match serde_json::from_str::<XArray<String, V>>(json) {
        Ok(xa) => panic!("accepted {json}: {} entries", xa.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn invalid_records_are_errors_not_panics() {
    let cases: &[(&str, &str)] = &[
        (
            r#"[{"index":0,"order":64,"entry":{"Value":1}}]"#,
            "order 64",
        ),
        (
            r#"[{"index":0,"order":4294967295,"entry":{"Value":1}}]"#,
            "order 4294967295",
        ),
        (
            r#"[{"index":4,"order":3,"entry":{"Value":1}}]"#,
            "not aligned",
        ),
        (
            r#"[{"index":5,"entry":{"Value":4611686018427387904}}]"#,
            "wider than",
        ),
        (
            r#"[{"index":5,"entry":{"Value":1},"marks":8}]"#,
            "mark above 2",
        ),
        (r#"[{"index":8,"order":3,"entry":"Reserved"}]"#, "one index"),
        (
            r#"[{"index":5,"entry":{"Value":1}},{"index":5,"entry":{"Value":2}}]"#,
            "index order",
        ),
        (
            r#"[{"index":0,"order":4,"entry":{"Value":1}},{"index":15,"entry":{"Value":2}}]"#,
            "overlap",
        ),
        (
            r#"[{"index":18446744073709551615,"entry":{"Value":1}},{"index":0,"entry":{"Value":2}}]"#,
            "index order",
        ),
        (r#"[{"index":5}]"#, "missing field `entry`"),
        (r#"[{"entry":{"Value":1}}]"#, "missing field `index`"),
        (
            r#"[{"index":5,"index":6,"entry":{"Value":1}}]"#,
            "duplicate field `index`",
        ),
        (
            r#"[{"index":5,"entry":{"Value":1},"colour":"red"}]"#,
            "unknown field `colour`",
        ),
        (
            r#"[{"index":5,"entry":{"Pointer":1}}]"#,
            "unknown variant `Pointer`",
        ),
        (r#"[{"index":5,"entry":{"Value":-1}}]"#, "invalid value"),
        (r#"[{"index":-5,"entry":{"Value":1}}]"#, "invalid value"),
        (r#"[[5, 0]]"#, "invalid length 2"),
        (r#"{"index":5}"#, "a sequence of xradix records"),
        (r#"[{"index":5,"entry":{"Item":7}}]"#, "invalid type"),
    ];
    for (json, message) in cases {
        let err = refused::<u64>(json);
        assert!(
            err.contains(message),
            "{json}: {err:?} should mention {message:?}"
        );
    }
}

#[test]
fn values_too_wide_for_their_type_are_refused_not_truncated() {
    assert!(refused::<u8>(r#"[{"index":1,"entry":{"Value":256}}]"#).contains("wider than"));
    assert!(refused::<bool>(r#"[{"index":1,"entry":{"Value":2}}]"#).contains("wider than"));
    let ok: XArray<String, u8> =
        serde_json::from_str(r#"[{"index":1,"entry":{"Value":255}}]"#).unwrap();
    assert_eq!(ok.get(1), Some(Entry::Value(255)));
}

#[test]
fn payloads_a_value_type_never_produces_are_refused() {
    /// Even numbers only: odd payloads are not values of this type.
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Even(u8);
    impl Value for Even {
        const BITS: u32 = 8;
        fn into_raw(self) -> u64 {
            u64::from(self.0 & !1)
        }
        fn from_raw(raw: u64) -> Self {
            Even(raw as u8 & !1)
        }
    }
    assert!(refused::<Even>(r#"[{"index":1,"entry":{"Value":3}}]"#)
        .contains("not one its type produces"));
}

#[test]
fn a_large_tree_round_trips() {
    let xa: XArray<String, u32> = XArray::new();
    for i in 0..5000u32 {
        let index = u64::from(i) * 37;
        if i % 3 == 0 {
            xa.store(index, Entry::Item(Arc::new(i.to_string())))
                .unwrap();
        } else {
            xa.store(index, Entry::Value(i)).unwrap();
        }
        if i % 7 == 0 {
            xa.set_mark(index, Mark::ALL[(i % 3) as usize]);
        }
    }
    let back: XArray<String, u32> =
        serde_json::from_slice(&serde_json::to_vec(&xa).unwrap()).unwrap();
    back.check_invariants();
    assert_eq!(picture(&back), picture(&xa));
}
