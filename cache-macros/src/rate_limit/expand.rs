//! The rate-limited function: the signature kept, one check in front of the body.
//!
//! ```text
//! #[rate_limit(limit = 5, window = 1,      async fn create(user: u64) -> Result<Id, E> {
//!              key = "{user}")]        ==>     let site = { static SITE: LimitSite; SITE.named(..) };
//! async fn create(user: u64)                   let policy = { const POLICY: RateLimitPolicy = ..; &POLICY };
//!     -> Result<Id, E> { BODY }                let cache = default_cache();
//!                                              let key = { let user = &user; limit_key(cache, site) ":" user };
//!                                              if let Err(limited) = admit_async(site, cache, policy, &key).await {
//!                                                  return <Result<Id, E> as Rejects<RateLimited>>::rejected(limited);
//!                                              }
//!                                              BODY
//!                                          }
//! ```
//! Every local is spanned at `Span::mixed_site()`, so the body cannot name it; the body itself is
//! left as written.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemFn;

use super::attr::{Algorithm, Fail};
use super::config::Config;
use crate::common::duration::nanos;
use crate::common::key;
use crate::common::output::{cache_statements, local, site_and_policy, site_name};
use crate::common::signature::FnInfo;

pub(crate) fn function(func: &ItemFn, info: &FnInfo, config: &Config) -> TokenStream {
    let krate = &config.krate;
    let p = quote!(#krate::__private);
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let name = sig.ident.to_string();
    let (site, policy, cache, key, limited) = (
        local("__site"),
        local("__policy"),
        local("__cache"),
        local("__key"),
        local("__limited"),
    );
    let site_and_policy = site_and_policy(
        &p,
        ("LimitSite", site_name(info, &name)),
        ("RateLimitPolicy", policy_value(&p, config)),
    );
    let cache_stmts = cache_statements(&p, config.store.as_ref());
    let key_value = key_value(&p, info, config);
    let admit = match (sig.asyncness.is_some(), config.max_wait) {
        (true, Some(max_wait)) => {
            let nanos = nanos(max_wait);
            quote!(#p::admit_or_wait(#site, #cache, #policy, &#key, #p::Duration::from_nanos(#nanos)).await)
        }
        (true, None) => quote!(#p::admit_async(#site, #cache, #policy, &#key).await),
        (false, _) => quote!(#p::admit_blocking(#site, #cache, #policy, &#key)),
    };
    let output = &info.output;
    // A return type that cannot carry the rejection is reported on the return type.
    let rejected =
        quote_spanned!(info.output_span()=> <#output as #p::Rejects<#p::RateLimited>>::rejected);
    quote! {
        #(#attrs)*
        #vis #sig {
            #site_and_policy
            #cache_stmts
            let #key = #key_value;
            if let ::core::result::Result::Err(#limited) = #admit {
                return #rejected(#limited);
            }
            ::core::mem::drop(#key);
            #block
        }
    }
}

/// `RateLimitPolicy::new(limit, window).burst(..).algorithm(..)`, evaluated as a `const`: a
/// combination the runtime rejects stops compilation.
fn policy_value(p: &TokenStream, config: &Config) -> TokenStream {
    let (limit, window) = (config.limit, nanos(config.window));
    let mut value = quote!(#p::RateLimitPolicy::new(#limit, #p::Duration::from_nanos(#window)));
    if let Some(burst) = config.burst {
        value.extend(quote!(.burst(#burst)));
    }
    value.extend(match config.algorithm {
        Algorithm::Gcra => TokenStream::new(),
        Algorithm::FixedWindow => quote!(.algorithm(#p::Algorithm::FixedWindow)),
        Algorithm::SlidingWindow => quote!(.algorithm(#p::Algorithm::SlidingWindow)),
    });
    if config.fail == Fail::Closed {
        value.extend(quote!(.fail_closed()));
    }
    value
}

/// `{prefix}:rate:{module}::{fn}:{…}`: the rendered `key = "…"` in the braces (empty without
/// one).
fn key_value(p: &TokenStream, info: &FnInfo, config: &Config) -> TokenStream {
    let (builder, cache, site) = (local("__builder"), local("__cache"), local("__site"));
    let (borrow, steps) = match &config.key {
        Some(template) => (
            key::borrow_roots(template, info),
            key::template_steps(&builder, template),
        ),
        None => (TokenStream::new(), TokenStream::new()),
    };
    quote!({
        #borrow
        let mut #builder = #p::limit_key(#cache, #site);
        #steps
        #p::close_tag(&mut #builder);
        #builder
    })
}
