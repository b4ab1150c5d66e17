//! Errors collected over a whole macro input and reported together, each at the user's span.
//!
//! Every stage pushes what it finds wrong and carries on, so that one compile shows every
//! misuse at once; expansion runs only when nothing was found.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// The errors found so far.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// Adds an error (which may itself hold several).
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Adds an error at the span of `tokens`: what is wrong, then how to fix it.
    pub(crate) fn at(&mut self, tokens: impl ToTokens, problem: impl Display, fix: impl Display) {
        self.push(error(tokens, problem, fix));
    }

    /// Adds an error at `span`: what is wrong, then how to fix it.
    pub(crate) fn at_span(&mut self, span: Span, problem: impl Display, fix: impl Display) {
        self.push(syn::Error::new(span, message(problem, fix)));
    }

    /// Keeps the value of `result`, or adds its error.
    pub(crate) fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// The errors as `compile_error!` invocations (nothing if there are none).
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.combined
            .map(|error| error.into_compile_error())
            .unwrap_or_default()
    }
}

/// An error at the span of `tokens`: what is wrong, then how to fix it.
pub(crate) fn error(tokens: impl ToTokens, problem: impl Display, fix: impl Display) -> syn::Error {
    syn::Error::new_spanned(tokens, message(problem, fix))
}

/// One error message: the problem on the first line, the fix on a `help:` line below it.
fn message(problem: impl Display, fix: impl Display) -> String {
    format!("{problem}\nhelp: {fix}")
}
