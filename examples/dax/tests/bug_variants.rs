//! Each historical bug, switched on, is caught by its scenario; the same
//! scenario with every bug off passes.

use super::concurrency::*;
use super::scenarios::*;
use crate::bugs::Bugs;

/// Runs `scenario` with no bug (must pass) and with `bug` (must fail).
fn caught(bug: Bugs, scenario: fn(Bugs) -> Result<(), String>) {
    if let Err(e) = scenario(Bugs::empty()) {
        panic!("the scenario fails without {bug:?}: {e}");
    }
    match scenario(bug) {
        Ok(()) => panic!("{bug:?} went unnoticed"),
        Err(e) => eprintln!("{bug:?} caught: {e}"),
    }
}

#[test]
fn never_clear_dirty_is_caught() {
    caught(Bugs::NEVER_CLEAR_DIRTY, fsync_cleans_and_write_protects);
}

#[test]
fn no_wrprotect_pmd_is_caught() {
    caught(Bugs::NO_WRPROTECT_PMD, two_mappings);
}

#[test]
fn no_wrprotect_pte_of_pmd_is_caught() {
    caught(Bugs::NO_WRPROTECT_PTE_OF_PMD, two_mappings);
}

#[test]
fn flush_first_4k_only_is_caught() {
    caught(Bugs::FLUSH_FIRST_4K_ONLY, pmd_write_fsync_crash);
}

#[test]
fn invalidate_dirty_is_caught() {
    caught(Bugs::INVALIDATE_DIRTY, invalidate_keeps_dirty);
}

#[test]
fn punch_deletes_whole_pmd_is_caught() {
    caught(Bugs::PUNCH_DELETES_WHOLE_PMD, punch_inside_dirty_pmd);
}

#[test]
fn no_pfn_recheck_is_caught() {
    caught(Bugs::NO_PFN_RECHECK, writeback_rechecks_block_after_refault);
}

#[test]
fn skip_flush_is_caught() {
    caught(Bugs::SKIP_FLUSH, pmd_write_fsync_crash);
}

#[test]
fn no_error_record_is_caught() {
    caught(Bugs::NO_ERROR_RECORD, flush_error_reported);
}

#[test]
fn stale_zero_page_is_caught() {
    caught(Bugs::STALE_ZERO_PAGE, write_syscall_over_mapped_hole);
}

#[test]
fn pmd_wait_unaligned_is_caught() {
    caught(Bugs::PMD_WAIT_UNALIGNED, pmd_waiter_is_woken);
}

#[test]
fn ignore_pins_is_caught() {
    caught(Bugs::IGNORE_PINS, pinned_page_blocks_punch);
}

#[test]
fn byte_offset_as_index_is_caught() {
    caught(Bugs::BYTE_OFFSET_AS_INDEX, ranged_fsync);
}

#[test]
fn mid_pmd_flush_from_range_start_is_caught() {
    caught(Bugs::MID_PMD_FLUSH_FROM_RANGE_START, mid_pmd_fsync);
}

#[test]
fn no_towrite_snapshot_is_caught() {
    caught(
        Bugs::NO_TOWRITE_SNAPSHOT,
        fsync_terminates_under_dirtying_writer,
    );
}

#[test]
fn resume_past_waited_entry_is_caught() {
    caught(Bugs::RESUME_PAST_WAITED_ENTRY, fsync_after_punch_split_it);
}

#[test]
fn writable_before_dirty_is_caught_pte() {
    caught(Bugs::WRITABLE_BEFORE_DIRTY, |bugs| {
        store_through_mapping_another_thread_faulted(bugs, false)
    });
}

#[test]
fn writable_before_dirty_is_caught_pmd() {
    caught(Bugs::WRITABLE_BEFORE_DIRTY, |bugs| {
        store_through_mapping_another_thread_faulted(bugs, true)
    });
}
