//! Names and addresses: the typed key of an entity type, the envelope that carries a message to
//! one entity, and the hash that places an entity id in a shard.

use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
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

/// The id of an entity: its text, shared, and the hash that places it in a shard, computed once.
///
/// Build one from a `&str`, a `String` or an `Arc<str>` (`"cart-7".into()`); cloning it is a
/// reference-count increment. Every [`ShardingEnvelope`] and [`EntityRef`](super::EntityRef)
/// holds one: an application that sends to the same entities again and again can keep their
/// `EntityId`s and clone them into its envelopes, so that the region neither allocates nor
/// hashes the id per message, and finds the entity by comparing pointers. Ids compare, order
/// and print as their text.
///
/// ```
/// use reactant::sharding::{EntityId, ShardingEnvelope};
///
/// let id = EntityId::from("cart-7");
/// assert_eq!(id, "cart-7");
/// assert_eq!(id.as_str(), "cart-7");
/// assert_eq!(id, EntityId::from(String::from("cart-7")));
/// assert!(id < EntityId::from("cart-8"));
/// // Kept and cloned into each envelope: no allocation, no hashing per message.
/// let envelope = ShardingEnvelope::new(id.clone(), 3u64);
/// assert_eq!(envelope.entity_id, id);
/// assert_eq!(format!("{id} {id:?}"), r#"cart-7 "cart-7""#);
/// ```
#[derive(Clone)]
pub struct EntityId {
    text: Arc<str>,
    /// The 64-bit FNV-1a hash of `text`'s UTF-8 bytes: the shard, documented and stable.
    hash: u64,
    /// A hash of `text` with a seed chosen once per process: the key of the shards' maps.
    /// FNV-1a alone would let whoever picks the ids pick colliding ones and turn a lookup
    /// into a scan; the seed keeps such ids from colliding here.
    key: u64,
}

/// The seeded hasher of [`EntityId::key`], the same for every id of the process.
fn key_hasher() -> &'static foldhash::fast::FixedState {
    static HASHER: std::sync::OnceLock<foldhash::fast::FixedState> = std::sync::OnceLock::new();
    HASHER.get_or_init(|| foldhash::fast::FixedState::with_seed(fastrand::u64(..)))
}

impl EntityId {
    /// The id `text` (the same as `EntityId::from(text)`).
    pub fn new(text: impl Into<EntityId>) -> Self {
        text.into()
    }

    fn from_shared(text: Arc<str>) -> Self {
        Self {
            hash: fnv1a(&text),
            key: std::hash::BuildHasher::hash_one(key_hasher(), &*text),
            text,
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The shared text (the same allocation as every clone of this id).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<str> {
        &self.text
    }

    /// The shard of this id among `number_of_shards`: see [`shard_of`].
    #[inline]
    pub(crate) fn shard(&self, number_of_shards: u32) -> u32 {
        shard_of_hash(self.hash, number_of_shards)
    }
}

impl From<&str> for EntityId {
    fn from(text: &str) -> Self {
        Self::from_shared(Arc::from(text))
    }
}

impl From<String> for EntityId {
    fn from(text: String) -> Self {
        Self::from_shared(Arc::from(text))
    }
}

impl From<&String> for EntityId {
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

impl From<Box<str>> for EntityId {
    fn from(text: Box<str>) -> Self {
        Self::from_shared(Arc::from(text))
    }
}

impl From<std::borrow::Cow<'_, str>> for EntityId {
    fn from(text: std::borrow::Cow<'_, str>) -> Self {
        Self::from_shared(Arc::from(text))
    }
}

impl From<Arc<str>> for EntityId {
    fn from(text: Arc<str>) -> Self {
        Self::from_shared(text)
    }
}

impl From<&Arc<str>> for EntityId {
    fn from(text: &Arc<str>) -> Self {
        Self::from_shared(text.clone())
    }
}

impl From<&EntityId> for EntityId {
    fn from(id: &EntityId) -> Self {
        id.clone()
    }
}

impl From<EntityId> for Arc<str> {
    fn from(id: EntityId) -> Self {
        id.text
    }
}

impl From<EntityId> for String {
    fn from(id: EntityId) -> Self {
        id.text.as_ref().to_owned()
    }
}

impl EntityId {
    /// The id's text, shared.
    pub(crate) fn shared_text(&self) -> Arc<str> {
        self.text.clone()
    }
}

impl std::ops::Deref for EntityId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for EntityId {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

// No `Borrow<str>`: `Hash` writes the precomputed key, which a `str` does not.

impl PartialEq for EntityId {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        // Clones of one id share their text: most comparisons stop at the pointers.
        Arc::ptr_eq(&self.text, &other.text)
            || (self.hash == other.hash && *self.text == *other.text)
    }
}

impl Eq for EntityId {}

impl PartialEq<str> for EntityId {
    fn eq(&self, other: &str) -> bool {
        *self.text == *other
    }
}

impl PartialEq<&str> for EntityId {
    fn eq(&self, other: &&str) -> bool {
        *self.text == **other
    }
}

impl PartialEq<String> for EntityId {
    fn eq(&self, other: &String) -> bool {
        *self.text == **other
    }
}

impl PartialEq<EntityId> for str {
    fn eq(&self, other: &EntityId) -> bool {
        *self == *other.text
    }
}

impl PartialEq<EntityId> for &str {
    fn eq(&self, other: &EntityId) -> bool {
        **self == *other.text
    }
}

impl PartialEq<EntityId> for String {
    fn eq(&self, other: &EntityId) -> bool {
        **self == *other.text
    }
}

impl PartialOrd for EntityId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EntityId {
    /// By text (byte-wise), like `str`.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl Hash for EntityId {
    /// Writes the precomputed, per-process seeded hash of the text: consistent with `Eq`
    /// (equal texts, equal hashes), not with `str`'s `Hash`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.key);
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

/// The hasher of the maps keyed by [`EntityId`]: takes the id's precomputed key and mixes it
/// once more (cheap, and a map's buckets then never depend on how the key was made).
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write_u64(&mut self, hash: u64) {
        // A folded multiply: every bit of the input reaches the low and the high bits.
        let product =
            u128::from(hash ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached through `EntityId` (it writes one `u64`); correct for anything else.
        for &byte in bytes {
            self.write_u64(u64::from(byte) ^ self.0.rotate_left(8));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`IdHasher`]s.
pub(crate) type IdHasherBuilder = BuildHasherDefault<IdHasher>;

/// A message for the entity `entity_id`, as a [`ShardRegion`](super::ShardRegion) accepts it.
///
/// ```
/// use reactant::sharding::{EntityId, ShardingEnvelope};
///
/// let envelope = ShardingEnvelope::new("cart-7", "add apples".to_owned());
/// assert_eq!(envelope.entity_id, "cart-7");
///
/// // An id kept for many messages: each envelope shares it.
/// let cart = EntityId::from("cart-8");
/// let first = ShardingEnvelope::new(cart.clone(), "add pears".to_owned());
/// let second = ShardingEnvelope::new(&cart, "checkout".to_owned());
/// assert_eq!(first.entity_id, second.entity_id);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardingEnvelope<M> {
    /// Which entity.
    pub entity_id: EntityId,
    /// The message.
    pub message: M,
}

impl<M> ShardingEnvelope<M> {
    /// Wraps `message` for `entity_id` (a `&str`, a `String`, an [`EntityId`], ...).
    pub fn new(entity_id: impl Into<EntityId>, message: M) -> Self {
        Self {
            entity_id: entity_id.into(),
            message,
        }
    }
}

/// The 64-bit FNV-1a hash of `text`'s UTF-8 bytes.
fn fnv1a(text: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    text.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

#[inline]
fn shard_of_hash(hash: u64, number_of_shards: u32) -> u32 {
    (hash % u64::from(number_of_shards.max(1))) as u32
}

/// The shard of an entity: the 64-bit FNV-1a hash of the id's UTF-8 bytes, modulo the number
/// of shards. Stable across restarts, platforms and versions (it is part of the documented
/// contract: a change would move entities between shards).
pub(crate) fn shard_of(entity_id: &str, number_of_shards: u32) -> u32 {
    shard_of_hash(fnv1a(entity_id), number_of_shards)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap, HashSet};
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::sync::Arc;

    use super::{EntityId, IdHasher, IdHasherBuilder, ShardingEnvelope, fnv1a, shard_of};

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

    #[test]
    fn an_entity_id_carries_the_fnv1a_hash_of_its_text() {
        assert_eq!(EntityId::from("").hash, 0xcbf2_9ce4_8422_2325);
        assert_eq!(EntityId::from("a").hash, 0xaf63_dc4c_8601_ec8c);
        for i in 0..1_000 {
            let text = format!("entity-{i}");
            let id = EntityId::from(text.as_str());
            assert_eq!(id.hash, fnv1a(&text));
            for shards in [1, 2, 7, 10, 100, 1_000, u32::MAX] {
                assert_eq!(
                    id.shard(shards),
                    shard_of(&text, shards),
                    "{text} over {shards}"
                );
            }
        }
        // Zero shards counts as one, as `shard_of` does.
        assert_eq!(EntityId::from("x").shard(0), 0);
    }

    #[test]
    fn entity_ids_compare_as_their_text() {
        let a = EntityId::from("cart-7");
        let shared = a.clone();
        assert!(
            Arc::ptr_eq(a.shared(), shared.shared()),
            "a clone shares the text"
        );
        let separate = EntityId::from(String::from("cart-7"));
        assert!(!Arc::ptr_eq(a.shared(), separate.shared()));
        assert_eq!(a, shared);
        assert_eq!(a, separate);
        assert_ne!(a, EntityId::from("cart-8"));
        assert_ne!(EntityId::from("ab"), EntityId::from("abc"));
        assert_eq!(a, "cart-7");
        assert_eq!(a, *"cart-7");
        assert_eq!(a, String::from("cart-7"));
        assert_eq!("cart-7", a);
        assert_eq!(String::from("cart-7"), a);
        assert_ne!(a, "cart-");
        let ordered: Vec<String> = ["b", "a", "ab", "", "b"]
            .into_iter()
            .map(EntityId::from)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(ordered, ["", "a", "ab", "b"]);
    }

    #[test]
    fn entity_ids_convert_from_and_to_text() {
        let text = String::from("user@example.com");
        let ids = [
            EntityId::from(text.as_str()),
            EntityId::from(&text),
            EntityId::from(text.clone()),
            EntityId::from(Arc::<str>::from(text.as_str())),
            EntityId::from(&Arc::<str>::from(text.as_str())),
            EntityId::from(Box::<str>::from(text.as_str())),
            EntityId::from(std::borrow::Cow::Borrowed(text.as_str())),
            EntityId::new(text.as_str()),
        ];
        for id in &ids {
            assert_eq!(id, &ids[0]);
            assert_eq!(id.hash, ids[0].hash);
            assert_eq!(id.as_str(), text);
            assert_eq!(&**id, text);
            assert_eq!(AsRef::<str>::as_ref(id), text);
            assert_eq!(id.len(), text.len(), "derefs to str");
            assert_eq!(id.to_string(), text);
            assert_eq!(format!("{id:?}"), format!("{text:?}"));
            assert_eq!(EntityId::from(id), *id);
        }
        let id = ids[0].clone();
        let shared = Arc::<str>::from(id.clone());
        assert!(Arc::ptr_eq(&shared, id.shared()));
        assert_eq!(String::from(id), text);
        // An envelope takes any of them.
        let envelope = ShardingEnvelope::new(&ids[0], 1);
        assert!(Arc::ptr_eq(envelope.entity_id.shared(), ids[0].shared()));
        assert_eq!(ShardingEnvelope::new(text.clone(), 1), envelope);
    }

    #[test]
    fn entity_ids_key_maps_by_their_precomputed_hash() {
        // Hashing an id writes its seeded key, not its FNV-1a hash; equal ids hash alike.
        let build = IdHasherBuilder::default();
        let a = EntityId::from("a");
        assert_eq!(build.hash_one(&a), build.hash_one(EntityId::from("a")));
        let mut plain = IdHasher::default();
        plain.write_u64(a.key);
        assert_eq!(build.hash_one(&a), plain.finish());
        assert_ne!(a.key, a.hash);
        // The ids of one shard (equal hashes modulo 100) still spread over the hashed bits.
        // About 4,000 ids fill all 128 top-7-bit buckets under any seed (a bucket stays empty
        // with probability about 128 * e^-31); 1,000 left one empty in about 5% of seeds.
        let same_shard: Vec<EntityId> = (0..400_000)
            .map(|i| EntityId::from(format!("entity-{i}")))
            .filter(|id| id.shard(100) == 3)
            .collect();
        assert!(same_shard.len() > 3_500, "{}", same_shard.len());
        let low: HashSet<u64> = same_shard
            .iter()
            .map(|id| build.hash_one(id) & 0xff)
            .collect();
        let high: HashSet<u64> = same_shard
            .iter()
            .map(|id| build.hash_one(id) >> 57)
            .collect();
        assert!(low.len() > 200, "low bits: {}", low.len());
        assert_eq!(high.len(), 128, "top 7 bits");
        // And the map finds them all, by clones and by equal ids built apart.
        let mut map = HashMap::with_hasher(IdHasherBuilder::default());
        for (i, id) in same_shard.iter().enumerate() {
            map.insert(id.clone(), i);
        }
        for (i, id) in same_shard.iter().enumerate() {
            assert_eq!(map.get(id), Some(&i));
            assert_eq!(map.get(&EntityId::from(id.as_str())), Some(&i));
        }
        assert_eq!(map.get(&EntityId::from("absent")), None);
        let mut hasher = IdHasher::default();
        "bytes".hash(&mut hasher);
        assert_ne!(hasher.finish(), 0, "other keys hash too");
    }
}
