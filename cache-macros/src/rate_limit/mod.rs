//! `#[rate_limit]`: parse the arguments ([`attr`]), check them against the function ([`config`]),
//! and put one check in front of the body ([`expand`]).

mod attr;
mod config;
mod expand;

use proc_macro2::TokenStream;

use crate::common::attribute;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    attribute::expand(
        "rate_limit",
        args,
        item,
        attr::Args::parse,
        |args, func, info, errors| config::Config::build(args, &func.sig, info, errors),
        expand::function,
    )
}
