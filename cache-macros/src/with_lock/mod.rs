//! `#[with_lock]`: parse the arguments ([`attr`]), check them against the function ([`config`]),
//! and run the body under the lock ([`expand`]).

mod attr;
mod config;
mod expand;

use proc_macro2::TokenStream;
use quote::quote;

use crate::common::errors::Errors;
use crate::common::order;
use crate::common::output::{function_or_errors, with_errors};
use crate::common::signature::FnInfo;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match order::turn("with_lock", args, &item) {
        order::Turn::Expand(args) => args,
        order::Turn::Defer(item) => return item,
    };
    let mut errors = Errors::default();
    let args = attr::Args::parse(args, &mut errors);
    let func = match function_or_errors("with_lock", item, &mut errors) {
        Ok(func) => func,
        Err(item) => return item,
    };
    let info = FnInfo::read(&func.sig, &mut errors);
    let config = config::Config::build(args, &func.sig, &info, &mut errors);
    match (errors.is_empty(), config) {
        (true, Some(config)) => expand::function(&func, &info, &config),
        _ => with_errors(quote!(#func), errors),
    }
}
