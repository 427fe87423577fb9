//! Checks the parsed arguments against each other and against the function, and turns them into
//! the final [`Config`] the expansion reads.

use std::time::Duration;

use syn::{Expr, Path, Signature};

use super::attr::{Algorithm, Args, Fail, OnLimit};
use crate::common::errors::Errors;
use crate::common::key;
use crate::common::options::{self, whole_attribute};
use crate::common::signature::FnInfo;
use crate::common::template::Template;

pub(crate) struct Config {
    pub(crate) krate: Path,
    pub(crate) limit: u64,
    pub(crate) window: Duration,
    pub(crate) burst: Option<u64>,
    pub(crate) algorithm: Algorithm,
    /// `on_limit = wait`: the longest wait.
    pub(crate) max_wait: Option<Duration>,
    pub(crate) fail: Fail,
    /// `None`: one limit for the whole function.
    pub(crate) key: Option<Template>,
    pub(crate) store: Option<Expr>,
}

impl Config {
    pub(crate) fn build(
        args: Args,
        sig: &Signature,
        info: &FnInfo,
        errors: &mut Errors,
    ) -> Option<Config> {
        info.require_result("rate_limit", "RateLimited", "a call over the limit", errors);
        let limit = required(&args.limit, "limit", errors);
        let window = required(&args.window, "window", errors);
        let algorithm = args
            .algorithm
            .get()
            .and_then(|(algorithm, _)| *algorithm)
            .unwrap_or(Algorithm::Gcra);
        let burst = args.burst.get().and_then(|&(burst, span)| {
            if algorithm != Algorithm::Gcra {
                errors.at(
                    span,
                    "`burst` applies to `algorithm = gcra` only: a window admits `limit` per window",
                );
            }
            burst
        });
        let max_wait = wait(&args, sig, errors);
        let key = key::partial_template(&args.key, info, errors);
        let fail = args
            .fail
            .get()
            .and_then(|(fail, _)| *fail)
            .unwrap_or(Fail::Open);
        let krate = options::crate_path(args.krate);
        Some(Config {
            krate,
            limit: limit?,
            window: window?,
            burst,
            algorithm,
            max_wait,
            fail,
            key,
            store: args.store.take().map(|(expr, _)| expr),
        })
    }
}

/// A required option's value; missing is reported (written but invalid was reported already).
fn required<T: Copy>(
    slot: &crate::common::slot::Slot<Option<T>>,
    name: &str,
    errors: &mut Errors,
) -> Option<T> {
    match slot.get() {
        Some((value, _)) => *value,
        None => {
            errors.at(
                whole_attribute(),
                format_args!(
                    "missing `{name}`: write `#[rate_limit(limit = 100, window = 60)]` \
                     (100 calls per 60 seconds; `window` also takes `\"1m\"`)"
                ),
            );
            None
        }
    }
}

/// `on_limit = wait` with its `max_wait`, on an `async fn` only.
fn wait(args: &Args, sig: &Signature, errors: &mut Errors) -> Option<Duration> {
    let on_limit = args
        .on_limit
        .get()
        .and_then(|&(on_limit, span)| Some((on_limit?, span)));
    let max_wait = args.max_wait.get();
    match (on_limit, max_wait) {
        (Some((OnLimit::Wait, span)), max_wait) => {
            if sig.asyncness.is_none() {
                errors.at(
                    span,
                    "`on_limit = wait` needs an `async fn`: a plain fn would block its thread \
                     while it waits; use `on_limit = reject` (the default)",
                );
            }
            match max_wait {
                Some((max_wait, _)) => *max_wait,
                None => {
                    errors.at(
                        span,
                        "`on_limit = wait` needs `max_wait = \"2s\"`: the longest a call waits \
                         before it is turned away",
                    );
                    None
                }
            }
        }
        (_, Some((_, span))) => {
            errors.at(*span, "`max_wait` applies to `on_limit = wait` only");
            None
        }
        _ => None,
    }
}
