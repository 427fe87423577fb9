//! Parses `#[with_lock(...)]` arguments into typed slots, collecting every error.

use std::time::Duration;

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, LitBool, LitStr, Path};

use crate::common::duration;
use crate::common::errors::Errors;
use crate::common::options::{
    choice, crate_value, duration_or_report, has_value, parse_each, unknown_option,
};
use crate::common::slot::Slot;

pub(crate) const OPTIONS: &[&str] = &["key", "ttl", "wait", "renew", "on_lost", "store", "crate"];

/// What an async body does when its lease is lost while it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnLost {
    Cancel,
    Continue,
}

/// The arguments as written, each with its span. `None` inside a slot: written but invalid
/// (already reported).
pub(crate) struct Args {
    pub(crate) key: Slot<LitStr>,
    pub(crate) ttl: Slot<Option<Duration>>,
    pub(crate) wait: Slot<Option<Duration>>,
    pub(crate) renew: Slot<bool>,
    pub(crate) on_lost: Slot<Option<OnLost>>,
    pub(crate) store: Slot<Expr>,
    pub(crate) krate: Slot<Path>,
}

impl Args {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args {
            key: Slot::new("key"),
            ttl: Slot::new("ttl"),
            wait: Slot::new("wait"),
            renew: Slot::new("renew"),
            on_lost: Slot::new("on_lost"),
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
            // #[with_lock(key = "order:{order_id}")]
            "key" => self.key.set(errors, span, meta.value()?.parse()?),
            // #[with_lock(ttl = 30)] or #[with_lock(ttl = "30s")]: the lease
            "ttl" => {
                let value = duration_or_report("ttl", &meta.value()?.parse()?, errors);
                self.ttl.set(errors, span, value);
            }
            // #[with_lock(wait = "5s")], or `wait = 0` to try once
            "wait" => {
                let value: Expr = meta.value()?.parse()?;
                let value = duration::parse_zero_allowed("wait", &value)
                    .map_err(|error| errors.push(error))
                    .ok();
                self.wait.set(errors, span, value);
            }
            // #[with_lock(renew = false)] (renewal is on by default)
            "renew" => {
                let renew = match has_value(meta) {
                    false => true,
                    true => meta.value()?.parse::<LitBool>()?.value,
                };
                self.renew.set(errors, span, renew);
            }
            // #[with_lock(on_lost = continue)]
            "on_lost" => {
                let choices = [("cancel", OnLost::Cancel), ("continue", OnLost::Continue)];
                let value = choice("on_lost", meta, &choices, errors)?;
                self.on_lost.set(errors, span, value);
            }
            // #[with_lock(store = crate::LOCKS)]
            "store" => self.store.set(errors, span, meta.value()?.parse()?),
            // #[with_lock(crate = "::my_cache")]
            "crate" => self.krate.set(errors, span, crate_value(meta)?),
            _ => return Err(unknown_option("with_lock", meta, OPTIONS)),
        }
        Ok(())
    }
}
