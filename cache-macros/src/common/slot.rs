//! One option's value with the span it was written at; a second write is reported as a
//! duplicate, so no option needs its own `is_some()` check.

use proc_macro2::Span;

use super::errors::Errors;

pub(crate) struct Slot<T> {
    name: &'static str,
    value: Option<(T, Span)>,
}

impl<T> Slot<T> {
    pub(crate) fn new(name: &'static str) -> Self {
        Slot { name, value: None }
    }

    pub(crate) fn set(&mut self, errors: &mut Errors, span: Span, value: T) {
        if self.value.is_some() {
            errors.at(
                span,
                format_args!("duplicate `{}`: give it once", self.name),
            );
        } else {
            self.value = Some((value, span));
        }
    }

    pub(crate) fn get(&self) -> Option<&(T, Span)> {
        self.value.as_ref()
    }

    pub(crate) fn take(self) -> Option<(T, Span)> {
        self.value
    }

    pub(crate) fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(_, span)| *span)
    }
}

/// An option that may stand alone (`early_expiry`) or take a value (`early_expiry = 2.0`):
/// alone it means the runtime's default, which the expansion names (`DEFAULT_BETA`) rather
/// than copies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum OrDefault<T> {
    Default,
    Given(T),
}

/// A flag such as `cache_none`: present or not.
pub(crate) type Flag = Slot<()>;
