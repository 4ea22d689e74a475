#![cfg(xradix_loom)]
use xradix::{Entry, Flags, Mark};
use xradix_loom_tests::*;

#[test]
fn dbg_a() {
    model("dbg_a", || {
        let (collector, xa) = new_tree(Flags::empty());
        for i in [1, 3] {
            xa.store(i, Entry::Value(i)).unwrap();
        }
        let r1 = reader(&collector, &xa, |xa, g| load(xa, 1, g));
        let r2 = reader(&collector, &xa, |xa, g| load(xa, 3, g));
        xa.clear_mark(3, Mark::DIRTY);
        r1.join().unwrap();
        r2.join().unwrap();
    });
}
#[test]
fn dbg_b() {
    model("dbg_b", || {
        let (collector, xa) = new_tree(Flags::empty());
        for i in [1, 3] {
            xa.store(i, Entry::Value(i)).unwrap();
        }
        let r1 = reader(&collector, &xa, |xa, g| load(xa, 1, g));
        let r2 = reader(&collector, &xa, |xa, g| load(xa, 3, g));
        r1.join().unwrap();
        r2.join().unwrap();
    });
}
#[test]
fn dbg_c() {
    model("dbg_c", || {
        let collector = xradix::Collector::new();
        let c1 = collector.clone();
        let c2 = collector.clone();
        let r1 = loom::thread::spawn(move || {
            let h = c1.register();
            let _g = h.pin();
        });
        let r2 = loom::thread::spawn(move || {
            let h = c2.register();
            let _g = h.pin();
        });
        r1.join().unwrap();
        r2.join().unwrap();
    });
}
