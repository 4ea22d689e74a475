//! A tour of xradix in one file: values and items, marks, a writeback-style
//! pass over the dirty entries, a 2 MiB multi-order entry split for a hole
//! punch, and ID allocation.
//!
//! Run with `cargo run --example basic`.

use std::sync::Arc;

use xradix::{pin, Entry, EntryRef, Flags, Mark, XArray};

fn main() -> Result<(), xradix::Error> {
    // A page cache in miniature: page index -> page (an item) or a shadow
    // value left behind by an evicted page.
    let cache: XArray<String, u64> = XArray::new();
    for page in 0..8 {
        cache.store(page, Entry::Item(Arc::new(format!("page {page}"))))?;
    }
    cache.store(8, Entry::Value(0xdead))?; // a shadow entry: no allocation
    for page in [1, 4, 6] {
        cache.set_mark(page, Mark::DIRTY);
    }

    // Readers pin a guard and borrow entries for as long as it lives.
    let guard = pin();
    if let Some(EntryRef::Item(page)) = cache.load(4, &guard) {
        println!("load(4) = {page}");
    }

    // Writeback: snapshot DIRTY into TOWRITE, then clean each TOWRITE page.
    let tagged = cache.tag_range(.., Mark::DIRTY, Mark::TOWRITE);
    let locked = cache.lock();
    let mut cursor = locked.cursor_mut(0);
    let mut written = Vec::new();
    while cursor.next_marked(Mark::TOWRITE, u64::MAX).is_some() {
        written.push(cursor.index());
        cursor.clear_mark(Mark::TOWRITE);
        cursor.clear_mark(Mark::DIRTY);
    }
    drop(locked);
    println!("tagged {tagged} dirty pages, wrote back {written:?}");
    assert!(!cache.has_mark(Mark::DIRTY));

    // A 2 MiB mapping is one order-9 entry over 512 pages. Punching a hole
    // in it must not lose the rest: split first, then erase the hole.
    let dax: XArray<(), u64> = XArray::new();
    dax.store_order(512, 9, Entry::Value(42))?;
    dax.set_mark(512, Mark::DIRTY);
    dax.split(512, 0)?;
    for page in 600..604 {
        dax.erase(page);
    }
    let still_dirty = dax.iter_marked(.., Mark::DIRTY, &guard).count();
    println!("after punching 4 pages out of a dirty 2 MiB entry: {still_dirty} dirty pages remain");
    assert_eq!(still_dirty, 508);

    // ID allocation: the lowest free id, in O(height).
    let ids: XArray<&'static str> = XArray::with_flags(Flags::ALLOC1);
    let a = ids.alloc(Entry::Item(Arc::new("a")), 0..=u64::from(u32::MAX))?;
    let b = ids.alloc(Entry::Item(Arc::new("b")), 0..=u64::from(u32::MAX))?;
    ids.erase(a);
    let c = ids.alloc(Entry::Item(Arc::new("c")), 0..=u64::from(u32::MAX))?;
    println!("ids: a={a} b={b}, then c={c} reuses a's id");
    Ok(())
}
