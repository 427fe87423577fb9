//! What an attribute needs to know about the function it is on.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, Receiver, ReturnType, Signature, Type};

use super::errors::Errors;

/// A named parameter.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

impl Param {
    /// The type a companion takes it as: `&T` for an owned `T`, a reference as it is.
    pub(crate) fn borrowed_ty(&self) -> proc_macro2::TokenStream {
        let ty = &self.ty;
        match ty {
            Type::Reference(_) => quote::quote!(#ty),
            _ => quote::quote!(&#ty),
        }
    }
}

/// What the function returns, by the last segment of its return type's path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Plain,
    Option,
    Result,
}

pub(crate) struct FnInfo<'a> {
    pub(crate) receiver: Option<&'a Receiver>,
    pub(crate) params: Vec<Param>,
    pub(crate) output: Type,
    pub(crate) shape: Shape,
}

impl<'a> FnInfo<'a> {
    /// Reads the signature; parameters that are patterns rather than names are reported.
    pub(crate) fn read(sig: &'a Signature, errors: &mut Errors) -> Self {
        let mut receiver = None;
        let mut params = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(recv) => receiver = Some(recv),
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        params.push(Param {
                            ident: pat.ident.clone(),
                            ty: (*typed.ty).clone(),
                        })
                    }
                    other => errors.on(
                        other,
                        "parameters must be plain names (`id: u64`), \
                         not patterns: bind the value to a name",
                    ),
                },
            }
        }
        let output = match &sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let shape = shape_of(&output);
        FnInfo {
            receiver,
            params,
            output,
            shape,
        }
    }

    pub(crate) fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|param| param.ident == name)
    }

    pub(crate) fn output_span(&self) -> Span {
        self.output.span()
    }

    /// Reports, on the return type, a function that does not return `Result`: `#[attribute]`
    /// returns its own failure (`error`, converted with `From`) as `Err`.
    pub(crate) fn require_result(
        &self,
        attribute: &str,
        error: &str,
        when: &str,
        errors: &mut Errors,
    ) {
        if self.shape != Shape::Result {
            errors.at(
                self.output_span(),
                format_args!(
                    "`#[{attribute}]` needs a function returning `Result<T, E>` with \
                     `E: From<cache_runtime::{error}>`: {when} returns `Err`"
                ),
            );
        }
    }
}

fn shape_of(ty: &Type) -> Shape {
    let Type::Path(path) = ty else {
        return Shape::Plain;
    };
    match path.path.segments.last() {
        Some(last) if last.ident == "Option" => Shape::Option,
        Some(last) if last.ident == "Result" => Shape::Result,
        _ => Shape::Plain,
    }
}

/// The tokens of `ty` as one string with no layout: stable across compilers and formatters.
pub(crate) fn type_name(ty: &Type) -> String {
    let mut out = String::new();
    write_tokens(quote::quote!(#ty), &mut out);
    out
}

fn write_tokens(tokens: proc_macro2::TokenStream, out: &mut String) {
    use proc_macro2::{Delimiter, TokenTree};
    for token in tokens {
        match token {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_tokens(group.stream(), out);
                out.push_str(close);
            }
            TokenTree::Ident(ident) => {
                if out.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    out.push(' ');
                }
                out.push_str(&ident.to_string());
            }
            TokenTree::Punct(punct) => out.push(punct.as_char()),
            TokenTree::Literal(literal) => out.push_str(&literal.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn type_names_ignore_layout() {
        let a: syn::Type = syn::parse_quote!(Result<Vec<User>, DbError>);
        let b: syn::Type = syn::parse_str("Result < Vec<User> ,DbError >").unwrap();
        assert_eq!(super::type_name(&a), "Result<Vec<User>,DbError>");
        assert_eq!(super::type_name(&a), super::type_name(&b));
        let c: syn::Type = syn::parse_quote!(&'static dyn Send);
        assert_eq!(super::type_name(&c), "&'static dyn Send");
    }
}
