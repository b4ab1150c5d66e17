//! Actor paths: the readable address of an actor in its system's tree, such as
//! `/user/orders/order-17`.

use std::fmt;
use std::sync::Arc;

/// The readable address of an actor: its ancestors' names and its own, separated by `/`.
/// Anonymous actors get a `$`-prefixed name derived from their unique id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorPath(Arc<str>);

impl ActorPath {
    pub(crate) fn new(path: impl Into<Arc<str>>) -> Self {
        Self(path.into())
    }

    pub(crate) fn child(&self, name: &str) -> Self {
        Self(format!("{}/{}", self.0, name).into())
    }

    /// The path as a string, e.g. `/user/orders/order-17`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last element: the actor's own name.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for ActorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ActorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorPath({})", self.0)
    }
}

/// The `$`-name of an anonymous actor with this id (base 36, as short as Akka's).
pub(crate) fn anonymous_name(id: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::with_capacity(14);
    let mut n = id;
    loop {
        digits.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.push(b'$');
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// Checks a user-given actor name. Names are one path element: not empty, no `/`, not starting
/// with `$` (reserved for anonymous actors), printable ASCII without spaces.
pub(crate) fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a name must not be empty");
    }
    if name.starts_with('$') {
        return Err(
            "names starting with `$` are reserved for anonymous actors (use spawn_anonymous)",
        );
    }
    if name.contains('/') {
        return Err("a name is one path element and must not contain `/`");
    }
    if name.len() > 255 {
        return Err("a name must be at most 255 bytes long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.*$+:@&=,!~';".contains(c))
    {
        return Err("a name may only use ASCII letters, digits and -_.*$+:@&=,!~';");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_names_are_short_and_distinct() {
        assert_eq!(anonymous_name(0), "$0");
        assert_eq!(anonymous_name(35), "$z");
        assert_eq!(anonymous_name(36), "$10");
    }

    #[test]
    fn invalid_names_are_refused_with_a_reason() {
        assert!(validate_name("order-17").is_ok());
        for bad in ["", "$a", "a/b", "with space", "é"] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_path_names_its_last_element() {
        let path = ActorPath::new("/user").child("orders").child("order-17");
        assert_eq!(path.as_str(), "/user/orders/order-17");
        assert_eq!(path.name(), "order-17");
    }
}
