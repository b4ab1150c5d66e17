//! The stored form of events and snapshots: a small, versioned binary layout of our own.
//!
//! The persistence id and the sequence number are in the key, not repeated here. Lengths and
//! the manifest version are unsigned LEB128 varints; the timestamp and the offset are `u64`
//! big-endian; text is UTF-8.
//!
//! Event record, version 1:
//!
//! | field | encoding |
//! |---|---|
//! | record version | `u8` = 1 |
//! | manifest type name | varint length, bytes |
//! | manifest version | varint |
//! | writer id | varint length, bytes |
//! | timestamp (ms since the epoch) | `u64` |
//! | global offset | `u64` |
//! | tags | varint count, then each: varint length, bytes |
//! | payload | varint length, bytes |
//!
//! Snapshot record, version 1: record version `u8` = 1, manifest type name, manifest version,
//! timestamp, payload (encoded as above).
//!
//! A record must end exactly after its payload: trailing bytes are damage too.

use std::sync::Arc;

use crate::persistence::journal::{Manifest, PersistenceId, PersistentRepr, SequenceNr};

const RECORD_VERSION: u8 = 1;

/// An event as stored, borrowed from the bytes read.
///
/// The manifest name and the writer id stay bytes until [`into_repr`](Self::into_repr): a scan
/// meets the same two strings in nearly every event, and checking that they are UTF-8 once per
/// distinct string, not once per event, was 9% of a replay's time.
pub(super) struct EventRecord<'a> {
    manifest_name: &'a [u8],
    pub(super) manifest_version: u32,
    writer_id: &'a [u8],
    pub(super) timestamp_ms: u64,
    pub(super) offset: u64,
    pub(super) tags: Vec<&'a str>,
    pub(super) payload: &'a [u8],
}

/// Shares the manifest name and writer id of consecutive events of a scan, which are nearly
/// always the same: one allocation per event (its payload) instead of three.
#[derive(Default)]
pub(super) struct Interner {
    manifest_name: Option<Arc<str>>,
    writer_id: Option<Arc<str>>,
}

impl Interner {
    /// The text of `bytes`, shared with the previous event's if it is the same; checked to be
    /// UTF-8 only when it is not.
    fn share(slot: &mut Option<Arc<str>>, bytes: &[u8], field: &str) -> Result<Arc<str>, String> {
        if let Some(shared) = slot
            && shared.as_bytes() == bytes
        {
            return Ok(shared.clone());
        }
        let shared: Arc<str> = Arc::from(utf8(bytes, field)?);
        *slot = Some(shared.clone());
        Ok(shared)
    }
}

fn utf8<'a>(bytes: &'a [u8], field: &str) -> Result<&'a str, String> {
    std::str::from_utf8(bytes).map_err(|_| format!("the {field} is not UTF-8"))
}

impl EventRecord<'_> {
    /// The event of stream `persistence_id` at `sequence_nr`; the error says what is wrong
    /// with the record (a manifest name or writer id that is not UTF-8).
    pub(super) fn into_repr(
        self,
        persistence_id: PersistenceId,
        sequence_nr: SequenceNr,
        interner: &mut Interner,
    ) -> Result<PersistentRepr, String> {
        let manifest_name = Interner::share(
            &mut interner.manifest_name,
            self.manifest_name,
            "manifest type name",
        )?;
        Ok(PersistentRepr {
            persistence_id,
            sequence_nr,
            manifest: Manifest::new(manifest_name, self.manifest_version),
            payload: self.payload.to_vec(),
            tags: self.tags.into_iter().map(str::to_owned).collect(),
            writer_id: Interner::share(&mut interner.writer_id, self.writer_id, "writer id")?,
            timestamp_ms: self.timestamp_ms,
            offset: self.offset,
        })
    }
}

/// A snapshot as stored, borrowed from the bytes read.
pub(super) struct SnapshotRecord<'a> {
    pub(super) manifest_name: &'a str,
    pub(super) manifest_version: u32,
    pub(super) timestamp_ms: u64,
    pub(super) payload: &'a [u8],
}

/// The record of `event`, stored at global offset `offset`.
#[cfg(test)]
pub(super) fn encode_event(event: &PersistentRepr, offset: u64) -> Vec<u8> {
    let tags_len: usize = event.tags.iter().map(|tag| tag.len() + 2).sum();
    let mut out = Vec::with_capacity(
        32 + event.manifest.type_name.len()
            + event.writer_id.len()
            + tags_len
            + event.payload.len(),
    );
    encode_event_into(&mut out, event, offset);
    out
}

/// [`encode_event`] into `out`, replacing what it held.
pub(super) fn encode_event_into(out: &mut Vec<u8>, event: &PersistentRepr, offset: u64) {
    out.clear();
    out.push(RECORD_VERSION);
    put_bytes(out, event.manifest.type_name.as_bytes());
    put_varint(out, u64::from(event.manifest.version));
    put_bytes(out, event.writer_id.as_bytes());
    out.extend_from_slice(&event.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
    put_varint(out, event.tags.len() as u64);
    for tag in &event.tags {
        put_bytes(out, tag.as_bytes());
    }
    put_bytes(out, &event.payload);
}

/// Reads an event record; the error says what is wrong with it.
pub(super) fn decode_event(bytes: &[u8]) -> Result<EventRecord<'_>, String> {
    let mut reader = Reader::new(bytes)?;
    let manifest_name = reader.bytes("manifest type name")?;
    let manifest_version = reader.manifest_version()?;
    let writer_id = reader.bytes("writer id")?;
    let timestamp_ms = reader.u64("timestamp")?;
    let offset = reader.u64("global offset")?;
    let count = reader.varint("tag count")?;
    // Each tag takes at least one byte: a count beyond what is left is damage, not a reason to
    // reserve memory.
    if count > reader.rest.len() as u64 {
        return Err(format!("tag count {count} exceeds the record"));
    }
    let tags = (0..count)
        .map(|_| reader.text("tag"))
        .collect::<Result<Vec<_>, _>>()?;
    let payload = reader.bytes("payload")?;
    reader.end()?;
    Ok(EventRecord {
        manifest_name,
        manifest_version,
        writer_id,
        timestamp_ms,
        offset,
        tags,
        payload,
    })
}

/// The record of a snapshot.
pub(super) fn encode_snapshot(manifest: &Manifest, timestamp_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + manifest.type_name.len() + payload.len());
    out.push(RECORD_VERSION);
    put_bytes(&mut out, manifest.type_name.as_bytes());
    put_varint(&mut out, u64::from(manifest.version));
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    put_bytes(&mut out, payload);
    out
}

/// Reads a snapshot record; the error says what is wrong with it.
pub(super) fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotRecord<'_>, String> {
    let mut reader = Reader::new(bytes)?;
    let manifest_name = reader.text("manifest type name")?;
    let manifest_version = reader.manifest_version()?;
    let timestamp_ms = reader.u64("timestamp")?;
    let payload = reader.bytes("payload")?;
    reader.end()?;
    Ok(SnapshotRecord {
        manifest_name,
        manifest_version,
        timestamp_ms,
        payload,
    })
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads fields front to back; each error names the field.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader past the record version byte, which must be one we know.
    fn new(bytes: &'a [u8]) -> Result<Self, String> {
        match bytes.split_first() {
            Some((&RECORD_VERSION, rest)) => Ok(Self { rest }),
            Some((version, _)) => Err(format!("unknown record version {version}")),
            None => Err("empty record".to_owned()),
        }
    }

    fn varint(&mut self, field: &str) -> Result<u64, String> {
        let mut value = 0u64;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                break;
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(format!("the {field} is cut off or too large"))
    }

    fn u64(&mut self, field: &str) -> Result<u64, String> {
        let (bytes, rest) = self
            .rest
            .split_first_chunk::<8>()
            .ok_or_else(|| format!("the {field} is cut off"))?;
        self.rest = rest;
        Ok(u64::from_be_bytes(*bytes))
    }

    fn bytes(&mut self, field: &str) -> Result<&'a [u8], String> {
        let len = self.varint(field)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.rest.len())
            .ok_or_else(|| format!("the {field} ({len} bytes) runs past the record"))?;
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(bytes)
    }

    fn text(&mut self, field: &str) -> Result<&'a str, String> {
        utf8(self.bytes(field)?, field)
    }

    fn manifest_version(&mut self) -> Result<u32, String> {
        let version = self.varint("manifest version")?;
        u32::try_from(version).map_err(|_| format!("manifest version {version} is too large"))
    }

    fn end(&self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected bytes after the payload",
                self.rest.len()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> PersistentRepr {
        PersistentRepr {
            persistence_id: PersistenceId::new("account|1"),
            sequence_nr: 3,
            manifest: Manifest::new("Deposited", 2),
            payload: (0..=255).collect(),
            tags: vec!["money".into(), String::new()],
            writer_id: Arc::from("writer-1"),
            timestamp_ms: 1_700_000_000_123,
            offset: 0,
        }
    }

    #[test]
    fn an_event_record_round_trips() {
        let bytes = encode_event(&event(), 77);
        let decoded = decode_event(&bytes)
            .unwrap()
            .into_repr(PersistenceId::new("account|1"), 3, &mut Interner::default())
            .unwrap();
        assert_eq!(
            decoded,
            PersistentRepr {
                offset: 77,
                ..event()
            }
        );
    }

    #[test]
    fn a_snapshot_record_round_trips() {
        let manifest = Manifest::new("Account", 300);
        let bytes = encode_snapshot(&manifest, 9, b"state");
        let decoded = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded.manifest_name, "Account");
        assert_eq!(decoded.manifest_version, 300);
        assert_eq!(decoded.timestamp_ms, 9);
        assert_eq!(decoded.payload, b"state");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_even_after_a_valid_event() {
        let mut interner = Interner::default();
        let good = encode_event(&event(), 1);
        let read = |bytes: &[u8], interner: &mut Interner| {
            decode_event(bytes)
                .and_then(|record| record.into_repr(PersistenceId::new("account|1"), 3, interner))
        };
        assert!(read(&good, &mut interner).is_ok());
        // The manifest name "Deposited" starts at byte 2 (after the record version and its
        // length): damage its first byte.
        let mut bad_manifest = good.clone();
        assert_eq!(&bad_manifest[2..11], b"Deposited");
        bad_manifest[2] = 0xff;
        assert_eq!(
            read(&bad_manifest, &mut interner).err().as_deref(),
            Some("the manifest type name is not UTF-8")
        );
        // The same damage in the writer id (the interner holds a valid one by now).
        let writer = event().writer_id;
        let at = good
            .windows(writer.len())
            .position(|window| window == writer.as_bytes())
            .expect("the writer id is in the record");
        let mut bad_writer = good;
        bad_writer[at] = 0xff;
        assert_eq!(
            read(&bad_writer, &mut interner).err().as_deref(),
            Some("the writer id is not UTF-8")
        );
    }

    #[test]
    fn every_damaged_event_record_is_refused() {
        let bytes = encode_event(&event(), 1);
        for len in 0..bytes.len() {
            assert!(decode_event(&bytes[..len]).is_err(), "cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_event(&longer).is_err());
        let mut newer = bytes;
        newer[0] = 2;
        assert_eq!(
            decode_event(&newer).err().unwrap(),
            "unknown record version 2"
        );
    }

    #[test]
    fn varints_round_trip_at_their_edges() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader { rest: &out };
            assert_eq!(reader.varint("v").unwrap(), value);
            assert!(reader.rest.is_empty());
        }
        let mut reader = Reader { rest: &[0xff; 11] };
        assert!(reader.varint("v").is_err());
    }
}
