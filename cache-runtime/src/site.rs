//! One site per attributed function: a `static` in the expansion that holds the function's
//! name (set on its first call) and its counters, listed in the registry of its kind, which
//! [`crate::stats`], [`crate::limit_stats`] and [`crate::lock_stats`] read.

use std::sync::{Mutex, OnceLock, PoisonError};

/// The counters of one kind of site, and the registry the sites of that kind are listed in.
pub trait Counted: Sized + Send + Sync + 'static {
    /// Counters at zero, for a `static` site.
    const ZERO: Self;
    /// Where sites of this kind are listed.
    fn registry() -> &'static Registry<Self>;
    /// Mirrors the counters to the `metrics` facade, labelled with the site's name.
    #[cfg(feature = "metrics")]
    fn report_as(&self, name: &str);
}

/// The sites of one kind named so far.
pub type Registry<C> = Mutex<Vec<&'static Site<C>>>;

/// One attributed function: its name (`module::function` or `Type::method`) and counters.
#[derive(Debug)]
pub struct Site<C: 'static> {
    name: OnceLock<Box<str>>,
    counters: C,
}

impl<C: Counted> Site<C> {
    /// A site not yet named; it is named on first use.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Site {
            name: OnceLock::new(),
            counters: C::ZERO,
        }
    }

    /// Names a free function (`module::function`) and lists it in its registry, once.
    #[inline]
    pub fn named(&'static self, name: &'static str) -> &'static Self {
        if self.name.get().is_none() {
            self.register(|| name.into());
        }
        self
    }

    /// Names a method (`Type::method`) and lists it in its registry, once.
    #[inline]
    pub fn named_method<SelfTy: ?Sized>(&'static self, method: &'static str) -> &'static Self {
        if self.name.get().is_none() {
            self.register(|| method_name::<SelfTy>(method).into());
        }
        self
    }

    /// The function's name ("" before its first call).
    pub fn name(&self) -> &str {
        self.name.get().map_or("", |name| name)
    }

    pub(crate) fn counters(&self) -> &C {
        &self.counters
    }

    /// The first call only: the check for a name is inlined at every call, this is not.
    #[cold]
    #[inline(never)]
    fn register(&'static self, name: impl FnOnce() -> Box<str>) {
        let registry = C::registry();
        let mut registry = registry.lock().unwrap_or_else(PoisonError::into_inner);
        if self.name.set(name()).is_ok() {
            registry.push(self);
            #[cfg(feature = "metrics")]
            self.counters.report_as(self.name());
        }
    }
}

/// `Type::method`, as the stats name a method.
pub fn method_name<SelfTy: ?Sized>(method: &str) -> String {
    format!("{}::{method}", std::any::type_name::<SelfTy>())
}

/// A snapshot of every named site of a kind (a site whose `snapshot` gives `None` is left out),
/// sorted by name.
pub(crate) fn snapshot_all<C: Counted, S>(snapshot: impl Fn(&C, &str) -> Option<S>) -> Vec<S> {
    let registry = C::registry().lock().unwrap_or_else(PoisonError::into_inner);
    let mut all: Vec<(&str, S)> = registry
        .iter()
        .filter_map(|site| {
            let name = site.name.get()?;
            Some((&**name, snapshot(&site.counters, name)?))
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(b.0));
    all.into_iter().map(|(_, stats)| stats).collect()
}

/// The snapshot of the site named `name`, if one is.
pub(crate) fn snapshot_of<C: Counted, S>(
    name: &str,
    snapshot: impl Fn(&C, &str) -> S,
) -> Option<S> {
    let registry = C::registry().lock().unwrap_or_else(PoisonError::into_inner);
    registry
        .iter()
        .find(|site| site.name.get().is_some_and(|named| &**named == name))
        .map(|site| snapshot(&site.counters, name))
}
