//! What a message handler (an actor's, or an entity's command handler), and an entity's
//! `apply`, must look like.

use std::collections::HashMap;

use syn::{FnArg, GenericParam, ReceiverKind, ReturnType, Type};

use super::Role;
use super::owned::{Owned, owned};
use crate::ast::{
    Handler, ImplBlock, Method, Output, actor_ref_reply, is_context, is_entity_context,
    is_reply_attr,
};
use crate::errors::Errors;
use crate::names;

/// What a message handler (an actor's, or an entity's command handler) must be.
pub(super) fn handler(handler: &Handler, role: Role, errors: &mut Errors) {
    let method = &handler.method;
    let sig = &method.item.sig;
    let name = method.name;
    if let Some(invalid) = &handler.invalid_variant {
        let (problem, fix) = invalid.explain(name);
        errors.at(name, problem, fix);
    }
    if let Some(asyncness) = &sig.asyncness {
        let fix = match role {
            Role::Actor => {
                "remove `async`; to wait for another actor, use `ctx.ask`, whose reply comes \
                 back as a message"
            }
            Role::Entity => {
                "remove `async`: a command handler decides from the state and returns an `Effect`"
            }
        };
        errors.at(
            asyncness,
            "a handler cannot be `async`: Reactant runs handlers on its own threads, without an async runtime",
            fix,
        );
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.at(
            unsafety,
            "a handler cannot be `unsafe`: the generated code calls it for every message",
            "make the handler safe and put the unsafe code in an `unsafe` block inside it",
        );
    }
    receiver(method, role, errors);
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(lifetime) => errors.at(
                lifetime,
                "a handler cannot have lifetime parameters: its arguments travel in a message, \
                 which owns its data",
                format!(
                    "remove `{}` and take owned arguments (`String`, not `&{} str`)",
                    lifetime.lifetime, lifetime.lifetime
                ),
            ),
            GenericParam::Type(_) | GenericParam::Const(_) => {
                let fix = match role {
                    Role::Actor => {
                        "use a concrete type, or put the type parameter on the actor: \
                         `#[actor] impl<T: Send + 'static> Store<T> { .. }`"
                    }
                    Role::Entity => "use a concrete type",
                };
                errors.at(
                    param,
                    "a handler cannot be generic: it becomes one message variant, whose fields \
                     have concrete types",
                    fix,
                );
            }
        }
    }
    if sig.generics.params.is_empty()
        && let Some(where_clause) = &sig.generics.where_clause
    {
        errors.at(
            where_clause,
            "a handler cannot have a `where` clause",
            "remove it; put bounds on the impl block's type parameters instead",
        );
    }
    for arg in &handler.fields {
        if Handler::field_name(arg).is_none() {
            errors.at(
                &arg.pat,
                "a handler argument needs a plain name: it becomes a field of the message",
                "write `name: Type` and take the value apart in the body",
            );
        }
        if matches!(role, Role::Entity) && is_entity_context(&arg.ty) {
            errors.at(
                &arg.ty,
                "the context must be the handler's first argument, right after `self`",
                format!("move `{}` to the front", quote::quote!(#arg)),
            );
            continue;
        }
        if is_context(&arg.ty) {
            match role {
                Role::Actor => errors.at(
                    &arg.ty,
                    "the context must be the handler's first argument, right after `self`",
                    format!("move `{}` to the front", quote::quote!(#arg)),
                ),
                Role::Entity => errors.at(
                    &arg.ty,
                    "an entity's command handler takes the entity's context, not an actor's",
                    "write `ctx: &mut EntityContext<'_, Command>` (from `reactant::persistence`) \
                     right after `self`",
                ),
            }
            continue;
        }
        owned(&arg.ty, Owned::Argument, errors);
    }
    match &handler.output {
        Output::Unit => {}
        Output::Value(ty) => owned(ty, Owned::Reply, errors),
        Output::Effect(effect) => {
            for arg in &effect.args {
                if let syn::GenericArgument::Type(ty) = arg {
                    owned(ty, Owned::Reply, errors);
                }
            }
        }
    }
    reply_argument(handler, role, errors);
    if handler.output.reply().is_some() {
        for arg in &handler.fields {
            // A `#[reply]` argument with a return value is reported once, as such.
            if !handler.is_reply_field(arg)
                && Handler::field_name(arg).is_some_and(|field| field == "reply_to")
            {
                errors.at(
                    &arg.pat,
                    format!(
                        "the argument `reply_to` clashes with the field that carries the reply \
                         of `{name}`"
                    ),
                    "rename the argument; or, to answer later, return nothing and mark it \
                     `#[reply] reply_to: ActorRef<Reply>`",
                );
            }
        }
    }
    if names::is_ref_method(name, role == Role::Entity) {
        let reference = match role {
            Role::Actor => "`ActorRef`",
            Role::Entity => "`ActorRef` or sharding's `EntityRef`",
        };
        errors.at(
            name,
            format!(
                "a handler cannot be named `{name}`: {reference} has a method `{name}` already, \
                 so `{name}(..)` called on a reference could not reach the handler"
            ),
            "rename the handler",
        );
    }
}

/// The `#[reply] reply_to: ActorRef<R>` argument of a handler that answers later: one at most,
/// written `#[reply]`, of type `ActorRef<R>`, in a handler that returns no reply of its own.
fn reply_argument(handler: &Handler, role: Role, errors: &mut Errors) {
    if let Some(ctx) = handler.context {
        for attr in ctx.attrs.iter().filter(|attr| is_reply_attr(attr)) {
            errors.at(
                attr,
                "`#[reply]` marks the argument the reply goes to, not the context",
                "put it on an argument `reply_to: ActorRef<Reply>`",
            );
        }
    }
    for (position, &index) in handler.reply_args.iter().enumerate() {
        let arg = handler.fields[index];
        for attr in arg.attrs.iter().filter(|attr| is_reply_attr(attr)) {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                errors.at(
                    attr,
                    "`#[reply]` takes no arguments",
                    "write `#[reply] reply_to: ActorRef<Reply>`",
                );
            }
        }
        let name =
            Handler::field_name(arg).map_or_else(|| "reply_to".to_owned(), ToString::to_string);
        if position > 0 {
            let first = handler
                .reply_arg()
                .and_then(Handler::field_name)
                .map_or_else(|| "reply_to".to_owned(), ToString::to_string);
            errors.at(
                arg.attrs.iter().find(|attr| is_reply_attr(attr)),
                format!(
                    "a handler has one reply address: `{first}` is `#[reply]` already, so \
                     `{name}` cannot be"
                ),
                format!("remove `#[reply]` from `{name}` (it can stay a plain argument)"),
            );
            continue;
        }
        if actor_ref_reply(&arg.ty).is_none() {
            errors.at(
                &arg.ty,
                "a `#[reply]` argument is the address the reply goes to: its type is \
                 `ActorRef<Reply>`, and the ref method's `Pending<Reply>` waits for what is \
                 told to it",
                format!("write `#[reply] {name}: ActorRef<u64>` (with your reply type)"),
            );
        }
        let returns = match &handler.output {
            Output::Unit => None,
            Output::Value(ty) => Some(*ty),
            Output::Effect(effect) => effect.reply(),
        };
        if let Some(reply) = returns {
            let fix = match (&handler.output, role) {
                (Output::Effect(effect), _) => {
                    let event = effect.event().map_or_else(
                        || "Event".to_owned(),
                        |event| quote::quote!(#event).to_string().replace(' ', ""),
                    );
                    format!(
                        "return `Effect<{event}>` (without a reply) and answer with \
                         `.then_reply_to({name}, |state| ..)` or `{name}.tell(..)`, or remove \
                         `#[reply]` to reply from the effect"
                    )
                }
                _ => format!(
                    "remove the return type and answer with `{name}.tell(..)` (now or later), \
                     or remove `#[reply]` to answer with the return value"
                ),
            };
            errors.at(
                reply,
                format!(
                    "`{}` answers through its `#[reply]` argument `{name}`, so it cannot also \
                     return a reply",
                    handler.method.name
                ),
                fix,
            );
        }
    }
}

/// `#[reply]` on an argument of a method that is not a message handler (a private method, a
/// hook, `apply`): it would mean nothing.
pub(super) fn stray_reply_attributes(block: &ImplBlock, handlers: &[Handler], errors: &mut Errors) {
    for method in &block.methods {
        if handlers
            .iter()
            .any(|handler| std::ptr::eq(handler.method.item, method.item))
        {
            continue;
        }
        for arg in method.args() {
            for attr in arg.attrs.iter().filter(|attr| is_reply_attr(attr)) {
                errors.at(
                    attr,
                    format!(
                        "`#[reply]` marks the reply address of a message handler, and `{}` is \
                         not one",
                        method.name
                    ),
                    "remove it; handlers are the `pub` methods taking `self`",
                );
            }
        }
    }
}

fn receiver(method: &Method, role: Role, errors: &mut Errors) {
    let Some(receiver) = method.receiver else {
        return;
    };
    let takes = match role {
        Role::Actor => "take `&mut self` (or `&self`)",
        Role::Entity => "take `&self`: a command handler reads the state and returns an `Effect`",
    };
    match &receiver.kind {
        ReceiverKind::Value => errors.at(
            receiver,
            "a handler cannot take `self` by value: the state stays with the actor from one \
             message to the next",
            takes,
        ),
        ReceiverKind::Reference(_, Some(lifetime), _) => errors.at(
            lifetime,
            "a handler's `self` cannot name a lifetime",
            format!("remove `{lifetime}`"),
        ),
        ReceiverKind::Reference(_, None, Some(mutability)) if role == Role::Entity => errors.at(
            mutability,
            "a command handler cannot take `&mut self`: an entity's state changes only through \
             events, in `apply`, once they are persisted",
            "take `&self` and return `Effect::persist(..)` with the event that records the change",
        ),
        ReceiverKind::Reference(..) => {}
        _ => errors.at(receiver, "a handler takes `&self` or `&mut self`", takes),
    }
}

/// `fn apply(&mut self, event: &Event)`, exactly.
pub(super) fn apply(apply: &Method, errors: &mut Errors) {
    let sig = &apply.item.sig;
    let args: Vec<_> = apply.args().collect();
    let event = match args.as_slice() {
        [arg] => match &*arg.ty {
            Type::Reference(reference) => Some(&*reference.elem),
            other => Some(other),
        },
        _ => None,
    };
    let event_name = event.map_or_else(
        || "YourEvent".to_owned(),
        |event| quote::quote!(#event).to_string().replace(' ', ""),
    );
    let fix = format!("write `fn apply(&mut self, event: &{event_name})`");
    let receiver_ok = apply
        .receiver
        .is_some_and(|receiver| matches!(receiver.kind, ReceiverKind::Reference(_, None, Some(_))));
    let arg_ok = matches!(args.as_slice(), [arg] if matches!(&*arg.ty,
        Type::Reference(reference) if reference.mutability.is_none() && reference.lifetime.is_none()));
    let output_ok = match &sig.output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(unit) if unit.elems.is_empty()),
    };
    let problem = "`apply`, the event handler, has the wrong signature";
    if let Some(asyncness) = &sig.asyncness {
        errors.at(asyncness, format!("{problem}: it cannot be `async`"), &fix);
    } else if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.at(
            &sig.generics,
            format!("{problem}: it cannot be generic"),
            &fix,
        );
    } else if !receiver_ok {
        let at: &dyn quote::ToTokens = match sig.inputs.first() {
            Some(FnArg::Receiver(receiver)) => receiver,
            _ => &sig.ident,
        };
        errors.at(
            at,
            format!("{problem}: it takes `&mut self`, the state it changes"),
            &fix,
        );
    } else if !arg_ok {
        let at: &dyn quote::ToTokens = match args.as_slice() {
            [arg] => &arg.ty,
            _ => &sig.inputs,
        };
        errors.at(
            at,
            format!("{problem}: it takes one argument, a reference to the event"),
            &fix,
        );
    } else if !output_ok {
        errors.at(&sig.output, format!("{problem}: it returns nothing"), &fix);
    }
}

/// Two handlers whose names give the same variant (`do_it` and `doIt`). Two handlers under
/// different `#[cfg]`s may share a name: at most one of them is compiled (or the compiler
/// says so).
pub(super) fn variants(handlers: &[Handler], errors: &mut Errors) {
    let mut seen: HashMap<String, &Handler> = HashMap::new();
    for handler in handlers.iter().filter(|h| h.invalid_variant.is_none()) {
        let variant = handler.variant.to_string();
        match seen.get(&variant) {
            Some(first) if exclusive_cfgs(first, handler) => {}
            Some(first) => errors.at(
                handler.method.name,
                format!(
                    "handlers `{}` and `{}` would both become the message variant `{variant}`",
                    first.method.name, handler.method.name
                ),
                "rename one of them",
            ),
            None => {
                seen.insert(variant, handler);
            }
        }
    }
}

/// Whether two handlers sit under `#[cfg]`s that differ, so that they may not both exist.
fn exclusive_cfgs(a: &Handler, b: &Handler) -> bool {
    let (a, b) = (a.method.cfgs(), b.method.cfgs());
    let text = |cfgs: Vec<proc_macro2::TokenStream>| {
        cfgs.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    !a.is_empty() && !b.is_empty() && text(a) != text(b)
}
