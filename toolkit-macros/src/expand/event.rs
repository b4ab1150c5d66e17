//! `#[derive(Event)]`: a type's manifest (a stable name and its schema version), tags, and the
//! upcaster hook.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::EventType;
use crate::attr::EventAttrs;
use crate::errors::Errors;
use crate::{attr, valid};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let attrs = attr::event_attrs(&input.attrs, &mut errors);
    let event = EventType { input, attrs };
    let borrows = valid::event(&event, &mut errors);
    if errors.is_empty() {
        event_impl(input, &event.attrs, true)
    } else if !borrows {
        // The error, and the impl with defaults for what may be wrong (serde's and thiserror's
        // fallback): every use of the type as an event then compiles, and one mistake gives one
        // error.
        let fallback = event_impl(input, &event.attrs, false);
        let errors = errors.into_compile_errors();
        quote!(#errors #fallback)
    } else {
        // A borrowing event has no impl that could compile.
        errors.into_compile_errors()
    }
}

/// The `Event` impl. With `valid` false (the attribute had errors), the manifest is the default
/// one (the type's name, version 1), without tags or upcaster.
fn event_impl(input: &DeriveInput, attrs: &EventAttrs, valid: bool) -> TokenStream {
    let ident = &input.ident;
    let name = match (&attrs.name, valid) {
        (Some(name), true) => name.value(),
        _ => syn::ext::IdentExt::unraw(ident).to_string(),
    };
    let version = match (&attrs.version, valid) {
        (Some(version), true) => version.value,
        _ => 1,
    };
    let attrs = &EventAttrs {
        tags: if valid {
            attrs.tags.clone()
        } else {
            Vec::new()
        },
        upcast: attrs.upcast.clone().filter(|_| valid),
        ..EventAttrs::default()
    };
    let tags = (!attrs.tags.is_empty()).then(|| {
        let tags = &attrs.tags;
        quote! {
            fn tags(&self) -> ::std::vec::Vec<::std::string::String> {
                ::std::vec![#(::std::string::String::from(#tags)),*]
            }
        }
    });
    let upcast = attrs.upcast.as_ref().map(|upcast| {
        quote! {
            fn upcast<__ReactantCodec: ::reactant::persistence::Codec>(
                __reactant_codec: &__ReactantCodec,
                __reactant_manifest: &::reactant::persistence::Manifest,
                __reactant_payload: &[u8],
            ) -> ::core::result::Result<Self, ::reactant::persistence::CodecError> {
                if &*__reactant_manifest.type_name == #name && __reactant_manifest.version == #version {
                    ::reactant::persistence::Codec::decode(
                        __reactant_codec,
                        __reactant_manifest,
                        __reactant_payload,
                    )
                } else {
                    #upcast(__reactant_codec, __reactant_manifest, __reactant_payload)
                }
            }
        }
    });
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // A generic event is an event for the parameters that make it storable (its serde
    // derives decide which).
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|clause| clause.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    if !input.generics.params.is_empty() {
        predicates.push(quote!(#ident #ty_generics: ::reactant::__private::Storable));
    }
    let where_clause = (!predicates.is_empty()).then(|| quote!(where #(#predicates),*));
    quote! {
        #[automatically_derived]
        impl #impl_generics ::reactant::persistence::Event for #ident #ty_generics #where_clause {
            fn manifest() -> ::reactant::persistence::Manifest {
                ::reactant::persistence::Manifest::new(#name, #version)
            }

            #tags
            #upcast
        }
    }
}
