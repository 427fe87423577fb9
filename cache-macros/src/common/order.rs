//! Stacked attributes of this crate run in the order written, outermost first.
//!
//! The compiler expands the topmost attribute first, and whatever it wraps around the body is
//! then wrapped by the attributes below it: left alone, the last one written would run outermost.
//! So an attribute that finds one of ours below it steps aside: it re-emits the function with
//! itself moved below the last of them, marked `__deferred` so that it expands when its turn
//! comes instead of stepping aside again.
//!
//! ```text
//! #[rate_limit(..)]                   #[cached(..)]                              rate_limit(
//! #[cached(..)]          ==>          #[::cache_runtime::rate_limit(__deferred, ..)]   ==>   cached(
//! fn f() { BODY }                     fn f() { BODY }                                        BODY))
//! ```

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::{Attribute, ItemFn, Meta};

/// Our attributes, by the last segment of their path.
const OURS: &[&str] = &["cached", "rate_limit", "with_lock"];

/// The marker of an attribute that already stepped aside.
const DEFERRED: &str = "__deferred";

/// What an attribute does with its turn.
pub(crate) enum Turn {
    /// Expand now, with these arguments (the marker removed).
    Expand(TokenStream),
    /// Step aside: this is the function with the attribute moved down.
    Defer(TokenStream),
}

/// Whether `#[name(args)]` expands now or steps aside for one of ours below it in `item`.
pub(crate) fn turn(name: &str, args: TokenStream, item: &TokenStream) -> Turn {
    if let Some(rest) = strip_marker(&args) {
        return Turn::Expand(rest);
    }
    let Ok(mut func) = syn::parse2::<ItemFn>(item.clone()) else {
        return Turn::Expand(args);
    };
    let Some(last) = func.attrs.iter().rposition(is_ours_undeferred) else {
        return Turn::Expand(args);
    };
    let krate = crate_path(&args);
    let name = syn::Ident::new(name, proc_macro2::Span::call_site());
    let marker = syn::Ident::new(DEFERRED, proc_macro2::Span::call_site());
    let deferred: Attribute = syn::parse_quote!(#[#krate::#name(#marker, #args)]);
    func.attrs.insert(last + 1, deferred);
    Turn::Defer(quote!(#func))
}

fn is_ours_undeferred(attr: &Attribute) -> bool {
    let ours = attr
        .path()
        .segments
        .last()
        .is_some_and(|last| OURS.iter().any(|name| last.ident == name));
    let deferred = match &attr.meta {
        Meta::List(list) => strip_marker(&list.tokens).is_some(),
        _ => false,
    };
    ours && !deferred
}

/// The arguments after a leading `__deferred,`, if they start with it.
fn strip_marker(args: &TokenStream) -> Option<TokenStream> {
    let mut tokens = args.clone().into_iter();
    match tokens.next() {
        Some(TokenTree::Ident(ident)) if ident == DEFERRED => {}
        _ => return None,
    }
    let rest: TokenStream = tokens.collect();
    let mut rest = rest.into_iter().peekable();
    if matches!(rest.peek(), Some(TokenTree::Punct(punct)) if punct.as_char() == ',') {
        rest.next();
    }
    Some(rest.collect())
}

/// The runtime's path: `crate = "…"` among the arguments, else `::cache_runtime`.
fn crate_path(args: &TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = args.clone().into_iter().collect();
    for window in tokens.windows(3) {
        if let [TokenTree::Ident(key), TokenTree::Punct(eq), TokenTree::Literal(value)] = window {
            if key == "crate" && eq.as_char() == '=' {
                if let Ok(path) = syn::parse2::<syn::LitStr>(quote!(#value))
                    .and_then(|text| text.parse::<syn::Path>())
                {
                    return quote!(#path);
                }
            }
        }
    }
    quote!(::cache_runtime)
}
