//! A file's page cache, the job the kernel's XArray was built for.
//!
//! Cached pages are items (`Arc<Page>`); an evicted page leaves a *shadow*
//! value entry behind (the kernel's workingset shadow: the eviction clock
//! at the time), so that a later read can tell how soon the page was
//! needed again. Dirty pages carry `Mark::DIRTY`; writeback first tags
//! them `TOWRITE` with `tag_range` (a snapshot: pages dirtied during the
//! pass wait for the next one), then works through the tagged pages in
//! batches under the lock with `cursor_mut` + `next_marked`, dropping the
//! lock between batches with `pause`. A reader thread loads pages without
//! a lock the whole time.
//!
//! Run with `cargo run --example page_cache`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use xradix::{pin, Entry, EntryRef, Mark, XArray};

/// One cached page of the file.
#[derive(Debug)]
struct Page {
    index: u64,
    contents: Mutex<String>,
}

/// Pages are items; evicted pages leave their eviction time as a value.
type Cache = XArray<Page, u64>;

const PAGES: u64 = 64;
const BATCH: usize = 8;

fn main() {
    let cache: Cache = XArray::new();
    let clock = AtomicU64::new(0);

    // Read the whole file in.
    for index in 0..PAGES {
        let page = Page {
            index,
            contents: Mutex::new(format!("block {index}")),
        };
        cache.store(index, Entry::Item(Arc::new(page))).unwrap();
    }
    // A 2 MiB folio further out: one entry for 512 pages.
    let folio = Arc::new(Page {
        index: 512,
        contents: Mutex::new("huge".into()),
    });
    cache.store_order(512, 9, Entry::Item(folio)).unwrap();
    println!(
        "cached {} entries ({} small pages and one order-9 folio)",
        cache.len(),
        PAGES
    );

    // Writes dirty every third page and the folio.
    for index in (0..PAGES).step_by(3) {
        write(&cache, index, "new data");
    }
    write(&cache, 700, "new data in the folio");
    let dirty_before = count_marked(&cache, Mark::DIRTY);
    assert_eq!(dirty_before, 22 + 1);

    let reader_started = AtomicBool::new(false);
    let stop_reader = AtomicBool::new(false);
    let (written, evicted) = std::thread::scope(|s| {
        // A lock-free reader: every page is cached or shadowed, never absent,
        // whatever writeback and eviction are doing.
        let reader = s.spawn(|| {
            let mut loads = 0u64;
            while !stop_reader.load(Ordering::Relaxed) {
                let guard = pin();
                for index in 0..PAGES {
                    match cache.load(index, &guard) {
                        Some(EntryRef::Item(page)) => assert_eq!(page.index, index),
                        Some(EntryRef::Value(_shadow)) => {}
                        None => panic!("page {index} vanished"),
                    }
                }
                loads += PAGES;
                reader_started.store(true, Ordering::Relaxed);
            }
            loads
        });
        while !reader_started.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        let written = writeback(&cache);
        // Memory pressure: evict every clean small page, leaving a shadow.
        let evicted = evict_clean(&cache, 0..PAGES, &clock);
        stop_reader.store(true, Ordering::Relaxed);
        let loads = reader.join().unwrap();
        println!("reader: {loads} lock-free loads during writeback and eviction, every page present each time");
        (written, evicted)
    });
    // Page 1 was dirtied in the middle of the pass, after the TOWRITE
    // snapshot: it is still dirty, for the next pass.
    assert_eq!(written.len(), dirty_before);
    assert!(!written.contains(&1));
    assert!(cache.get_mark(1, Mark::DIRTY));
    assert!(!cache.has_mark(Mark::TOWRITE));
    assert_eq!(count_marked(&cache, Mark::DIRTY), 1);
    println!(
        "writeback wrote {} entries in batches of {BATCH}, dropping the lock between batches; \
         page 1, dirtied meanwhile, waits for the next pass",
        written.len()
    );

    assert_eq!(evicted, PAGES as usize - 1, "all but the dirty page 1");
    assert_eq!(
        cache.len(),
        PAGES as usize + 1,
        "a shadow still occupies its index"
    );
    println!("evicted {evicted} clean pages; their slots now hold shadow values");

    // A later read of page 10 faults: the shadow says how long ago it left.
    clock.fetch_add(5, Ordering::Relaxed);
    let distance = refault(&cache, 10, &clock).expect("page 10 was evicted, not never read");
    // Its shadow is 9 (pages 0 and 2..=9 went before it); the clock is now
    // 63 evictions + 5.
    assert_eq!(distance, (PAGES - 1 + 5) - 9);
    println!("page 10 refaulted {distance} evictions after it left (the kernel weighs this against the active list's size)");
    assert!(matches!(cache.get(10), Some(Entry::Item(_))));

    // Punch a hole in the folio: split it first, then erase the pages.
    cache.split(512, 0).unwrap();
    for index in 600..616 {
        cache.erase(index);
    }
    assert_eq!(cache.get_order(700), 0);
    assert!(cache.get(605).is_none() && cache.get(616).is_some());
    assert_eq!(cache.len(), PAGES as usize + 512 - 16);
    println!(
        "hole punched in the folio: split into 512 single pages, 600..616 erased, {} entries now",
        cache.len()
    );
    cache.check_invariants();
}

/// Writes to a cached page and marks it dirty.
fn write(cache: &Cache, index: u64, data: &str) {
    let guard = pin();
    if let Some(EntryRef::Item(page)) = cache.load(index, &guard) {
        *page.contents.lock().unwrap() = data.to_string();
        cache.set_mark(index, Mark::DIRTY);
    }
}

fn count_marked(cache: &Cache, mark: Mark) -> usize {
    cache.iter_marked(.., mark, &pin()).count()
}

/// One writeback pass over the whole file; returns the indices written.
fn writeback(cache: &Cache) -> Vec<u64> {
    // The snapshot: everything dirty now is written by this pass.
    let tagged = cache.tag_range(.., Mark::DIRTY, Mark::TOWRITE);
    let mut written = Vec::new();
    let mut resume = 0;
    loop {
        let locked = cache.lock();
        let mut cursor = locked.cursor_mut(resume);
        let mut batch = 0;
        while batch < BATCH {
            let Some(EntryRef::Item(page)) = cursor.next_marked(Mark::TOWRITE, u64::MAX) else {
                break;
            };
            // "Write" the page: copy its contents out, as the I/O would.
            let (page_index, _on_disk) = (page.index, page.contents.lock().unwrap().clone());
            assert_eq!(page_index, cursor.index());
            written.push(cursor.index());
            cursor.clear_mark(Mark::DIRTY);
            cursor.clear_mark(Mark::TOWRITE);
            batch += 1;
        }
        if batch < BATCH {
            break;
        }
        // Let other writers in between batches.
        cursor.pause();
        resume = cursor.index();
        drop(locked);
        if written.len() == BATCH {
            // Someone writes to page 1 (already written) meanwhile.
            write(cache, 1, "written during writeback");
        }
    }
    assert_eq!(written.len(), tagged);
    written
}

/// Replaces every clean cached page in `range` with a shadow entry holding
/// the eviction clock; returns how many were evicted.
fn evict_clean(cache: &Cache, range: std::ops::Range<u64>, clock: &AtomicU64) -> usize {
    let locked = cache.lock();
    let mut cursor = locked.cursor_mut(range.start);
    let mut evicted = 0;
    while let Some(entry) = cursor.find(range.end - 1) {
        if matches!(entry, EntryRef::Item(_)) && !cache.get_mark(cursor.index(), Mark::DIRTY) {
            let shadow = clock.fetch_add(1, Ordering::Relaxed);
            let old = cursor.store(Entry::Value(shadow)).unwrap();
            assert!(matches!(old, Some(Entry::Item(_))));
            evicted += 1;
        }
    }
    evicted
}

/// Reads a page back in after eviction; returns the refault distance.
fn refault(cache: &Cache, index: u64, clock: &AtomicU64) -> Option<u64> {
    let page = Arc::new(Page {
        index,
        contents: Mutex::new(format!("block {index}")),
    });
    match cache.store(index, Entry::Item(page)).unwrap()? {
        Entry::Value(shadow) => Some(clock.load(Ordering::Relaxed) - shadow),
        Entry::Item(_) => None,
    }
}

#[cfg(test)]
mod tests {
    /// `cargo test --all-targets` runs the example, with its assertions.
    #[test]
    fn example_runs_and_its_claims_hold() {
        super::main();
    }
}
