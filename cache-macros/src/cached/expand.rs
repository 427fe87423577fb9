//! The cached function itself: the signature kept, the body wrapped.
//!
//! ```text
//! #[cached(ttl = 600)]                     async fn get_user(id: u64) -> Result<User, E> {
//! async fn get_user(id: u64)        ==>        let site = { static SITE; SITE.named(..) };
//!     -> Result<User, E> { BODY }              let mode = call_mode(site);
//!                                              let (policy, kind) = { const POLICY; .. };
//!                                              let cache = default_cache();
//!                                              let key = { Key::digest(..); key.arg(id) };
//!                                              let call = Call::new(..);
//!                                              match begin(&call, &mut read) {   // a fresh memory hit
//!                                                  Some(value) => value,
//!                                                  None => match begin_after(call, read) {
//!                                                      Hit(value) => value,
//!                                                      Fetch(fetch) => fetch_async(fetch, async move { BODY }).await,
//!                                                  },
//!                                              }
//!                                          }
//! ```
//! Every local of the expansion is spanned at `Span::mixed_site()`, so the body cannot name it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{GenericParam, ItemFn};

use super::config::{Config, KeySource, PolicySource};
use crate::common::duration::nanos;
use crate::common::key;
use crate::common::output::{cache_statements, local, local_at, site_name};
use crate::common::signature::{type_name, FnInfo, Param, Shape};
use crate::common::slot::OrDefault;

/// Whether a type's tokens hold a reference, a lifetime or an `impl Trait`.
fn borrows(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Punct(punct) => matches!(punct.as_char(), '&' | '\''),
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => borrows(group.stream()),
        proc_macro2::TokenTree::Literal(_) => false,
    })
}

/// One function being expanded: what the function and its companions are built from.
pub(crate) struct Expansion<'a> {
    pub(crate) func: &'a ItemFn,
    pub(crate) info: &'a FnInfo<'a>,
    pub(crate) config: &'a Config,
    /// `::cache_runtime::__private`, or its path under `crate = "…"`.
    pub(crate) private: TokenStream,
}

/// Where the function's name comes from in a key: the module path at the function, or `Self`.
pub(crate) enum Namespace {
    /// A free function (and its companions, beside it): `module_path!() :: name`.
    Function,
    /// A method: `type_name::<Self>() :: name`.
    Method,
}

impl<'a> Expansion<'a> {
    pub(crate) fn new(func: &'a ItemFn, info: &'a FnInfo<'a>, config: &'a Config) -> Self {
        let krate = &config.krate;
        Expansion {
            func,
            info,
            config,
            private: quote!(#krate::__private),
        }
    }

    /// The parameters that are part of the key, in signature order.
    pub(crate) fn key_params(&self) -> impl Iterator<Item = &'a Param> + '_ {
        let config = self.config;
        self.info
            .params
            .iter()
            .filter(move |param| config.key_params.contains(&param.ident))
    }

    pub(crate) fn function(&self) -> TokenStream {
        let (func, info, p) = (self.func, self.info, &self.private);
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
        } = func;
        let name = sig.ident.to_string();
        let (mode, site, fetch, value) = (
            local("__mode"),
            local("__site"),
            local("__fetch"),
            local("__value"),
        );
        let (call, read) = (local("__call"), local("__read"));
        let site_expr = site_name(info, &name);
        let namespace = if info.receiver.is_some() {
            Namespace::Method
        } else {
            Namespace::Function
        };
        let policy_and_kind = self.policy_and_kind();
        let cache_and_key = self.cache_and_key(&namespace, true);
        let (policy, kind, cache, key) = (
            local("__policy"),
            local("__kind"),
            local("__cache"),
            local("__key"),
        );
        let output = &info.output;
        let begin = quote_spanned!(info.output_span()=> #p::begin::<_, #output>);
        let begin_after = quote_spanned!(info.output_span()=> #p::begin_after::<_, #output>);
        // Bounds on the return type are reported on the return type.
        let fetch_arg = local_at("__fetch", info.output_span());
        // The body is typed as the return type, so a mistake in it is reported in it.
        let spawning = self.refreshes_in_background();
        let may_refresh = self.may_refresh();
        let run_fetch = if sig.asyncness.is_some() {
            let fetch_async = match spawning {
                true => quote_spanned!(info.output_span()=> #p::fetch_async_spawning),
                false => {
                    quote_spanned!(info.output_span()=> #p::fetch_async::<_, _, _, #may_refresh>)
                }
            };
            let returned = local("__returned");
            quote!(#fetch_async(#fetch_arg, async move {
            let #returned: #output = #block;
            #returned
        }).await)
        } else {
            let fetch_blocking = match spawning {
                true => quote_spanned!(info.output_span()=> #p::fetch_blocking_spawning),
                false => {
                    quote_spanned!(info.output_span()=> #p::fetch_blocking::<_, _, _, #may_refresh>)
                }
            };
            quote!(#fetch_blocking(#fetch_arg, move || -> #output #block))
        };
        let call_mode = quote!(#p::call_mode(#site));
        // `on_store_error = fail`: a missing `From<CacheError>` is reported on `fail`.
        let fail_closed = self.config.fail_closed.map(|span| {
            let error = local("__error");
            let convert = quote_spanned!(span=> ::core::convert::From::from);
            quote! {
                let #fetch_arg = #fetch_arg.fail_closed(|#error| {
                    ::core::result::Result::Err(#convert(#error))
                });
            }
        });
        if let Some(batch) = &self.config.batch {
            let body = self.batch_body(batch);
            return quote!(#(#attrs)* #vis #sig { #body });
        }
        let ttl_from = self.ttl_from();
        let tags = local("__tags");
        let tagged = (!self.config.tags.is_empty()).then(|| quote!(.tagged(&#tags)));
        quote! {
            #(#attrs)*
            #vis #sig {
                let #site: &'static #p::FnSite = {
                    static SITE: #p::FnSite = #p::FnSite::new();
                    #site_expr
                };
                let #mode = #call_mode;
                #policy_and_kind
                #cache_and_key
                let #call = #p::Call::new(#site, #cache, #policy, #kind, &#key, #mode)#tagged;
                let mut #read = #p::Read::new();
                match #begin(&#call, &mut #read) {
                    ::core::option::Option::Some(#value) => #value,
                    ::core::option::Option::None => match #begin_after(#call, #read) {
                        #p::Begin::Hit(#value) => #value,
                        #p::Begin::Fetch(#fetch) => {
                            #fail_closed
                            #ttl_from
                            #run_fetch
                        }
                    },
                }
            }
        }
    }

    /// `ttl_from = path`: `let __fetch = __fetch.ttl_from(|value| …)`, calling `path` on the value
    /// a stored result holds (the `T` of `T`, `Option<T>`, `Result<T, E>`); a function of
    /// another shape is reported on `path`.
    fn ttl_from(&self) -> Option<TokenStream> {
        let path = self.config.ttl_from.as_ref()?;
        let (p, output) = (&self.private, &self.info.output);
        let (fetch, value) = (
            local_at("__fetch", self.info.output_span()),
            local("__value"),
        );
        let span = path.span();
        let lifetime = match self.info.shape {
            Shape::Plain => quote_spanned!(span=> ::core::option::Option::Some(#path(#value))),
            Shape::Option => {
                quote_spanned!(span=> ::core::option::Option::map(#value.as_ref(), |#value| #path(#value)))
            }
            Shape::Result => {
                quote_spanned!(span=> ::core::option::Option::map(#value.as_ref().ok(), |#value| #path(#value)))
            }
        };
        // The closures let `&String` reach a `fn(&str)`, as a direct call would.
        Some(quote! {
            #[allow(clippy::redundant_closure)]
            let #fetch = #fetch.ttl_from(|#value: &#output| -> ::core::option::Option<#p::Duration> {
                #lifetime
            });
        })
    }

    /// Whether the policy may serve a stored value while refreshing it (early expiry or
    /// stale-while-revalidate; a named policy may): if not, no refresh code is compiled.
    fn may_refresh(&self) -> bool {
        match &self.config.policy {
            PolicySource::Named(_) => true,
            PolicySource::Options {
                early_expiry,
                stale_while_revalidate,
                ..
            } => early_expiry.is_some() || stale_while_revalidate.is_some(),
        }
    }

    /// Whether a background refresh leaves the caller's path: the policy may refresh in the
    /// background (a named policy may) and the body owns everything it uses, so it can be
    /// spawned. Otherwise a refresh runs in the calling task.
    fn refreshes_in_background(&self) -> bool {
        self.may_refresh()
            && self.info.receiver.is_none()
            && self.func.sig.generics.params.is_empty()
            && !self
                .info
                .params
                .iter()
                .any(|param| borrows(param.ty.to_token_stream()))
    }

    /// `let (__policy, __kind) = …;`: the policy as a `const`, and the return-kind adapter.
    pub(crate) fn policy_and_kind(&self) -> TokenStream {
        let p = &self.private;
        let (policy, kind) = (local("__policy"), local("__kind"));
        let policy_value = self.policy_value();
        let kind_value = match self.info.shape {
            // A batch stores each id's value, or its absence (`cache_none`).
            _ if self.config.batch.is_some() => {
                quote!(#p::OptionKind::<{ POLICY.caches_none() }>)
            }
            Shape::Plain => quote!(#p::PlainKind),
            Shape::Option => quote!(#p::OptionKind::<{ POLICY.caches_none() }>),
            Shape::Result => quote!(#p::ResultKind::<{ POLICY.caches_err() }>),
        };
        quote! {
            let (#policy, #kind) = {
                const POLICY: #p::CachePolicy = #policy_value;
                (&POLICY, #kind_value)
            };
        }
    }

    /// `let __cache = …; let __key = …; let __tags = [..];`. In the function itself the key
    /// parameters are owned and are borrowed first; companions take them borrowed already.
    /// Either way the key code sees the same types, so a mistake in it is reported once, not
    /// once per companion.
    pub(crate) fn cache_and_key(&self, namespace: &Namespace, in_function: bool) -> TokenStream {
        let p = &self.private;
        let tags = local("__tags");
        let cache_stmts = cache_statements(p, self.config.store.as_ref());
        let key_statements = self.key_statements(namespace, in_function);
        let tag_values = self.config.tags.iter().map(|template| {
            let (builder, cache) = (local("__builder"), local("__cache"));
            let borrow = key::borrow_roots(template, self.info);
            let steps = key::template_steps(&builder, template);
            quote!({
                #borrow
                let mut #builder = #p::tag_key(#cache);
                #steps
                #p::close_tag(&mut #builder);
                #builder
            })
        });
        quote! {
            #cache_stmts
            #key_statements
            let #tags: [#p::Key; _] = [#(#tag_values),*];
        }
    }

    pub(crate) fn policy_value(&self) -> TokenStream {
        let p = &self.private;
        match &self.config.policy {
            PolicySource::Named(path) => {
                let check = match self.info.shape {
                    Shape::Plain => format_ident!("policy_for_plain"),
                    Shape::Option => format_ident!("policy_for_option"),
                    Shape::Result => format_ident!("policy_for_result"),
                };
                quote!(#p::#check(#path))
            }
            PolicySource::Options {
                ttl,
                negative_ttl,
                cache_none,
                cache_err,
                early_expiry,
                stale_while_revalidate,
                stale_if_error,
                lock_on_miss,
            } => {
                let ttl = nanos(*ttl);
                let mut value = quote!(#p::CachePolicy::new(#p::Duration::from_nanos(#ttl)));
                if *cache_none {
                    value.extend(quote!(.cache_none()));
                }
                if *cache_err {
                    value.extend(quote!(.cache_err()));
                }
                if let Some(negative_ttl) = negative_ttl {
                    let negative_ttl = nanos(*negative_ttl);
                    value.extend(quote!(.negative_ttl(#p::Duration::from_nanos(#negative_ttl))));
                }
                match early_expiry {
                    Some(OrDefault::Given(beta)) => value.extend(quote!(.early_expiry(#beta))),
                    Some(OrDefault::Default) => {
                        value.extend(quote!(.early_expiry(#p::DEFAULT_BETA)));
                    }
                    None => {}
                }
                match lock_on_miss {
                    Some(OrDefault::Given(wait)) => {
                        let wait = nanos(*wait);
                        value.extend(quote!(.lock_on_miss(#p::Duration::from_nanos(#wait))));
                    }
                    Some(OrDefault::Default) => {
                        value.extend(quote!(.lock_on_miss(#p::DEFAULT_LOCK_WAIT)));
                    }
                    None => {}
                }
                for (method, window) in [
                    ("stale_while_revalidate", stale_while_revalidate),
                    ("stale_if_error", stale_if_error),
                ] {
                    if let Some(window) = window {
                        let (method, window) = (format_ident!("{method}"), nanos(*window));
                        value.extend(quote!(.#method(#p::Duration::from_nanos(#window))));
                    }
                }
                value
            }
        }
    }

    /// `let mut __key = Key::digest(..); { __key.arg(id); }`, or the same from a template: the
    /// key is built where it stays (a key moved once built was a stall on every hit). In the
    /// function itself the owned key parameters are borrowed first, inside the block.
    fn key_statements(&self, namespace: &Namespace, in_function: bool) -> TokenStream {
        let (p, info, func) = (&self.private, self.info, self.func);
        let (builder, cache) = (local("__key"), local("__cache"));
        let name = func.sig.ident.to_string();
        let borrow = self.key_params().filter_map(|param| {
            let ident = &param.ident;
            (in_function || matches!(param.ty, syn::Type::Reference(_)))
                .then(|| quote!(let #ident = &#ident;))
        });
        let borrow: TokenStream = borrow.collect();
        let (init, steps) = match &self.config.key {
            KeySource::Digest { version } => {
                let version = format!(":v{version}:");
                let returns = type_name(&info.output);
                // A free function's head is the same on every call: encoded once. A method's
                // names `Self`, which a `static` (one for every `Self`) could not keep.
                let init = match namespace {
                    Namespace::Function => quote!({
                        static KEY_HEAD: #p::KeyHead = #p::KeyHead::new();
                        #p::Key::digest_kept(
                            #cache,
                            &KEY_HEAD,
                            &[::core::concat!(::core::module_path!(), "::", #name, #version)],
                            #returns,
                        )
                    }),
                    Namespace::Method => {
                        let tail = format!("::{name}{version}");
                        let head = quote!(&[::core::any::type_name::<Self>(), #tail]);
                        quote!(#p::Key::digest(#cache, #head, #returns))
                    }
                };
                let mut steps = TokenStream::new();
                for param in &func.sig.generics.params {
                    steps.extend(match param {
                        GenericParam::Type(ty) => {
                            let ident = &ty.ident;
                            quote!(#builder.type_arg::<#ident>();)
                        }
                        GenericParam::Const(konst) => {
                            let ident = &konst.ident;
                            quote!(#builder.const_arg(#ident);)
                        }
                        GenericParam::Lifetime(_) => TokenStream::new(),
                    });
                }
                for param in self.key_params() {
                    let ident = &param.ident;
                    steps.extend(quote_spanned!(param.ty.span()=> #builder.arg(#ident);));
                }
                (init, steps)
            }
            KeySource::Template(template) => (
                quote!(#p::Key::template(#cache)),
                key::template_steps(&builder, template),
            ),
        };
        let steps = (!steps.is_empty()).then(|| quote!({ #borrow #steps }));
        quote! {
            #[allow(unused_mut)]
            let mut #builder = #init;
            #steps
        }
    }
}
