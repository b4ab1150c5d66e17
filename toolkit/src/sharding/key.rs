//! Names and addresses: the typed key of an entity type, the envelope that carries a message to
//! one entity, and the hash that places an entity id in a shard.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// The name of an entity type, typed by the messages its entities handle: two regions of the
/// same name must agree on the message type (see [`ShardingError::TypeMismatch`]).
///
/// ```
/// use reactant::sharding::EntityTypeKey;
///
/// enum CartCommand { Add(String) }
/// let key = EntityTypeKey::<CartCommand>::new("cart");
/// assert_eq!(key.name(), "cart");
/// ```
///
/// [`ShardingError::TypeMismatch`]: super::ShardingError::TypeMismatch
pub struct EntityTypeKey<M> {
    name: Arc<str>,
    _messages: PhantomData<fn(M)>,
}

impl<M> EntityTypeKey<M> {
    /// The key of the entity type `name` (also the name of its region in actor paths:
    /// `/user/sharding-{name}`, so it uses the characters of an actor name).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            _messages: PhantomData,
        }
    }

    /// The type's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }
}

impl<M> Clone for EntityTypeKey<M> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            _messages: PhantomData,
        }
    }
}

impl<M> fmt::Debug for EntityTypeKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EntityTypeKey<{}>({:?})",
            std::any::type_name::<M>(),
            self.name
        )
    }
}

/// A message for the entity `entity_id`, as a [`ShardRegion`](super::ShardRegion) accepts it.
///
/// ```
/// use reactant::sharding::ShardingEnvelope;
///
/// let envelope = ShardingEnvelope::new("cart-7", "add apples".to_owned());
/// assert_eq!(envelope.entity_id, "cart-7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardingEnvelope<M> {
    /// Which entity.
    pub entity_id: String,
    /// The message.
    pub message: M,
}

impl<M> ShardingEnvelope<M> {
    /// Wraps `message` for `entity_id`.
    pub fn new(entity_id: impl Into<String>, message: M) -> Self {
        Self {
            entity_id: entity_id.into(),
            message,
        }
    }
}

/// The shard of an entity: the 64-bit FNV-1a hash of the id's UTF-8 bytes, modulo the number
/// of shards. Stable across restarts, platforms and versions (it is part of the documented
/// contract: a change would move entities between shards).
pub(crate) fn shard_of(entity_id: &str, number_of_shards: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = entity_id.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    (hash % u64::from(number_of_shards.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn the_shard_of_an_id_is_the_documented_fnv1a_hash() {
        // FNV-1a 64 of "" is the offset basis; of "a" it is 0xaf63dc4c8601ec8c.
        assert_eq!(
            shard_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            shard_of("a", 1000),
            (0xaf63_dc4c_8601_ec8cu64 % 1000) as u32
        );
        assert_eq!(shard_of("acc-1", 1), 0);
    }

    #[test]
    fn ids_spread_over_the_shards() {
        let mut counts = [0u32; 10];
        for i in 0..10_000 {
            counts[shard_of(&format!("entity-{i}"), 10) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
