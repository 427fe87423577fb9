//! Parses `#[cached(...)]` arguments into typed slots, collecting every error.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitInt, LitStr, Path};

use crate::common::errors::Errors;
use crate::common::options::{
    crate_value, duration_or_report, flag, has_value, parse_each, unknown_option,
};
use crate::common::slot::{Flag, OrDefault, Slot};

pub(crate) const OPTIONS: &[&str] = &[
    "ttl",
    "key",
    "skip",
    "cache_none",
    "cache_err",
    "negative_ttl",
    "version",
    "store",
    "policy",
    "early_expiry",
    "lock_on_miss",
    "stale_while_revalidate",
    "stale_if_error",
    "on_store_error",
    "ttl_from",
    "tags",
    "batch",
    "crate",
];

/// What a call does when the store cannot be used: `on_store_error = open | fail`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnStoreError {
    /// Run the body without the store (the default).
    Open,
    /// Return the store's error as the function's.
    Fail,
}

/// The arguments as written, each with its span.
pub(crate) struct Args {
    /// `None` when written but invalid (already reported).
    pub(crate) ttl: Slot<Option<std::time::Duration>>,
    pub(crate) key: Slot<LitStr>,
    pub(crate) skip: Slot<Vec<Ident>>,
    pub(crate) cache_none: Flag,
    pub(crate) cache_err: Flag,
    pub(crate) negative_ttl: Slot<Option<std::time::Duration>>,
    pub(crate) version: Slot<u32>,
    pub(crate) store: Slot<Expr>,
    pub(crate) policy: Slot<Path>,
    /// Beta; `None` when written but invalid (already reported).
    pub(crate) early_expiry: Slot<Option<OrDefault<f64>>>,
    /// The longest wait; `None` when written but invalid.
    pub(crate) lock_on_miss: Slot<Option<OrDefault<std::time::Duration>>>,
    pub(crate) stale_while_revalidate: Slot<Option<std::time::Duration>>,
    pub(crate) stale_if_error: Slot<Option<std::time::Duration>>,
    /// `None` when written but invalid (already reported).
    pub(crate) on_store_error: Slot<Option<OnStoreError>>,
    /// The function that gives a value's lifetime.
    pub(crate) ttl_from: Slot<Path>,
    /// The tag templates, as written.
    pub(crate) tags: Slot<Vec<LitStr>>,
    /// The parameter holding the batch's ids.
    pub(crate) batch: Slot<Ident>,
    pub(crate) krate: Slot<Path>,
}

impl Args {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args {
            ttl: Slot::new("ttl"),
            key: Slot::new("key"),
            skip: Slot::new("skip"),
            cache_none: Slot::new("cache_none"),
            cache_err: Slot::new("cache_err"),
            negative_ttl: Slot::new("negative_ttl"),
            version: Slot::new("version"),
            store: Slot::new("store"),
            policy: Slot::new("policy"),
            early_expiry: Slot::new("early_expiry"),
            lock_on_miss: Slot::new("lock_on_miss"),
            stale_while_revalidate: Slot::new("stale_while_revalidate"),
            stale_if_error: Slot::new("stale_if_error"),
            on_store_error: Slot::new("on_store_error"),
            ttl_from: Slot::new("ttl_from"),
            tags: Slot::new("tags"),
            batch: Slot::new("batch"),
            krate: Slot::new("crate"),
        };
        parse_each(tokens, errors, |meta, errors| args.one(meta, errors));
        args
    }

    fn one(&mut self, meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
        let span = meta.path.span();
        let name = meta
            .path
            .get_ident()
            .map(Ident::to_string)
            .unwrap_or_default();
        match name.as_str() {
            // #[cached(ttl = 600)] or #[cached(ttl = "10m")]
            "ttl" => {
                let value = duration_or_report("ttl", &meta.value()?.parse()?, errors);
                self.ttl.set(errors, span, value);
            }
            // #[cached(key = "user:{id}")]
            "key" => self.key.set(errors, span, meta.value()?.parse()?),
            // #[cached(skip(db, logger))]
            "skip" => {
                let mut names = Vec::new();
                meta.parse_nested_meta(|inner| {
                    names.push(inner.path.require_ident()?.clone());
                    Ok(())
                })?;
                self.skip.set(errors, span, names);
            }
            // #[cached(cache_none)]
            "cache_none" => self.cache_none.set(errors, span, flag(meta)?),
            // #[cached(cache_err)]
            "cache_err" => self.cache_err.set(errors, span, flag(meta)?),
            // #[cached(negative_ttl = 30)] or #[cached(negative_ttl = "30s")]
            "negative_ttl" => {
                let value = duration_or_report("negative_ttl", &meta.value()?.parse()?, errors);
                self.negative_ttl.set(errors, span, value);
            }
            // #[cached(version = 2)]
            "version" => {
                let version: LitInt = meta.value()?.parse()?;
                self.version.set(errors, span, version.base10_parse()?);
            }
            // #[cached(store = crate::SESSIONS)]
            "store" => self.store.set(errors, span, meta.value()?.parse()?),
            // #[cached(policy = USERS)]
            "policy" => self.policy.set(errors, span, meta.value()?.parse()?),
            // #[cached(early_expiry)] or #[cached(early_expiry = 2.0)] (beta)
            "early_expiry" => {
                let beta = match has_value(meta) {
                    false => Some(OrDefault::Default),
                    true => beta_or_report(&meta.value()?.parse()?, errors).map(OrDefault::Given),
                };
                self.early_expiry.set(errors, span, beta);
            }
            // #[cached(lock_on_miss)] or #[cached(lock_on_miss = "3s")] (longest wait)
            "lock_on_miss" => {
                let wait = match has_value(meta) {
                    false => Some(OrDefault::Default),
                    true => duration_or_report("lock_on_miss", &meta.value()?.parse()?, errors)
                        .map(OrDefault::Given),
                };
                self.lock_on_miss.set(errors, span, wait);
            }
            // #[cached(stale_while_revalidate = "1m")]
            "stale_while_revalidate" => {
                let name = "stale_while_revalidate";
                let value = duration_or_report(name, &meta.value()?.parse()?, errors);
                self.stale_while_revalidate.set(errors, span, value);
            }
            // #[cached(stale_if_error = "1h")]
            "stale_if_error" => {
                let value = duration_or_report("stale_if_error", &meta.value()?.parse()?, errors);
                self.stale_if_error.set(errors, span, value);
            }
            // #[cached(on_store_error = fail)] or #[cached(on_store_error = open)]
            "on_store_error" => {
                let value: Expr = meta.value()?.parse()?;
                let mode = match &value {
                    Expr::Path(path) if path.path.is_ident("fail") => Some(OnStoreError::Fail),
                    Expr::Path(path) if path.path.is_ident("open") => Some(OnStoreError::Open),
                    _ => {
                        errors.on(
                            &value,
                            "`on_store_error` takes `open` (run the body without the store, the \
                             default) or `fail` (return the store's error)",
                        );
                        None
                    }
                };
                self.on_store_error.set(errors, span, mode);
            }
            // #[cached(ttl = "1h", ttl_from = token_lifetime)]
            "ttl_from" => {
                let value: Expr = meta.value()?.parse()?;
                match value {
                    Expr::Path(path) if path.qself.is_none() => {
                        self.ttl_from.set(errors, span, path.path);
                    }
                    other => errors.on(
                        &other,
                        "`ttl_from` takes the path of a function from the value to its lifetime, \
                         as in `ttl_from = token_lifetime` with `fn token_lifetime(v: &Token) -> \
                         Duration`",
                    ),
                }
            }
            // #[cached(tags = ["user:{id}", "org:{org}"])]
            "tags" => {
                let value: Expr = meta.value()?.parse()?;
                let Expr::Array(array) = &value else {
                    errors.on(&value, TAGS_USAGE);
                    return Ok(());
                };
                let mut tags = Vec::new();
                for element in &array.elems {
                    match element {
                        Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(tag),
                            ..
                        }) => tags.push(tag.clone()),
                        other => errors.on(other, TAGS_USAGE),
                    }
                }
                if array.elems.is_empty() {
                    errors.on(&value, TAGS_USAGE);
                }
                self.tags.set(errors, span, tags);
            }
            // #[cached(key = "user:{id}", batch = ids)]
            "batch" => {
                let value: Expr = meta.value()?.parse()?;
                match &value {
                    Expr::Path(path) if path.path.get_ident().is_some() => {
                        let ident = path
                            .path
                            .get_ident()
                            .cloned()
                            .unwrap_or_else(|| Ident::new("batch", span));
                        self.batch.set(errors, span, ident);
                    }
                    other => errors.on(
                        other,
                        "`batch` names the parameter holding the ids, as in `batch = ids` with \
                         `ids: Vec<u64>`",
                    ),
                }
            }
            // #[cached(crate = "::my_cache")]
            "crate" => self.krate.set(errors, span, crate_value(meta)?),
            _ => return Err(unknown_option("cached", meta, OPTIONS)),
        }
        Ok(())
    }
}

const TAGS_USAGE: &str = "`tags` takes a list of one or more templates over the parameters, as \
                          in `tags = [\"user:{id}\", \"org:{org}\"]`";

/// `early_expiry`'s beta: a finite number greater than zero; a bad one is reported.
fn beta_or_report(value: &Expr, errors: &mut Errors) -> Option<f64> {
    let valid = "`early_expiry` takes beta, a number greater than zero (`early_expiry = 2.0`), \
                 or stands alone for beta 1.0";
    let beta = match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(float),
            ..
        }) => float.base10_parse::<f64>().ok(),
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => int.base10_parse::<u32>().ok().map(f64::from),
        _ => None,
    };
    match beta {
        Some(beta) if beta > 0.0 && beta.is_finite() => Some(beta),
        Some(beta) => {
            errors.on(
                value,
                format_args!("`early_expiry = {beta:?}`: beta must be greater than zero; {valid}"),
            );
            None
        }
        None => {
            errors.on(value, valid);
            None
        }
    }
}
