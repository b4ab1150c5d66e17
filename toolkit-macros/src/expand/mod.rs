//! Code generation for valid models. Generated code names everything by absolute path
//! (`::reactant::..`, `::core::..`), binds its own locals under `__reactant_` names, and takes
//! the user's spans for the user's types, so that a type error points at the user's code.

pub(crate) mod actor;
pub(crate) mod entity;
pub(crate) mod event;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Generics, Ident, Item, ItemImpl, Type};

use crate::ast::{Handler, ImplBlock};
use crate::errors::Errors;

/// The generated message (or command) enum and the extension trait of an impl block.
pub(crate) struct Protocol<'a> {
    pub block: &'a ImplBlock<'a>,
    pub handlers: &'a [Handler<'a>],
    /// `CounterMsg`, `AccountCommand`.
    pub enum_name: Ident,
    /// `CounterRef`, `AccountRef`.
    pub trait_name: Ident,
    /// "messages" or "commands", for the docs.
    pub noun: &'static str,
    /// What the extension trait is implemented for: `::reactant::actor::ActorRef`, …
    pub targets: Vec<TokenStream>,
}

impl Protocol<'_> {
    fn self_ty(&self) -> &Type {
        &self.block.item.self_ty
    }

    fn generics(&self) -> &Generics {
        &self.block.item.generics
    }

    fn type_name(&self) -> String {
        self.block
            .type_name
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// `pub enum CounterMsg { Increment { by: u64 }, Get { reply_to: ActorRef<u64> } }`.
    pub(crate) fn message_enum(&self) -> TokenStream {
        let enum_name = &self.enum_name;
        let generics = self.generics();
        let where_clause = self.where_replies_sendable(generics.where_clause.as_ref());
        let type_name = self.type_name();
        let doc = format!(
            " The {} of `{type_name}`: one variant per handler of its impl block, with the \
             handler's arguments as fields (generated).",
            self.noun
        );
        let variants = self.handlers.iter().map(|handler| {
            let variant = &handler.variant;
            let cfgs = handler.method.cfgs();
            let docs = handler_docs(handler, &type_name);
            let fields = self.fields_of(handler).map(|(field, name, ty)| {
                let doc = if handler.is_reply_field(field) {
                    format!(" Where the reply goes (the handler's `#[reply] {name}`).")
                } else {
                    format!(" The argument `{name}`.")
                };
                quote!(#[doc = #doc] #name: #ty)
            });
            // At the user's reply type: a reply that is not `Send` is reported there.
            let reply_to = handler.output.reply().map(|reply| {
                let span = reply.span();
                let reply = self.without_self(reply);
                let actor_ref = quote_spanned!(span=> ::reactant::actor::ActorRef<#reply>);
                quote!(
                    #[doc = " Where the reply goes."]
                    reply_to: #actor_ref,
                )
            });
            if is_unit(handler) {
                quote!(#(#cfgs)* #(#docs)* #variant,)
            } else {
                quote!(#(#cfgs)* #(#docs)* #variant { #(#fields,)* #reply_to },)
            }
        });
        let phantom = self.phantom_variant();
        quote! {
            #[doc = #doc]
            #[allow(dead_code, private_interfaces, clippy::enum_variant_names, clippy::large_enum_variant)]
            pub enum #enum_name #generics #where_clause {
                #(#variants)*
                #phantom
            }
        }
    }

    /// A generic enum must use every type parameter; one that no handler mentions is used
    /// here, in a variant that cannot be built.
    fn phantom_variant(&self) -> Option<TokenStream> {
        let params: Vec<&Ident> = self
            .generics()
            .type_params()
            .map(|param| &param.ident)
            .collect();
        if params.is_empty() {
            return None;
        }
        Some(quote! {
            #[doc(hidden)]
            __ReactantPhantom(
                ::core::marker::PhantomData<fn() -> (#(#params,)*)>,
                ::core::convert::Infallible,
            ),
        })
    }

    /// The match arm that makes the phantom variant's match exhaustive.
    pub(crate) fn phantom_arm(&self) -> Option<TokenStream> {
        let enum_name = &self.enum_name;
        self.phantom_variant().map(|_| {
            quote!(#enum_name::__ReactantPhantom(_, __reactant_never) => match __reactant_never {},)
        })
    }

    /// The pattern of a handler's variant, binding each field to `__reactant_{field}` (and the
    /// reply address to `__reactant_reply_to`), and those bindings in argument order.
    pub(crate) fn pattern(&self, handler: &Handler) -> (TokenStream, Vec<Ident>) {
        let enum_name = &self.enum_name;
        let variant = &handler.variant;
        if is_unit(handler) {
            return (quote!(#enum_name::#variant), Vec::new());
        }
        let mut bindings = Vec::new();
        let fields: Vec<TokenStream> = self
            .fields(handler)
            .map(|(name, _)| {
                let binding = binding(name);
                let pattern = quote!(#name: #binding);
                bindings.push(binding);
                pattern
            })
            .collect();
        let reply_to = handler.output.reply().map(|_| {
            let reply = reply_binding();
            quote!(reply_to: #reply,)
        });
        (
            quote!(#enum_name::#variant { #(#fields,)* #reply_to }),
            bindings,
        )
    }

    /// The extension trait and its impls for each target reference type.
    pub(crate) fn ref_trait(&self) -> TokenStream {
        let trait_name = &self.trait_name;
        let enum_name = &self.enum_name;
        let generics = self.generics();
        let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
        let type_name = self.type_name();
        let doc = format!(
            " Typed methods on a reference to `{type_name}`: one per handler, each sending its \
             message (generated). Bring the trait into scope to use them."
        );
        let signatures: Vec<TokenStream> = self
            .handlers
            .iter()
            .map(|handler| self.signature(handler))
            .collect();
        let declarations = self
            .handlers
            .iter()
            .zip(&signatures)
            .map(|(handler, signature)| {
                let cfgs = handler.method.cfgs();
                let docs = handler_docs(handler, &type_name);
                quote!(#(#cfgs)* #(#docs)* #signature;)
            });
        let where_clause = self.where_sendable(where_clause);
        let impls = self.targets.iter().map(|target| {
            let methods = self.handlers.iter().zip(&signatures).map(|(handler, signature)| {
                let variant = &handler.variant;
                let args = self.ref_args(handler).map(|(name, _)| name);
                // The closure's parameter at the macro's own (mixed-site) hygiene: no argument
                // of the user's, whatever its name, can be shadowed by it.
                let reply_address = reply_binding();
                // The reply address goes in the generated `reply_to` field, or in the handler's
                // own `#[reply]` argument.
                let reply_field = match handler.reply_arg().and_then(Handler::field_name) {
                    Some(name) if handler.output.reply().is_none() => name.clone(),
                    _ => Ident::new("reply_to", Span::call_site()),
                };
                let body = match handler.reply() {
                    None if is_unit(handler) => quote!(#target::tell(self, #enum_name::#variant)),
                    None => quote!(#target::tell(self, #enum_name::#variant { #(#args,)* })),
                    Some(_) => quote!(#target::ask(self, |#reply_address| #enum_name::#variant {
                        #(#args,)*
                        #reply_field: #reply_address,
                    })),
                };
                let cfgs = handler.method.cfgs();
                quote!(#(#cfgs)* #[inline] #signature { #body })
            });
            quote! {
                #[automatically_derived]
                impl #impl_generics #trait_name #ty_generics for #target<#enum_name #ty_generics> #where_clause {
                    #(#methods)*
                }
            }
        });
        quote! {
            #[doc = #doc]
            #[allow(dead_code, private_interfaces, private_bounds, clippy::too_many_arguments)]
            pub trait #trait_name #generics #where_clause {
                #(#declarations)*
            }
            #(#impls)*
        }
    }

    /// The impl block's where clause, and that the message enum and the replies are `Send`,
    /// for the impls that need it (`Actor`, `Entity`, the ref trait's). Under `for<..>` a bound
    /// is not checked where it is written: an impl whose messages are not `Send` does not
    /// apply, and the one error is elsewhere, at the user's type: [`Protocol::send_checks`] for
    /// an argument, the enum's `reply_to: ActorRef<Reply>` for a reply. Without it, each
    /// generated impl would report it again, at the attribute.
    pub(crate) fn where_sendable(&self, where_clause: Option<&syn::WhereClause>) -> TokenStream {
        let enum_name = &self.enum_name;
        let (_, ty_generics, _) = self.generics().split_for_impl();
        let predicates = where_clause
            .map(|clause| &clause.predicates)
            .into_iter()
            .flatten();
        // A where clause cannot hold `#[cfg]`: the reply of a handler under one is left out
        // (if it is compiled and not `Send`, the impls report it too).
        let replies = self
            .handlers
            .iter()
            .filter(|handler| handler.method.cfgs().is_empty())
            .filter_map(|handler| handler.reply().map(|reply| self.without_self(reply)));
        quote! {
            where
                #(#predicates,)*
                for<'__reactant> #enum_name #ty_generics: ::core::marker::Send,
                #(for<'__reactant> #replies: ::core::marker::Send + 'static,)*
        }
    }

    /// The enum's where clause: the impl block's, and that each reply is `Send + 'static`.
    /// Under `for<..>` the bound is assumed by the enum rather than checked there, so that its
    /// `reply_to: ActorRef<Reply>` field (`ActorRef` requires `Send`) reports nothing of its
    /// own: the one error is [`Protocol::send_checks`]'s, at the user's reply type. A reply
    /// under `#[cfg]` is left out (a where clause cannot hold `#[cfg]`).
    fn where_replies_sendable(&self, where_clause: Option<&syn::WhereClause>) -> TokenStream {
        let predicates: Vec<&syn::WherePredicate> = where_clause
            .map(|clause| clause.predicates.iter().collect())
            .unwrap_or_default();
        let replies: Vec<Type> = self
            .handlers
            .iter()
            .filter(|handler| handler.method.cfgs().is_empty())
            .filter_map(|handler| handler.reply().map(|reply| self.without_self(reply)))
            .collect();
        if predicates.is_empty() && replies.is_empty() {
            return TokenStream::new();
        }
        quote! {
            where
                #(#predicates,)*
                #(for<'__reactant> #replies: ::core::marker::Send + 'static,)*
        }
    }

    /// A check, at each argument's and reply's type, that it is `Send`.
    pub(crate) fn send_checks(&self) -> TokenStream {
        let (impl_generics, _, where_clause) = self.generics().split_for_impl();
        let checks = self.handlers.iter().flat_map(|handler| {
            let cfgs = handler.method.cfgs();
            // The `#[reply]` argument's `ActorRef<R>` is checked as the reply `R`.
            let arguments = handler
                .fields
                .iter()
                .filter(|arg| !handler.is_reply_field(arg))
                .map(|arg| {
                    let span = arg.ty.span();
                    let ty = self.without_self(&arg.ty);
                    quote_spanned!(span=> #(#cfgs)* ::reactant::__private::message_part::<#ty>();)
                });
            let reply = handler.reply().map(|reply| {
                let span = reply.span();
                let ty = self.without_self(reply);
                quote_spanned!(span=> #(#cfgs)* ::reactant::__private::reply_part::<#ty>();)
            });
            arguments.chain(reply).collect::<Vec<_>>()
        });
        quote! {
            const _: () = {
                #[allow(dead_code, clippy::extra_unused_type_parameters)]
                fn __reactant_arguments_are_send #impl_generics () #where_clause {
                    #(#checks)*
                }
            };
        }
    }

    /// `fn get(&self, key: String) -> ::reactant::ask::Pending<u64>`.
    fn signature(&self, handler: &Handler) -> TokenStream {
        let method = handler.method.name;
        let args = self.ref_args(handler).map(|(name, ty)| quote!(#name: #ty));
        let output = handler.reply().map(|reply| {
            let reply = self.without_self(reply);
            quote!(-> ::reactant::ask::Pending<#reply>)
        });
        quote!(fn #method(&self, #(#args),*) #output)
    }

    /// Each field's name and type (with `Self` spelt out: the enum is not the actor).
    fn fields<'h>(&'h self, handler: &'h Handler) -> impl Iterator<Item = (&'h Ident, Type)> + 'h {
        self.fields_of(handler).map(|(_, name, ty)| (name, ty))
    }

    /// Each field's argument, name and type.
    fn fields_of<'h>(
        &'h self,
        handler: &'h Handler,
    ) -> impl Iterator<Item = (&'h syn::PatType, &'h Ident, Type)> + 'h {
        handler.fields.iter().filter_map(move |arg| {
            Handler::field_name(arg).map(|name| (*arg, name, self.without_self(&arg.ty)))
        })
    }

    /// The ref method's arguments: the fields but the `#[reply]` one, which `ask` fills in.
    fn ref_args<'h>(
        &'h self,
        handler: &'h Handler,
    ) -> impl Iterator<Item = (&'h Ident, Type)> + 'h {
        self.fields_of(handler)
            .filter(|(field, _, _)| !handler.is_reply_field(field))
            .map(|(_, name, ty)| (name, ty))
    }

    /// `ty` with every `Self` replaced by the impl block's type.
    fn without_self(&self, ty: &Type) -> Type {
        let mut ty = ty.clone();
        ReplaceSelf(self.self_ty()).visit_type_mut(&mut ty);
        ty
    }
}

/// A handler without arguments or reply: a unit variant (`CounterMsg::Reset`).
fn is_unit(handler: &Handler) -> bool {
    handler.fields.is_empty() && handler.output.reply().is_none()
}

/// The handler's doc comments, or a line naming the method.
fn handler_docs(handler: &Handler, type_name: &str) -> Vec<TokenStream> {
    let docs: Vec<TokenStream> = handler.method.docs().map(|attr| quote!(#attr)).collect();
    if docs.is_empty() {
        let line = format!(" `{type_name}::{}`.", handler.method.name);
        vec![quote!(#[doc = #line])]
    } else {
        docs
    }
}

/// The local the generated `reply_to` field is bound to, and the parameter of the ref method's
/// `ask` closure: at the macro's own (mixed-site) hygiene, so that no argument of the user's,
/// `reply_to` included, can collide with it.
pub(crate) fn reply_binding() -> Ident {
    Ident::new("__reactant_reply_to", Span::mixed_site())
}

/// The local a field is bound to in generated match arms.
fn binding(field: &Ident) -> Ident {
    let name = syn::ext::IdentExt::unraw(field).to_string();
    format_ident!("__reactant_{}", name, span = Span::call_site())
}

struct ReplaceSelf<'a>(&'a Type);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(path) = ty
            && path.qself.is_none()
            && path.path.is_ident("Self")
        {
            *ty = self.0.clone();
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// Which macro a reply is checked for: what an `Effect` as a reply means differs.
#[derive(Clone, Copy)]
pub(crate) enum ReplyOf {
    Actor,
    EntityQuery,
}

/// A statement that fails to compile, at the user's reply type, if that type is an `Effect`
/// under any name (an alias the macro cannot read): `reactant::__private::ReplyType` tells by
/// the type, not the spelling.
pub(crate) fn not_an_effect(reply: &Type, of: ReplyOf) -> TokenStream {
    let span = reply.span();
    let check = match of {
        ReplyOf::Actor => quote_spanned!(span=> ::reactant::__private::actor_reply),
        ReplyOf::EntityQuery => quote_spanned!(span=> ::reactant::__private::entity_query_reply),
    };
    quote_spanned! {span=>
        {
            #[allow(unused_imports)]
            use ::reactant::__private::PlainReply as _;
            #check(::reactant::__private::ReplyType::<#reply>::new().kind());
        }
    }
}

/// The context argument handed to a handler or hook that takes `ctx: &mut C`: the actor's
/// context as `C`, which fails to compile at the user's `C` unless it is the actor's
/// `Context<Msg>`.
pub(crate) fn context_argument(ctx: &syn::PatType, msg: &TokenStream) -> TokenStream {
    let ty = match &*ctx.ty {
        Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    let span = ty.span();
    quote_spanned! {span=>
        <#ty as ::reactant::__private::ContextOf<#msg>>::from_actor_context(__reactant_ctx)
    }
}

/// The context argument handed to an entity's command handler or `on_signal` that takes
/// `ctx: &mut C`: the entity's context as `C`, which fails to compile at the user's `C` unless
/// it is the entity's `EntityContext<'_, Command>`.
pub(crate) fn entity_context_argument(ctx: &syn::PatType, command: &Ident) -> TokenStream {
    let ty = match &*ctx.ty {
        Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    let span = ty.span();
    quote_spanned! {span=>
        <#ty as ::reactant::__private::EntityContextOf<'_, #command>>::from_entity_context(
            __reactant_ctx,
        )
    }
}

/// What a handler's output becomes in the generated `handle`: the call, then the reply (a
/// handler with a `#[reply]` argument answers by itself, later).
pub(crate) fn reply_arm(handler: &Handler, call: TokenStream) -> TokenStream {
    let output = &handler.output;
    match output.reply() {
        None => {
            let check = handler
                .reply()
                .map(|reply| not_an_effect(reply, ReplyOf::Actor));
            quote!({
                #check
                #call;
            })
        }
        Some(reply) => {
            let check = not_an_effect(reply, ReplyOf::Actor);
            let reply = reply_binding();
            quote!({
                #check
                ::reactant::actor::ActorRef::tell(&#reply, #call)
            })
        }
    }
}

/// The impl block as emitted: without the `#[reply]` markers on handler arguments, which are
/// the macro's and no attribute the compiler knows.
pub(crate) fn without_reply_attributes(item: &ItemImpl) -> ItemImpl {
    let mut item = item.clone();
    for impl_item in &mut item.items {
        if let syn::ImplItem::Fn(method) = impl_item {
            for arg in &mut method.sig.inputs {
                if let syn::FnArg::Typed(arg) = arg {
                    arg.attrs.retain(|attr| !crate::ast::is_reply_attr(attr));
                }
            }
        }
    }
    item
}

/// The impl block an attribute macro was put on. On any other item `misplaced` records the
/// error, and the expansion (`Err`) is the input unchanged followed by the errors, so that the
/// user's item still compiles and only the misuse is reported.
pub(crate) fn impl_block(
    input: TokenStream,
    errors: &mut Errors,
    misplaced: impl FnOnce(&Item, &mut Errors),
) -> Result<ItemImpl, TokenStream> {
    match syn::parse2::<Item>(input.clone()) {
        Ok(Item::Impl(item)) => return Ok(item),
        Ok(other) => misplaced(&other, errors),
        Err(error) => errors.push(error),
    }
    let errors = std::mem::take(errors).into_compile_errors();
    Err(quote!(#input #errors))
}

/// Where to point an error about an item that is not an impl block: its name, or the whole
/// item when it has none.
pub(crate) fn item_name_or_item(item: &Item) -> &dyn quote::ToTokens {
    match item_name(item) {
        Some(name) => name,
        None => item,
    }
}

/// The name of an item that is not an impl block, to point an error at.
fn item_name(item: &Item) -> Option<&Ident> {
    match item {
        Item::Const(item) => Some(&item.ident),
        Item::Enum(item) => Some(&item.ident),
        Item::Fn(item) => Some(&item.sig.ident),
        Item::Mod(item) => Some(&item.ident),
        Item::Static(item) => Some(&item.ident),
        Item::Struct(item) => Some(&item.ident),
        Item::Trait(item) => Some(&item.ident),
        Item::Type(item) => Some(&item.ident),
        Item::Union(item) => Some(&item.ident),
        _ => None,
    }
}
