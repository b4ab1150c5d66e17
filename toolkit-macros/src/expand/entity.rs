//! `#[derive(Entity)]` and `#[entity]`: an event-sourced entity from its state struct and one
//! impl block of handlers.
//!
//! The two macros cannot see each other's input. The derive records the struct's settings in a
//! hidden `EntitySettings` impl (type key, event type, snapshots), and vouches that its event
//! type is the entity's (`EventOf`); the impl block's expansion reads them back through the
//! trait, so a mismatch between the two is a type error at the user's event type.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, DeriveInput, ImplItem, Item, ItemImpl, ReturnType, Stmt, Type};

use super::{Protocol, impl_block, item_name_or_item};
use crate::ast::{EntityImpl, EntityStruct, Output, effect_type};
use crate::errors::Errors;
use crate::{attr, names, valid};

/// `#[derive(Entity)]`.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let attrs = attr::entity_attrs(&input.attrs, &mut errors);
    let entity = EntityStruct { input, attrs };
    valid::entity_struct(&entity, &mut errors);
    if !errors.is_empty() {
        return errors.into_compile_errors();
    }
    let name = &input.ident;
    let attrs = &entity.attrs;
    let type_key = attrs.type_key.as_ref().expect("valid: a type key");
    let event = attrs.event.as_ref().expect("valid: an event type");
    let snapshots = match &attrs.snapshot_every {
        Some(every) => {
            let every = every.value;
            let keep = attrs.keep_snapshots.as_ref().map_or(2, |keep| keep.value);
            let delete = attrs
                .delete_events_on_snapshot
                .as_ref()
                .is_some_and(|delete| delete.value);
            quote! {
                ::reactant::__private::Snapshots {
                    every: ::core::option::Option::Some(#every),
                    keep: #keep,
                    delete_events: #delete,
                }
            }
        }
        None => quote!(::reactant::__private::Snapshots::NONE),
    };
    let codec = attrs.codec.as_ref().map(|codec| {
        quote! {
            fn codec<__ReactantCommand: ::core::marker::Send + 'static>(
                __reactant_behavior: ::reactant::persistence::EventSourcedBehavior<
                    __ReactantCommand,
                    #event,
                    Self,
                >,
            ) -> ::reactant::persistence::EventSourcedBehavior<__ReactantCommand, #event, Self> {
                __reactant_behavior.codec(#codec)
            }
        }
    });
    let event_span = event.span();
    let event_type = quote_spanned!(event_span=> type Event = #event;);
    quote! {
        #[automatically_derived]
        impl ::reactant::__private::EntitySettings for #name {
            const TYPE_KEY: &'static str = #type_key;
            #event_type
            const SNAPSHOTS: ::reactant::__private::Snapshots = #snapshots;
            #codec
        }

        #[automatically_derived]
        impl ::reactant::__private::EventOf<#name> for #event {
            #[inline]
            fn from_entity_event(__reactant_event: &Self) -> &Self {
                __reactant_event
            }

            #[inline]
            fn into_entity_effect(
                __reactant_effect: ::reactant::persistence::Effect<Self, #name>,
            ) -> ::reactant::persistence::Effect<Self, #name> {
                __reactant_effect
            }
        }
    }
}

/// `#[entity]` on an impl block.
pub(crate) fn attribute(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::entity_impl_args(args, &mut errors);
    let item = match impl_block(input, &mut errors, |other, errors| match other {
        Item::Struct(item) => errors.at(
            &item.ident,
            "on a struct, `#[entity(..)]` holds the arguments of `#[derive(Entity)]`, which \
             is missing or comes after it",
            "put `#[derive(Entity)]` above `#[entity(..)]`",
        ),
        other => errors.at(
            item_name_or_item(other),
            "`#[entity]` goes on the impl block of an entity, whose public methods become \
             its commands",
            "write `#[entity] impl Account { fn apply(&mut self, event: &AccountEvent) { .. } \
             pub fn command(&self, ..) -> Effect<AccountEvent, Reply> { .. } }`",
        ),
    }) {
        Ok(item) => item,
        Err(expansion) => return expansion,
    };
    let entity = EntityImpl::new(args, &item);
    valid::entity_impl(&entity, &mut errors);
    let rewritten = with_effect_types(&item);
    if !errors.is_empty() {
        let errors = errors.into_compile_errors();
        return quote!(#rewritten #errors);
    }
    expand(&entity, rewritten)
}

fn expand(entity: &EntityImpl, rewritten: ItemImpl) -> TokenStream {
    let block = &entity.block;
    let type_name = block
        .type_name
        .expect("valid: the impl block's type has a name");
    let protocol = Protocol {
        block,
        handlers: &entity.commands,
        enum_name: entity
            .args
            .command
            .clone()
            .unwrap_or_else(|| names::generated(type_name, "Command")),
        trait_name: entity
            .args
            .ref_trait
            .clone()
            .unwrap_or_else(|| names::generated(type_name, "Ref")),
        noun: "commands",
        // An entity spawned directly, and one of a sharded region.
        targets: vec![
            quote!(::reactant::actor::ActorRef),
            quote!(::reactant::sharding::EntityRef),
        ],
    };
    let self_ty = &block.item.self_ty;
    // Everything that needs `#[derive(Entity)]`'s settings points at the type, so that a
    // missing derive is one error there.
    let settings = quote_spanned!(self_ty.span()=> <Self as ::reactant::__private::EntitySettings>);
    let event_ty =
        quote_spanned!(self_ty.span()=> <Self as ::reactant::persistence::Entity>::Event);
    let command = &protocol.enum_name;
    let apply = entity.apply.expect("valid: an apply method");
    let apply_event = apply
        .args()
        .next()
        .map(|arg| match &*arg.ty {
            Type::Reference(reference) => (*reference.elem).clone(),
            other => other.clone(),
        })
        .expect("valid: apply takes the event");
    let from_entity_event = quote_spanned!(apply_event.span()=>
        <#apply_event as ::reactant::__private::EventOf<Self>>::from_entity_event
    );
    let arms = entity.commands.iter().map(|command| {
        let (pattern, bindings) = protocol.pattern(command);
        let method = command.method.name;
        let call = quote!(Self::#method(self, #(#bindings),*));
        let body = match &command.output {
            Output::Unit => quote!({
                #call;
                ::reactant::persistence::Effect::none()
            }),
            Output::Value(_) => quote!({
                ::reactant::actor::ActorRef::tell(&__reactant_reply_to, #call);
                ::reactant::persistence::Effect::none()
            }),
            Output::Effect(effect) => {
                let event = effect.event().expect("valid: an event type");
                let into_entity_effect = quote_spanned!(event.span()=>
                    <#event as ::reactant::__private::EventOf<Self>>::into_entity_effect
                );
                match effect.reply() {
                    None => quote!(#into_entity_effect(#call)),
                    Some(_) => quote!(#into_entity_effect(
                        ::reactant::persistence::Effect::with_reply_to(#call, __reactant_reply_to)
                    )),
                }
            }
        };
        quote!(#pattern => #body,)
    });
    let entity_impl = quote_spanned! {self_ty.span()=>
        #[automatically_derived]
        impl ::reactant::persistence::Entity for #self_ty {
            const TYPE_KEY: &'static str = #settings::TYPE_KEY;
            type Event = #settings::Event;
            type Command = #command;

            fn apply(&mut self, __reactant_event: &#event_ty) {
                Self::apply(self, #from_entity_event(__reactant_event))
            }

            fn handle_command(
                &self,
                __reactant_command: #command,
            ) -> ::reactant::persistence::Effect<#event_ty, Self> {
                match __reactant_command {
                    #(#arms)*
                }
            }

            fn configure(
                __reactant_behavior: ::reactant::persistence::EventSourcedBehavior<#command, #event_ty, Self>,
            ) -> ::reactant::persistence::EventSourcedBehavior<#command, #event_ty, Self> {
                #settings::codec(#settings::SNAPSHOTS.apply(__reactant_behavior))
            }
        }
    };
    let command_enum = protocol.message_enum();
    let ref_trait = protocol.ref_trait();
    quote! {
        #rewritten

        #command_enum

        #entity_impl

        #ref_trait
    }
}

/// The impl block with each `Effect<Event, Reply>` return type spelt out in full
/// (`::reactant::persistence::Effect<Event, Account, Reply>`), and a local alias at the top of
/// those methods, so that `Effect::persist(..)` in the body knows the state type.
fn with_effect_types(item: &ItemImpl) -> ItemImpl {
    let mut item = item.clone();
    let self_ty = (*item.self_ty).clone();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let ReturnType::Type(_, ty) = &mut method.sig.output else {
            continue;
        };
        let Some(effect) = effect_type(ty) else {
            continue;
        };
        let (event, reply) = match effect.args.as_slice() {
            [syn::GenericArgument::Type(event)] => (event.clone(), None),
            [
                syn::GenericArgument::Type(event),
                syn::GenericArgument::Type(reply),
            ] => (event.clone(), Some(reply.clone())),
            _ => continue,
        };
        let span = effect.ty.span();
        let reply = reply.map_or_else(|| quote_spanned!(span=> ()), |reply| quote!(#reply));
        **ty = syn::parse_quote_spanned!(span=>
            ::reactant::persistence::Effect<#event, Self, #reply>
        );
        prepend_alias(&mut method.block, &self_ty, span);
    }
    item
}

/// `type Effect<E, R = ()> = ::reactant::persistence::Effect<E, Account, R>;` at the top of a
/// command handler's body. A local item cannot name `Self`, hence the type itself.
fn prepend_alias(block: &mut Block, self_ty: &Type, span: Span) {
    let alias: Stmt = syn::parse_quote_spanned!(span=>
        #[allow(dead_code)]
        type Effect<E, R = ()> = ::reactant::persistence::Effect<E, #self_ty, R>;
    );
    block.stmts.insert(0, alias);
}
