//! The limits that bound what reading a package can cost, whoever made the package.
//!
//! A real package (about 20,000 entries, under 1 GiB) is far inside every limit. They exist so
//! that a damaged or hostile file gives an error instead of exhausting memory, disk or time:
//!
//! - **Zip records**: while the whole file is hashed, every central-directory signature
//!   (`PK\x01\x02`) is counted, payload bytes included; more than [`MAX_ZIP_RECORDS`] is
//!   refused before the zip directory is parsed, so the directory's in-memory size is bounded.
//! - **Bomb ratio**: an entry larger than [`BOMB_MIN_SIZE`] whose declared size exceeds
//!   [`BOMB_RATIO`] times its compressed size is refused before it is decompressed. Real product
//!   files (DLLs, scripts, JSON) compress between 2:1 and 20:1.
//! - **Total**: every entry is read at most to the size the manifest states plus one byte (to
//!   detect overruns), so the bytes decompressed are bounded by the sum of the manifest's file
//!   sizes, which itself must not exceed [`MAX_PAYLOAD_BYTES`]. The manifest is bounded by
//!   [`crate::MAX_MANIFEST_BYTES`].
//! - **Renames**: at most [`MAX_RENAMES`] folder renames (they are checked pairwise).

/// Most central-directory records (`PK\x01\x02` signatures anywhere in the file) accepted.
pub const MAX_ZIP_RECORDS: u64 = 500_000;
/// Entries larger than this are subject to the [`BOMB_RATIO`] check.
pub const BOMB_MIN_SIZE: u64 = 1024 * 1024;
/// Largest accepted ratio of declared to compressed size for entries over [`BOMB_MIN_SIZE`].
pub const BOMB_RATIO: u64 = 200;
/// Largest accepted sum of the sizes of a package's files (32 GiB).
pub const MAX_PAYLOAD_BYTES: u64 = 32 * 1024 * 1024 * 1024;
/// Most folder renames a manifest may list.
pub const MAX_RENAMES: usize = 256;

/// True if an entry of `size` bytes stored in `compressed` bytes looks like a zip bomb.
pub(crate) fn looks_like_bomb(size: u64, compressed: u64) -> bool {
    size > BOMB_MIN_SIZE && size > compressed.saturating_mul(BOMB_RATIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bomb_ratio_applies_only_to_large_entries() {
        assert!(!looks_like_bomb(BOMB_MIN_SIZE, 1));
        assert!(looks_like_bomb(BOMB_MIN_SIZE + 1, 0));
        let size = 10 * BOMB_MIN_SIZE;
        assert!(!looks_like_bomb(size, size / BOMB_RATIO + 1));
        assert!(looks_like_bomb(size, size / BOMB_RATIO - 1));
        assert!(!looks_like_bomb(u64::MAX, u64::MAX));
    }
}
