//! `#[with_lock]`: parse the arguments ([`attr`]), check them against the function ([`config`]),
//! and run the body under the lock ([`expand`]).

mod attr;
mod config;
mod expand;

use proc_macro2::TokenStream;

use crate::common::attribute;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    attribute::expand(
        "with_lock",
        args,
        item,
        attr::Args::parse,
        |args, func, info, errors| config::Config::build(args, &func.sig, info, errors),
        expand::function,
    )
}
