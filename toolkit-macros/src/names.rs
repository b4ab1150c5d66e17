//! Names the macros derive from the user's: message variants from handler names, and the
//! method names a typed reference already has (a handler may not take them).

use syn::Ident;
use syn::ext::IdentExt;

/// `increment_by` → `IncrementBy`, `getX` → `GetX`, `r#type` → `Type`: the variant of a
/// handler, at the method's span; or, when that name is not an identifier (`__` gives nothing,
/// `_1x` gives `1x`, `self_` gives the keyword `Self`), why not.
pub(crate) fn variant_of(method: &Ident) -> Result<Ident, InvalidVariant> {
    let name = upper_camel(&method.unraw().to_string());
    if name.is_empty() {
        return Err(InvalidVariant::Empty);
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(InvalidVariant::Digit(name));
    }
    if name == "Self" {
        return Err(InvalidVariant::Keyword(name));
    }
    // The lexer decides what is an identifier (non-ASCII letters included); parsing reports
    // anything else as an error, never a panic, unlike `Ident::new`.
    match syn::parse_str::<Ident>(&name) {
        Ok(mut variant) => {
            variant.set_span(method.span());
            Ok(variant)
        }
        Err(_) => Err(InvalidVariant::NotAnIdentifier(name)),
    }
}

/// Why a handler's name gives no variant.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InvalidVariant {
    /// Only underscores: nothing is left.
    Empty,
    /// `_1x` → `1x`.
    Digit(String),
    /// `self_` → `Self`.
    Keyword(String),
    /// Any other string that is not an identifier.
    NotAnIdentifier(String),
}

impl InvalidVariant {
    /// What is wrong with the handler `method`, and how to fix it.
    pub(crate) fn explain(&self, method: &Ident) -> (String, String) {
        let method = method.unraw().to_string();
        let letters = method.trim_start_matches('_');
        match self {
            InvalidVariant::Empty => (
                format!(
                    "the handler `{method}` has no message variant: its variant is its name in \
                     UpperCamelCase without `_`, which leaves nothing"
                ),
                "rename the handler with a word in it, e.g. `run`".to_owned(),
            ),
            InvalidVariant::Digit(variant) => (
                format!(
                    "the handler `{method}` would become the message variant `{variant}`, which \
                     is not an identifier: it starts with a digit"
                ),
                format!("rename the handler so that a letter comes first, e.g. `step_{letters}`"),
            ),
            InvalidVariant::Keyword(variant) => (
                format!(
                    "the handler `{method}` would become the message variant `{variant}`, which \
                     is a keyword"
                ),
                format!("rename the handler, e.g. `{letters}info`"),
            ),
            InvalidVariant::NotAnIdentifier(variant) => (
                format!(
                    "the handler `{method}` would become the message variant `{variant}`, which \
                     is not an identifier"
                ),
                "rename the handler with ASCII letters, e.g. `run`".to_owned(),
            ),
        }
    }
}

fn upper_camel(name: &str) -> String {
    let mut camel = String::with_capacity(name.len());
    for word in name.split('_').filter(|word| !word.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            camel.extend(first.to_uppercase());
            camel.push_str(chars.as_str());
        }
    }
    camel
}

/// The generated item `{Type}{suffix}` (`CounterMsg`, `AccountRef`), at the call site: a span of
/// the user's would make lints see generated items as the user's code.
pub(crate) fn generated(type_name: &Ident, suffix: &str) -> Ident {
    Ident::new(
        &format!("{}{suffix}", type_name.unraw()),
        proc_macro2::Span::call_site(),
    )
}

/// Methods every `ActorRef` already answers to, as inherent methods or through traits it
/// implements: a handler of the same name would be shadowed by them, or be ambiguous at every
/// call.
const ACTOR_REF_METHODS: &[&str] = &[
    // inherent methods
    "tell",
    "ask",
    "path",
    "to_any",
    "is_terminated",
    // Clone, PartialEq, Eq, Hash, Debug, Display, ToString, ToOwned, Into, From, Any, Borrow
    "clone",
    "clone_from",
    "clone_into",
    "eq",
    "ne",
    "hash",
    "fmt",
    "to_string",
    "to_owned",
    "into",
    "try_into",
    "from",
    "try_from",
    "type_id",
    "borrow",
    "borrow_mut",
];

/// The inherent methods of sharding's `EntityRef` beyond those of `ActorRef`: an entity's ref
/// trait is implemented for both.
const ENTITY_REF_METHODS: &[&str] = &["entity_id", "region", "to_actor_ref"];

/// True if a handler named `method` would collide with a method of the references its ref
/// trait is implemented for (`ActorRef`, and for an entity also `EntityRef`).
pub(crate) fn is_ref_method(method: &Ident, entity: bool) -> bool {
    let name = method.unraw().to_string();
    ACTOR_REF_METHODS.contains(&name.as_str())
        || (entity && ENTITY_REF_METHODS.contains(&name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::upper_camel;

    #[test]
    fn snake_and_camel_case_handlers_become_upper_camel_variants() {
        assert_eq!(upper_camel("increment"), "Increment");
        assert_eq!(upper_camel("increment_by"), "IncrementBy");
        assert_eq!(upper_camel("getX"), "GetX");
        assert_eq!(upper_camel("do_it_"), "DoIt");
        assert_eq!(upper_camel("_private__name"), "PrivateName");
    }
}
