//! The steps every attribute takes, in order: step aside for one of ours below it
//! ([`order`](super::order)), parse its arguments, read the function (as the `async fn` it was,
//! if `#[async_trait]` rewrote it: [`async_trait`](super::async_trait)), check the arguments
//! against it, and expand; on any error, the user's function unchanged plus every error.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use super::async_trait;
use super::errors::Errors;
use super::order::{self, Turn};
use super::output::{function_or_errors, with_errors};
use super::signature::FnInfo;

/// Runs `#[name(args)]` on `item` through `parse`, `build` and `expand`.
pub(crate) fn expand<Args, Config>(
    name: &str,
    args: TokenStream,
    item: TokenStream,
    parse: impl FnOnce(TokenStream, &mut Errors) -> Args,
    build: impl FnOnce(Args, &ItemFn, &FnInfo, &mut Errors) -> Option<Config>,
    expand: impl FnOnce(&ItemFn, &FnInfo, &Config) -> TokenStream,
) -> TokenStream {
    let args = match order::turn(name, args, &item) {
        Turn::Expand(args) => args,
        Turn::Defer(item) => return item,
    };
    let mut errors = Errors::default();
    let args = parse(args, &mut errors);
    let func = match function_or_errors(name, item, &mut errors) {
        Ok(func) => func,
        Err(item) => return item,
    };
    let rewritten = async_trait::recognise(&func);
    let written = rewritten
        .as_ref()
        .map_or(&func, |rewritten| &rewritten.as_async);
    let info = FnInfo::read(&written.sig, &mut errors);
    let config = build(args, written, &info, &mut errors);
    match (errors.is_empty(), config, rewritten.as_ref()) {
        (true, Some(config), None) => expand(&func, &info, &config),
        (true, Some(config), Some(rewritten)) => {
            rewritten.put_back(expand(written, &info, &config))
        }
        _ => with_errors(quote!(#func), errors),
    }
}
