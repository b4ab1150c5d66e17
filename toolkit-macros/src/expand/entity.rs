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

use super::{
    Protocol, ReplyOf, entity_context_argument, impl_block, item_name_or_item, not_an_effect,
};
use crate::ast::{EntityImpl, EntityStruct, Output, effect_type};
use crate::attr::EntityAttrs;
use crate::errors::Errors;
use crate::{attr, names, valid};

/// `#[derive(Entity)]`. After an error it still expands, with what it could read and
/// defaults for the rest (serde's and thiserror's fallback), so that the impl block's `#[entity]`
/// finds its settings and one mistake gives one error.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let attrs = attr::entity_attrs(&input.attrs, &mut errors);
    let entity = EntityStruct { input, attrs };
    valid::entity_struct(&entity, &mut errors);
    if errors.is_empty() {
        settings(&input.ident, &entity.attrs, true)
    } else if input.generics.params.is_empty() {
        let fallback = settings(&input.ident, &entity.attrs, false);
        let errors = errors.into_compile_errors();
        quote!(#errors #fallback)
    } else {
        // A generic entity is an error of its own; no impl would fit the type.
        errors.into_compile_errors()
    }
}

/// The `EntitySettings` and `EventOf` impls of an entity. With `valid` false (the attribute had
/// errors), each setting that may be wrong takes its default: the type's name for the type key,
/// no snapshots, the default codec, and, without an event type, `EventOf` for every type.
fn settings(name: &syn::Ident, attrs: &EntityAttrs, valid: bool) -> TokenStream {
    let type_key = match (&attrs.type_key, valid) {
        (Some(type_key), true) => quote!(#type_key),
        _ => {
            let name = name.to_string();
            quote!(#name)
        }
    };
    let snapshots = match (&attrs.snapshot_every, valid) {
        (Some(every), true) => {
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
        _ => quote!(::reactant::__private::Snapshots::NONE),
    };
    let slices = match (&attrs.slices, valid) {
        (Some(slices), true) => {
            let slices = slices.value;
            quote!(const SLICES: u32 = #slices;)
        }
        _ => quote!(),
    };
    let event = attrs.event.as_ref();
    let event_ty = event.map_or_else(|| quote!(::reactant::__private::NoEvent), |e| quote!(#e));
    let codec = attrs.codec.as_ref().filter(|_| valid).map(|codec| {
        quote! {
            fn codec<__ReactantCommand: ::core::marker::Send + 'static>(
                __reactant_behavior: ::reactant::persistence::EventSourcedBehavior<
                    __ReactantCommand,
                    #event_ty,
                    Self,
                >,
            ) -> ::reactant::persistence::EventSourcedBehavior<__ReactantCommand, #event_ty, Self> {
                __reactant_behavior.with_codec(#codec)
            }
        }
    });
    let event_type = match event {
        Some(event) => quote_spanned!(event.span()=> type Event = #event;),
        None => quote!(
            type Event = ::reactant::__private::NoEvent;
        ),
    };
    let event_of = match event {
        Some(event) => quote! {
            #[automatically_derived]
            impl ::reactant::__private::EventOf<#event> for #name {
                #[inline]
                fn from_entity_event(__reactant_event: &#event) -> &#event {
                    __reactant_event
                }

                #[inline]
                fn into_entity_effect(
                    __reactant_effect: ::reactant::persistence::Effect<#event, Self>,
                ) -> ::reactant::persistence::Effect<#event, Self> {
                    __reactant_effect
                }
            }
        },
        // Only after an error: the event type is unknown, so any type goes.
        None => quote! {
            #[automatically_derived]
            impl<__ReactantEvent> ::reactant::__private::EventOf<__ReactantEvent> for #name {
                fn from_entity_event(
                    __reactant_event: &::reactant::__private::NoEvent,
                ) -> &__ReactantEvent {
                    match *__reactant_event {}
                }

                fn into_entity_effect(
                    _: ::reactant::persistence::Effect<__ReactantEvent, Self>,
                ) -> ::reactant::persistence::Effect<::reactant::__private::NoEvent, Self> {
                    ::reactant::persistence::Effect::none()
                }
            }
        },
    };
    quote! {
        #[automatically_derived]
        impl ::reactant::__private::EntitySettings for #name {
            const TYPE_KEY: &'static str = #type_key;
            #event_type
            const SNAPSHOTS: ::reactant::__private::Snapshots = #snapshots;
            #slices
            type This = Self;
            #codec
        }

        #event_of
    }
}

/// `#[entity]` on an impl block.
pub(crate) fn attribute(args: TokenStream, input: TokenStream) -> TokenStream {
    if let Ok(Item::Struct(item)) = syn::parse2::<Item>(input.clone()) {
        return on_struct(args, &item);
    }
    let mut errors = Errors::default();
    let args = attr::entity_impl_args(args, &mut errors);
    let item = match impl_block(input, &mut errors, |other, errors| {
        errors.at(
            item_name_or_item(other),
            "`#[entity]` goes on the impl block of an entity, whose public methods become \
             its commands",
            "write `#[entity] impl Account { fn apply(&mut self, event: &AccountEvent) { .. } \
             pub fn command(&self, ..) -> Effect<AccountEvent, Reply> { .. } }`",
        );
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

/// `#[entity(type_key = .., event = ..)]` on a struct without `#[derive(Entity)]` above it:
/// the attribute macro got the derive's arguments. One error, at the struct's name; then the
/// settings the derive would have written (with defaults for what may be wrong), so that the
/// impl block's `#[entity]` adds no errors. A derive below the attribute is taken out: it would
/// see no arguments, and report the same mistake again.
fn on_struct(args: TokenStream, item: &syn::ItemStruct) -> TokenStream {
    let mut item = item.clone();
    let mut derived_below = false;
    for attr in &mut item.attrs {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(paths) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        let is_entity =
            |path: &syn::Path| path.segments.last().is_some_and(|s| s.ident == "Entity");
        if paths.iter().any(is_entity) {
            derived_below = true;
            let others = paths.iter().filter(|path| !is_entity(path));
            *attr = syn::parse_quote!(#[derive(#(#others),*)]);
        }
    }
    let name = &item.ident;
    let error = if derived_below {
        crate::errors::error(
            name,
            "`#[entity(..)]` comes above `#[derive(Entity)]`, which reads it only from below",
            "put `#[derive(Entity)]` above `#[entity(..)]`",
        )
    } else {
        crate::errors::error(
            name,
            format!(
                "`#[entity(..)]` on a struct holds the arguments of `#[derive(Entity)]`, which \
                 `{name}` does not derive"
            ),
            "add `Entity` to the struct's derives, above `#[entity(..)]`: `#[derive(Entity)]`",
        )
    }
    .into_compile_error();
    // The arguments' own errors would be a second report of the same mistake.
    let mut ignored = Errors::default();
    let attrs = attr::entity_attrs_of(args, &mut ignored);
    let fallback = if item.generics.params.is_empty() {
        settings(name, &attrs, false)
    } else {
        TokenStream::new()
    };
    quote!(#item #error #fallback)
}

fn expand(entity: &EntityImpl, rewritten: ItemImpl) -> TokenStream {
    let block = &entity.block;
    let Some(type_name) = block.type_name else {
        // `valid` has reported it.
        return quote!(#rewritten);
    };
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
    let Some(apply_event) = entity.apply.and_then(|apply| {
        apply.args().next().map(|arg| match &*arg.ty {
            Type::Reference(reference) => (*reference.elem).clone(),
            other => other.clone(),
        })
    }) else {
        // `valid` has reported it.
        return quote!(#rewritten);
    };
    // The entity through its settings (`EntitySettings::This`): without `#[derive(Entity)]`
    // that fails at the type, once, and the `EventOf` checks at the user's event types are not
    // reported on top of it.
    let settings_of_self = quote_spanned!(self_ty.span()=>
        Self as ::reactant::__private::EntitySettings
    );
    // The outer tokens at the user's event type (each use below), where a wrong event type is
    // reported.
    let this = |at: Span| quote_spanned!(at=> <#settings_of_self>::This);
    let this_apply = this(apply_event.span());
    let from_entity_event = quote_spanned!(apply_event.span()=>
        <#this_apply as ::reactant::__private::EventOf<#apply_event>>::from_entity_event
    );
    let command_name = &protocol.enum_name;
    let reply_binding = super::reply_binding();
    let arms = entity.commands.iter().map(|command| {
        let (pattern, bindings) = protocol.pattern(command);
        let method = command.method.name;
        let call = if let Some(ctx) = command.context {
            let ctx = entity_context_argument(ctx, command_name);
            quote!(Self::#method(self, #ctx, #(#bindings),*))
        } else {
            quote!(Self::#method(self, #(#bindings),*))
        };
        let body = match &command.output {
            Output::Unit => quote!({
                #call;
                ::reactant::persistence::Effect::none()
            }),
            Output::Value(reply) => {
                let check = not_an_effect(reply, ReplyOf::EntityQuery);
                quote!({
                    #check
                    ::reactant::actor::ActorRef::tell(&#reply_binding, #call);
                    ::reactant::persistence::Effect::none()
                })
            }
            Output::Effect(effect) => {
                let into_entity_effect = effect.event().map(|event| {
                    let this = this(event.span());
                    quote_spanned!(event.span()=>
                        <#this as ::reactant::__private::EventOf<#event>>::into_entity_effect
                    )
                });
                let mut reactant_effect = reactant_effect(&effect.constructor);
                // The full form's state is the entity (the return type says `Self` once
                // rewritten): checked by type, at the user's state.
                if let Some(state) = effect.state() {
                    reactant_effect.extend(quote_spanned!(state.span()=>
                        ::reactant::__private::entity_state::<#state, Self>();
                    ));
                }
                // `Effect<Event, State>` through an alias of the state; the full form names the
                // state, and may reply it.
                let reply_not_state = effect
                    .reply()
                    .filter(|_| effect.args.len() == 2)
                    .map(reply_not_state);
                match effect.reply() {
                    None => quote!({
                        #reactant_effect
                        #into_entity_effect(#call)
                    }),
                    Some(_) => quote!({
                        #reactant_effect
                        #reply_not_state
                        #into_entity_effect(
                            ::reactant::persistence::Effect::with_reply_to(#call, #reply_binding)
                        )
                    }),
                }
            }
        };
        let cfgs = command.method.cfgs();
        quote!(#(#cfgs)* #pattern => #body,)
    });
    let where_sendable = protocol.where_sendable(None);
    // With a handler that takes the context, the runtime's `handle_command_in` dispatches;
    // `handle_command`, which has no context to give, leaves every command unhandled.
    let handlers = if entity.commands.iter().any(|c| c.context.is_some()) {
        quote_spanned! {self_ty.span()=>
            /// Not called by the runtime (it calls `handle_command_in`): a handler of this
            /// entity takes its context, so without one every command is unhandled.
            fn handle_command(
                &self,
                _: #command,
            ) -> ::reactant::persistence::Effect<#event_ty, Self> {
                ::reactant::persistence::Effect::unhandled()
            }

            fn handle_command_in(
                &self,
                __reactant_ctx: &mut ::reactant::persistence::EntityContext<'_, #command>,
                __reactant_command: #command,
            ) -> ::reactant::persistence::Effect<#event_ty, Self> {
                match __reactant_command {
                    #(#arms)*
                }
            }
        }
    } else {
        quote_spanned! {self_ty.span()=>
            fn handle_command(
                &self,
                __reactant_command: #command,
            ) -> ::reactant::persistence::Effect<#event_ty, Self> {
                match __reactant_command {
                    #(#arms)*
                }
            }
        }
    };
    let on_signal = entity.on_signal.map(|hook| {
        let name = hook.name;
        let ctx = match hook.args().next() {
            Some(ctx) if crate::ast::is_entity_context(&ctx.ty) => {
                entity_context_argument(ctx, command)
            }
            _ => quote!(__reactant_ctx),
        };
        quote_spanned! {self_ty.span()=>
            fn on_signal(
                &self,
                __reactant_ctx: &mut ::reactant::persistence::EntityContext<'_, #command>,
                __reactant_signal: &::reactant::persistence::EntitySignal,
            ) {
                Self::#name(self, #ctx, __reactant_signal)
            }
        }
    });
    let entity_impl = quote_spanned! {self_ty.span()=>
        #[automatically_derived]
        impl ::reactant::persistence::Entity for #self_ty #where_sendable {
            const TYPE_KEY: &'static str = #settings::TYPE_KEY;
            const SLICES: u32 = #settings::SLICES;
            type Event = #settings::Event;
            type Command = #command;

            fn apply(&mut self, __reactant_event: &#event_ty) {
                Self::apply(self, #from_entity_event(__reactant_event))
            }

            #handlers

            #on_signal

            fn configure(
                __reactant_behavior: ::reactant::persistence::EventSourcedBehavior<#command, #event_ty, Self>,
            ) -> ::reactant::persistence::EventSourcedBehavior<#command, #event_ty, Self> {
                #settings::codec(#settings::SNAPSHOTS.apply(__reactant_behavior))
            }
        }
    };
    let command_enum = protocol.message_enum();
    let ref_trait = protocol.ref_trait();
    let send_checks = protocol.send_checks();
    quote! {
        #rewritten

        #command_enum

        #entity_impl

        #ref_trait

        #send_checks
    }
}

/// The impl block, without the `#[reply]` markers, with each `Effect<Event, Reply>` return
/// type spelt out in full
/// (`::reactant::persistence::Effect<Event, Account, Reply>`), and a local alias at the top of
/// those methods, so that `Effect::persist(..)` in the body knows the state type.
fn with_effect_types(item: &ItemImpl) -> ItemImpl {
    let mut item = super::without_reply_attributes(item);
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
            ]
            | [
                syn::GenericArgument::Type(event),
                _,
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

/// A statement that fails to compile, at the user's `Effect`, unless that path names
/// Reactant's `Effect`: a type of the user's that happens to be called `Effect` is not taken
/// for it. `Effect::__reactant_type` names the type without its arguments (any type has the
/// item, through `AnyType`); `ReactantEffect<Self>` has one impl, which infers them, so an
/// alias of the user's that fixes the state passes too.
fn reactant_effect(constructor: &syn::Path) -> TokenStream {
    let span = constructor.span();
    quote_spanned! {span=>
        {
            #[allow(unused_imports)]
            use ::reactant::__private::AnyType as _;
            ::reactant::__private::reactant_effect::<_, Self>(#constructor::__reactant_type);
        }
    }
}

/// A statement that fails to compile, at the user's reply type, if it is the entity's own type
/// under another name (an alias of the state, which the macro cannot read).
fn reply_not_state(reply: &Type) -> TokenStream {
    let span = reply.span();
    quote_spanned! {span=>
        {
            #[allow(unused_imports)]
            use ::reactant::__private::OtherReply as _;
            ::reactant::__private::reply_not_state(
                ::reactant::__private::SameType::<(#reply, Self)>::new().kind(),
            );
        }
    }
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
