//! Key templates as every attribute uses them: the placeholders checked against the signature,
//! and the expansion that renders a template into a `Key` builder.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::{Ident, LitStr, Type};

use super::errors::Errors;
use super::signature::FnInfo;
use super::slot::Slot;
use super::template::{self, Segment, Template};

/// Checks that each placeholder of the template of option `option` (`key`, `tags`) names a
/// parameter (or `self`) that `skipped` keeps in the key; `element`, a batch's id, is known too.
pub(crate) fn check_roots(
    (option, template): (&str, &Template),
    info: &FnInfo,
    (skipped, element): (&[Ident], Option<&str>),
    errors: &mut Errors,
) {
    let span = template.span;
    for root in template.roots().filter(|root| Some(*root) != element) {
        let known = if root == "self" {
            info.receiver.is_some()
        } else {
            info.param(root).is_some()
        };
        if !known {
            let names: Vec<String> = info
                .params
                .iter()
                .map(|param| param.ident.to_string())
                .collect();
            errors.at(
                span,
                format_args!(
                    "`{{{root}}}` in `{option}` names no parameter; parameters: {}",
                    names.join(", ")
                ),
            );
        } else if skipped.iter().any(|name| name == root) {
            errors.at(
                span,
                format_args!(
                    "`{{{root}}}` in `{option}` names a parameter that `skip` leaves out of the key"
                ),
            );
        }
    }
}

/// `builder.text("user:"); builder.value(id); …`. A placeholder that is a whole parameter
/// expects it borrowed already (`let id = &id;`); `self` and field paths are borrowed here.
pub(crate) fn template_steps(builder: &Ident, template: &Template) -> TokenStream {
    let span = template.span;
    let mut steps = TokenStream::new();
    for segment in &template.segments {
        steps.extend(match segment {
            Segment::Text(text) => quote!(#builder.text(#text);),
            Segment::Field { root, path } => {
                let borrowed_param = root != "self" && path.is_empty();
                let root = if root == "self" {
                    quote_spanned!(span=> self)
                } else {
                    Ident::new(root, span).into_token_stream()
                };
                let path = path.iter().map(|part| match part.parse::<u32>() {
                    Ok(index) => syn::Index { index, span }.into_token_stream(),
                    Err(_) => Ident::new(part, span).into_token_stream(),
                });
                if borrowed_param {
                    quote_spanned!(span=> #builder.value(#root);)
                } else {
                    quote_spanned!(span=> #builder.value(&#root #(.#path)*);)
                }
            }
        });
    }
    steps
}

/// A parameter in the key must be readable through `&`: no `&mut`, no `impl Trait`.
pub(crate) fn check_key_type(ident: &Ident, ty: &Type, errors: &mut Errors) {
    match ty {
        Type::Reference(reference) if reference.mutability.is_some() => errors.on(
            ty,
            format_args!("`{ident}` is a `&mut` parameter and cannot be part of the key: pass it by `&` or `skip({ident})`"),
        ),
        Type::ImplTrait(_) => errors.on(
            ty,
            format_args!("`{ident}: impl Trait` cannot be part of the key: use a concrete type or `skip({ident})`"),
        ),
        Type::Reference(reference) => check_key_type(ident, &reference.elem, errors),
        _ => {}
    }
}

/// `key = "…"` of an attribute whose key names only some parameters (`#[rate_limit]`,
/// `#[with_lock]`): parsed, each placeholder checked to name a parameter usable in a key.
pub(crate) fn partial_template(
    slot: &Slot<LitStr>,
    info: &FnInfo,
    errors: &mut Errors,
) -> Option<Template> {
    let (literal, _) = slot.get()?;
    let template = template::parse(literal)
        .map_err(|error| errors.push(error))
        .ok()?;
    check_roots(("key", &template), info, (&[], None), errors);
    for root in template.roots() {
        if let Some(param) = info.param(root) {
            check_key_type(&param.ident, &param.ty, errors);
        }
    }
    Some(template)
}

/// `let id = &id;` for each parameter a template names, so that [`template_steps`] sees them
/// borrowed.
pub(crate) fn borrow_roots(template: &Template, info: &FnInfo) -> TokenStream {
    template
        .roots()
        .filter(|root| *root != "self")
        .filter_map(|root| info.param(root))
        .map(|param| {
            let ident = &param.ident;
            quote!(let #ident = &#ident;)
        })
        .collect()
}
