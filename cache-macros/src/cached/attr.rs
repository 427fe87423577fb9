//! Parses `#[cached(...)]` arguments into typed slots, collecting every error.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitInt, LitStr, Path, Token};

use crate::common::errors::Errors;
use crate::common::slot::{Flag, Slot};
use crate::common::{duration, suggest};

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
    "crate",
];

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
            krate: Slot::new("crate"),
        };
        let parser = syn::meta::parser(|meta| {
            if let Err(error) = args.one(&meta, errors) {
                errors.push(error);
                skip_value(&meta);
            }
            Ok(())
        });
        if let Err(error) = parser.parse2(tokens) {
            errors.push(error);
        }
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
            // #[cached(crate = "::my_cache")]
            "crate" => {
                let path: LitStr = meta.value()?.parse()?;
                self.krate.set(errors, span, path.parse()?);
            }
            _ => {
                let shown = quote::ToTokens::to_token_stream(&meta.path)
                    .to_string()
                    .replace(' ', "");
                let mut message = format!("unknown option `{shown}` of `#[cached]`");
                match suggest::nearest(&shown, OPTIONS) {
                    Some(near) => message.push_str(&format!("; did you mean `{near}`?")),
                    None => message.push_str(&format!("; valid: {}", OPTIONS.join(", "))),
                }
                return Err(syn::Error::new(span, message));
            }
        }
        Ok(())
    }
}

/// A duration option's value; a bad one is reported and still counts as given.
fn duration_or_report(
    name: &str,
    value: &Expr,
    errors: &mut Errors,
) -> Option<std::time::Duration> {
    duration::parse(name, value)
        .map_err(|error| errors.push(error))
        .ok()
}

/// An option that takes no value.
fn flag(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(())
    } else {
        Err(meta.error(format_args!(
            "`{}` takes no value: write it alone",
            quote::ToTokens::to_token_stream(&meta.path)
        )))
    }
}

/// Skips what follows a bad option, so the next options are still read and checked.
fn skip_value(meta: &ParseNestedMeta) {
    if meta.input.peek(Token![=]) {
        let _ = meta.input.parse::<Token![=]>();
        let _ = meta.input.parse::<Expr>();
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.input.step(|cursor| match cursor.token_tree() {
            Some((_, rest)) => Ok(((), rest)),
            None => Err(cursor.error("expected `(...)`")),
        });
    }
}

/// Where an error about the attribute as a whole points.
pub(crate) fn whole_attribute() -> Span {
    Span::call_site()
}
