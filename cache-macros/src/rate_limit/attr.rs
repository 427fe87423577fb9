//! Parses `#[rate_limit(...)]` arguments into typed slots, collecting every error.

use std::time::Duration;

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Path};

use crate::common::errors::Errors;
use crate::common::options::{choice, crate_value, duration_or_report, parse_each, unknown_option};
use crate::common::slot::Slot;

pub(crate) const OPTIONS: &[&str] = &[
    "limit",
    "window",
    "burst",
    "key",
    "algorithm",
    "on_limit",
    "max_wait",
    "fail",
    "store",
    "crate",
];

/// How admissions are counted, as `cache_runtime::Algorithm` names them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Gcra,
    FixedWindow,
    SlidingWindow,
}

/// What a call over the limit gets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnLimit {
    Reject,
    Wait,
}

/// What a call gets when the store cannot be asked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    Open,
    Closed,
}

/// The arguments as written, each with its span. `None` inside a slot: written but invalid
/// (already reported).
pub(crate) struct Args {
    pub(crate) limit: Slot<Option<u64>>,
    pub(crate) window: Slot<Option<Duration>>,
    pub(crate) burst: Slot<Option<u64>>,
    pub(crate) key: Slot<LitStr>,
    pub(crate) algorithm: Slot<Option<Algorithm>>,
    pub(crate) on_limit: Slot<Option<OnLimit>>,
    pub(crate) max_wait: Slot<Option<Duration>>,
    pub(crate) fail: Slot<Option<Fail>>,
    pub(crate) store: Slot<Expr>,
    pub(crate) krate: Slot<Path>,
}

impl Args {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args {
            limit: Slot::new("limit"),
            window: Slot::new("window"),
            burst: Slot::new("burst"),
            key: Slot::new("key"),
            algorithm: Slot::new("algorithm"),
            on_limit: Slot::new("on_limit"),
            max_wait: Slot::new("max_wait"),
            fail: Slot::new("fail"),
            store: Slot::new("store"),
            krate: Slot::new("crate"),
        };
        parse_each(tokens, errors, |meta, errors| args.one(meta, errors));
        args
    }

    fn one(&mut self, meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
        let span = meta.path.span();
        let name = meta.path.get_ident().map(ToString::to_string);
        match name.as_deref().unwrap_or_default() {
            // #[rate_limit(limit = 100, …)]
            "limit" => {
                let value = at_least_one("limit", &meta.value()?.parse()?, errors);
                self.limit.set(errors, span, value);
            }
            // #[rate_limit(window = 60, …)] or #[rate_limit(window = "1m", …)]
            "window" => {
                let value = duration_or_report("window", &meta.value()?.parse()?, errors);
                self.window.set(errors, span, value);
            }
            // #[rate_limit(burst = 10, …)]
            "burst" => {
                let value = at_least_one("burst", &meta.value()?.parse()?, errors);
                self.burst.set(errors, span, value);
            }
            // #[rate_limit(key = "{user_id}", …)]
            "key" => self.key.set(errors, span, meta.value()?.parse()?),
            // #[rate_limit(algorithm = sliding_window, …)]
            "algorithm" => {
                let choices = [
                    ("gcra", Algorithm::Gcra),
                    ("fixed_window", Algorithm::FixedWindow),
                    ("sliding_window", Algorithm::SlidingWindow),
                ];
                let value = choice("algorithm", meta, &choices, errors)?;
                self.algorithm.set(errors, span, value);
            }
            // #[rate_limit(on_limit = wait, max_wait = "2s", …)]
            "on_limit" => {
                let choices = [("reject", OnLimit::Reject), ("wait", OnLimit::Wait)];
                let value = choice("on_limit", meta, &choices, errors)?;
                self.on_limit.set(errors, span, value);
            }
            // #[rate_limit(max_wait = "2s", …)]
            "max_wait" => {
                let value = duration_or_report("max_wait", &meta.value()?.parse()?, errors);
                self.max_wait.set(errors, span, value);
            }
            // #[rate_limit(fail = closed, …)]
            "fail" => {
                let choices = [("open", Fail::Open), ("closed", Fail::Closed)];
                let value = choice("fail", meta, &choices, errors)?;
                self.fail.set(errors, span, value);
            }
            // #[rate_limit(store = crate::LIMITS, …)]
            "store" => self.store.set(errors, span, meta.value()?.parse()?),
            // #[rate_limit(crate = "::my_cache", …)]
            "crate" => self.krate.set(errors, span, crate_value(meta)?),
            _ => return Err(unknown_option("rate_limit", meta, OPTIONS)),
        }
        Ok(())
    }
}

/// A whole number of at least 1; a bad one is reported.
fn at_least_one(name: &str, value: &Expr, errors: &mut Errors) -> Option<u64> {
    let parsed = match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => int.base10_parse::<u64>().ok(),
        _ => None,
    };
    match parsed {
        Some(0) => errors.on(value, format_args!("`{name}` must be at least 1")),
        Some(number) => return Some(number),
        None => errors.on(
            value,
            format_args!("`{name}` takes a whole number of calls, as in `{name} = 100`"),
        ),
    }
    None
}
