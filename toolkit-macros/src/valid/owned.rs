//! The types a message carries own their data: it travels to another thread and outlives the
//! caller's borrows.

use syn::visit::Visit;
use syn::{Lifetime, Type};

use crate::errors::Errors;

/// Where a type travels in a message.
#[derive(Clone, Copy)]
pub(super) enum Owned {
    Argument,
    Reply,
}

/// Types in messages own their data: no references, no lifetimes but `'static`, no
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

/// The first borrowed part of a type.
#[derive(Default)]
struct Borrowed<'a> {
    reference: Option<&'a syn::TypeReference>,
    lifetime: Option<&'a Lifetime>,
    impl_trait: Option<&'a syn::TypeImplTrait>,
}

impl<'a> Visit<'a> for Borrowed<'a> {
    fn visit_type_reference(&mut self, reference: &'a syn::TypeReference) {
        self.reference.get_or_insert(reference);
    }

    fn visit_lifetime(&mut self, lifetime: &'a Lifetime) {
        if lifetime.ident != "static" {
            self.lifetime.get_or_insert(lifetime);
        }
    }

    fn visit_type_impl_trait(&mut self, impl_trait: &'a syn::TypeImplTrait) {
        self.impl_trait.get_or_insert(impl_trait);
    }
}
