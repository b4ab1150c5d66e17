//! Names the macros derive from the user's: message variants from handler names, and the
//! method names a typed reference already has (a handler may not take them).

use proc_macro2::Span;
use syn::Ident;
use syn::ext::IdentExt;

/// `increment_by` → `IncrementBy`, `getX` → `GetX`, `r#type` → `Type`: the variant of a
/// handler.
pub(crate) fn variant_of(method: &Ident) -> Ident {
    Ident::new(&upper_camel(&method.unraw().to_string()), method.span())
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

/// The generated item `{Type}{suffix}` (`CounterMsg`, `AccountRef`), at the call site.
pub(crate) fn generated(type_name: &Ident, suffix: &str) -> Ident {
    Ident::new(&format!("{}{suffix}", type_name.unraw()), Span::call_site())
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
