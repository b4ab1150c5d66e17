//! The macros never panic, whatever they are given: an exhaustive table of handler names (every
//! identifier of up to four characters over an alphabet that reaches each way a derived name can
//! fail, plus every keyword, raw and decorated) and of attribute values is fed through the
//! macros' entry points. Each input gives either code that parses, or errors; a panic, or an
//! expansion that is not valid Rust, fails the test and names the input.

use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::TokenStream;
use syn::{DeriveInput, Ident};

use crate::expand;

/// Runs a macro on one input: it must not panic, and must give errors or items that parse.
/// Returns whether it reported an error.
fn expand_without_panic(what: &str, run: impl FnOnce() -> TokenStream) -> bool {
    let output = match catch_unwind(AssertUnwindSafe(run)) {
        Ok(output) => output,
        Err(_) => panic!("the macro panicked on {what}"),
    };
    let text = output.to_string();
    let errors = text.contains("compile_error");
    if !errors && let Err(error) = syn::parse2::<syn::File>(output) {
        panic!("the expansion of {what} is not valid Rust ({error}): {text}");
    }
    errors
}

/// Every identifier (as `syn` reads one) of one to four characters over `_`, `a`, `1`, `Z`,
/// `é`: names of underscores only, names whose words start with a digit, non-ASCII letters.
fn short_identifiers() -> Vec<String> {
    const ALPHABET: [char; 5] = ['_', 'a', '1', 'Z', 'é'];
    let mut names = Vec::new();
    let mut current: Vec<String> = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for prefix in &current {
            for c in ALPHABET {
                let mut name = prefix.clone();
                name.push(c);
                next.push(name);
            }
        }
        names.extend(next.iter().cloned());
        current = next;
    }
    names
        .into_iter()
        .filter(|name| syn::parse_str::<Ident>(name).is_ok())
        .collect()
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "gen", "union", "raw",
];

/// The keywords, raw where Rust allows it, and with underscores around them.
fn keyword_names() -> Vec<String> {
    KEYWORDS
        .iter()
        .flat_map(|kw| {
            [
                format!("r#{kw}"),
                format!("{kw}_"),
                format!("_{kw}"),
                format!("{kw}__"),
                format!("__{kw}_x"),
            ]
        })
        .filter(|name| syn::parse_str::<Ident>(name).is_ok())
        .collect()
}

fn handler_names() -> Vec<String> {
    let mut names = short_identifiers();
    names.extend(keyword_names());
    names
}

#[test]
fn no_handler_name_makes_actor_panic() {
    let names = handler_names();
    assert!(names.len() > 500, "the table covers {} names", names.len());
    for name in &names {
        let input: TokenStream = format!(
            "impl Counter {{ pub fn {name}(&mut self, by: u64) -> u64 {{ by }} pub fn get(&self) {{}} }}"
        )
        .parse()
        .unwrap_or_else(|error| panic!("test input for {name}: {error}"));
        let errors = expand_without_panic(&format!("#[actor] with handler `{name}`"), || {
            expand::actor::attribute(TokenStream::new(), input)
        });
        let variant = crate::names::variant_of(&syn::parse_str::<Ident>(name).expect("an ident"));
        // `get`'s variant is `Get`: a handler whose variant is `Get` too collides with it.
        let collides = variant.as_ref().is_ok_and(|variant| variant == "Get");
        let ref_method =
            crate::names::is_ref_method(&syn::parse_str::<Ident>(name).expect("an ident"), false);
        assert_eq!(
            errors,
            variant.is_err() || collides || ref_method,
            "handler `{name}` (variant {variant:?})"
        );
    }
}

#[test]
fn no_command_name_makes_entity_panic() {
    for name in handler_names() {
        let input: TokenStream = format!(
            "impl Account {{ \
                fn apply(&mut self, event: &AccountEvent) {{}} \
                pub fn {name}(&self, amount: u64) -> Effect<AccountEvent, u64> {{ Effect::none() }} \
            }}"
        )
        .parse()
        .unwrap_or_else(|error| panic!("test input for {name}: {error}"));
        expand_without_panic(&format!("#[entity] with command `{name}`"), || {
            expand::entity::attribute(TokenStream::new(), input)
        });
    }
}

/// Values of every shape an attribute argument can be given.
const VALUES: &[&str] = &[
    "\"\"",
    "\"   \"",
    "\"\\t\"",
    "\"account\"",
    "\"a|b\"",
    "\"ünïcödé\"",
    "\"\\\"\"",
    "0",
    "1",
    "100",
    "18446744073709551616",
    "-1",
    "1.5",
    "\"100\"",
    "true",
    "\"true\"",
    "AccountEvent",
    "crate::AccountEvent",
    "Vec<u8>",
    "account",
    "r#type",
    "'a'",
    "b\"x\"",
    "|x| x",
];

const ENTITY_KEYS: &[&str] = &[
    "type_key",
    "event",
    "snapshot_every",
    "keep_snapshots",
    "delete_events_on_snapshot",
    "codec",
    "command",
    "ref_trait",
    "evnt",
    "typekey",
    "a::b",
];

#[test]
fn no_attribute_value_makes_derive_entity_panic() {
    for key in ENTITY_KEYS {
        for value in VALUES {
            let source = format!(
                "#[entity(type_key = \"account\", event = AccountEvent, {key} = {value})] \
                 struct Account {{ balance: u64 }}"
            );
            let input: DeriveInput = syn::parse_str(&source)
                .unwrap_or_else(|error| panic!("test input {source}: {error}"));
            expand_without_panic(&format!("#[derive(Entity)] {source}"), || {
                expand::entity::derive(&input)
            });
            let alone = format!("#[entity({key} = {value})] struct Account {{ balance: u64 }}");
            let input: DeriveInput = syn::parse_str(&alone)
                .unwrap_or_else(|error| panic!("test input {alone}: {error}"));
            let errors = expand_without_panic(&format!("#[derive(Entity)] {alone}"), || {
                expand::entity::derive(&input)
            });
            assert!(errors, "`{alone}` lacks a required key, yet gave no error");
            // The same arguments on a struct without the derive, given to the attribute macro.
            let args: TokenStream = format!("{key} = {value}").parse().expect("tokens");
            let item: TokenStream = "#[derive(Default)] struct Account { balance: u64 }"
                .parse()
                .expect("tokens");
            expand_without_panic(&format!("#[entity({key} = {value})] on a struct"), || {
                expand::entity::attribute(args, item)
            });
        }
    }
}

#[test]
fn no_attribute_value_makes_derive_event_panic() {
    for key in ["name", "version", "tag", "upcast", "nmae", "a::b"] {
        for value in VALUES {
            let source = format!("#[event({key} = {value})] enum AccountEvent {{ Opened }}");
            let input: DeriveInput = syn::parse_str(&source)
                .unwrap_or_else(|error| panic!("test input {source}: {error}"));
            expand_without_panic(&format!("#[derive(Event)] {source}"), || {
                expand::event::derive(&input)
            });
        }
    }
}

#[test]
fn no_attribute_value_makes_impl_attributes_panic() {
    for key in ["msg", "ref_trait", "command", "type_key", "mgs"] {
        for value in VALUES {
            let args = format!("{key} = {value}");
            let block =
                "impl Counter { fn apply(&mut self, event: &E) {} pub fn get(&self) -> u64 { 1 } }";
            let run = |attribute: fn(TokenStream, TokenStream) -> TokenStream| {
                let args: TokenStream = args.parse().expect("tokens");
                let item: TokenStream = block.parse().expect("tokens");
                expand_without_panic(&format!("({args}) on an impl block"), || {
                    attribute(args, item)
                });
            };
            run(expand::actor::attribute);
            run(expand::entity::attribute);
        }
    }
}

/// `#[reply]` in every form, on arguments of every kind of type, with every kind of return type,
/// once or twice, in handlers and in methods that are not: never a panic, and the expansion of
/// a valid one parses (with the marker gone) and is an ask.
#[test]
fn no_reply_argument_makes_the_impl_attributes_panic() {
    const MARKERS: &[&str] = &[
        "#[reply]",
        "#[reply()]",
        "#[reply(later)]",
        "#[reply = 1]",
        "#[reply::x]",
        "#[reply] #[reply]",
    ];
    const TYPES: &[&str] = &[
        "ActorRef<u64>",
        "reactant::actor::ActorRef<Self>",
        "ActorRef",
        "ActorRef<>",
        "ActorRef<u64, u64>",
        "ActorRef<'static>",
        "ActorRef<&'a str>",
        "&ActorRef<u64>",
        "u64",
        "<T as X>::ActorRef<u64>",
        "fn(u64)",
        "&mut Context<CounterMsg>",
        "&mut EntityContext<'_, AccountCommand>",
    ];
    const OUTPUTS: &[&str] = &[
        "",
        "-> ()",
        "-> u64",
        "-> Effect<E>",
        "-> Effect<E, u64>",
        "-> Effect<E, Self, u64>",
    ];
    const NAMES: &[&str] = &["reply_to", "r#reply_to", "__reactant_reply_to", "_"];
    for marker in MARKERS {
        for ty in TYPES {
            for output in OUTPUTS {
                for name in NAMES {
                    for (receiver, public) in
                        [("&mut self", "pub"), ("&self", "pub"), ("&self", "")]
                    {
                        let handler = format!(
                            "{public} fn get({receiver}, a: u64, {marker} {name}: {ty}, \
                             b: String) {output} {{ Default::default() }}"
                        );
                        let block = format!(
                            "impl Counter {{ fn apply(&mut self, event: &E) {{}} {handler} \
                             pub fn twice(&self, #[reply] x: ActorRef<u8>, {marker} y: {ty}) {{}} }}"
                        );
                        for (macro_name, attribute) in [
                            (
                                "actor",
                                expand::actor::attribute
                                    as fn(TokenStream, TokenStream) -> TokenStream,
                            ),
                            (
                                "entity",
                                expand::entity::attribute
                                    as fn(TokenStream, TokenStream) -> TokenStream,
                            ),
                        ] {
                            let item: TokenStream = block.parse().expect("tokens");
                            let what = format!("#[{macro_name}] on {block}");
                            let mut text = String::new();
                            let errors = expand_without_panic(&what, || {
                                let output = attribute(TokenStream::new(), item);
                                text = output.to_string();
                                output
                            });
                            // `twice` has a second `#[reply]`, unless the marker is not
                            // the macro's.
                            if !errors {
                                assert_eq!(*marker, "#[reply::x]", "{what}");
                                // The macro's markers are gone (`#[reply::x]` is not one).
                                for marker in ["# [reply]", "# [reply (", "# [reply ="] {
                                    assert!(!text.contains(marker), "{what}: {text}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A valid `#[reply]` handler expands into an ask whose variant carries the user's argument.
#[test]
fn a_reply_argument_is_the_variants_field_and_the_ref_method_asks() {
    let item: TokenStream = "impl Counter { \
        pub fn get(&mut self, key: String, #[reply] reply_to: ActorRef<u64>) {} }"
        .parse()
        .expect("tokens");
    let output = expand::actor::attribute(TokenStream::new(), item);
    let text = output.to_string();
    assert!(!text.contains("compile_error"), "{text}");
    assert!(!text.contains("# [reply]"), "{text}");
    assert!(
        text.contains("fn get (& self , key : String) -> :: reactant :: ask :: Pending < u64 >"),
        "{text}"
    );
    assert!(
        text.contains("Get { key , reply_to : __reactant_reply_to , }"),
        "{text}"
    );
    syn::parse2::<syn::File>(output).expect("valid Rust");
}

#[test]
fn derived_names_are_identifiers_or_explained() {
    for name in handler_names() {
        let ident = syn::parse_str::<Ident>(&name).expect("an ident");
        match crate::names::variant_of(&ident) {
            Ok(variant) => {
                let text = variant.to_string();
                assert!(
                    syn::parse_str::<Ident>(&text).is_ok(),
                    "`{name}` gave the variant `{text}`"
                );
            }
            Err(invalid) => {
                let (problem, fix) = invalid.explain(&ident);
                assert!(problem.contains(&format!("`{}`", syn::ext::IdentExt::unraw(&ident))));
                assert!(fix.starts_with("rename the handler"), "{fix}");
            }
        }
    }
}
