//! The deliberately broken conversion: proof that the models can fail on
//! the compact bottom nodes (docs/sparse-nodes.md).
//!
//! Built normally, these are two small models that must pass: a reader
//! racing one insert-below rebuild (a C2 holding 49 and 51; the writer
//! stores 50, so a new C4 is built and published in the top node's slot;
//! index 49 always reads its value), and a reader racing one shrink (a C4
//! left with one entry by an erase is rebuilt as a C2; index 52 always
//! reads its value).
//!
//! Built with `--cfg xradix_loom_broken_convert`, the store that publishes
//! the converted node (`CONVERT_PUBLISH` in src/node/compact.rs) is Relaxed
//! instead of Release: a reader can follow the new node's pointer without
//! its construction and the copy of the entries happening before its
//! loads. loom must find that execution: as a causality violation (the
//! reader loads an atomic of the new node whose creation it has not
//! synchronised with), or through the model's assertion (index 49 read as
//! nothing). Under that cfg each test passes only if loom failed its model
//! for one of those reasons; `.ci/loom.sh` runs this file alone under that
//! cfg.
#![cfg(xradix_loom)]

use xradix::{Entry, Flags};
use xradix_loom_tests::*;

fn convert_model() {
    model("convert_publish_ordering", || {
        let (collector, xa) = new_tree(Flags::empty());
        xa.store(49, Entry::Value(49)).unwrap();
        xa.store(51, Entry::Value(51)).unwrap();

        let r = reader(&collector, &xa, |xa, g| load(xa, 49, g));
        let w = writer(&xa, |xa| {
            xa.store(50, Entry::Value(50)).unwrap();
        });
        w.join().unwrap();
        let seen = r.join().unwrap();
        assert_eq!(
            seen,
            Seen::Value(49),
            "index 49 lost while its node was converted"
        );
        assert_eq!(xa.conversion_stats(), [0, 2, 0, 0, 0, 0]);
    });
}

/// A reader racing a shrink (docs/sparse-nodes.md): a C4 holding 49 and
/// 52 (50 erased); the writer erases 49, and the node is rebuilt as a C2
/// holding 52 and published by the same store. Index 52 always reads its
/// value.
fn shrink_model() {
    model("shrink_publish_ordering", || {
        let (collector, xa) = new_tree(Flags::LOOM_SHRINK);
        for i in [49, 50, 52] {
            xa.store(i, Entry::Value(i)).unwrap();
        }
        xa.erase(50);

        let r = reader(&collector, &xa, |xa, g| load(xa, 52, g));
        let w = writer(&xa, |xa| {
            xa.erase(49);
        });
        w.join().unwrap();
        let seen = r.join().unwrap();
        assert_eq!(
            seen,
            Seen::Value(52),
            "index 52 lost while its node was shrunk"
        );
        assert_eq!(xa.conversion_stats(), [0, 2, 0, 0, 1, 0]);
    });
}

#[test]
#[cfg(not(xradix_loom_broken_convert))]
fn convert_publish_ordering() {
    convert_model();
}

#[test]
#[cfg(not(xradix_loom_broken_convert))]
fn shrink_publish_ordering() {
    shrink_model();
}

/// Runs `f`, which must fail under the broken build for the broken
/// ordering: a causality violation, or the model's own `lost` assertion.
#[cfg(xradix_loom_broken_convert)]
fn must_fail(f: fn(), lost: &str) {
    let failure = std::panic::catch_unwind(f).expect_err(
        "loom did not catch the Relaxed publication of a converted node (CONVERT_PUBLISH)",
    );
    let msg = failure
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| failure.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("Causality violation") || msg.contains(lost),
        "loom failed the model, but not for the broken ordering: {msg}"
    );
    println!("XRADIX_LOOM_BROKEN_CAUGHT: {}", msg.trim());
}

#[test]
#[cfg(xradix_loom_broken_convert)]
fn convert_publish_ordering_broken_is_caught() {
    must_fail(convert_model, "index 49 lost while its node was converted");
}

#[test]
#[cfg(xradix_loom_broken_convert)]
fn shrink_publish_ordering_broken_is_caught() {
    must_fail(shrink_model, "index 52 lost while its node was shrunk");
}
