//! Durations in attributes: whole seconds (`ttl = 600`) or a humantime string
//! (`ttl = "250ms"`, `"10m"`, `"1h 30m"`), parsed here, at compile time.

use std::time::Duration;

use syn::{Expr, ExprLit, Lit};

/// A duration given as `name = …`, greater than zero, or an error naming the option and what is
/// valid.
pub(crate) fn parse(name: &str, value: &Expr) -> syn::Result<Duration> {
    let duration = parse_zero_allowed(name, value)?;
    if duration.is_zero() {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{name}` must be greater than zero"),
        ));
    }
    Ok(duration)
}

/// A duration given as `name = …`, zero included (`wait = 0`: do not wait).
pub(crate) fn parse_zero_allowed(name: &str, value: &Expr) -> syn::Result<Duration> {
    let valid = format!(
        "`{name}` takes whole seconds (`{name} = 600`) or a duration string \
         (`{name} = \"250ms\"`, `\"10m\"`, `\"1h 30m\"`)"
    );
    let duration = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => Duration::from_secs(int.base10_parse::<u64>()?),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => humantime::parse_duration(&text.value()).map_err(|error| {
            syn::Error::new(
                text.span(),
                format!("`{name} = {:?}`: {error}; {valid}", text.value()),
            )
        })?,
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => {
            return Err(syn::Error::new(
                float.span(),
                format!("`{name} = {float}` is not whole seconds; {valid}"),
            ))
        }
        other => return Err(syn::Error::new_spanned(other, valid)),
    };
    Ok(duration)
}

/// Whole nanoseconds, as the expansion writes a `Duration` (saturating).
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
