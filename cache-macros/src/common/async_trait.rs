//! Methods that `#[async_trait]` rewrote before our attribute saw them.
//!
//! ```text
//! fn get<'life0, 'async_trait>(&'life0 self, id: u64)          async fn get(&self, id: u64) -> T
//!     -> Pin<Box<dyn Future<Output = T> + Send + 'async_trait>>     ══ expanded as usual ══►
//! { Box::pin(async move { BODY }) }                ══►         fn get<..>(..) -> Pin<Box<..>>
//!                                                               { Box::pin(async move { EXPANDED }) }
//! ```
//! As `tracing-attributes` does, the shape async-trait leaves is recognised (a non-`async` fn
//! returning a pinned, boxed `dyn Future<Output = T>` whose body is one call on an `async move`
//! block), the method is expanded as the `async fn` it was, and the expansion's body is put back
//! into the `async move` block, under the signature async-trait wrote.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprAsync, GenericArgument, ItemFn, PathArguments, ReturnType, Stmt, Type};

/// A method in async-trait's shape: the `async fn` it was, and how to put an expansion back.
pub(crate) struct Rewritten {
    /// The method as the `async fn` it was written as.
    pub(crate) as_async: ItemFn,
    original: ItemFn,
}

/// `func` as the `async fn` it was, if it is in async-trait's shape.
pub(crate) fn recognise(func: &ItemFn) -> Option<Rewritten> {
    if func.sig.asyncness.is_some() {
        return None;
    }
    let output = future_output(&func.sig.output)?;
    let inner = boxed_async_block(func)?;
    let mut as_async = func.clone();
    as_async.sig.asyncness = Some(Default::default());
    as_async.sig.output = ReturnType::Type(Default::default(), Box::new(output.clone()));
    *as_async.block = inner.block.clone();
    Some(Rewritten {
        as_async,
        original: func.clone(),
    })
}

impl Rewritten {
    /// The expansion of [`Rewritten::as_async`] put back under the original signature; anything
    /// the expansion emitted besides the function (companions) follows it.
    pub(crate) fn put_back(&self, expanded: TokenStream) -> TokenStream {
        let Ok(file) = syn::parse2::<syn::File>(expanded.clone()) else {
            return expanded;
        };
        let mut items = file.items.into_iter();
        let Some(syn::Item::Fn(function)) = items.next() else {
            return expanded;
        };
        let mut original = self.original.clone();
        original.attrs = function.attrs;
        let block = function.block;
        let call = match boxed_call(&original) {
            Some(Expr::Call(call)) => {
                let boxing = &call.func;
                quote!(#boxing(async move #block))
            }
            _ => return expanded,
        };
        *original.block = syn::parse_quote!({ #call });
        quote!(#original #(#items)*)
    }
}

/// `T` of `Pin<Box<dyn Future<Output = T> + …>>`.
fn future_output(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let pinned = only_type_argument(ty, "Pin")?;
    let Type::TraitObject(object) = only_type_argument(pinned, "Box")? else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        let PathArguments::AngleBracketed(args) =
            (last.ident == "Future").then_some(&last.arguments)?
        else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// The one type argument of a path type whose last segment is `name` (`Pin<P>` → `P`).
fn only_type_argument<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = (last.ident == name).then_some(&last.arguments)?
    else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(ty) if args.args.len() == 1 => Some(ty),
        _ => None,
    }
}

/// The body's one expression, a call such as `Box::pin(..)`.
fn boxed_call(func: &ItemFn) -> Option<&Expr> {
    match func.block.stmts.as_slice() {
        [Stmt::Expr(call @ Expr::Call(_), None)] => Some(call),
        _ => None,
    }
}

/// The `async move` block the body's call boxes.
fn boxed_async_block(func: &ItemFn) -> Option<&ExprAsync> {
    let Expr::Call(call) = boxed_call(func)? else {
        return None;
    };
    match call.args.iter().collect::<Vec<_>>().as_slice() {
        [Expr::Async(block)] if block.capture.is_some() => Some(block),
        _ => None,
    }
}
