//! Heap configuration.

use contgc_roots::RootMode;
use std::fmt;

/// How a [`Heap`](crate::Heap) is sized and how it collects.
///
/// ```
/// use contgc_collector::Config;
/// let config = Config::builder()
///     .nursery_size(8 << 20)
///     .heap_limit(256 << 20)
///     .promotion_age(2)
///     .verify_after_gc(true)
///     .build()
///     .unwrap();
/// assert_eq!(config.nursery_size(), 8 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) nursery_size: usize,
    pub(crate) survivor_size: usize,
    pub(crate) tlab_size: usize,
    pub(crate) heap_limit: usize,
    pub(crate) promotion_age: u8,
    pub(crate) major_growth_factor: f64,
    pub(crate) min_major_bytes: usize,
    pub(crate) gc_stress: Option<u32>,
    pub(crate) verify: bool,
    pub(crate) continuation_placement: ContinuationPlacement,
    pub(crate) root_mode: RootMode,
}

/// Where continuations (suspended frames, which usually live long) are allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContinuationPlacement {
    /// In the nursery, promoted at their first survival (default): a frame that is
    /// resumed quickly dies young; one that stays suspended is copied once.
    Nursery,
    /// Directly in the old generation: never copied, but allocation takes the old
    /// space's lock and a suspended frame is only reclaimed by a major collection.
    OldGeneration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nursery_size: 1 << 20,
            survivor_size: 256 << 10,
            tlab_size: 32 << 10,
            heap_limit: 1 << 30,
            promotion_age: 2,
            major_growth_factor: 2.0,
            min_major_bytes: 16 << 20,
            gc_stress: None,
            verify: false,
            continuation_placement: ContinuationPlacement::Nursery,
            root_mode: RootMode::Grouped,
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Config::default())
    }

    /// Eden bytes.
    pub fn nursery_size(&self) -> usize {
        self.nursery_size
    }
    /// Bytes of each survivor semispace.
    pub fn survivor_size(&self) -> usize {
        self.survivor_size
    }
    /// Thread-local allocation buffer bytes.
    pub fn tlab_size(&self) -> usize {
        self.tlab_size
    }
    /// Most bytes the old generation and large objects may hold after a full collection.
    pub fn heap_limit(&self) -> usize {
        self.heap_limit
    }
    /// Minor collections an object survives before it is promoted.
    pub fn promotion_age(&self) -> u8 {
        self.promotion_age
    }
    /// Old-generation growth since the last major collection that triggers the next.
    pub fn major_growth_factor(&self) -> f64 {
        self.major_growth_factor
    }
    /// Collect at every this many allocations (GC-stress mode), if set.
    pub fn gc_stress(&self) -> Option<u32> {
        self.gc_stress
    }
    /// Whether the heap verifier runs after every collection.
    pub fn verify_after_gc(&self) -> bool {
        self.verify
    }
    /// How suspended-task roots are found at minor collections.
    pub fn root_mode(&self) -> RootMode {
        self.root_mode
    }
    /// Where continuation layouts registered with this heap allocate.
    pub fn continuation_placement(&self) -> ContinuationPlacement {
        self.continuation_placement
    }
}

/// Builds a [`Config`]; [`build`](ConfigBuilder::build) checks the values.
#[derive(Clone, Debug)]
pub struct ConfigBuilder(Config);

impl ConfigBuilder {
    /// Eden size in bytes (default 1 MiB, which keeps allocation inside a typical L2
    /// cache; 64 KiB to 1 GiB). The survivor spaces get a
    /// quarter of it each unless set with [`survivor_size`](Self::survivor_size).
    pub fn nursery_size(mut self, bytes: usize) -> Self {
        self.0.nursery_size = bytes;
        self.0.survivor_size = bytes / 4;
        self
    }
    /// Size of each survivor space in bytes (default: a quarter of the nursery).
    pub fn survivor_size(mut self, bytes: usize) -> Self {
        self.0.survivor_size = bytes;
        self
    }
    /// Thread-local allocation buffer size (default 32 KiB; 4 KiB to the nursery size,
    /// at most 16 MiB).
    pub fn tlab_size(mut self, bytes: usize) -> Self {
        self.0.tlab_size = bytes;
        self
    }
    /// Most bytes the old generation's blocks in use plus large objects may take
    /// (default 1 GiB; 1 MiB to 64 TiB). An allocation that would need more after a
    /// full collection fails with [`AllocError`](crate::AllocError). The nursery is
    /// sized separately, and a minor collection may promote past the limit by up to the
    /// nursery's size (the next collection is then a major one).
    pub fn heap_limit(mut self, bytes: usize) -> Self {
        self.0.heap_limit = bytes;
        self
    }
    /// Minor collections an object survives before promotion (1 to 15; default 2;
    /// 1 promotes at the first survival).
    pub fn promotion_age(mut self, age: u8) -> Self {
        self.0.promotion_age = age;
        self
    }
    /// A major collection runs when the old generation has grown by this factor since
    /// the last one (default 2.0; must be above 1.0).
    pub fn major_growth_factor(mut self, factor: f64) -> Self {
        self.0.major_growth_factor = factor;
        self
    }
    /// No growth-triggered major collection happens below this many old bytes
    /// (default 16 MiB).
    pub fn min_major_bytes(mut self, bytes: usize) -> Self {
        self.0.min_major_bytes = bytes;
        self
    }
    /// GC-stress mode: a minor collection at every `n` allocations and a major one at
    /// every fourth of those (n >= 1).
    pub fn gc_stress(mut self, every_n_allocations: u32) -> Self {
        self.0.gc_stress = Some(every_n_allocations);
        self
    }
    /// Where continuations are allocated (default: the nursery, promoted at their
    /// first survival).
    pub fn continuation_placement(mut self, p: ContinuationPlacement) -> Self {
        self.0.continuation_placement = p;
        self
    }
    /// How suspended-task roots are found at minor collections (default: grouped;
    /// naive and aged exist to show what grouping buys).
    pub fn root_mode(mut self, mode: RootMode) -> Self {
        self.0.root_mode = mode;
        self
    }
    /// Run the heap verifier after every collection (panics on a broken invariant).
    pub fn verify_after_gc(mut self, on: bool) -> Self {
        self.0.verify = on;
        self
    }

    /// Checks the values and returns the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.0;
        let bad = |what: &'static str, why: String| Err(ConfigError { what, why });
        if !(64 << 10..=1 << 30).contains(&c.nursery_size) {
            return bad(
                "nursery_size",
                format!("{} bytes is not between 64 KiB and 1 GiB", c.nursery_size),
            );
        }
        if !(4 << 10..=1 << 30).contains(&c.survivor_size) {
            return bad(
                "survivor_size",
                format!("{} bytes is not between 4 KiB and 1 GiB", c.survivor_size),
            );
        }
        if c.tlab_size < 4 << 10 || c.tlab_size > c.nursery_size.min(16 << 20) {
            return bad(
                "tlab_size",
                format!(
                    "{} bytes is not between 4 KiB and the nursery size (at most 16 MiB)",
                    c.tlab_size
                ),
            );
        }
        if !(1..=15).contains(&c.promotion_age) {
            return bad(
                "promotion_age",
                format!("{} is not between 1 and 15", c.promotion_age),
            );
        }
        if c.major_growth_factor.is_nan() || c.major_growth_factor <= 1.0 {
            return bad(
                "major_growth_factor",
                format!("{} is not above 1.0", c.major_growth_factor),
            );
        }
        if !(1 << 20..=1 << 46).contains(&c.heap_limit) {
            return bad(
                "heap_limit",
                format!("{} bytes is not between 1 MiB and 64 TiB", c.heap_limit),
            );
        }
        if c.gc_stress == Some(0) {
            return bad("gc_stress", "the interval must be at least 1".into());
        }
        Ok(c)
    }
}

/// A configuration value out of range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting.
    pub what: &'static str,
    /// What is wrong with it.
    pub why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.why)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let e = Config::builder().promotion_age(0).build().unwrap_err();
        assert_eq!(e.what, "promotion_age");
        assert!(Config::builder().nursery_size(1000).build().is_err());
        assert!(Config::builder().nursery_size(8 << 30).build().is_err());
        assert!(Config::builder().heap_limit(usize::MAX).build().is_err());
        assert!(Config::builder().major_growth_factor(1.0).build().is_err());
        assert!(Config::builder().gc_stress(0).build().is_err());
        assert!(Config::builder().tlab_size(1 << 30).build().is_err());
        assert!(Config::builder().build().is_ok());
    }
}
