//! The deliberately broken ordering: proof that the models can fail.
//!
//! Built normally, this is a small model of a reader racing one growth
//! step (index 1 in a one-level tree; a writer stores at 16, which puts a
//! new top node at shift 4 over the old one) and it must pass.
//!
//! Built with `--cfg xradix_loom_broken`, the head store that publishes the
//! grown tree (`GROW_PUBLISH` in src/cursor/write.rs) is Relaxed instead of
//! Release: a reader can follow the new head without the new top's
//! initialisation (its slot 0 pointing at the old top) happening before
//! its loads. loom must find that execution; it reports it either as a
//! causality violation (the reader loads an atomic of the new node whose
//! initialisation it has not synchronised with) or through our assertion
//! (the reader read the slot's initial null and found index 1 empty).
//! Under that cfg this test passes only if loom failed the model for one of
//! those two reasons; `.ci/loom.sh` runs it alone under that cfg.
#![cfg(xradix_loom)]

use xradix::{Entry, Flags};
use xradix_loom_tests::*;

fn grow_model() {
    model("grow_publish_ordering", || {
        let (collector, xa) = new_tree(Flags::empty());
        xa.store(1, Entry::Value(1)).unwrap();

        let r = reader(&collector, &xa, |xa, g| load(xa, 1, g));
        let w = writer(&xa, |xa| {
            xa.store(16, Entry::Value(16)).unwrap();
        });
        w.join().unwrap();
        let one = r.join().unwrap();
        assert_eq!(one, Seen::Value(1), "index 1 lost while the tree grew");
    });
}

#[test]
#[cfg(not(xradix_loom_broken))]
fn grow_publish_ordering() {
    grow_model();
}

#[test]
#[cfg(xradix_loom_broken)]
fn grow_publish_ordering_broken_is_caught() {
    let failure = std::panic::catch_unwind(grow_model)
        .expect_err("loom did not catch the Relaxed publication of the grown tree (GROW_PUBLISH)");
    let msg = failure
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| failure.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("Causality violation") || msg.contains("index 1 lost while the tree grew"),
        "loom failed the model, but not for the broken ordering: {msg}"
    );
    println!("XRADIX_LOOM_BROKEN_CAUGHT: {}", msg.trim());
}
