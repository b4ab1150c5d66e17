//! The types a message carries own their data: it travels to another thread and outlives the
//! caller's borrows. So do events, which are stored and read back.
//!
//! What "owns its data" means here: no reference but `&'static`, no lifetime but `'static`, no
//! `impl Trait`. Function types are owned whatever they borrow when called: the `&str` of
//! `fn(&str) -> bool` or of `Box<dyn Fn(&str) -> bool + Send>` (and the lifetimes of a
//! `for<'a>`) belong to each call, not to the value. A `&'static str` is accepted: it is
//! `'static` and `Send`, like a string literal.

use syn::visit::Visit;
use syn::{Lifetime, Type};

use crate::errors::Errors;

/// Where a type travels in a message.
#[derive(Clone, Copy)]
pub(super) enum Owned {
    Argument,
    Reply,
}

/// Types in messages own their data: no references or lifetimes but `'static`, no
/// `impl Trait`.
pub(super) fn owned(ty: &Type, place: Owned, errors: &mut Errors) {
    let mut finder = Borrowed::default();
    finder.visit_type(ty);
    let (what, travels) = match place {
        Owned::Argument => (
            "a handler argument",
            "it travels in a message to the actor's thread",
        ),
        Owned::Reply => ("a reply", "it is sent back as a message"),
    };
    if let Some(reference) = finder.reference {
        let borrowed = quote::quote!(#reference).to_string();
        let owned = owned_alternative(&reference.elem);
        errors.at(
            reference,
            format!(
                "{what} cannot borrow (`{}`): {travels}, so it must own its data",
                tidy(&borrowed)
            ),
            format!("use `{owned}` instead"),
        );
    } else if let Some(lifetime) = finder.lifetime {
        errors.at(
            lifetime,
            format!(
                "{what} cannot hold a lifetime (`{lifetime}`): {travels}, so it must own its data"
            ),
            "use an owned type (`String`, `Vec<T>`, `Arc<T>`)",
        );
    } else if let Some(impl_trait) = finder.impl_trait {
        errors.at(
            impl_trait,
            format!("{what} cannot be `impl Trait`: it is a field of the message enum, which needs a concrete type"),
            "use a concrete type, or `Box<dyn Trait + Send>`",
        );
    }
}

/// The owned type to suggest for `&T`.
fn owned_alternative(elem: &Type) -> String {
    match elem {
        Type::Path(path) if path.path.is_ident("str") => "String".to_owned(),
        Type::Path(path) if path.path.is_ident("Path") => "PathBuf".to_owned(),
        Type::Slice(slice) => {
            let elem = &slice.elem;
            format!("Vec<{}>", tidy(&quote::quote!(#elem).to_string()))
        }
        other => tidy(&quote::quote!(#other).to_string()),
    }
}

/// `Vec < u8 >` → `Vec<u8>`: types as a person writes them.
fn tidy(tokens: &str) -> String {
    tokens
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace(" :: ", "::")
        .replace(":: ", "::")
}

/// An event is stored and read back: it has no lifetime parameters, and its fields own their
/// data (not even `&'static str`, which cannot be read back from storage). Returns whether it
/// borrows (then no `Event` impl could compile). A lifetime parameter is the one error of a
/// borrowing event; the fields that use it are not reported again.
pub(crate) fn event_owns_its_data(input: &syn::DeriveInput, errors: &mut Errors) -> bool {
    let mut borrows = false;
    for lifetime in input.generics.lifetimes() {
        borrows = true;
        errors.at(
            &lifetime.lifetime,
            "an event cannot borrow: it is stored in the journal and read back long after the \
             borrowed data is gone",
            format!(
                "remove `{}` and own the data (`String`, not `&{} str`)",
                lifetime.lifetime, lifetime.lifetime
            ),
        );
    }
    if borrows {
        return true;
    }
    let fields: Vec<&syn::Field> = match &input.data {
        syn::Data::Struct(data) => data.fields.iter().collect(),
        syn::Data::Enum(data) => data.variants.iter().flat_map(|v| &v.fields).collect(),
        syn::Data::Union(_) => Vec::new(),
    };
    for field in fields {
        let mut finder = Borrowed {
            static_references: false,
            ..Borrowed::default()
        };
        finder.visit_type(&field.ty);
        borrows |= finder.reference.is_some() || finder.lifetime.is_some();
        if let Some(reference) = finder.reference {
            let owned = owned_alternative(&reference.elem);
            errors.at(
                reference,
                format!(
                    "an event cannot borrow (`{}`): it is stored in the journal and read back \
                     as owned data",
                    tidy(&quote::quote!(#reference).to_string())
                ),
                format!("use `{owned}` instead"),
            );
        } else if let Some(lifetime) = finder.lifetime {
            errors.at(
                lifetime,
                format!(
                    "an event cannot hold a lifetime (`{lifetime}`): it is stored in the journal \
                     and read back as owned data"
                ),
                "use an owned type (`String`, `Vec<T>`)",
            );
        }
    }
    borrows
}

/// The first borrowed part of a type.
struct Borrowed<'a> {
    reference: Option<&'a syn::TypeReference>,
    lifetime: Option<&'a Lifetime>,
    impl_trait: Option<&'a syn::TypeImplTrait>,
    /// Whether `&'static T` counts as owned (in messages, not in events).
    static_references: bool,
    /// The lifetimes a `for<..>` binds around the part being visited.
    bound: Vec<&'a syn::Ident>,
}

impl Default for Borrowed<'_> {
    fn default() -> Self {
        Self {
            reference: None,
            lifetime: None,
            impl_trait: None,
            static_references: true,
            bound: Vec::new(),
        }
    }
}

impl<'a> Visit<'a> for Borrowed<'a> {
    fn visit_type_reference(&mut self, reference: &'a syn::TypeReference) {
        let is_static = reference
            .lifetime
            .as_ref()
            .is_some_and(|lifetime| lifetime.ident == "static");
        if is_static && self.static_references {
            self.visit_type(&reference.elem);
        } else {
            self.reference.get_or_insert(reference);
        }
    }

    fn visit_lifetime(&mut self, lifetime: &'a Lifetime) {
        if lifetime.ident != "static" && !self.bound.contains(&&lifetime.ident) {
            self.lifetime.get_or_insert(lifetime);
        }
    }

    /// `fn(&str) -> bool`: its borrows are its calls'.
    fn visit_type_fn_ptr(&mut self, _function: &'a syn::TypeFnPtr) {}

    /// `Fn(&str) -> bool` in a bound: the same.
    fn visit_parenthesized_generic_arguments(
        &mut self,
        _arguments: &'a syn::ParenthesizedGenericArguments,
    ) {
    }

    /// `for<'a> Trait<'a>`: `'a` is bound here.
    fn visit_trait_bound(&mut self, bound: &'a syn::TraitBound) {
        let binder: Vec<&'a syn::Ident> = bound
            .lifetimes
            .iter()
            .flat_map(|binder| binder.lifetimes.iter())
            .filter_map(|param| match param {
                syn::GenericParam::Lifetime(param) => Some(&param.lifetime.ident),
                _ => None,
            })
            .collect();
        let depth = self.bound.len();
        self.bound.extend(binder);
        self.visit_path(&bound.path);
        self.bound.truncate(depth);
    }

    fn visit_type_impl_trait(&mut self, impl_trait: &'a syn::TypeImplTrait) {
        self.impl_trait.get_or_insert(impl_trait);
    }
}
