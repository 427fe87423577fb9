//! The companions of a cached function: `key`, `invalidate`, `peek`, `refresh`, `stats`.
//!
//! ```text
//! free fn get_user(id: u64, db: &Db)    ==>  struct get_user {}   (type namespace only)
//!                                            impl get_user { key(&id), invalidate(&id), peek(&id),
//!                                                            refresh(id, db), stats() }
//! pub method fn load(&self, id: u64)    ==>  load_key(&self, &id), load_invalidate(&self, &id),
//!                                            load_peek(&self, &id), load_refresh(&self, id),
//!                                            load_stats()
//! method fn load(&self, id: u64)        ==>  nothing (as in a trait impl)
//! ```
//! A free function's companions are associated functions of a field-less struct of its name, so
//! `get_user::key(&id)` reads like a module path and works for a function declared inside
//! another function's body too (a module there could not see it). A method's are sibling
//! methods, emitted only when it is written with a visibility: a trait impl, where extra
//! methods are not allowed, has none (`pub(self)` asks for them on a private inherent method).
//! `key`, `invalidate` and `peek` take the key parameters (owned ones by reference); `refresh`
//! takes the function's own parameters. They are `async` when the function is.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{FnArg, GenericParam, Type};

use super::expand::{Expansion, Namespace};
use crate::common::output::{local, local_at};

pub(crate) fn companions(x: &Expansion) -> TokenStream {
    let bodies = Bodies::new(x);
    match (x.info.receiver, &x.func.vis) {
        (None, _) => companion_struct(x, &bodies),
        (Some(_), syn::Visibility::Inherited) => TokenStream::new(),
        (Some(_), _) => methods(x, &bodies),
    }
}

/// What the companions take and do, the same for a free function and a method.
struct Bodies {
    /// `id: &u64, name: &str`: the key parameters, borrowed.
    key_params: TokenStream,
    asyncness: Option<syn::token::Async>,
    key: TokenStream,
    invalidate: TokenStream,
    peek: TokenStream,
    /// What `peek` returns inside its `Option`: the return type, or a batch's value.
    peek_output: TokenStream,
    /// The function's own parameters, which `refresh` passes on.
    args: Vec<Ident>,
    turbofish: TokenStream,
}

impl Bodies {
    fn new(x: &Expansion) -> Bodies {
        let (p, info) = (&x.private, x.info);
        let namespace = if info.receiver.is_some() {
            Namespace::Method
        } else {
            Namespace::Function
        };
        let (cache, key, tags) = (local("__cache"), local("__key"), local("__tags"));
        let cache_and_key = x.cache_and_key(&namespace, false);
        let policy_and_kind = x.policy_and_kind();
        // An `async fn`'s companions await the store; a plain `fn`'s block on it.
        let (peek_fn, invalidate_fn, dot_await) = match x.func.sig.asyncness {
            Some(_) => (quote!(peek_async), quote!(invalidate_async), quote!(.await)),
            None => (quote!(peek), quote!(invalidate), TokenStream::new()),
        };
        let (peek_fn, kind) = (
            quote_spanned!(info.output_span()=> #p::#peek_fn),
            local_at("__kind", info.output_span()),
        );
        let key_params = x.key_params().map(|param| {
            let (ident, ty) = (&param.ident, param.borrowed_ty());
            quote!(#ident: #ty)
        });
        let output = &info.output;
        // A batch function's companions act on one id.
        let (element, peek_output, flatten) = match &x.config.batch {
            Some(batch) => {
                let element = &batch.element;
                (
                    Some(quote!(#element: &#p::BatchId<#output>,)),
                    quote!(#p::BatchValue<#output>),
                    quote!(.flatten()),
                )
            }
            None => (None, quote!(#output), TokenStream::new()),
        };
        Bodies {
            key_params: quote!(#element #(#key_params),*),
            peek_output,
            asyncness: x.func.sig.asyncness,
            key: quote!(#cache_and_key #p::key_string(&#key)),
            invalidate: quote!(#cache_and_key #p::#invalidate_fn(#cache, &#key) #dot_await),
            peek: quote!(#policy_and_kind #cache_and_key #peek_fn(#cache, #kind, &#key, &#tags) #dot_await #flatten),
            args: info
                .params
                .iter()
                .map(|param| param.ident.clone())
                .collect(),
            turbofish: turbofish(x),
        }
    }

    /// `refresh`'s body: call `function` (`super::get_user`, `Self::load`) with the receiver,
    /// if any, and the parameters, as a refresh of the cached function named `name` (the
    /// signal travels with the call: attributes stacked over the function pass it through).
    fn refresh(
        &self,
        x: &Expansion,
        (function, name): (TokenStream, TokenStream),
        receiver: Option<TokenStream>,
    ) -> TokenStream {
        let (p, turbofish) = (&x.private, &self.turbofish);
        let args = receiver
            .into_iter()
            .chain(self.args.iter().map(|arg| quote!(#arg)));
        match self.asyncness {
            Some(_) => quote! {
                #p::refresh_async(#name, #function #turbofish (#(#args),*)).await
            },
            None => quote! {
                #p::refresh_blocking(#name, || #function #turbofish (#(#args),*))
            },
        }
    }
}

/// `::<T, N>` for the call `refresh` makes, unless `impl Trait` parameters forbid naming them.
fn turbofish(x: &Expansion) -> TokenStream {
    let generic_args: Vec<_> = x
        .func
        .sig
        .generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(ty) => Some(&ty.ident),
            GenericParam::Const(konst) => Some(&konst.ident),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    let impl_trait = x
        .info
        .params
        .iter()
        .any(|param| matches!(param.ty, Type::ImplTrait(_)));
    if impl_trait || generic_args.is_empty() {
        TokenStream::new()
    } else {
        quote!(::<#(#generic_args),*>)
    }
}

fn companion_struct(x: &Expansion, bodies: &Bodies) -> TokenStream {
    let (p, info, func) = (&x.private, x.info, x.func);
    let Bodies {
        key_params,
        asyncness,
        key,
        invalidate,
        peek,
        peek_output,
        ..
    } = bodies;
    let (vis, name, sig) = (&func.vis, &func.sig.ident, &func.sig);
    let (generics, where_clause, inputs, output) = (
        &sig.generics,
        &sig.generics.where_clause,
        &sig.inputs,
        &info.output,
    );
    let name_str = name.to_string();
    let function = quote!(::core::concat!(::core::module_path!(), "::", #name_str));
    let refresh = bodies.refresh(x, (quote!(#name), function.clone()), None);
    let doc = format!(
        "Companions of [`{name}`](fn@{name}), generated by `#[cached]`: its stored key, and \
         invalidate, peek, refresh and stats, as `{name}::key(..)` and so on."
    );
    // `#[inline]` on each companion: compiled only in a crate that calls it, not for every
    // cached function of a library.
    quote! {
        #[doc = #doc]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        #[allow(dead_code, unused_variables, clippy::ptr_arg)]
        impl #name {
            /// The full stored key of a call, prefix included.
            #[inline]
            pub fn key #generics (#key_params) -> ::core::result::Result<::std::string::String, #p::KeyError> #where_clause {
                #key
            }

            /// Removes the stored result of a call; whether there was one.
            #[inline]
            pub #asyncness fn invalidate #generics (#key_params) -> bool #where_clause {
                #invalidate
            }

            /// The stored result of a call, without computing it.
            #[inline]
            pub #asyncness fn peek #generics (#key_params) -> ::core::option::Option<#peek_output> #where_clause {
                #peek
            }

            /// Computes a call and stores its result, whatever is stored.
            #[inline]
            pub #asyncness fn refresh #generics (#inputs) -> #output #where_clause {
                #refresh
            }

            /// What this function has done: hits, misses, waits, compute time.
            #[inline]
            pub fn stats() -> #p::FnStats {
                #p::stats_of(#function)
            }
        }
    }
}

fn methods(x: &Expansion, bodies: &Bodies) -> TokenStream {
    let (p, info, func) = (&x.private, x.info, x.func);
    let Bodies {
        key_params,
        asyncness,
        key,
        invalidate,
        peek,
        peek_output,
        ..
    } = bodies;
    let (vis, name, sig) = (&func.vis, &func.sig.ident, &func.sig);
    let (generics, where_clause, output) =
        (&sig.generics, &sig.generics.where_clause, &info.output);
    let receiver = info.receiver;
    let typed_inputs = sig
        .inputs
        .iter()
        .filter(|input| matches!(input, FnArg::Typed(_)));
    let name_str = name.to_string();
    let refresh = bodies.refresh(
        x,
        (
            quote!(Self::#name),
            quote!(#p::method_name::<Self>(#name_str)),
        ),
        Some(quote!(self)),
    );
    let companion = |suffix: &str| format_ident!("{}_{}", name, suffix);
    let (key_fn, invalidate_fn, peek_fn, refresh_fn, stats_fn) = (
        companion("key"),
        companion("invalidate"),
        companion("peek"),
        companion("refresh"),
        companion("stats"),
    );
    let key_doc =
        format!("The full stored key of a call of [`{name}`](Self::{name}), prefix included.");
    quote! {
        #[doc = #key_doc]
        #[allow(dead_code, clippy::ptr_arg)]
        #[inline]
        #vis fn #key_fn #generics (&self, #key_params) -> ::core::result::Result<::std::string::String, #p::KeyError> #where_clause {
            #key
        }

        /// Removes the stored result of a call; whether there was one.
        #[allow(dead_code, clippy::ptr_arg)]
        #[inline]
        #vis #asyncness fn #invalidate_fn #generics (&self, #key_params) -> bool #where_clause {
            #invalidate
        }

        /// The stored result of a call, without computing it.
        #[allow(dead_code, clippy::ptr_arg)]
        #[inline]
        #vis #asyncness fn #peek_fn #generics (&self, #key_params) -> ::core::option::Option<#peek_output> #where_clause {
            #peek
        }

        /// Computes a call and stores its result, whatever is stored.
        #[allow(dead_code)]
        #[inline]
        #vis #asyncness fn #refresh_fn #generics (#receiver, #(#typed_inputs),*) -> #output #where_clause {
            #refresh
        }

        /// What this method has done: hits, misses, waits, compute time.
        #[allow(dead_code)]
        #[inline]
        #vis fn #stats_fn() -> #p::FnStats {
            #p::stats_of(&#p::method_name::<Self>(#name_str))
        }
    }
}
