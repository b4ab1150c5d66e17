//! The key layout of the read models (`crate::projection`), shared by the RocksDB journal
//! (its `read_models` column family) and the in-memory read store, so both hold the same
//! bytes:
//!
//! - a table row: `0x01` ‖ `u32 BE length of the table name` ‖ `its UTF-8 bytes` ‖ the
//!   order-preserving encoding of the row's key. The length prefix keeps tables apart (no
//!   table's rows are a prefix range of another's), so clearing a table is one range deletion;
//! - a projection's offset: `0x02` ‖ `u32 BE length of its name` ‖ `its UTF-8 bytes` ‖ `its
//!   key's UTF-8 bytes` → `u64 BE` global offset.

/// First byte of every table row.
const ROW: u8 = 1;
/// First byte of every projection offset.
const OFFSET: u8 = 2;

fn length(text: &str) -> [u8; 4] {
    u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes()
}

/// The prefix of every row of `table`.
pub(crate) fn table_prefix(table: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(5 + table.len());
    key.push(ROW);
    key.extend_from_slice(&length(table));
    key.extend_from_slice(table.as_bytes());
    key
}

/// The key under which the offset of projection `name`/`key` is stored.
pub(crate) fn offset_key(name: &str, key: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(5 + name.len() + key.len());
    bytes.push(OFFSET);
    bytes.extend_from_slice(&length(name));
    bytes.extend_from_slice(name.as_bytes());
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// The smallest key after every key that starts with `prefix` (`None`: the prefix is all
/// `0xff`, no bound is needed).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A stored offset read back.
pub(crate) fn decode_offset(bytes: &[u8]) -> Result<u64, String> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| format!("a stored projection offset is {} bytes, not 8", bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_whose_names_share_a_prefix_do_not_share_rows() {
        let (a, ab) = (table_prefix("a"), table_prefix("ab"));
        assert!(!ab.starts_with(&a));
        let end = prefix_end(&a).unwrap();
        assert!(ab < a || ab >= end);
        assert!(offset_key("a", "b") != offset_key("ab", ""));
    }
}
