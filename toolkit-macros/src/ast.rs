//! The macros' inputs as small models: an impl block's methods sorted into handlers, hooks and
//! plain methods; a struct or enum with its attribute arguments. Building a model never fails
//! and judges nothing: `valid` checks it, `expand` turns a valid one into code.

use proc_macro2::TokenStream;
use syn::punctuated::Punctuated;
use syn::{
    DeriveInput, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, PatType,
    PathArguments, Receiver, ReturnType, Token, Type, Visibility,
};

use crate::attr::{ActorArgs, EntityAttrs, EntityImplArgs, EventAttrs};
use crate::names::{self, InvalidVariant};

/// An impl block and its methods.
pub(crate) struct ImplBlock<'a> {
    pub item: &'a ItemImpl,
    /// The last segment of the self type's path (`Store` for `impl<T> Store<T>`), which the
    /// generated names start with; `None` if the self type is not a path.
    pub type_name: Option<&'a Ident>,
    pub methods: Vec<Method<'a>>,
}

/// One method of an impl block.
#[derive(Clone, Copy)]
pub(crate) struct Method<'a> {
    pub item: &'a ImplItemFn,
    pub name: &'a Ident,
    /// `pub`, `pub(crate)`, …: handlers are the public methods.
    pub public: bool,
    pub receiver: Option<&'a Receiver>,
}

impl<'a> Method<'a> {
    /// The arguments after `self`.
    pub(crate) fn args(&self) -> impl Iterator<Item = &'a PatType> + use<'a> {
        self.item.sig.inputs.iter().filter_map(|arg| match arg {
            FnArg::Typed(arg) => Some(arg),
            FnArg::Receiver(_) => None,
        })
    }

    /// The doc comments (`#[doc = ..]` attributes), carried to what the method generates.
    pub(crate) fn docs(&self) -> impl Iterator<Item = &'a syn::Attribute> + use<'a> {
        self.item
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("doc"))
    }

    /// The method's conditions, carried to everything it generates, so that a handler
    /// compiled out takes its variant, match arm and ref method with it: each `#[cfg(..)]`,
    /// and the `cfg(..)` parts of each `#[cfg_attr(predicate, ..)]`. Other attributes under
    /// `cfg_attr` stay on the method alone.
    pub(crate) fn cfgs(&self) -> Vec<TokenStream> {
        let mut cfgs = Vec::new();
        for attr in &self.item.attrs {
            if attr.path().is_ident("cfg") {
                cfgs.push(quote::quote!(#attr));
            } else if attr.path().is_ident("cfg_attr")
                && let Some(cfg_attr) = cfg_parts(attr)
            {
                cfgs.push(cfg_attr);
            }
        }
        cfgs
    }
}

/// `#[cfg_attr(predicate, cfg(a), inline, cfg(b))]` → `#[cfg_attr(predicate, cfg(a), cfg(b))]`,
/// or `None` when it holds no `cfg`. An attribute that does not parse is left to the compiler.
fn cfg_parts(attr: &syn::Attribute) -> Option<TokenStream> {
    let syn::Meta::List(list) = &attr.meta else {
        return None;
    };
    let parts = list
        .parse_args_with(Punctuated::<syn::Meta, Token![,]>::parse_terminated)
        .ok()?;
    let mut parts = parts.into_iter();
    let predicate = parts.next()?;
    let cfgs: Vec<syn::Meta> = parts.filter(|meta| meta.path().is_ident("cfg")).collect();
    if cfgs.is_empty() {
        return None;
    }
    let pound = attr.pound_token;
    Some(quote::quote!(#pound [cfg_attr(#predicate, #(#cfgs),*)]))
}

impl<'a> ImplBlock<'a> {
    pub(crate) fn new(item: &'a ItemImpl) -> Self {
        let type_name = match &*item.self_ty {
            Type::Path(path) if path.qself.is_none() => {
                path.path.segments.last().map(|segment| &segment.ident)
            }
            _ => None,
        };
        let methods = item
            .items
            .iter()
            .filter_map(|item| match item {
                ImplItem::Fn(method) => Some(Method {
                    item: method,
                    name: &method.sig.ident,
                    public: !matches!(method.vis, Visibility::Inherited),
                    receiver: method.sig.receiver(),
                }),
                _ => None,
            })
            .collect();
        Self {
            item,
            type_name,
            methods,
        }
    }
}

/// A method that becomes a message: a variant of the generated enum, a method of the
/// extension trait.
pub(crate) struct Handler<'a> {
    pub method: Method<'a>,
    /// The variant: the method's name in UpperCamelCase (a placeholder when that is not an
    /// identifier, which `valid` reports from `invalid_variant`).
    pub variant: Ident,
    /// Why the method's name gives no variant, if it does not.
    pub invalid_variant: Option<InvalidVariant>,
    /// The `ctx: &mut Context<..>` argument (actors) or `ctx: &mut EntityContext<'_, ..>`
    /// (entities), first after `self`.
    pub context: Option<&'a PatType>,
    /// The other arguments: the variant's fields (the `#[reply]` argument among them).
    pub fields: Vec<&'a PatType>,
    pub output: Output<'a>,
    /// The arguments marked `#[reply]`, by index in `fields`: the handler keeps the reply
    /// address and answers later, so it returns nothing and the ref method still returns
    /// `Pending<R>`. `valid` allows one, of type `ActorRef<R>`, and no return value.
    pub reply_args: Vec<usize>,
}

/// Whether an argument is marked `#[reply]` (in any form: `valid` checks the form).
pub(crate) fn is_reply_attr(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("reply")
}

/// `R` of `ActorRef<R>` (any path ending in `ActorRef`, with one type argument).
pub(crate) fn actor_ref_reply(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "ActorRef" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(reply)] => Some(reply),
        _ => None,
    }
}

/// What a handler returns.
pub(crate) enum Output<'a> {
    /// Nothing: the message is a tell.
    Unit,
    /// A value: the message carries a `reply_to`, the ref method returns `Pending<R>`.
    Value(&'a Type),
    /// An entity's `Effect<Event>` or `Effect<Event, Reply>`: events to persist, then the
    /// reply (if any) computed from the new state.
    Effect(EffectType<'a>),
}

/// `Effect<Event, Reply>` as written in an entity's command handler.
pub(crate) struct EffectType<'a> {
    /// The whole type, for errors.
    pub ty: &'a Type,
    /// The generic arguments as written.
    pub args: Vec<&'a GenericArgument>,
    /// The path without its arguments (`Effect`, `reactant::persistence::Effect`), which the
    /// generated code checks names Reactant's `Effect`.
    pub constructor: syn::Path,
}

impl<'a> EffectType<'a> {
    /// The event type, if the arguments are well formed.
    pub(crate) fn event(&self) -> Option<&'a Type> {
        match self.args.first() {
            Some(GenericArgument::Type(event)) => Some(event),
            _ => None,
        }
    }

    /// The state type of the full `Effect<Event, State, Reply>`.
    pub(crate) fn state(&self) -> Option<&'a Type> {
        match self.args.as_slice() {
            [_, GenericArgument::Type(state), _] => Some(state),
            _ => None,
        }
    }

    /// The reply type: `Reply` in `Effect<Event, Reply>` and in the full
    /// `Effect<Event, State, Reply>`.
    pub(crate) fn reply(&self) -> Option<&'a Type> {
        match self.args.as_slice() {
            [_, GenericArgument::Type(reply)] | [_, _, GenericArgument::Type(reply)] => Some(reply),
            _ => None,
        }
    }
}

impl<'a> Output<'a> {
    /// The type of the reply, if the handler returns one.
    pub(crate) fn reply(&self) -> Option<&'a Type> {
        match self {
            Output::Unit => None,
            Output::Value(ty) => Some(ty),
            Output::Effect(effect) => effect.reply(),
        }
    }
}

impl<'a> Handler<'a> {
    fn new(method: Method<'a>, with_context: bool, entity: bool) -> Self {
        let mut args = method.args().peekable();
        let context = match (with_context, entity) {
            (true, false) => args.next_if(|arg| is_context(&arg.ty)),
            (true, true) => args.next_if(|arg| is_entity_context(&arg.ty)),
            (false, _) => None,
        };
        let output = match &method.item.sig.output {
            ReturnType::Default => Output::Unit,
            ReturnType::Type(_, ty) => match &**ty {
                Type::Tuple(unit) if unit.elems.is_empty() => Output::Unit,
                _ => match effect_type(ty) {
                    Some(effect) if entity => Output::Effect(effect),
                    _ => Output::Value(ty),
                },
            },
        };
        let (variant, invalid_variant) = match names::variant_of(method.name) {
            Ok(variant) => (variant, None),
            Err(invalid) => (
                Ident::new("__ReactantInvalidVariant", method.name.span()),
                Some(invalid),
            ),
        };
        let fields: Vec<&'a PatType> = args.collect();
        let reply_args = fields
            .iter()
            .enumerate()
            .filter(|(_, arg)| arg.attrs.iter().any(is_reply_attr))
            .map(|(index, _)| index)
            .collect();
        Self {
            method,
            variant,
            invalid_variant,
            context,
            fields,
            output,
            reply_args,
        }
    }

    /// The `#[reply] reply_to: ActorRef<R>` argument, when there is one (the first if several).
    pub(crate) fn reply_arg(&self) -> Option<&'a PatType> {
        self.reply_args.first().map(|&index| self.fields[index])
    }

    /// The reply type the ref method's `Pending<R>` waits for: the return type, or `R` of the
    /// `#[reply]` argument's `ActorRef<R>`.
    pub(crate) fn reply(&self) -> Option<&'a Type> {
        self.output
            .reply()
            .or_else(|| self.reply_arg().and_then(|arg| actor_ref_reply(&arg.ty)))
    }

    /// Whether the field at `index` is the `#[reply]` argument, which the ref method fills in.
    pub(crate) fn is_reply_field(&self, field: &PatType) -> bool {
        self.reply_arg().is_some_and(|arg| std::ptr::eq(arg, field))
    }

    /// The name of a field's argument (`None` if the argument is a pattern, which `valid`
    /// refuses).
    pub(crate) fn field_name(field: &PatType) -> Option<&Ident> {
        match &*field.pat {
            Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                Some(&ident.ident)
            }
            _ => None,
        }
    }
}

/// `&mut Context<..>` (any path ending in `Context`): the handler's context argument.
pub(crate) fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) if reference.mutability.is_some() => {
            matches!(&*reference.elem, Type::Path(path)
                if path.path.segments.last().is_some_and(|s| s.ident == "Context"))
        }
        _ => false,
    }
}

/// `&mut EntityContext<..>`: an entity command handler's or hook's context (persistence's
/// `EntityContext`, which the generated code passes as the runtime's).
pub(crate) fn is_entity_context(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) if reference.mutability.is_some() => {
            matches!(&*reference.elem, Type::Path(path)
                if path.path.segments.last().is_some_and(|s| s.ident == "EntityContext"))
        }
        _ => false,
    }
}

/// Reactant's `Effect<..>`, as far as a spelling tells: `Effect<..>` itself (whatever it
/// names in the user's scope, which the generated code checks is Reactant's), or a path to it
/// through the crate (`reactant::persistence::Effect<..>`, `::reactant::prelude::Effect<..>`).
/// Any other path ending in `Effect` (`sim::Effect<..>`) is some other type, and `Effect`
/// without arguments cannot be Reactant's, whose event and state types have no default.
pub(crate) fn effect_type(ty: &Type) -> Option<EffectType<'_>> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<&syn::PathSegment> = path.path.segments.iter().collect();
    let (last, before) = segments.split_last()?;
    if last.ident != "Effect" {
        return None;
    }
    let reactant = match before {
        [] => path.path.leading_colon.is_none(),
        [krate, module] => {
            krate.ident == "reactant"
                && (module.ident == "persistence" || module.ident == "prelude")
                && krate.arguments.is_none()
                && module.arguments.is_none()
        }
        _ => false,
    };
    if !reactant {
        return None;
    }
    let args: Vec<&GenericArgument> = match &last.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().collect(),
        _ => Vec::new(),
    };
    if args.is_empty() {
        return None;
    }
    let mut constructor = path.path.clone();
    if let Some(last) = constructor.segments.last_mut() {
        last.arguments = PathArguments::None;
    }
    Some(EffectType {
        ty,
        args,
        constructor,
    })
}

/// The lifecycle hooks an `#[actor]` impl block may define, forwarded from `Actor`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    PreStart,
    PostStop,
    PreRestart,
    OnSignal,
}

impl HookKind {
    pub(crate) const ALL: [HookKind; 4] = [
        HookKind::PreStart,
        HookKind::PostStop,
        HookKind::PreRestart,
        HookKind::OnSignal,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            HookKind::PreStart => "pre_start",
            HookKind::PostStop => "post_stop",
            HookKind::PreRestart => "pre_restart",
            HookKind::OnSignal => "on_signal",
        }
    }

    fn of(method: &Ident) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| method == kind.name())
    }
}

/// A lifecycle hook of an `#[actor]` impl block.
pub(crate) struct Hook<'a> {
    pub method: Method<'a>,
    pub kind: HookKind,
    /// Whether it takes the context (it may leave it out).
    pub context: bool,
}

/// The input of `#[actor]`.
pub(crate) struct Actor<'a> {
    pub args: ActorArgs,
    pub block: ImplBlock<'a>,
    pub handlers: Vec<Handler<'a>>,
    pub hooks: Vec<Hook<'a>>,
}

impl<'a> Actor<'a> {
    pub(crate) fn new(args: ActorArgs, item: &'a ItemImpl) -> Self {
        let block = ImplBlock::new(item);
        let mut handlers = Vec::new();
        let mut hooks = Vec::new();
        for method in &block.methods {
            if let Some(kind) = HookKind::of(method.name) {
                let context = method.args().next().is_some_and(|arg| is_context(&arg.ty));
                hooks.push(Hook {
                    method: *method,
                    kind,
                    context,
                });
            } else if method.public && method.receiver.is_some() {
                handlers.push(Handler::new(*method, true, false));
            }
        }
        Self {
            args,
            block,
            handlers,
            hooks,
        }
    }
}

/// The input of `#[entity]` on an impl block.
pub(crate) struct EntityImpl<'a> {
    pub args: EntityImplArgs,
    pub block: ImplBlock<'a>,
    /// `fn apply(&mut self, event: &Event)`, the event handler.
    pub apply: Option<Method<'a>>,
    /// The command handlers.
    pub commands: Vec<Handler<'a>>,
    /// `fn on_signal(&self, ctx: &mut EntityContext<'_, Command>, signal: &EntitySignal)`.
    pub on_signal: Option<Method<'a>>,
}

impl<'a> EntityImpl<'a> {
    pub(crate) fn new(args: EntityImplArgs, item: &'a ItemImpl) -> Self {
        let block = ImplBlock::new(item);
        let mut apply = None;
        let mut on_signal = None;
        let mut commands = Vec::new();
        for method in &block.methods {
            if method.name == "apply" {
                apply = Some(*method);
            } else if method.name == "on_signal" {
                on_signal = Some(*method);
            } else if method.public && method.receiver.is_some() {
                commands.push(Handler::new(*method, true, true));
            }
        }
        Self {
            args,
            block,
            apply,
            commands,
            on_signal,
        }
    }
}

/// The input of `#[derive(Entity)]`.
pub(crate) struct EntityStruct<'a> {
    pub input: &'a DeriveInput,
    pub attrs: EntityAttrs,
}

/// The input of `#[derive(Event)]`.
pub(crate) struct EventType<'a> {
    pub input: &'a DeriveInput,
    pub attrs: EventAttrs,
}
