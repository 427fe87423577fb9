//! Checks the parsed arguments against each other and against the function, and turns them into
//! the final [`Config`] the expansion reads.

use std::time::Duration;

use syn::{Expr, Path, Signature};

use super::attr::{Args, OnLost};
use crate::common::errors::Errors;
use crate::common::key;
use crate::common::options;
use crate::common::signature::FnInfo;
use crate::common::template::Template;

pub(crate) struct Config {
    pub(crate) krate: Path,
    /// The lease; `None`: the runtime's `DEFAULT_LEASE`.
    pub(crate) ttl: Option<Duration>,
    /// `None`: one lease.
    pub(crate) wait: Option<Duration>,
    pub(crate) renew: bool,
    pub(crate) on_lost: OnLost,
    /// `None`: one lock for the whole function.
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
        info.require_result("with_lock", "LockError", "a lock not acquired", errors);
        let on_lost = match args.on_lost.get() {
            Some(&(Some(OnLost::Cancel), span)) if sig.asyncness.is_none() => {
                errors.at(
                    span,
                    "`on_lost = cancel` needs an `async fn`: a plain fn cannot be stopped; it can \
                     ask `cache_runtime::lock::still_held()`",
                );
                OnLost::Continue
            }
            Some(&(Some(on_lost), _)) => on_lost,
            _ if sig.asyncness.is_none() => OnLost::Continue,
            _ => OnLost::Cancel,
        };
        let key = key::partial_template(&args.key, info, errors);
        let ttl = match args.ttl.get() {
            Some((ttl, _)) => Some((*ttl)?),
            None => None,
        };
        Some(Config {
            krate: options::crate_path(args.krate),
            ttl,
            wait: args.wait.get().and_then(|(wait, _)| *wait),
            renew: args.renew.get().is_none_or(|(renew, _)| *renew),
            on_lost,
            key,
            store: args.store.take().map(|(expr, _)| expr),
        })
    }
}
