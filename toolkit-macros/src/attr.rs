//! The arguments of the macros' attributes: `#[actor(..)]` and `#[entity(..)]` on an impl
//! block, `#[entity(..)]` beside `#[derive(Entity)]`, `#[event(..)]` beside `#[derive(Event)]`.
//!
//! Parsing checks the shape of each value (a string, an integer, a type, a name) and records
//! what it finds; what the values mean (a version of 0, a missing key) is checked in `valid`.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitBool, LitStr, Path, Type};

use crate::errors::{Errors, error};

/// `#[actor(msg = CounterCmd, ref_trait = CounterApi)]`.
#[derive(Default)]
pub(crate) struct ActorArgs {
    /// The message enum's name (default `{Type}Msg`).
    pub msg: Option<Ident>,
    /// The extension trait's name (default `{Type}Ref`).
    pub ref_trait: Option<Ident>,
}

/// `#[entity(command = AccountCmd, ref_trait = AccountApi)]` on the impl block.
#[derive(Default)]
pub(crate) struct EntityImplArgs {
    /// The command enum's name (default `{Type}Command`).
    pub command: Option<Ident>,
    /// The extension trait's name (default `{Type}Ref`).
    pub ref_trait: Option<Ident>,
}

/// `#[entity(type_key = "account", event = AccountEvent, snapshot_every = 100, slices = 8, ..)]` beside
/// `#[derive(Entity)]`.
#[derive(Default)]
pub(crate) struct EntityAttrs {
    /// Whether any `#[entity(..)]` attribute was there.
    pub present: bool,
    pub type_key: Option<LitStr>,
    pub event: Option<Type>,
    pub snapshot_every: Option<Int<u64>>,
    pub keep_snapshots: Option<Int<usize>>,
    pub delete_events_on_snapshot: Option<LitBool>,
    /// `codec = expr`: the value given to `EventSourcedBehavior::with_codec`.
    pub codec: Option<Expr>,
    /// `slices = 8`: the entity type's `SLICES`.
    pub slices: Option<Int<u32>>,
    /// The keys that unknown ones were taken for (`evnt` → `event`): that key is not reported
    /// missing as well.
    pub misspelt: Vec<&'static str>,
}

/// `#[event(name = "account-event", version = 2, tag = "account", upcast = path::to::fn)]`
/// beside `#[derive(Event)]`.
#[derive(Default)]
pub(crate) struct EventAttrs {
    pub name: Option<LitStr>,
    pub version: Option<Int<u32>>,
    pub tags: Vec<LitStr>,
    pub upcast: Option<Path>,
}

/// An integer argument and where it was written.
pub(crate) struct Int<T> {
    pub value: T,
    pub span: Span,
}

const ACTOR_KEYS: &[&str] = &["msg", "ref_trait"];
const ENTITY_IMPL_KEYS: &[&str] = &["command", "ref_trait"];
const ENTITY_KEYS: &[&str] = &[
    "type_key",
    "event",
    "snapshot_every",
    "keep_snapshots",
    "delete_events_on_snapshot",
    "codec",
    "slices",
];
const EVENT_KEYS: &[&str] = &["name", "version", "tag", "upcast"];

/// Parses the arguments of `#[actor(..)]`.
pub(crate) fn actor_args(args: TokenStream, errors: &mut Errors) -> ActorArgs {
    let mut parsed = ActorArgs::default();
    let parser = syn::meta::parser(|meta| {
        let key = key_of(&meta);
        match key.as_str() {
            "msg" => set(
                errors,
                &meta,
                &mut parsed.msg,
                ident_value(&meta, "CounterCmd"),
            ),
            "ref_trait" => set(
                errors,
                &meta,
                &mut parsed.ref_trait,
                ident_value(&meta, "CounterApi"),
            ),
            _ => unknown(errors, &meta, "actor", ACTOR_KEYS, &key),
        }
    });
    let result = parser.parse2(args);
    errors.take(result);
    parsed
}

/// Parses the arguments of `#[entity(..)]` on an impl block.
pub(crate) fn entity_impl_args(args: TokenStream, errors: &mut Errors) -> EntityImplArgs {
    let mut parsed = EntityImplArgs::default();
    let parser = syn::meta::parser(|meta| {
        let key = key_of(&meta);
        match key.as_str() {
            "command" => set(
                errors,
                &meta,
                &mut parsed.command,
                ident_value(&meta, "AccountCmd"),
            ),
            "ref_trait" => set(
                errors,
                &meta,
                &mut parsed.ref_trait,
                ident_value(&meta, "AccountApi"),
            ),
            _ if ENTITY_KEYS.contains(&key.as_str()) => {
                skip_value(meta.input)?;
                errors.at(
                    &meta.path,
                    format!("`{key}` describes the entity's state, not its impl block"),
                    format!(
                        "move `{key} = ..` to the struct: `#[derive(Entity)] \
                         #[entity({key} = ..)] struct ..`"
                    ),
                );
                Ok(())
            }
            _ => unknown(errors, &meta, "entity", ENTITY_IMPL_KEYS, &key),
        }
    });
    let result = parser.parse2(args);
    errors.take(result);
    parsed
}

/// Parses every `#[entity(..)]` attribute of a struct deriving `Entity`.
pub(crate) fn entity_attrs(attrs: &[Attribute], errors: &mut Errors) -> EntityAttrs {
    let mut parsed = EntityAttrs::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("entity")) {
        parsed.present = true;
        let result = attr.parse_nested_meta(|meta| entity_arg(&meta, &mut parsed, errors));
        errors.take(result);
    }
    parsed
}

/// Parses the arguments of `#[derive(Entity)]`'s attribute given to the `#[entity]` attribute
/// macro instead (on a struct without the derive above it).
pub(crate) fn entity_attrs_of(args: TokenStream, errors: &mut Errors) -> EntityAttrs {
    let mut parsed = EntityAttrs {
        present: true,
        ..EntityAttrs::default()
    };
    let parser = syn::meta::parser(|meta| entity_arg(&meta, &mut parsed, errors));
    let result = parser.parse2(args);
    errors.take(result);
    parsed
}

/// One argument of `#[entity(..)]` beside `#[derive(Entity)]`.
fn entity_arg(
    meta: &ParseNestedMeta,
    parsed: &mut EntityAttrs,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = key_of(meta);
    match key.as_str() {
        "type_key" => set(
            errors,
            meta,
            &mut parsed.type_key,
            str_value(meta, "account"),
        ),
        "event" => set(errors, meta, &mut parsed.event, type_value(meta)),
        "snapshot_every" => set(
            errors,
            meta,
            &mut parsed.snapshot_every,
            int_value(meta, "100"),
        ),
        "keep_snapshots" => set(
            errors,
            meta,
            &mut parsed.keep_snapshots,
            int_value(meta, "2"),
        ),
        "delete_events_on_snapshot" => set(
            errors,
            meta,
            &mut parsed.delete_events_on_snapshot,
            bool_value(meta),
        ),
        "slices" => set(errors, meta, &mut parsed.slices, int_value(meta, "8")),
        "codec" => set(
            errors,
            meta,
            &mut parsed.codec,
            meta.value().and_then(|value| value.parse::<Expr>()).map(Ok),
        ),
        _ if ENTITY_IMPL_KEYS.contains(&key.as_str()) => {
            skip_value(meta.input)?;
            errors.at(
                &meta.path,
                format!("`{key}` names an item the impl block's `#[entity]` generates"),
                format!("move `{key} = ..` to the impl block: `#[entity({key} = ..)] impl ..`"),
            );
            Ok(())
        }
        _ => {
            if let Some(meant) = closest(&key, ENTITY_KEYS) {
                parsed.misspelt.push(meant);
            }
            unknown(errors, meta, "entity", ENTITY_KEYS, &key)
        }
    }
}

/// Parses every `#[event(..)]` attribute of a type deriving `Event`.
pub(crate) fn event_attrs(attrs: &[Attribute], errors: &mut Errors) -> EventAttrs {
    let mut parsed = EventAttrs::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("event")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = key_of(&meta);
            match key.as_str() {
                "name" => set(
                    errors,
                    &meta,
                    &mut parsed.name,
                    str_value(&meta, "account-event"),
                ),
                "version" => set(errors, &meta, &mut parsed.version, int_value(&meta, "2")),
                "tag" => {
                    if let Some(tag) = errors.take(str_value(&meta, "account")?) {
                        parsed.tags.push(tag);
                    }
                    Ok(())
                }
                "upcast" => set(errors, &meta, &mut parsed.upcast, path_value(&meta)),
                _ => unknown(errors, &meta, "event", EVENT_KEYS, &key),
            }
        });
        errors.take(result);
    }
    parsed
}

/// The key of one argument, as written (`snapshot_every`, or `a::b` for a path).
fn key_of(meta: &ParseNestedMeta) -> String {
    let path = &meta.path;
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.join("::")
}

/// Stores a value, or records why it is wrong. A syntax error (the outer `Result`) stops the
/// attribute; a value of the wrong kind (the inner one) does not.
fn set<T>(
    errors: &mut Errors,
    meta: &ParseNestedMeta,
    slot: &mut Option<T>,
    value: syn::Result<syn::Result<T>>,
) -> syn::Result<()> {
    if let Some(value) = errors.take(value?) {
        if slot.is_some() {
            errors.at(
                &meta.path,
                format!("`{}` is given twice", key_of(meta)),
                "keep one of them",
            );
        } else {
            *slot = Some(value);
        }
    }
    Ok(())
}

fn unknown(
    errors: &mut Errors,
    meta: &ParseNestedMeta,
    attribute: &str,
    keys: &[&str],
    key: &str,
) -> syn::Result<()> {
    skip_value(meta.input)?;
    let expected = keys
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let fix = match closest(key, keys) {
        Some(close) => format!("did you mean `{close}`? The arguments are {expected}"),
        None => format!("the arguments are {expected}"),
    };
    errors.at(
        &meta.path,
        format!("unknown `#[{attribute}]` argument `{key}`"),
        fix,
    );
    Ok(())
}

/// The known key nearest to a misspelt one, if it is near enough to be the one meant.
pub(crate) fn closest<'k>(key: &str, keys: &[&'k str]) -> Option<&'k str> {
    keys.iter()
        .map(|known| (edit_distance(key, known), *known))
        .filter(|(distance, known)| *distance <= 2.max(known.len() / 4))
        .min()
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Skips an argument's value (`= ..` or `(..)`), up to the next top-level comma.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if let TokenTree::Punct(punct) = &tree
                && punct.as_char() == ','
            {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// `key = Name`.
fn ident_value(meta: &ParseNestedMeta, example: &str) -> syn::Result<syn::Result<Ident>> {
    let key = key_of(meta);
    let expr: Expr = meta.value()?.parse()?;
    Ok(match &expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            path.path.require_ident().cloned()
        }
        Expr::Lit(ExprLit {
            lit: Lit::Str(name),
            ..
        }) => Err(error(
            &expr,
            format!("`{key}` takes a name, not a string"),
            format!("write `{key} = {}`, without quotes", name.value()),
        )),
        _ => Err(error(
            &expr,
            format!("`{key}` takes a name"),
            format!("write `{key} = {example}`"),
        )),
    })
}

/// `key = "text"`.
fn str_value(meta: &ParseNestedMeta, example: &str) -> syn::Result<syn::Result<LitStr>> {
    let key = key_of(meta);
    let expr: Expr = meta.value()?.parse()?;
    Ok(match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok(text.clone()),
        Expr::Path(path) if path.path.get_ident().is_some() => {
            let word = path
                .path
                .get_ident()
                .map(Ident::to_string)
                .unwrap_or_default();
            Err(error(
                &expr,
                format!("`{key}` takes a string"),
                format!("write `{key} = \"{word}\"`"),
            ))
        }
        _ => Err(error(
            &expr,
            format!("`{key}` takes a string"),
            format!("write `{key} = \"{example}\"`"),
        )),
    })
}

/// `key = 42`.
fn int_value<T>(meta: &ParseNestedMeta, example: &str) -> syn::Result<syn::Result<Int<T>>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let key = key_of(meta);
    let expr: Expr = meta.value()?.parse()?;
    Ok(match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse().map(|value| Int {
            value,
            span: int.span(),
        }),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) if text.value().trim().parse::<u64>().is_ok() => Err(error(
            &expr,
            format!("`{key}` takes an integer, not a string"),
            format!("write `{key} = {}`, without quotes", text.value().trim()),
        )),
        _ => Err(error(
            &expr,
            format!("`{key}` takes a positive integer"),
            format!("write `{key} = {example}`"),
        )),
    })
}

/// `key = true`.
fn bool_value(meta: &ParseNestedMeta) -> syn::Result<syn::Result<LitBool>> {
    let key = key_of(meta);
    let expr: Expr = meta.value()?.parse()?;
    Ok(match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(flag),
            ..
        }) => Ok(flag.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) if matches!(text.value().as_str(), "true" | "false") => Err(error(
            &expr,
            format!("`{key}` takes `true` or `false`, not a string"),
            format!("write `{key} = {}`, without quotes", text.value()),
        )),
        _ => Err(error(
            &expr,
            format!("`{key}` takes `true` or `false`"),
            format!("write `{key} = true`"),
        )),
    })
}

/// `event = AccountEvent`.
fn type_value(meta: &ParseNestedMeta) -> syn::Result<syn::Result<Type>> {
    let key = key_of(meta);
    let input = meta.value()?;
    if input.peek(LitStr) {
        let name: LitStr = input.parse()?;
        return Ok(Err(error(
            &name,
            format!("`{key}` takes a type, not a string"),
            format!("write `{key} = {}`, without quotes", name.value()),
        )));
    }
    if input.peek(syn::Lit) {
        let lit: Lit = input.parse()?;
        return Ok(Err(error(
            &lit,
            format!("`{key}` takes a type"),
            format!("write `{key} = AccountEvent` (the entity's event type)"),
        )));
    }
    Ok(Ok(input.parse()?))
}

/// `upcast = path::to::function`.
fn path_value(meta: &ParseNestedMeta) -> syn::Result<syn::Result<Path>> {
    let key = key_of(meta);
    let input = meta.value()?;
    if input.peek(LitStr) {
        let name: LitStr = input.parse()?;
        return Ok(Err(error(
            &name,
            format!("`{key}` takes the path of a function, not a string"),
            format!("write `{key} = {}`, without quotes", name.value()),
        )));
    }
    // An expression path, so that it can be called as written: `f`, `m::f`, `f::<T>`.
    let expr: Expr = input.parse()?;
    Ok(match expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => Ok(path.path),
        other => Err(error(
            &other,
            format!("`{key}` takes the path of a function"),
            format!(
                "write `{key} = upcast_account_event` (a function, with the signature of `Event::upcast`)"
            ),
        )),
    })
}
