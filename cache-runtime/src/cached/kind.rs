//! What a return type stores: the adapters between a function's return value and the stored
//! value.
//!
//! | return type | adapter              | stored value   | stored when          |
//! | ----------- | -------------------- | -------------- | -------------------- |
//! | `T`         | `PlainKind`          | `T`            | always               |
//! | `Option<T>` | `OptionKind<false>`  | `T`            | `Some`               |
//! | `Option<T>` | `OptionKind<true>`   | `Option<T>`    | always (`cache_none`)|
//! | `Result<T,E>` | `ResultKind<false>` | `T`           | `Ok`                 |
//! | `Result<T,E>` | `ResultKind<true>`  | `Result<T,E>` | always (`cache_err`) |
//!
//! The macro picks the adapter from the return type's syntax; with `policy = P` the `bool` is
//! `{ P.caches_none() }`, so the stored type follows the policy at compile time.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::CachePolicy;

/// A value that can be stored: serde both ways, cloneable, shareable.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the cache",
    label = "a stored value must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`"
)]
pub trait Storable: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Storable for T {}

/// Maps a return value of type `R` to what is stored.
pub trait ReturnKind<R>: Copy {
    /// The stored value.
    type Stored: Storable;

    /// What to store for `value`, and whether it is negative (`None`/`Err`); `None` if nothing.
    fn to_stored(value: &R) -> Option<(Self::Stored, bool)>;

    /// The return value for a stored value.
    fn from_stored(stored: Self::Stored) -> R;

    /// Whether `value` is a failure that `stale_if_error` answers with a stale value (`Err`).
    fn is_failure(value: &R) -> bool {
        let _ = value;
        false
    }
}

/// Any return type: always stored.
#[derive(Clone, Copy, Debug)]
pub struct PlainKind;

/// `Option<T>`: `Some` stored; `None` too when `CACHE_NONE`.
#[derive(Clone, Copy, Debug)]
pub struct OptionKind<const CACHE_NONE: bool>;

/// `Result<T, E>`: `Ok` stored; `Err` too when `CACHE_ERR`.
#[derive(Clone, Copy, Debug)]
pub struct ResultKind<const CACHE_ERR: bool>;

impl<R: Storable> ReturnKind<R> for PlainKind {
    type Stored = R;
    fn to_stored(value: &R) -> Option<(R, bool)> {
        Some((value.clone(), false))
    }
    fn from_stored(stored: R) -> R {
        stored
    }
}

impl<T: Storable> ReturnKind<Option<T>> for OptionKind<false> {
    type Stored = T;
    fn to_stored(value: &Option<T>) -> Option<(T, bool)> {
        value.as_ref().map(|value| (value.clone(), false))
    }
    fn from_stored(stored: T) -> Option<T> {
        Some(stored)
    }
}

impl<T: Storable> ReturnKind<Option<T>> for OptionKind<true> {
    type Stored = Option<T>;
    fn to_stored(value: &Option<T>) -> Option<(Option<T>, bool)> {
        Some((value.clone(), value.is_none()))
    }
    fn from_stored(stored: Option<T>) -> Option<T> {
        stored
    }
}

impl<T: Storable, E> ReturnKind<Result<T, E>> for ResultKind<false> {
    type Stored = T;
    fn to_stored(value: &Result<T, E>) -> Option<(T, bool)> {
        value.as_ref().ok().map(|value| (value.clone(), false))
    }
    fn from_stored(stored: T) -> Result<T, E> {
        Ok(stored)
    }
    fn is_failure(value: &Result<T, E>) -> bool {
        value.is_err()
    }
}

impl<T: Storable, E: Storable> ReturnKind<Result<T, E>> for ResultKind<true> {
    type Stored = Result<T, E>;
    fn to_stored(value: &Result<T, E>) -> Option<(Result<T, E>, bool)> {
        Some((value.clone(), value.is_err()))
    }
    fn from_stored(stored: Result<T, E>) -> Result<T, E> {
        stored
    }
    fn is_failure(value: &Result<T, E>) -> bool {
        value.is_err()
    }
}

/// The policy of a function returning neither `Option` nor `Result`.
pub const fn policy_for_plain(policy: CachePolicy) -> CachePolicy {
    if policy.caches_none() {
        panic!("the policy has `cache_none`, but the function does not return `Option`");
    }
    if policy.caches_err() {
        panic!("the policy has `cache_err`, but the function does not return `Result`");
    }
    policy
}

/// The policy of a function returning `Option`.
pub const fn policy_for_option(policy: CachePolicy) -> CachePolicy {
    if policy.caches_err() {
        panic!("the policy has `cache_err`, but the function returns `Option`, not `Result`");
    }
    policy
}

/// The policy of a function returning `Result`.
pub const fn policy_for_result(policy: CachePolicy) -> CachePolicy {
    if policy.caches_none() {
        panic!("the policy has `cache_none`, but the function returns `Result`, not `Option`");
    }
    policy
}
