//! `#[rate_limit]`: parse the arguments ([`attr`]), check them against the function ([`config`]),
//! and put one check in front of the body ([`expand`]).

mod attr;
mod config;
mod expand;

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::common::errors::Errors;
use crate::common::order;
use crate::common::output::with_errors;
use crate::common::signature::FnInfo;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match order::turn("rate_limit", args, &item) {
        order::Turn::Expand(args) => args,
        order::Turn::Defer(item) => return item,
    };
    let mut errors = Errors::default();
    let args = attr::Args::parse(args, &mut errors);
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            errors.on(
                item.clone().into_iter().next(),
                "`#[rate_limit]` goes on a `fn` or an `async fn` (free, or a method in an `impl` block)",
            );
            return with_errors(item, errors);
        }
    };
    if let Some(constness) = &func.sig.constness {
        errors.on(
            constness,
            "`#[rate_limit]` cannot go on a `const fn`: a check reads and writes a store at run time",
        );
    }
    let info = FnInfo::read(&func.sig, &mut errors);
    let config = config::Config::build(args, &func.sig, &info, &mut errors);
    match (errors.is_empty(), config) {
        (true, Some(config)) => expand::function(&func, &info, &config),
        _ => with_errors(quote!(#func), errors),
    }
}
