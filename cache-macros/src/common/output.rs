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
