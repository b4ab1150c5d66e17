//! `#[actor]`: an impl block's public methods become the messages of an `Actor`.

use super::{
    Protocol, context_argument, impl_block, item_name_or_item, reply_arm, without_reply_attributes,
};
use crate::ast::{Actor, HookKind};
use crate::errors::Errors;
use crate::{attr, names, valid};
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn attribute(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::actor_args(args, &mut errors);
    let item = match impl_block(input, &mut errors, |other, errors| {
        errors.at(
            item_name_or_item(other),
            "`#[actor]` goes on an impl block, whose public methods become the actor's messages",
            "write `#[actor] impl MyActor { pub fn handler(&mut self, ..) { .. } }`",
        );
    }) {
        Ok(item) => item,
        Err(expansion) => return expansion,
    };
    let actor = Actor::new(args, &item);
    valid::actor(&actor, &mut errors);
    let emitted = without_reply_attributes(&item);
    if !errors.is_empty() {
        let errors = errors.into_compile_errors();
        return quote!(#emitted #errors);
    }
    expand(&actor, &emitted)
}

/// The expansion of a valid actor; `emitted` is its impl block as written back.
fn expand(actor: &Actor, emitted: &syn::ItemImpl) -> TokenStream {
    let block = &actor.block;
    let item = block.item;
    let Some(type_name) = block.type_name else {
        // `valid` has reported it; nothing is expanded without a name.
        return quote!(#emitted);
    };
    let protocol = Protocol {
        block,
        handlers: &actor.handlers,
        enum_name: actor
            .args
            .msg
            .clone()
            .unwrap_or_else(|| names::generated(type_name, "Msg")),
        trait_name: actor
            .args
            .ref_trait
            .clone()
            .unwrap_or_else(|| names::generated(type_name, "Ref")),
        noun: "messages",
        targets: vec![quote!(::reactant::actor::ActorRef)],
    };
    let self_ty = &item.self_ty;
    let enum_name = &protocol.enum_name;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let msg = quote!(#enum_name #ty_generics);
    let arms = actor.handlers.iter().map(|handler| {
        let (pattern, bindings) = protocol.pattern(handler);
        let method = handler.method.name;
        let context = handler.context.map(|ctx| {
            let ctx = context_argument(ctx, &msg);
            quote!(#ctx,)
        });
        let call = quote!(Self::#method(self, #context #(#bindings),*));
        let arm = reply_arm(handler, call);
        let cfgs = handler.method.cfgs();
        quote!(#(#cfgs)* #pattern => #arm,)
    });
    let phantom_arm = protocol.phantom_arm();
    let hooks = actor.hooks.iter().map(|hook| {
        let method = hook.method.name;
        let context = hook
            .method
            .args()
            .next()
            .filter(|_| hook.context)
            .map(|ctx| {
                let ctx = context_argument(ctx, &msg);
                quote!(#ctx,)
            });
        let cfgs = hook.method.cfgs();
        let hook = match hook.kind {
            HookKind::OnSignal => quote! {
                fn on_signal(
                    &mut self,
                    __reactant_ctx: &mut ::reactant::actor::Context<Self::Msg>,
                    __reactant_signal: &::reactant::actor::Signal,
                ) {
                    Self::#method(self, #context __reactant_signal)
                }
            },
            _ => quote! {
                fn #method(&mut self, __reactant_ctx: &mut ::reactant::actor::Context<Self::Msg>) {
                    Self::#method(self, #context)
                }
            },
        };
        quote!(#(#cfgs)* #hook)
    });
    let message_enum = protocol.message_enum();
    let ref_trait = protocol.ref_trait();
    let send_checks = protocol.send_checks();
    let where_clause = protocol.where_sendable(where_clause);
    let actor_impl = quote! {
        #[automatically_derived]
        impl #impl_generics ::reactant::actor::Actor for #self_ty #where_clause {
            type Msg = #enum_name #ty_generics;

            fn handle(
                &mut self,
                __reactant_ctx: &mut ::reactant::actor::Context<Self::Msg>,
                __reactant_msg: Self::Msg,
            ) {
                match __reactant_msg {
                    #(#arms)*
                    #phantom_arm
                }
            }

            #(#hooks)*
        }
    };
    quote! {
        #emitted

        #message_enum

        #actor_impl

        #ref_trait

        #send_checks
    }
}
