//! `#[cached]`: parse the arguments ([`attr`]), check them against the function ([`config`]),
//! expand the function ([`expand`]) and its companions ([`companions`]).

mod attr;
mod companions;
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
    let args = match order::turn("cached", args, &item) {
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
                "`#[cached]` goes on a `fn` or an `async fn` (free, or a method in an `impl` block)",
            );
            return with_errors(item, errors);
        }
    };
    if let Some(constness) = &func.sig.constness {
        errors.on(constness, "`#[cached]` cannot go on a `const fn`: a cached call reads and writes a store at run time");
    }
    let info = FnInfo::read(&func.sig, &mut errors);
    let config = config::Config::build(args, &info, &mut errors);
    match (errors.is_empty(), config) {
        (true, Some(config)) => {
            let expansion = expand::Expansion::new(&func, &info, &config);
            let function = expansion.function();
            let companions = companions::companions(&expansion);
            quote!(#function #companions)
        }
        _ => with_errors(quote!(#func), errors),
    }
}
