//! The example's tests: the DAX.md scenarios against the crash simulator,
//! each historical bug caught, the building blocks' self-checks, and the
//! command line.
//!
//! Every scenario is a function returning `Result<(), String>` and taking
//! the [`Bugs`] to switch on, so that one body serves both as the scenario
//! test (bugs off: must pass) and as the proof that it catches a bug (that
//! bug on: must fail).

mod bug_variants;
mod cli;
mod concurrency;
mod race;
mod scenarios;

use crate::blocks::BLOCK_SIZE;
use crate::bugs::Bugs;
use crate::crash::{CacheModel, SimulatedPmem};
use crate::mapping::{DaxFile, Options};
use crate::persist::Persist;
use crate::workload::fill_page;
use core::time::Duration;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::Arc;

/// Crash images drawn per durability check.
const IMAGES: usize = 64;

/// Device size of a test rig: 4 PMD-sized groups (the first holds the
/// header, so 3 whole 2 MiB extents).
const DEVICE: usize = 8 << 20;

/// A DAX file over the crash simulator.
pub(crate) struct Rig {
    pub(crate) sim: Arc<SimulatedPmem>,
    pub(crate) file: DaxFile,
}

/// A 6 MiB file (three 2 MiB regions) on an 8 MiB simulated device.
pub(crate) fn rig(bugs: Bugs) -> Rig {
    rig_with(bugs, CacheModel::Adr, |sim| sim)
}

/// A rig whose backend is `wrap(sim)` (a slow or gated wrapper).
pub(crate) fn rig_with(
    bugs: Bugs,
    model: CacheModel,
    wrap: impl FnOnce(Arc<SimulatedPmem>) -> Arc<dyn Persist>,
) -> Rig {
    let sim = Arc::new(SimulatedPmem::new(DEVICE, model).expect("simulated device"));
    let options = Options {
        bugs,
        wait_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let file = DaxFile::new(wrap(Arc::clone(&sim)), 6 << 20, options).expect("file");
    Rig { sim, file }
}

/// The content a test writes to `page` at `version`.
pub(crate) fn data(page: u64, version: u32) -> Vec<u8> {
    let mut out = vec![0u8; BLOCK_SIZE as usize];
    fill_page(1, page, version, &mut out);
    out
}

/// `Err` naming a failed operation.
pub(crate) fn op<T, E: core::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}
pub(crate) use ensure;

impl Rig {
    /// Checks that every crash image holds `pages` (page, content) at the
    /// blocks the block map gives them.
    pub(crate) fn survives_crash(&self, pages: &[(u64, Vec<u8>)]) -> Result<(), String> {
        let mut rng = StdRng::seed_from_u64(42);
        for image_no in 0..IMAGES {
            let image = self.sim.crash(&mut rng);
            for (page, want) in pages {
                let block = self
                    .file
                    .extents
                    .lookup(*page)
                    .ok_or_else(|| format!("page {page} has no block"))?;
                let at = (block * BLOCK_SIZE) as usize;
                ensure!(
                    image[at..at + want.len()] == want[..],
                    "crash image {image_no} lost data of page {page} (block {block})"
                );
            }
        }
        Ok(())
    }

    /// Whether some crash image lacks part of `pages`.
    pub(crate) fn can_lose(&self, pages: &[(u64, Vec<u8>)]) -> bool {
        self.survives_crash(pages).is_err()
    }

    /// Whether the entry at `index` carries `mark`.
    pub(crate) fn marked(&self, index: u64, mark: xradix::Mark) -> bool {
        self.file.tree.get_mark(index, mark)
    }
}

/// The building blocks' own checks, one test per module: a failing check
/// is named in the panic message.
mod building_blocks {
    type Check = (&'static str, fn() -> Result<(), String>);

    fn run(checks: &[Check]) {
        let failures: Vec<String> = checks
            .iter()
            .filter_map(|(name, check)| check().err().map(|e| format!("{name}: {e}")))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn blocks_checks() {
        run(crate::blocks::checks::CHECKS);
    }

    #[test]
    fn crash_checks() {
        run(crate::crash::checks::CHECKS);
    }

    #[test]
    fn entry_checks() {
        run(crate::entry::checks::CHECKS);
    }

    #[test]
    fn flush_checks() {
        run(crate::flush::checks::CHECKS);
    }

    #[test]
    fn persist_checks() {
        run(crate::persist::checks::CHECKS);
    }

    #[test]
    fn pmem_checks() {
        run(crate::pmem::checks::CHECKS);
    }
}
