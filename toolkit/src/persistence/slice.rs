//! Slices: an entity type's events split into `N` tags by entity id, so that `N` projections
//! read them in parallel, each one entity's events in order (Akka's slices, by tag).
//!
//! The slice of an entity, and the tag of a slice, are part of what is stored: they must give
//! the same answer in every version of this crate. They are defined here exactly, and tests
//! pin their values:
//!
//! - [`slice_of`]`(entity_id, n)` is the 32-bit FNV-1a hash of the entity id's UTF-8 bytes
//!   (offset basis `0x811c9dc5`, prime `0x01000193`; for each byte: `hash ^= byte`, then
//!   `hash = hash.wrapping_mul(prime)`), modulo `n`;
//! - [`slice_tag`]`(type_key, slice)` is `"{type_key}-slice-{slice}"`, the slice in decimal
//!   (`"order-slice-3"`).
//!
//! An entity type with `SLICES = n` (`#[entity(.., slices = n)]`) tags each event it persists
//! with its slice's tag, besides the event's own tags. Changing `n` moves entities to other
//! slices while events stored before the change keep their old tags (see `Entity::SLICES`).

/// The most slices an entity type may have (`#[entity(slices = ..)]` refuses more): each
/// slice is a projection actor and a live query of its own.
pub const MAX_SLICES: u32 = 1_024;

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// The slice (`0..slices`) of the entity `entity_id`: the 32-bit FNV-1a hash of its UTF-8
/// bytes, modulo `slices`: FNV-1a with offset basis `0x811c9dc5` and prime `0x01000193`, each
/// byte XORed in then multiplied. This never changes between versions: stored tags depend on it.
/// A `slices` of 0 counts as 1.
///
/// ```
/// use reactant::persistence::slice_of;
///
/// assert_eq!(slice_of("order-17", 8), slice_of("order-17", 8)); // stable
/// assert!(slice_of("order-17", 8) < 8);
/// assert_eq!(slice_of("anything", 1), 0);
/// ```
pub fn slice_of(entity_id: &str, slices: u32) -> u32 {
    fnv1a(entity_id.as_bytes()) % slices.max(1)
}

/// The tag of slice `slice` of the entity type `type_key`: `"{type_key}-slice-{slice}"`.
///
/// ```
/// use reactant::persistence::slice_tag;
///
/// assert_eq!(slice_tag("order", 3), "order-slice-3");
/// ```
pub fn slice_tag(type_key: &str, slice: u32) -> String {
    format!("{type_key}-slice-{slice}")
}

/// 32-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }

    /// Stored tags depend on these values: a change here would move entities between slices.
    #[test]
    fn slices_never_change() {
        assert_eq!(fnv1a("order-1".as_bytes()), 0x2b7f_cd6d);
        assert_eq!(fnv1a("ü".as_bytes()), 0x119d_d44a);
        let pinned: Vec<u32> = ["order-1", "order-2", "ü", "acc-42"]
            .iter()
            .map(|id| slice_of(id, 8))
            .collect();
        assert_eq!(pinned, [5, 4, 2, 3]);
        assert_eq!(slice_of("order-1", 1_024), 365);
        assert_eq!(slice_of("x", 0), 0);
        assert_eq!(slice_tag("order", 0), "order-slice-0");
    }
}
