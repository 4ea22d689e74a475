//! The deliberately broken conversion: proof that the models can fail on
//! the compact bottom nodes (docs/sparse-nodes.md).
//!
//! Built normally, this is a small model of a reader racing one
//! insert-below rebuild (a C2 holding 49 and 51; the writer stores 50, so
//! a new C4 is built and published in the top node's slot) and it must
//! pass: index 49 always reads its value.
//!
//! Built with `--cfg xradix_loom_broken_convert`, the store that publishes
//! the converted node (`CONVERT_PUBLISH` in src/node/compact.rs) is Relaxed
//! instead of Release: a reader can follow the new node's pointer without
//! its construction and the copy of the entries happening before its
//! loads. loom must find that execution: as a causality violation (the
//! reader loads an atomic of the new node whose creation it has not
//! synchronised with), or through the model's assertion (index 49 read as
//! nothing). Under that cfg this test passes only if loom failed the model
//! for one of those reasons; `.ci/loom.sh` runs it alone under that cfg.
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

#[test]
#[cfg(not(xradix_loom_broken_convert))]
fn convert_publish_ordering() {
    convert_model();
}

#[test]
#[cfg(xradix_loom_broken_convert)]
fn convert_publish_ordering_broken_is_caught() {
    let failure = std::panic::catch_unwind(convert_model).expect_err(
        "loom did not catch the Relaxed publication of a converted node (CONVERT_PUBLISH)",
    );
    let msg = failure
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| failure.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("Causality violation")
            || msg.contains("index 49 lost while its node was converted"),
        "loom failed the model, but not for the broken ordering: {msg}"
    );
    println!("XRADIX_LOOM_BROKEN_CAUGHT: {}", msg.trim());
}
