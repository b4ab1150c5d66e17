//! Checks of the models: every misuse the macros can see becomes an error at the user's own
//! span, saying what is wrong and how to fix it. Every check runs, so one compile reports all.
//!
//! - this file: the impl blocks (`#[actor]`, `#[entity]`) and the derives' inputs;
//! - `handler`: what a message handler and an entity's `apply` must look like;
//! - `owned`: the types a message carries own their data.

mod handler;
mod owned;

use syn::{Data, Fields, GenericParam, ReceiverKind};

use crate::ast::{
    Actor, EffectType, EntityImpl, EntityStruct, EventType, HookKind, ImplBlock, Output,
};
use crate::errors::Errors;

/// Which macro a handler belongs to: the rules and the hints differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Actor,
    Entity,
}

impl Role {
    fn attribute(self) -> &'static str {
        match self {
            Role::Actor => "#[actor]",
            Role::Entity => "#[entity]",
        }
    }
}

pub(crate) fn actor(actor: &Actor, errors: &mut Errors) {
    impl_block(&actor.block, Role::Actor, errors);
    for handler in &actor.handlers {
        handler::handler(handler, Role::Actor, errors);
    }
    handler::variants(&actor.handlers, errors);
    handler::stray_reply_attributes(&actor.block, &actor.handlers, errors);
    for hook in &actor.hooks {
        let method = &hook.method;
        if method.public {
            errors.at(
                &method.item.vis,
                format!(
                    "`{}` is a lifecycle hook that the generated `Actor` impl calls, not a message",
                    hook.kind.name()
                ),
                "remove `pub` (or rename the method to make it a message handler)",
            );
        }
        let shape = match hook.kind {
            HookKind::OnSignal => {
                "`fn on_signal(&mut self, ctx: &mut Context<Msg>, signal: &Signal)` \
                 (the context may be left out)"
            }
            _ => "`(&mut self, ctx: &mut Context<Msg>)` (the context may be left out)",
        };
        let expected_args = match hook.kind {
            HookKind::OnSignal => 1,
            _ => 0,
        } + usize::from(hook.context);
        let receiver_ok = method.receiver.is_some_and(|receiver| {
            matches!(receiver.kind, ReceiverKind::Reference(_, None, Some(_)))
        });
        if !receiver_ok || method.args().count() != expected_args {
            errors.at(
                &method.item.sig,
                format!(
                    "the lifecycle hook `{}` has the wrong signature",
                    hook.kind.name()
                ),
                format!("write {shape}"),
            );
        }
    }
}

pub(crate) fn entity_impl(entity: &EntityImpl, errors: &mut Errors) {
    let block = &entity.block;
    impl_block(block, Role::Entity, errors);
    if let Some(lt_or_param) = block.item.generics.params.first() {
        errors.at(
            lt_or_param,
            "an entity type cannot be generic",
            "make it a concrete type: its type key, events and commands are one fixed set",
        );
    }
    match &entity.apply {
        Some(apply) => handler::apply(apply, errors),
        None => errors.at(
            &block.item.self_ty,
            "an entity needs an event handler, `fn apply`, in its `#[entity]` impl block",
            "add `fn apply(&mut self, event: &YourEvent) { .. }`: it folds each persisted event \
             into the state",
        ),
    }
    for command in &entity.commands {
        handler::handler(command, Role::Entity, errors);
        if let Output::Effect(effect) = &command.output {
            effect_parameters(block, effect, errors);
        }
    }
    handler::variants(&entity.commands, errors);
    handler::stray_reply_attributes(block, &entity.commands, errors);
}

/// A command handler's `Effect<Event, Reply>` (or `Effect<Event>`, or the full
/// `Effect<Event, State, Reply>`), whose second parameter can only mean one thing: the reply.
/// `Effect<Event, Account>` in `Account`'s block reads like the hand-written entity's
/// `Effect<Event, State>`, and would silently reply an `Account`: it is an error.
fn effect_parameters(block: &ImplBlock, effect: &EffectType, errors: &mut Errors) {
    let types: Vec<&syn::Type> = effect
        .args
        .iter()
        .filter_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    let type_name = block
        .type_name
        .map_or_else(|| "Account".to_owned(), ToString::to_string);
    let event = types
        .first()
        .map_or_else(|| "AccountEvent".to_owned(), |event| tidy(event));
    if types.len() != effect.args.len() || !matches!(types.len(), 1..=3) {
        errors.at(
            effect.ty,
            "a command handler returns `Effect<Event>` or `Effect<Event, Reply>`",
            format!(
                "write the event type, then the reply type if the command is answered: \
                 `Effect<{event}, u64>` (the macro adds the state type)"
            ),
        );
        return;
    }
    let is_state = |ty: &syn::Type| is_self_type(block, ty);
    match types.as_slice() {
        [_, reply] if is_state(reply) => errors.at(
            reply,
            format!(
                "in an `#[entity]` block, the second parameter of `Effect<Event, Reply>` is the \
                 reply: this command would reply a whole `{type_name}` (the state type is \
                 filled in by the macro)"
            ),
            format!(
                "write `Effect<{event}>` for a command without a reply, or \
                 `Effect<{event}, Reply>` with its reply type; to reply the state itself, write \
                 it in full: `Effect<{event}, Self, {type_name}>`"
            ),
        ),
        // The full form's state is checked by type in the generated code (an alias of the
        // state is the state).
        _ => {}
    }
}

/// `Self`, or the impl block's own type as written (`Account`, `crate::Account`).
fn is_self_type(block: &ImplBlock, ty: &syn::Type) -> bool {
    let syn::Type::Path(path) = ty else {
        return false;
    };
    if path.qself.is_some() {
        return false;
    }
    if path.path.is_ident("Self") {
        return true;
    }
    let self_ty = &block.item.self_ty;
    tidy(ty) == tidy(self_ty)
        || block.type_name.is_some_and(|name| {
            path.path
                .segments
                .last()
                .is_some_and(|last| last.ident == *name && last.arguments.is_none())
        })
}

/// A type as one string, without the spaces tokens print with.
fn tidy(ty: &syn::Type) -> String {
    quote::quote!(#ty).to_string().replace(' ', "")
}

pub(crate) fn entity_struct(entity: &EntityStruct, errors: &mut Errors) {
    let input = entity.input;
    let attrs = &entity.attrs;
    let named =
        matches!(&input.data, Data::Struct(data) if matches!(data.fields, Fields::Named(_)));
    if !named {
        let (what, at): (&str, &dyn quote::ToTokens) = match &input.data {
            Data::Enum(data) => ("an enum", &data.enum_token),
            Data::Union(data) => ("a union", &data.union_token),
            Data::Struct(data) => match &data.fields {
                Fields::Unnamed(fields) => ("a tuple struct", fields as &dyn quote::ToTokens),
                _ => ("a unit struct", &input.ident),
            },
        };
        errors.at(
            at,
            format!("`#[derive(Entity)]` goes on the entity's state, a struct with named fields, not on {what}"),
            format!(
                "write `struct {} {{ field: Type, .. }}` (an enum of states can be one of its fields)",
                input.ident
            ),
        );
    }
    if let Some(param) = input.generics.params.first() {
        errors.at(
            param,
            "an entity type cannot be generic",
            "make it a concrete type: its type key, events and commands are one fixed set",
        );
    }
    if !attrs.present {
        errors.at(
            &input.ident,
            "`#[derive(Entity)]` needs its type key and event type",
            "add `#[entity(type_key = \"account\", event = AccountEvent)]` below the derive",
        );
        return;
    }
    match &attrs.type_key {
        None if attrs.misspelt.contains(&"type_key") => {}
        None => errors.at(
            &input.ident,
            "the entity has no `type_key`",
            "add `type_key = \"account\"` to `#[entity(..)]`: the first part of each persistence id",
        ),
        Some(key) if key.value().trim().is_empty() => errors.at(
            key,
            "the `type_key` is blank",
            "name the entity type, e.g. `type_key = \"account\"`",
        ),
        Some(key) if key.value().contains('|') => errors.at(
            key,
            "a `type_key` cannot contain `|`: it separates the type key from the entity id in \
             persistence ids",
            "use another separator, e.g. `-` or `.`",
        ),
        Some(_) => {}
    }
    if attrs.event.is_none() && !attrs.misspelt.contains(&"event") {
        errors.at(
            &input.ident,
            "the entity has no `event` type",
            "add `event = AccountEvent` to `#[entity(..)]`: the type its command handlers persist",
        );
    }
    if let Some(every) = &attrs.snapshot_every
        && every.value == 0
    {
        errors.at_span(
            every.span,
            "`snapshot_every = 0` would never snapshot",
            "give the number of events between snapshots (at least 1), or leave it out",
        );
    }
    if let Some(keep) = &attrs.keep_snapshots
        && keep.value == 0
    {
        errors.at_span(
            keep.span,
            "`keep_snapshots = 0` would delete every snapshot it takes",
            "keep at least 1 (the default is 2)",
        );
    }
    if let Some(slices) = &attrs.slices
        && !(1..=MAX_SLICES).contains(&slices.value)
    {
        errors.at_span(
            slices.span,
            format!(
                "`slices = {}` is out of range: an entity type has 1 to {MAX_SLICES} slices",
                slices.value
            ),
            "give the number of projections that read the type's events in parallel (e.g. \
             `slices = 8`), or leave it out for no slices",
        );
    }
    if attrs.snapshot_every.is_none() {
        let needs_snapshots = [
            attrs.keep_snapshots.as_ref().map(|keep| keep.span),
            attrs
                .delete_events_on_snapshot
                .as_ref()
                .map(|delete| delete.span),
        ];
        for span in needs_snapshots.into_iter().flatten() {
            errors.at_span(
                span,
                "this snapshot setting has no effect without `snapshot_every`",
                "add `snapshot_every = 100` (the number of events between snapshots)",
            );
        }
    }
}

/// Returns whether the event borrows (see `owned::event_owns_its_data`).
pub(crate) fn event(event: &EventType, errors: &mut Errors) -> bool {
    let input = event.input;
    if let Data::Union(data) = &input.data {
        errors.at(
            data.union_token,
            "`#[derive(Event)]` goes on an enum or a struct, not on a union",
            "make the event an enum, one variant per kind of event",
        );
    }
    let attrs = &event.attrs;
    if let Some(version) = &attrs.version
        && version.value == 0
    {
        errors.at_span(
            version.span,
            "schema versions start at 1",
            "write `version = 1` for the first schema (or leave it out: 1 is the default)",
        );
    }
    if let Some(name) = &attrs.name
        && name.value().trim().is_empty()
    {
        errors.at(
            name,
            "the manifest name is blank",
            "give a stable name, e.g. `name = \"account-event\"`",
        );
    }
    for tag in attrs
        .tags
        .iter()
        .filter(|tag| tag.value().trim().is_empty())
    {
        errors.at(tag, "a tag cannot be blank", "write `tag = \"account\"`");
    }
    owned::event_owns_its_data(input, errors)
}

/// What any impl block under the macros must be.
fn impl_block(block: &ImplBlock, role: Role, errors: &mut Errors) {
    let item = block.item;
    let attribute = role.attribute();
    let type_name = block
        .type_name
        .map_or_else(|| "Counter".to_owned(), ToString::to_string);
    if let Some((path, _)) = &item.trait_ {
        errors.at(
            path,
            format!("`{attribute}` goes on an inherent impl block, not on an impl of a trait"),
            format!(
                "write the handlers in `{attribute} impl {type_name} {{ .. }}`; the macro \
                 generates the trait impls"
            ),
        );
    }
    if let Some(unsafety) = &item.unsafety {
        errors.at(
            unsafety,
            format!("`{attribute}` cannot go on an `unsafe impl`"),
            "remove `unsafe`",
        );
    }
    if block.type_name.is_none() {
        errors.at(
            &item.self_ty,
            format!("`{attribute}` goes on the impl block of a named type"),
            format!("write `{attribute} impl MyType {{ .. }}`"),
        );
    }
    if role == Role::Actor {
        for param in &item.generics.params {
            match param {
                GenericParam::Lifetime(lifetime) => errors.at(
                    lifetime,
                    "an actor cannot hold borrowed data: actors are `'static`",
                    "remove the lifetime parameter and own the data (`String`, `Vec<T>`, `Arc<T>`)",
                ),
                GenericParam::Type(param) => sendable(item, param, errors),
                GenericParam::Const(_) => {}
            }
        }
    }
}

/// A type parameter of an actor is `Send + 'static`, written out (in its bounds or the where
/// clause): its values travel in messages to the actor's thread, and the actor outlives any
/// borrow. Without it, every generated impl would fail, once each; this is one error, at the
/// parameter. A bound that implies `Send` (a trait of the user's) does not count: the macro
/// reads spellings.
fn sendable(item: &syn::ItemImpl, param: &syn::TypeParam, errors: &mut Errors) {
    let ident = &param.ident;
    let mut bounds: Vec<&syn::TypeParamBound> = param.bounds.iter().collect();
    if let Some(where_clause) = &item.generics.where_clause {
        for predicate in &where_clause.predicates {
            if let syn::WherePredicate::Type(predicate) = predicate
                && matches!(&predicate.bounded_ty, syn::Type::Path(path)
                    if path.qself.is_none() && path.path.is_ident(ident))
            {
                bounds.extend(predicate.bounds.iter());
            }
        }
    }
    let send = bounds.iter().any(|bound| {
        matches!(bound, syn::TypeParamBound::Trait(bound)
            if bound.path.segments.last().is_some_and(|last| last.ident == "Send"))
    });
    let is_static = bounds.iter().any(|bound| {
        matches!(bound, syn::TypeParamBound::Lifetime(lifetime) if lifetime.ident == "static")
    });
    if send && is_static {
        return;
    }
    let missing = match (send, is_static) {
        (false, false) => "Send + 'static",
        (false, true) => "Send",
        _ => "'static",
    };
    let written: Vec<String> = param
        .bounds
        .iter()
        .map(|bound| quote::quote!(#bound).to_string().replace(' ', ""))
        .collect();
    let fix = if written.is_empty() {
        format!("write `{ident}: {missing}`")
    } else {
        format!("write `{ident}: {} + {missing}`", written.join(" + "))
    };
    errors.at(
        ident,
        format!(
            "the actor's type parameter `{ident}` needs `{missing}`: its values travel in \
             messages to the actor's thread, and an actor outlives any borrow"
        ),
        fix,
    );
}

/// `reactant::persistence::MAX_SLICES` (the macros crate cannot depend on the runtime's).
const MAX_SLICES: u32 = 1_024;
