//! The locked function: the signature kept, the body run under the lock.
//!
//! ```text
//! #[with_lock(key = "order:{id}",        async fn settle(id: u64) -> Result<R, E> {
//!             ttl = 30)]           ==>       let site = { static SITE: LockSite; SITE.named(..) };
//! async fn settle(id: u64)                   let policy = { const POLICY: LockPolicy = ..; &POLICY };
//!     -> Result<R, E> { BODY }               let key = { let id = &id; lock_key(cache) "order:" id "}" };
//!                                            let guard = match lock_async(site, cache, policy, &key).await {
//!                                                Ok(guard) => guard,
//!                                                Err(error) => return <Result<R, E> as Rejects<LockError>>::rejected(error),
//!                                            };
//!                                            match run_locked_async(guard, policy, async move { BODY }).await {
//!                                                Ok(value) => value,
//!                                                Err(error) => <Result<R, E> as Rejects<LockError>>::rejected(error),
//!                                            }
//!                                        }
//! ```
//! A plain fn runs `move || BODY` under the lock instead (it cannot be cancelled). Every local is
//! spanned at `Span::mixed_site()`, so the body cannot name it.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemFn;

use super::attr::OnLost;
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
    let (site, policy, cache, key, guard, error, value) = (
        local("__site"),
        local("__policy"),
        local("__cache"),
        local("__key"),
        local("__guard"),
        local("__error"),
        local("__value"),
    );
    let site_and_policy = site_and_policy(
        &p,
        ("LockSite", site_name(info, &name)),
        ("LockPolicy", policy_value(&p, config)),
    );
    let cache_stmts = cache_statements(&p, config.store.as_ref());
    let key_value = key_value(&p, info, config);
    let output = &info.output;
    // A return type that cannot carry a `LockError` is reported on the return type.
    let rejected =
        quote_spanned!(info.output_span()=> <#output as #p::Rejects<#p::LockError>>::rejected);
    let run = if sig.asyncness.is_some() {
        quote! {
            let #guard = match #p::lock_async(#site, #cache, #policy, &#key).await {
                ::core::result::Result::Ok(#guard) => #guard,
                ::core::result::Result::Err(#error) => return #rejected(#error),
            };
            ::core::mem::drop(#key);
            match #p::run_locked_async(#guard, #policy, async move {
                let #value: #output = #block;
                #value
            }).await {
                ::core::result::Result::Ok(#value) => #value,
                ::core::result::Result::Err(#error) => #rejected(#error),
            }
        }
    } else {
        quote! {
            let #guard = match #p::lock_blocking(#site, #cache, #policy, &#key) {
                ::core::result::Result::Ok(#guard) => #guard,
                ::core::result::Result::Err(#error) => return #rejected(#error),
            };
            ::core::mem::drop(#key);
            #p::run_locked_blocking(#guard, move || -> #output #block)
        }
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #site_and_policy
            #cache_stmts
            let #key = #key_value;
            #run
        }
    }
}

/// `LockPolicy::new(ttl).wait(..)…`, evaluated as a `const`.
fn policy_value(p: &TokenStream, config: &Config) -> TokenStream {
    let ttl = match config.ttl {
        Some(ttl) => {
            let ttl = nanos(ttl);
            quote!(#p::Duration::from_nanos(#ttl))
        }
        None => quote!(#p::DEFAULT_LEASE),
    };
    let mut value = quote!(#p::LockPolicy::new(#ttl));
    if let Some(wait) = config.wait {
        let wait = nanos(wait);
        value.extend(quote!(.wait(#p::Duration::from_nanos(#wait))));
    }
    if !config.renew {
        value.extend(quote!(.no_renewal()));
    }
    if config.on_lost == OnLost::Continue {
        value.extend(quote!(.continue_on_loss()));
    }
    value
}

/// `{prefix}:lock:{…}`: the function's name, or the rendered `key = "…"` (a lock on a resource,
/// shared by every function naming the same key).
fn key_value(p: &TokenStream, info: &FnInfo, config: &Config) -> TokenStream {
    let (builder, cache, site) = (local("__builder"), local("__cache"), local("__site"));
    let Some(template) = &config.key else {
        return quote!({
            let mut #builder = #p::lock_key(#cache);
            #builder.text(#site.name());
            #p::close_tag(&mut #builder);
            #builder
        });
    };
    let borrow = key::borrow_roots(template, info);
    let steps = key::template_steps(&builder, template);
    quote!({
        #borrow
        let mut #builder = #p::lock_key(#cache);
        #steps
        #p::close_tag(&mut #builder);
        #builder
    })
}
