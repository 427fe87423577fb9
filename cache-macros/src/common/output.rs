//! What every expansion emits the same way: internal locals that user code cannot name, and
//! the user's item kept as it is next to the errors.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::errors::Errors;

/// Internal locals, resolved at mixed-site hygiene.
pub(crate) fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// An internal local whose errors point at `span` (bounds on the return type point there).
pub(crate) fn local_at(name: &str, span: Span) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(span))
}

/// The user's item unchanged, so that IDEs and later errors still see it, plus the errors.
pub(crate) fn with_errors(item: TokenStream, errors: Errors) -> TokenStream {
    let errors = errors.finish().err().unwrap_or_default();
    quote!(#item #errors)
}

/// `let __cache = …;`: the cache of `store = EXPR`, or the process-wide default.
pub(crate) fn cache_statements(private: &TokenStream, store: Option<&syn::Expr>) -> TokenStream {
    let (cache, store_local) = (local("__cache"), local("__store"));
    match store {
        Some(expr) => quote! {
            let #store_local = &(#expr);
            let #cache: &#private::Cache = #private::AsCache::as_cache(#store_local);
        },
        None => quote!(let #cache: &'static #private::Cache = #private::default_cache();),
    }
}

/// The function an attribute is on, or the item as it is with the errors (not a function).
/// A `const fn` is reported: every attribute reads and writes a store at run time.
pub(crate) fn function_or_errors(
    attribute: &str,
    item: TokenStream,
    errors: &mut Errors,
) -> Result<syn::ItemFn, TokenStream> {
    let func: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            errors.on(
                item.clone().into_iter().next(),
                format_args!(
                    "`#[{attribute}]` goes on a `fn` or an `async fn` (free, or a method in an \
                     `impl` block)"
                ),
            );
            return Err(with_errors(item, std::mem::take(errors)));
        }
    };
    if let Some(constness) = &func.sig.constness {
        errors.on(
            constness,
            format_args!(
                "`#[{attribute}]` cannot go on a `const fn`: it reads and writes a store at run time"
            ),
        );
    }
    Ok(func)
}

/// `SITE.named(module_path::name)`, or `SITE.named_method::<Self>(name)` for a method: the
/// expression naming a function's static site.
pub(crate) fn site_name(info: &super::signature::FnInfo, name: &str) -> TokenStream {
    match info.receiver {
        Some(_) => quote!(SITE.named_method::<Self>(#name)),
        None => quote!(SITE.named(::core::concat!(::core::module_path!(), "::", #name))),
    }
}

/// `let __site = { static SITE: Site = Site::new(); SITE.named(..) };` and
/// `let __policy = { const POLICY: Policy = VALUE; &POLICY };`: a function's static site and its
/// policy as a `const`, so an invalid policy stops compilation.
pub(crate) fn site_and_policy(
    private: &TokenStream,
    (site_type, site_expr): (&str, TokenStream),
    (policy_type, policy_value): (&str, TokenStream),
) -> TokenStream {
    let (site, policy) = (local("__site"), local("__policy"));
    let site_type = Ident::new(site_type, Span::call_site());
    let policy_type = Ident::new(policy_type, Span::call_site());
    quote! {
        let #site: &'static #private::#site_type = {
            static SITE: #private::#site_type = #private::#site_type::new();
            #site_expr
        };
        let #policy: &'static #private::#policy_type = {
            const POLICY: #private::#policy_type = #policy_value;
            &POLICY
        };
    }
}
