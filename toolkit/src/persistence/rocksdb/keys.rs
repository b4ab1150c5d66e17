//! The keys of the four column families, laid out so that every read is one bounded range scan.
//!
//! - `events` and `snapshots`: *stream key* = `u32 BE length of the persistence id` ‖ `its UTF-8
//!   bytes` ‖ `u64 BE sequence number`. The length prefix keeps `"a"` and `"a|b"` apart (no id is
//!   a prefix of another's keys, even one holding NUL bytes) and big-endian numbers sort like
//!   numbers, so a stream's events are contiguous and in sequence order.
//! - `tags`: *tag key* = `u32 BE length of the tag` ‖ `its UTF-8 bytes` ‖ `u64 BE global offset`;
//!   the value is the stream key of the event, so `events_by_tag` is one scan in offset order
//!   plus one point read per event.
//! - `offsets` (format 3): *offset key* = `u64 BE global offset`; the value is the stream key
//!   of the event, so a query in global order is one scan plus one point read per event.
//! - `meta`: `format_version` → `u32 BE`; `last_offset` → `u64 BE`; `deleted_to/{id}` → `u64 BE`
//!   sequence number up to which the stream's events are deleted; `remembered/` ‖ `u32 BE
//!   length of the type key` ‖ `its UTF-8 bytes` ‖ `the entity id's UTF-8 bytes` → empty, one
//!   per remembered sharded entity (a prefix scan lists a type's). (Format 1 also kept a
//!   `highest/{id}` row per stream; format 2 neither reads nor writes it.)
//!
//! Every scan sets both iterator bounds ([`inclusive_end`] turns an inclusive last key into the
//! exclusive upper bound RocksDB wants).

use crate::persistence::journal::{PersistenceId, SequenceNr};

/// `meta` key of the format version of the database.
pub(super) const FORMAT_VERSION: &[u8] = b"format_version";
/// `meta` key of the last global offset given to an event.
pub(super) const LAST_OFFSET: &[u8] = b"last_offset";

const DELETED_TO_PREFIX: &[u8] = b"deleted_to/";
const REMEMBERED_PREFIX: &[u8] = b"remembered/";

/// `len ‖ name ‖ number`: the shape of stream keys and tag keys.
fn prefixed(name: &str, number: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + name.len() + 8);
    prefixed_into(&mut key, name, number);
    key
}

/// [`prefixed`] into `key`, replacing what it held.
fn prefixed_into(key: &mut Vec<u8>, name: &str, number: u64) {
    let len = u32::try_from(name.len()).expect("names in keys are shorter than 4 GiB");
    key.clear();
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(name.as_bytes());
    key.extend_from_slice(&number.to_be_bytes());
}

/// Splits a `len ‖ name ‖ number` key; `None` if it does not have that shape.
fn split_prefixed(key: &[u8]) -> Option<(&str, u64)> {
    let (len, rest) = key.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() != len.checked_add(8)? {
        return None;
    }
    let (name, number) = rest.split_at(len);
    Some((
        std::str::from_utf8(name).ok()?,
        u64::from_be_bytes(number.try_into().ok()?),
    ))
}

/// The key of event (or snapshot) `sequence_nr` of `persistence_id`.
pub(super) fn stream_key(persistence_id: &PersistenceId, sequence_nr: SequenceNr) -> Vec<u8> {
    prefixed(persistence_id.as_str(), sequence_nr)
}

/// [`stream_key`] into `key`, replacing what it held.
pub(super) fn stream_key_into(
    key: &mut Vec<u8>,
    persistence_id: &PersistenceId,
    sequence_nr: SequenceNr,
) {
    prefixed_into(key, persistence_id.as_str(), sequence_nr);
}

/// How the stream keys of `a` and `b` compare, without building them: by the id's length,
/// then its bytes, then the sequence number.
pub(super) fn stream_key_order(
    a: (&PersistenceId, SequenceNr),
    b: (&PersistenceId, SequenceNr),
) -> std::cmp::Ordering {
    let (a_id, b_id) = (a.0.as_str(), b.0.as_str());
    a_id.len()
        .cmp(&b_id.len())
        .then_with(|| a_id.as_bytes().cmp(b_id.as_bytes()))
        .then(a.1.cmp(&b.1))
}

/// The persistence id and sequence number of a stream key.
pub(super) fn parse_stream_key(key: &[u8]) -> Option<(PersistenceId, SequenceNr)> {
    // A key with an empty id was not written by this journal: not a stream key.
    split_prefixed(key)
        .and_then(|(id, sequence_nr)| Some((PersistenceId::try_new(id).ok()?, sequence_nr)))
}

/// The sequence number of a stream key read back from a bounded scan of one stream.
pub(super) fn sequence_nr_of(key: &[u8]) -> SequenceNr {
    let tail = key.len().saturating_sub(8);
    key.get(tail..)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// The key of the index entry of an event tagged `tag` at global offset `offset`.
pub(super) fn tag_key(tag: &str, offset: u64) -> Vec<u8> {
    prefixed(tag, offset)
}

/// The global offset of a tag key read back from a bounded scan of one tag.
pub(super) fn offset_of_tag_key(key: &[u8]) -> u64 {
    sequence_nr_of(key)
}

/// The key of the `offsets` index entry of the event at global offset `offset`.
pub(super) fn offset_key(offset: u64) -> [u8; 8] {
    offset.to_be_bytes()
}

/// The global offset of an `offsets` key.
pub(super) fn offset_of_offset_key(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

/// The `meta` key of the sequence number up to which a stream's events are deleted.
pub(super) fn deleted_to_key(persistence_id: &PersistenceId) -> Vec<u8> {
    [DELETED_TO_PREFIX, persistence_id.as_str().as_bytes()].concat()
}

/// The `meta` key prefix of the remembered entities of `type_key`.
pub(super) fn remembered_prefix(type_key: &str) -> Vec<u8> {
    let len = u32::try_from(type_key.len()).expect("type keys are shorter than 4 GiB");
    [REMEMBERED_PREFIX, &len.to_be_bytes(), type_key.as_bytes()].concat()
}

/// The `meta` key of the remembered entity `entity_id` of `type_key`.
pub(super) fn remembered_key(type_key: &str, entity_id: &str) -> Vec<u8> {
    let mut key = remembered_prefix(type_key);
    key.extend_from_slice(entity_id.as_bytes());
    key
}

/// The smallest key after every key that starts with `prefix` (`None`: no bound needed, the
/// prefix is all `0xff`).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The smallest key after `last`: the exclusive upper bound of a scan that ends at `last`
/// inclusive.
pub(super) fn inclusive_end(mut last: Vec<u8>) -> Vec<u8> {
    last.push(0);
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_sort_by_stream_then_sequence_number() {
        let a = PersistenceId::new("a");
        let ab = PersistenceId::new("a|b");
        let mut keys = vec![
            stream_key(&ab, 1),
            stream_key(&a, 256),
            stream_key(&a, 2),
            stream_key(&a, 1),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                stream_key(&a, 1),
                stream_key(&a, 2),
                stream_key(&a, 256),
                stream_key(&ab, 1)
            ]
        );
        assert!(inclusive_end(stream_key(&a, u64::MAX)) < stream_key(&ab, 0));
    }

    #[test]
    fn stream_key_order_is_the_order_of_the_keys() {
        // No empty id: `PersistenceId` refuses it (issue 11).
        let ids = ["a", "b", "ab", "a|b", "zz", "\u{0}", "é"].map(PersistenceId::new);
        for a in &ids {
            for b in &ids {
                for (x, y) in [(1, 1), (1, 2), (2, 1), (255, 256), (u64::MAX, 0)] {
                    assert_eq!(
                        stream_key_order((a, x), (b, y)),
                        stream_key(a, x).cmp(&stream_key(b, y)),
                        "{a:?}/{x} vs {b:?}/{y}"
                    );
                }
            }
        }
    }

    #[test]
    fn stream_keys_parse_back() {
        let id = PersistenceId::new("account|\u{0}7");
        let key = stream_key(&id, 42);
        assert_eq!(parse_stream_key(&key), Some((id, 42)));
        assert_eq!(sequence_nr_of(&key), 42);
        assert_eq!(parse_stream_key(&key[..key.len() - 1]), None);
    }
}
