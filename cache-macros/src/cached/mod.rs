//! `#[cached]`: parse the arguments ([`attr`]), check them against the function ([`config`]),
//! expand the function ([`expand`]) and its companions ([`companions`]).

mod attr;
mod batch;
mod companions;
mod config;
mod expand;

use proc_macro2::TokenStream;
use quote::quote;

use crate::common::attribute;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    attribute::expand(
        "cached",
        args,
        item,
        attr::Args::parse,
        |args, _, info, errors| config::Config::build(args, info, errors),
        |func, info, config| {
            let expansion = expand::Expansion::new(func, info, config);
            let function = expansion.function();
            let companions = companions::companions(&expansion);
            quote!(#function #companions)
        },
    )
}
