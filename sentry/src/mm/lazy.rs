//! A restored memory file's pages, loaded as they are needed.
//!
//! The pages file is the memory file's data a block of [`LOAD_BLOCK`] bytes
//! at a time ([`write_blocks`]): each block's data pieces, in order,
//! compressed with LZ4 unless that saves too little, one block after the
//! other. The state file has where each block is stored and a CRC-32 of its
//! data.
//!
//! A restore does not read the pages file before the app runs again. A
//! block is read, decompressed into the memory file (at its own offset, so
//! nothing is remapped) and checked the first time anything needs it:
//! - the Sentry, on any access to memory-file bytes ([`MemoryFile`]'s
//!   accessors load what they touch first);
//! - the app, through its stub: the mappings of restored pages are mapped
//!   with no access until a fault loads a window of them
//!   ([`super::MemoryManager::handle_fault`]);
//! - a background thread, which loads everything else in order, so that the
//!   image's file is let go of soon after.
//!
//! A block whose checksum does not match, or that cannot be read, is never
//! used: the failure is reported once, to the handler the kernel installs,
//! which ends the sandbox with the error.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::MemoryFile;

/// The unit of loading and of checksums: small enough that the first touch
/// of a page reads little, large enough that reading 1 GiB takes few loads.
pub const LOAD_BLOCK: u64 = 256 << 10;

/// Why restored pages could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// A block's bytes do not match their checksum.
    #[error("the checkpoint image's pages are corrupt: the block at {offset:#x} does not match its checksum")]
    Corrupt {
        /// The block's offset in the memory file.
        offset: u64,
    },
    /// The pages file is shorter than its extents say.
    #[error("the checkpoint image's pages file is truncated: it ends at {have} bytes, its extents at {want}")]
    Truncated {
        /// The file's length.
        have: u64,
        /// Where its last extent ends.
        want: u64,
    },
    /// The extents and checksums do not fit together.
    #[error("the checkpoint image is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// Reading the pages file failed.
    #[error("reading the checkpoint image's pages: {0}")]
    Io(String),
}

/// Where a block's data is in the pages file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredBlock {
    /// Its offset in the file.
    pub at: u64,
    /// Its length there.
    pub len: u32,
    /// LZ4-compressed (else the data as it is).
    pub compressed: bool,
}

/// A block is stored compressed if that saves at least an eighth.
fn worth_compressing(raw: usize, compressed: usize) -> bool {
    compressed < raw - raw / 8
}

/// Writes the data of `extents` as the pages file's blocks: `read(off,
/// len, buf)` appends those bytes of the memory file to `buf`, and
/// `write(at, bytes)` puts bytes in the file. Returns each block's CRC-32
/// and where it is stored, and the file's length.
pub fn write_blocks(
    extents: &[(u64, u64)],
    mut read: impl FnMut(u64, u64, &mut Vec<u8>),
    mut write: impl FnMut(u64, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<(Vec<u32>, Vec<StoredBlock>, u64)> {
    let mut crcs = Vec::new();
    let mut stored = Vec::new();
    let mut at = 0u64;
    let mut raw: Vec<u8> = Vec::with_capacity(LOAD_BLOCK as usize);
    let mut packed = vec![0u8; lz4_flex::block::get_maximum_output_size(LOAD_BLOCK as usize)];
    let mut pieces = block_pieces(extents).peekable();
    while let Some((index, off, len)) = pieces.next() {
        read(off, len, &mut raw);
        if pieces.peek().is_some_and(|&(next, _, _)| next == index) {
            continue;
        }
        crcs.push(crc32fast::hash(&raw));
        let bytes = match lz4_flex::block::compress_into(&raw, &mut packed) {
            Ok(n) if worth_compressing(raw.len(), n) => &packed[..n],
            _ => &raw[..],
        };
        write(at, bytes)?;
        stored.push(StoredBlock { at, len: bytes.len() as u32, compressed: bytes.len() != raw.len() });
        at += bytes.len() as u64;
        raw.clear();
    }
    Ok((crcs, stored, at))
}

/// One block with data.
struct Block {
    /// Its offset in the memory file, divided by [`LOAD_BLOCK`].
    index: u64,
    /// CRC-32 of its data pieces, in order.
    crc: u32,
    /// Where it is in the pages file.
    stored: StoredBlock,
    /// The first extent that reaches into it.
    first_extent: usize,
    /// Not loaded yet.
    pending: AtomicBool,
}

/// Where the pages file stands.
enum Source {
    /// Blocks remain to be loaded from it.
    Open(OwnedFd),
    /// Every block is in; the file is closed.
    Done,
    /// A block failed; nothing more is loaded.
    Failed(LoadError),
}

/// What a failure is reported to.
pub type FailureHandler = Box<dyn FnOnce(&LoadError) + Send>;

/// The blocks of a checkpoint's pages still to load.
pub struct LazyPages {
    extents: Vec<(u64, u64)>,
    blocks: Vec<Block>,
    remaining: AtomicUsize,
    /// Held while a block loads, so that each loads once.
    source: Mutex<Source>,
    on_failure: Mutex<Option<FailureHandler>>,
}

/// The pieces of `extents` cut at block boundaries, in order: `(block index,
/// offset, length)`.
pub fn block_pieces(extents: &[(u64, u64)]) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
    extents.iter().flat_map(|&(off, len)| {
        let end = off.saturating_add(len);
        let mut at = off;
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let index = at / LOAD_BLOCK;
            let stop = end.min((index + 1).saturating_mul(LOAD_BLOCK));
            let piece = (index, at, stop - at);
            at = stop;
            Some(piece)
        })
    })
}

impl LazyPages {
    /// Takes the pages file `file`, which holds the data of `extents`
    /// (ordered, not overlapping, below `tail`) as [`write_blocks`] wrote it:
    /// one checksum and one stored block per block with data. Checks that
    /// the file holds every stored block, not their contents.
    pub fn new(
        file: OwnedFd,
        extents: Vec<(u64, u64)>,
        crcs: &[u32],
        stored: &[StoredBlock],
        tail: u64,
    ) -> Result<LazyPages, LoadError> {
        let mut last = 0;
        for &(off, len) in &extents {
            if off < last || len == 0 || off.checked_add(len).is_none_or(|e| e > tail) {
                return Err(LoadError::Inconsistent("a page extent out of order or past the memory file's end"));
            }
            last = off + len;
        }
        // lseek, not fstat: the confined Sentry's filter has it.
        let mut blocks: Vec<Block> = Vec::new();
        let mut extent = 0;
        for (index, off, _) in block_pieces(&extents) {
            while extents[extent].0 + extents[extent].1 <= off {
                extent += 1;
            }
            if blocks.last().is_none_or(|b| b.index != index) {
                let stored = StoredBlock::default();
                blocks.push(Block { index, crc: 0, stored, first_extent: extent, pending: AtomicBool::new(true) });
            }
        }
        if blocks.len() != crcs.len() || blocks.len() != stored.len() {
            return Err(LoadError::Inconsistent("a checksum or block count unlike the pages' blocks"));
        }
        let most = lz4_flex::block::get_maximum_output_size(LOAD_BLOCK as usize) as u64;
        let mut want = 0;
        for ((b, &crc), &s) in blocks.iter_mut().zip(crcs).zip(stored) {
            if u64::from(s.len) > most {
                return Err(LoadError::Inconsistent("a stored block larger than any block"));
            }
            want = want.max(s.at.checked_add(u64::from(s.len)).ok_or(LoadError::Inconsistent("a stored block"))?);
            (b.crc, b.stored) = (crc, s);
        }
        // lseek, not fstat: the confined Sentry's filter has it.
        let have = crate::sys::lseek(file.as_raw_fd(), 0, libc::SEEK_END as u32)
            .map_err(|e| LoadError::Io(format!("the pages file's length: {e}")))?;
        if have < want {
            return Err(LoadError::Truncated { have, want });
        }
        let source = if blocks.is_empty() { Source::Done } else { Source::Open(file) };
        Ok(LazyPages {
            remaining: AtomicUsize::new(blocks.len()),
            extents,
            blocks,
            source: Mutex::new(source),
            on_failure: Mutex::new(None),
        })
    }

    /// Whether every block is in.
    pub fn done(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0
    }

    /// The blocks that reach into `[off, off + len)`.
    fn blocks_in(&self, off: u64, len: u64) -> &[Block] {
        if len == 0 {
            return &[];
        }
        let (first, last) = (off / LOAD_BLOCK, off.saturating_add(len - 1) / LOAD_BLOCK);
        let from = self.blocks.partition_point(|b| b.index < first);
        let to = self.blocks.partition_point(|b| b.index <= last);
        &self.blocks[from..to.max(from)]
    }

    /// Whether any block reaching into `[off, off + len)` is still to load.
    pub fn pending(&self, off: u64, len: u64) -> bool {
        self.blocks_in(off, len).iter().any(|b| b.pending.load(Ordering::Acquire))
    }

    /// Loads the blocks that reach into `[off, off + len)`.
    pub fn load(&self, mf: &MemoryFile, off: u64, len: u64) -> Result<(), LoadError> {
        for b in self.blocks_in(off, len) {
            if b.pending.load(Ordering::Acquire) {
                self.load_block(mf, b)?;
            }
        }
        Ok(())
    }

    /// Loads every block still to load, in order.
    pub fn load_all(&self, mf: &MemoryFile) -> Result<(), LoadError> {
        for b in &self.blocks {
            if b.pending.load(Ordering::Acquire) {
                self.load_block(mf, b)?;
            }
        }
        Ok(())
    }

    fn load_block(&self, mf: &MemoryFile, b: &Block) -> Result<(), LoadError> {
        let mut source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        if !b.pending.load(Ordering::Acquire) {
            return Ok(());
        }
        let fd = match &*source {
            Source::Open(fd) => fd.as_raw_fd(),
            Source::Done => return Ok(()),
            Source::Failed(e) => return Err(e.clone()),
        };
        match self.read_block(mf, fd, b) {
            Ok(()) => {
                b.pending.store(false, Ordering::Release);
                if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    *source = Source::Done;
                    mf.all_loaded();
                }
                Ok(())
            }
            Err(e) => {
                *source = Source::Failed(e.clone());
                drop(source);
                let handler = self.on_failure.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(report) = handler {
                    report(&e);
                }
                Err(e)
            }
        }
    }

    /// Block `b`'s data pieces: (memory-file offset, length), in order.
    fn pieces(&self, b: &Block) -> impl Iterator<Item = (u64, u64)> + '_ {
        let (start, end) = (b.index * LOAD_BLOCK, (b.index + 1) * LOAD_BLOCK);
        self.extents[b.first_extent..]
            .iter()
            .take_while(move |&&(off, _)| off < end)
            .map(move |&(off, len)| (off.max(start), (off + len).min(end)))
            .filter(|(from, to)| from < to)
            .map(|(from, to)| (from, to - from))
    }

    /// Reads block `b` into the memory file and checks it.
    fn read_block(&self, mf: &MemoryFile, fd: i32, b: &Block) -> Result<(), LoadError> {
        let corrupt = LoadError::Corrupt { offset: b.index * LOAD_BLOCK };
        let io = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                LoadError::Truncated { have: b.stored.at, want: b.stored.at + u64::from(b.stored.len) }
            }
            _ => LoadError::Io(e.to_string()),
        };
        let raw_len: u64 = self.pieces(b).map(|(_, len)| len).sum();
        if !b.stored.compressed {
            if u64::from(b.stored.len) != raw_len {
                return Err(corrupt);
            }
            // Straight from the file into the memory file.
            let mut hasher = crc32fast::Hasher::new();
            let mut at = b.stored.at;
            for (off, len) in self.pieces(b) {
                mf.fill_unsettled(fd, off, len, at).map_err(io)?;
                mf.hash_unsettled(off, len, &mut hasher);
                at += len;
            }
            return if hasher.finalize() == b.crc { Ok(()) } else { Err(corrupt) };
        }
        let mut packed = vec![0u8; b.stored.len as usize];
        let mut got = 0;
        while got < packed.len() {
            match crate::sys::pread(fd, &mut packed[got..], b.stored.at + got as u64) {
                Ok(0) => return Err(io(std::io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => got += n,
                Err(e) => return Err(LoadError::Io(e.to_string())),
            }
        }
        let mut raw = vec![0u8; raw_len as usize];
        match lz4_flex::block::decompress_into(&packed, &mut raw) {
            Ok(n) if n == raw.len() && crc32fast::hash(&raw) == b.crc => {}
            _ => return Err(corrupt),
        }
        let mut at = 0;
        for (off, len) in self.pieces(b) {
            mf.write_unsettled(off, &raw[at..at + len as usize]);
            at += len as usize;
        }
        Ok(())
    }

    /// Has a failure reported to `report`: now, if one happened already.
    pub fn on_failure(&self, report: FailureHandler) {
        let source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        if let Source::Failed(e) = &*source {
            let e = e.clone();
            drop(source);
            report(&e);
        } else {
            *self.on_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_stored_compressed_when_it_pays() {
        let b = LOAD_BLOCK;
        // A block of one repeated byte, and one of noise.
        let mut noise = vec![0u8; b as usize];
        let mut x = 0x1234_5678u32;
        for v in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *v = x as u8;
        }
        let extents = [(0, b), (b, b)];
        let mut file = Vec::new();
        let (crcs, stored, len) = write_blocks(
            &extents,
            |off, l, buf| {
                if off < b {
                    buf.extend(std::iter::repeat_n(7u8, l as usize))
                } else {
                    buf.extend_from_slice(&noise[..l as usize])
                }
            },
            |at, bytes| {
                file.resize(at as usize, 0);
                file.extend_from_slice(bytes);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(crcs, vec![crc32fast::hash(&vec![7u8; b as usize]), crc32fast::hash(&noise)]);
        assert!(stored[0].compressed && stored[0].len < 4096, "{:?}", stored[0]);
        assert!(!stored[1].compressed && u64::from(stored[1].len) == b, "noise is stored as it is");
        assert_eq!((stored[1].at, len), (u64::from(stored[0].len), file.len() as u64));
    }

    #[test]
    fn pieces_are_cut_at_block_boundaries() {
        let b = LOAD_BLOCK;
        let extents = [(0, 4096), (b - 4096, 8192), (3 * b, 4096)];
        let pieces: Vec<_> = block_pieces(&extents).collect();
        assert_eq!(pieces, vec![(0, 0, 4096), (0, b - 4096, 4096), (1, b, 4096), (3, 3 * b, 4096)]);
    }
}
