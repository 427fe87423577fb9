//! `#[cached(key = "user:{id}", batch = ids)]`: the checks, and the function's expansion.
//!
//! ```text
//! #[cached(ttl = 600,                     async fn users(ids: Vec<u64>) -> Result<HashMap<..>, E> {
//!   key = "user:{id}", batch = ids)]  ==>     let site, mode, (policy, kind), cache = ..;
//! async fn users(ids: Vec<u64>)               let ids_once = batch_ids(ids);
//!     -> Result<HashMap<u64, User>, E>        let keys = ids_once.iter().map(|id| { Key "user:" id }).collect();
//! { BODY }                                    batch_async(Batch::new(..), kind, (ids_once, keys),
//!                                                 move |ids: Vec<u64>| async move { BODY }).await
//!                                         }
//! ```
//! The key template names each id by a placeholder that is not a parameter (`{id}`); the body
//! sees the ids that missed as the batch parameter, in its own type.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Ident, Type};

use super::attr::Args;
use super::expand::Expansion;
use crate::common::errors::Errors;
use crate::common::key;
use crate::common::output::local;
use crate::common::signature::{FnInfo, Shape};
use crate::common::template;

/// A batch function: the parameter holding the ids, the name the key gives each id, and the
/// key's template.
pub(crate) struct BatchConfig {
    pub(crate) param: Ident,
    pub(crate) ty: Type,
    pub(crate) element: Ident,
    template: template::Template,
}

/// Checks `batch = ids` against the function and the other options.
pub(crate) fn config(args: &Args, info: &FnInfo, errors: &mut Errors) -> Option<BatchConfig> {
    let (param, span) = args.batch.get()?;
    // The options a batch call does not take, with why.
    let not_with_batch = [
        (
            "early_expiry",
            args.early_expiry.span(),
            "a batch reads and computes; it does not refresh in the background",
        ),
        (
            "stale_while_revalidate",
            args.stale_while_revalidate.span(),
            "a batch does not serve stale entries",
        ),
        (
            "stale_if_error",
            args.stale_if_error.span(),
            "a batch does not serve stale entries",
        ),
        (
            "lock_on_miss",
            args.lock_on_miss.span(),
            "a batch coalesces ids within the process only",
        ),
        (
            "cache_err",
            args.cache_err.span(),
            "the body's `Err` is returned and nothing is stored",
        ),
        (
            "tags",
            args.tags.span(),
            "tag the single-id function sharing its keys",
        ),
        ("ttl_from", args.ttl_from.span(), "every id lives `ttl`"),
        (
            "on_store_error",
            args.on_store_error.span(),
            "a batch fails open",
        ),
        (
            "policy",
            args.policy.span(),
            "give `ttl`, `cache_none` and `negative_ttl` as options",
        ),
        ("version", args.version.span(), "write a version into `key`"),
    ];
    for (name, span, why) in not_with_batch {
        if let Some(span) = span {
            errors.at(
                span,
                format_args!("`{name}` does not apply with `batch`: {why}"),
            );
        }
    }
    if info.shape == Shape::Option {
        errors.at(
            info.output_span(),
            "`batch` returns a map from id to value (`HashMap<Id, Value>`, `BTreeMap<Id, Value>`) \
             or a `Result` of one; an id not found is left out of the map",
        );
    }
    let Some(found) = info.param(&param.to_string()) else {
        let names: Vec<String> = info.params.iter().map(|p| p.ident.to_string()).collect();
        errors.on(
            param,
            format_args!(
                "`batch = {param}`: no parameter `{param}`; parameters: {}",
                names.join(", ")
            ),
        );
        return None;
    };
    let Some((literal, _)) = args.key.get() else {
        errors.at(
            *span,
            "`batch` needs a `key` template naming each id, as in `key = \"user:{id}\"` (the key \
             a single-id function with the same template uses, so the two share entries)",
        );
        return None;
    };
    // A template that does not parse is reported by the key's own check.
    let template = template::parse(literal).ok()?;
    let mut elements: Vec<&str> = template
        .roots()
        .filter(|root| *root != "self" && info.param(root).is_none())
        .collect();
    elements.dedup();
    let element = match elements.as_slice() {
        [element] => *element,
        [] => {
            errors.at(
                template.span,
                format_args!(
                    "`key` names no id of the batch: name each id by a placeholder that is not a \
                     parameter, as in `key = \"user:{{id}}\"` for the ids in `{param}`"
                ),
            );
            return None;
        }
        _ => {
            errors.at(
                template.span,
                format_args!(
                    "`key` names several placeholders that are not parameters ({}): one names \
                     each id of the batch",
                    elements.join(", ")
                ),
            );
            return None;
        }
    };
    if template.roots().any(|root| *param == root) {
        errors.at(
            template.span,
            format_args!(
                "`{{{param}}}` is the whole batch: name each id instead, as in `{{{element}}}`"
            ),
        );
    }
    let element = Ident::new(element, template.span);
    Some(BatchConfig {
        param: param.clone(),
        ty: found.ty.clone(),
        element,
        template,
    })
}

impl Expansion<'_> {
    /// The body of a batch function (see the module's sketch).
    pub(crate) fn batch_body(&self, batch: &BatchConfig) -> TokenStream {
        let (p, info, func) = (&self.private, self.info, self.func);
        let (site, mode, policy, kind, cache) = (
            local("__site"),
            local("__mode"),
            local("__policy"),
            local("__kind"),
            local("__cache"),
        );
        let (ids, keys, builder) = (local("__ids"), local("__keys"), local("__builder"));
        let name = func.sig.ident.to_string();
        let site_expr = crate::common::output::site_name(info, &name);
        let policy_and_kind = self.policy_and_kind();
        let cache_stmts = crate::common::output::cache_statements(p, self.config.store.as_ref());
        let template = &batch.template;
        let borrow = key::borrow_roots(template, info);
        let steps = key::template_steps(&builder, template);
        let (param, ty, element, output) = (&batch.param, &batch.ty, &batch.element, &info.output);
        let block = &func.block;
        // Bounds on the batch parameter and the return type are reported on them.
        let at_param = param.span();
        let ids_of = quote_spanned!(at_param=> #p::batch_ids::<#output, #ty>(#param));
        let batch_value = quote!(#p::Batch::new(#site, #cache, #policy, #mode));
        let run = match func.sig.asyncness {
            Some(_) => {
                let returned = local("__returned");
                let call =
                    quote_spanned!(info.output_span()=> #p::batch_async::<_, #output, #ty, _, _>);
                quote! {
                    #call(#batch_value, #kind, (#ids, #keys), move |#param: #ty| async move {
                        let #returned: #output = #block;
                        #returned
                    }).await
                }
            }
            None => {
                let call =
                    quote_spanned!(info.output_span()=> #p::batch_blocking::<_, #output, #ty, _>);
                quote! {
                    #call(#batch_value, #kind, (#ids, #keys), move |#param: #ty| -> #output #block)
                }
            }
        };
        quote! {
            let #site: &'static #p::FnSite = {
                static SITE: #p::FnSite = #p::FnSite::new();
                #site_expr
            };
            let #mode = #p::call_mode(#site);
            #policy_and_kind
            #cache_stmts
            let #ids = #ids_of;
            let #keys: ::std::vec::Vec<#p::Key> = #ids
                .iter()
                .map(|#element| {
                    #borrow
                    let mut #builder = #p::Key::template(#cache);
                    #steps
                    #builder
                })
                .collect();
            #run
        }
    }
}
