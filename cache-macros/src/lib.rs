//! Procedural macros of `cache-runtime`. Use them through `cache-runtime`, which documents them
//! and pins this crate to its exact version: the expansion calls `cache_runtime::__private`,
//! which is not a stable API.

mod cached;
mod common;
mod rate_limit;
mod with_lock;

use proc_macro::TokenStream;

/// Caches a function's results; documented on the re-export in `cache-runtime`.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    cached::expand(args.into(), item.into()).into()
}

/// Limits how often a function runs; documented on the re-export in `cache-runtime`.
#[proc_macro_attribute]
pub fn rate_limit(args: TokenStream, item: TokenStream) -> TokenStream {
    rate_limit::expand(args.into(), item.into()).into()
}

/// Runs a function under a distributed lease lock; documented on the re-export in
/// `cache-runtime`.
#[proc_macro_attribute]
pub fn with_lock(args: TokenStream, item: TokenStream) -> TokenStream {
    with_lock::expand(args.into(), item.into()).into()
}
