//! Helpers every attribute's argument parser shares: durations, flags, unknown options, and
//! skipping past a bad value so that the options after it are still checked.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, Token};

use super::errors::Errors;
use super::{duration, suggest};

/// A duration option's value; a bad one is reported and still counts as given.
pub(crate) fn duration_or_report(
    name: &str,
    value: &Expr,
    errors: &mut Errors,
) -> Option<std::time::Duration> {
    duration::parse(name, value)
        .map_err(|error| errors.push(error))
        .ok()
}

/// Whether an option that may stand alone was given a value (`= …`).
pub(crate) fn has_value(meta: &ParseNestedMeta) -> bool {
    meta.input.peek(Token![=])
}

/// An option that takes no value.
pub(crate) fn flag(meta: &ParseNestedMeta) -> syn::Result<()> {
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

/// Reads `name = value, flag, …` one option at a time with `one`; a bad option is reported and
/// skipped, so the ones after it are still read.
pub(crate) fn parse_each(
    tokens: TokenStream,
    errors: &mut Errors,
    mut one: impl FnMut(&ParseNestedMeta, &mut Errors) -> syn::Result<()>,
) {
    let parser = syn::meta::parser(|meta| {
        if let Err(error) = one(&meta, errors) {
            errors.push(error);
            skip_value(&meta);
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
    }
}

/// The value of `crate = "::path"`: the runtime under another name.
pub(crate) fn crate_value(meta: &ParseNestedMeta) -> syn::Result<syn::Path> {
    meta.value()?.parse::<syn::LitStr>()?.parse()
}

/// The runtime's path: `crate = "…"` if given, else `::cache_runtime`.
pub(crate) fn crate_path(slot: super::slot::Slot<syn::Path>) -> syn::Path {
    slot.take()
        .map_or_else(|| syn::parse_quote!(::cache_runtime), |(path, _)| path)
}

/// One of `choices`, written as a name (`algorithm = gcra`, `on_lost = continue`) or a string
/// (`"gcra"`); another value is reported with the valid ones.
pub(crate) fn choice<T: Copy>(
    option: &str,
    meta: &ParseNestedMeta,
    choices: &[(&str, T)],
    errors: &mut Errors,
) -> syn::Result<Option<T>> {
    let value: Expr = meta.value()?.parse()?;
    let written = match &value {
        Expr::Path(path) => path.path.get_ident().map(ToString::to_string),
        Expr::Continue(_) => Some("continue".to_owned()),
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => Some(text.value()),
        _ => None,
    };
    let found = choices
        .iter()
        .find(|(name, _)| Some(*name) == written.as_deref());
    if found.is_none() {
        let valid: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        errors.on(
            &value,
            format_args!(
                "`{option}` is one of: {}; as in `{option} = {}`",
                valid.join(", "),
                valid[0]
            ),
        );
    }
    Ok(found.map(|(_, value)| *value))
}

/// "unknown option `x` of `#[attribute]`", with the nearest valid name or the list of them.
pub(crate) fn unknown_option(
    attribute: &str,
    meta: &ParseNestedMeta,
    valid: &[&str],
) -> syn::Error {
    let shown = quote::ToTokens::to_token_stream(&meta.path)
        .to_string()
        .replace(' ', "");
    let mut message = format!("unknown option `{shown}` of `#[{attribute}]`");
    match suggest::nearest(&shown, valid) {
        Some(near) => message.push_str(&format!("; did you mean `{near}`?")),
        None => message.push_str(&format!("; valid: {}", valid.join(", "))),
    }
    syn::Error::new(meta.path.span(), message)
}

/// Where an error about the attribute as a whole points.
pub(crate) fn whole_attribute() -> Span {
    Span::call_site()
}
