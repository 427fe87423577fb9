//! The random draws of one [`Cache`](crate::Cache) (early expiry's `U`): the thread's generator,
//! or a seeded one installed by a test, so that a test's draws repeat exactly.

use std::sync::{Mutex, PoisonError};

#[derive(Debug, Default)]
pub(crate) enum Random {
    /// fastrand's per-thread generator, seeded from the OS.
    #[default]
    Thread,
    /// One generator for the whole cache, from a fixed seed.
    Seeded(Mutex<fastrand::Rng>),
}

impl Random {
    pub(crate) fn seeded(seed: u64) -> Self {
        Random::Seeded(Mutex::new(fastrand::Rng::with_seed(seed)))
    }

    /// A number drawn uniformly from (0, 1]: never 0, so its logarithm is finite.
    pub(crate) fn unit(&self) -> f64 {
        let draw = match self {
            Random::Thread => fastrand::f64(),
            Random::Seeded(rng) => rng.lock().unwrap_or_else(PoisonError::into_inner).f64(),
        };
        1.0 - draw
    }
}
