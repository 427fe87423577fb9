//! Checks the parsed arguments against each other and against the function, and turns them into
//! the final [`Config`] the expansion reads.

use std::time::Duration;

use syn::{Expr, Ident, Path};

use super::attr::{Args, OnStoreError};
use super::batch::BatchConfig;
use crate::common::errors::Errors;
use crate::common::key;
use crate::common::options::{self, whole_attribute};
use crate::common::signature::{FnInfo, Shape};
use crate::common::slot::OrDefault;
use crate::common::template::{self, Template};

pub(crate) enum PolicySource {
    /// `ttl = …` and friends.
    Options {
        ttl: Duration,
        negative_ttl: Option<Duration>,
        cache_none: bool,
        cache_err: bool,
        early_expiry: Option<OrDefault<f64>>,
        stale_while_revalidate: Option<Duration>,
        stale_if_error: Option<Duration>,
        lock_on_miss: Option<OrDefault<Duration>>,
    },
    /// `policy = PATH`.
    Named(Path),
}

pub(crate) enum KeySource {
    /// The default key: a digest of the key parameters.
    Digest { version: u32 },
    /// `key = "…"`.
    Template(Template),
}

pub(crate) struct Config {
    pub(crate) krate: Path,
    pub(crate) policy: PolicySource,
    pub(crate) key: KeySource,
    /// The parameters in the key, in order of the signature.
    pub(crate) key_params: Vec<Ident>,
    pub(crate) store: Option<Expr>,
    /// `on_store_error = fail`, where it was written.
    pub(crate) fail_closed: Option<proc_macro2::Span>,
    /// `ttl_from = path`: the function giving a stored value's lifetime.
    pub(crate) ttl_from: Option<Path>,
    /// `tags = [..]`: the tag templates, checked like `key`.
    pub(crate) tags: Vec<Template>,
    /// `batch = ids`: the ids' parameter and the name the key gives each id.
    pub(crate) batch: Option<BatchConfig>,
}

impl Config {
    pub(crate) fn build(args: Args, info: &FnInfo, errors: &mut Errors) -> Option<Config> {
        let batch = super::batch::config(&args, info, errors);
        let policy = policy(&args, info, batch.is_some(), errors);
        let skipped = skipped(&args, info, errors);
        let key = key(&args, info, (&skipped, batch.as_ref()), errors);
        let key_params: Vec<Ident> = info
            .params
            .iter()
            .filter(|param| !skipped.contains(&param.ident))
            .filter(|param| {
                batch
                    .as_ref()
                    .is_none_or(|batch| batch.param != param.ident)
            })
            .map(|param| param.ident.clone())
            .collect();
        for param in info
            .params
            .iter()
            .filter(|param| key_params.contains(&param.ident))
        {
            key::check_key_type(&param.ident, &param.ty, errors);
        }
        let fail_closed = fail_closed(&args, info, errors);
        let tags = tags(&args, info, &skipped, errors);
        let krate = options::crate_path(args.krate);
        let ttl_from = args.ttl_from.take().map(|(path, _)| path);
        Some(Config {
            krate,
            policy: policy?,
            key: key?,
            key_params,
            store: args.store.take().map(|(expr, _)| expr),
            fail_closed,
            ttl_from,
            tags,
            batch,
        })
    }
}

fn policy(args: &Args, info: &FnInfo, batch: bool, errors: &mut Errors) -> Option<PolicySource> {
    if let Some((path, _)) = args.policy.get() {
        for span in [
            args.ttl.span(),
            args.negative_ttl.span(),
            args.cache_none.span(),
            args.cache_err.span(),
            args.early_expiry.span(),
            args.lock_on_miss.span(),
            args.stale_while_revalidate.span(),
            args.stale_if_error.span(),
        ]
        .into_iter()
        .flatten()
        {
            errors.at(
                span,
                "this is set by the `policy`: give either `policy` or the option, not both",
            );
        }
        return Some(PolicySource::Named(path.clone()));
    }
    let Some(&(ttl, _)) = args.ttl.get() else {
        for (name, span) in [
            ("stale_while_revalidate", args.stale_while_revalidate.span()),
            ("stale_if_error", args.stale_if_error.span()),
        ] {
            if let Some(span) = span {
                errors.at(
                    span,
                    format_args!("`{name}` is a window past the TTL: it needs `ttl`"),
                );
            }
        }
        errors.at(
            whole_attribute(),
            "missing `ttl`: write `#[cached(ttl = 600)]` (seconds), `#[cached(ttl = \"10m\")]`, \
             or `#[cached(policy = MY_POLICY)]`",
        );
        return None;
    };
    if let (Some(span), false) = (args.cache_none.span(), info.shape == Shape::Option || batch) {
        errors.at(span, "`cache_none` needs a function returning `Option<T>` (or a `batch`, for the ids it does not return)");
    }
    if let (Some(span), false) = (args.cache_err.span(), info.shape == Shape::Result) {
        errors.at(
            span,
            "`cache_err` needs a function returning `Result<T, E>`",
        );
    }
    let negative_ttl = args.negative_ttl.get().and_then(|&(negative_ttl, span)| {
        if args.cache_none.get().is_none() && args.cache_err.get().is_none() {
            errors.at(span, "`negative_ttl` applies to stored `None`/`Err` results: add `cache_none` or `cache_err`");
        }
        let (negative_ttl, ttl) = (negative_ttl?, ttl?);
        if negative_ttl > ttl {
            errors.at(
                span,
                format_args!("`negative_ttl` ({negative_ttl:?}) must not be longer than `ttl` ({ttl:?})"),
            );
        }
        Some(negative_ttl)
    });
    // A value written but invalid was reported; the option is then left out.
    let given = |slot: &crate::common::slot::Slot<Option<Duration>>| slot.get().and_then(|v| v.0);
    Some(PolicySource::Options {
        ttl: ttl?,
        negative_ttl,
        cache_none: args.cache_none.get().is_some(),
        cache_err: args.cache_err.get().is_some(),
        early_expiry: args.early_expiry.get().and_then(|(beta, _)| *beta),
        stale_while_revalidate: given(&args.stale_while_revalidate),
        stale_if_error: given(&args.stale_if_error),
        lock_on_miss: args.lock_on_miss.get().and_then(|(wait, _)| *wait),
    })
}

/// Where `on_store_error = fail` was written; it needs a `Result` to return the error in.
fn fail_closed(args: &Args, info: &FnInfo, errors: &mut Errors) -> Option<proc_macro2::Span> {
    let &(mode, span) = args.on_store_error.get()?;
    if mode != Some(OnStoreError::Fail) {
        return None;
    }
    if info.shape != Shape::Result {
        errors.at(
            span,
            "`on_store_error = fail` returns the store's error as the function's: it needs a \
             function returning `Result<T, E>` with `E: From<cache_runtime::CacheError>`",
        );
        return None;
    }
    Some(span)
}

/// The tag templates, each checked like `key`: its placeholders name parameters in the key.
fn tags(args: &Args, info: &FnInfo, skipped: &[Ident], errors: &mut Errors) -> Vec<Template> {
    let Some((literals, _)) = args.tags.get() else {
        return Vec::new();
    };
    let mut tags = Vec::new();
    for literal in literals {
        match template::parse(literal) {
            Ok(template) => {
                key::check_roots(("tags", &template), info, (skipped, None), errors);
                tags.push(template);
            }
            Err(error) => errors.push(error),
        }
    }
    tags
}

/// The names in `skip(...)`, each checked to be a parameter or `self`.
fn skipped(args: &Args, info: &FnInfo, errors: &mut Errors) -> Vec<Ident> {
    let Some((names, _)) = args.skip.get() else {
        return Vec::new();
    };
    for name in names {
        let known = if name == "self" {
            info.receiver.is_some()
        } else {
            info.param(&name.to_string()).is_some()
        };
        if !known {
            let valid: Vec<String> = info
                .receiver
                .map(|_| "self".to_owned())
                .into_iter()
                .chain(info.params.iter().map(|param| param.ident.to_string()))
                .collect();
            errors.on(
                name,
                format_args!(
                    "`skip({name})`: no parameter `{name}`; parameters: {}",
                    valid.join(", ")
                ),
            );
        }
    }
    names.clone()
}

fn key(
    args: &Args,
    info: &FnInfo,
    (skipped, batch): (&[Ident], Option<&BatchConfig>),
    errors: &mut Errors,
) -> Option<KeySource> {
    let self_skipped = skipped.iter().any(|name| name == "self");
    let Some((literal, _)) = args.key.get() else {
        if let (Some(receiver), false) = (info.receiver, self_skipped) {
            errors.on(
                receiver,
                "`self` cannot be hashed into the key: add `skip(self)`, or name its fields in \
                 `key`, as in `key = \"{self.tenant}:{id}\"`",
            );
        }
        let version = args.version.get().map_or(0, |(version, _)| *version);
        return Some(KeySource::Digest { version });
    };
    if let Some(span) = args.version.span() {
        errors.at(span, "`version` applies to the default key; write the version into `key`, as in `key = \"user:v2:{id}\"`");
    }
    let template = match template::parse(literal) {
        Ok(template) => template,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let span = template.span;
    let element = batch.map(|batch| batch.element.to_string());
    // With `batch` written but invalid (reported), the ids' placeholder is not known.
    if batch.is_some() || args.batch.get().is_none() {
        let known = (skipped, element.as_deref());
        key::check_roots(("key", &template), info, known, errors);
    }
    let named: Vec<&str> = template.roots().collect();
    for param in &info.params {
        let name = param.ident.to_string();
        let in_batch = batch.map_or(args.batch.get().is_some(), |b| b.param == param.ident);
        if !named.contains(&name.as_str()) && !skipped.iter().any(|skip| *skip == name) && !in_batch
        {
            errors.at(
                span,
                format_args!(
                    "parameter `{name}` is not in `key`: name it (`{{{name}}}`) or add it to `skip(...)`, \
                     or calls differing only in `{name}` would share one entry"
                ),
            );
        }
    }
    if let (Some(receiver), true) = (info.receiver, !named.contains(&"self") && !self_skipped) {
        errors.on(
            receiver,
            "`self` is not in `key`: add `skip(self)` or name a field, as in `{self.tenant}`",
        );
    }
    Some(KeySource::Template(template))
}
