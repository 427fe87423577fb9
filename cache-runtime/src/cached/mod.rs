//! `#[cached]`: the engine behind the attribute. One call looks up its key, judges what it found
//! ([`fresh`]), and on a miss computes once per key ([`flight`], [`call`]) and stores the result
//! ([`write`]); early expiry and stale-while-revalidate recompute off the caller's path
//! ([`refresh`]); the companions (`invalidate`, `peek`, `refresh`) act on one key
//! ([`companion`], [`mode`]). [`invalidation`] makes an invalidation win over every computation
//! that started before it.

pub(crate) mod call;
pub(crate) mod companion;
pub(crate) mod drive;
pub(crate) mod flight;
mod fresh;
pub(crate) mod invalidation;
pub(crate) mod kind;
#[cfg(feature = "redis")]
mod lease;
pub(crate) mod mode;
mod read;
mod refresh;
mod write;

use crate::stats::{Counters, Registered};

/// One cached function: its name and counters. A `static` in the expansion.
#[derive(Debug)]
pub struct FnSite {
    registered: Registered,
}

impl FnSite {
    /// A site not yet named; it is named on first use.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        FnSite {
            registered: Registered::new(),
        }
    }

    /// Names a free function (`module::function`) and registers it for [`crate::stats`].
    #[inline]
    pub fn named(&'static self, name: &'static str) -> &'static Self {
        self.registered.register(|| name.into());
        self
    }

    /// Names a method (`Type::method`) and registers it for [`crate::stats`].
    #[inline]
    pub fn named_method<SelfTy: ?Sized>(&'static self, method: &'static str) -> &'static Self {
        self.registered
            .register(|| method_name::<SelfTy>(method).into());
        self
    }

    pub(crate) fn name(&self) -> &str {
        self.registered.name.get().map_or("", |name| name)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.registered.counters
    }
}

/// `Type::method`, as [`crate::stats`] names a method.
pub fn method_name<SelfTy: ?Sized>(method: &str) -> String {
    format!("{}::{method}", std::any::type_name::<SelfTy>())
}
