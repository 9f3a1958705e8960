//! A restored memory file's pages, loaded as they are needed.
//!
//! A restore does not read the checkpoint's pages file before the app runs
//! again. It takes the file's extents and a CRC-32 per block of
//! [`LOAD_BLOCK`] bytes, and a block is read into the memory file (at its own
//! offset, so nothing is remapped) and checked the first time anything needs
//! it:
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

/// One block with data.
struct Block {
    /// Its offset in the memory file, divided by [`LOAD_BLOCK`].
    index: u64,
    /// CRC-32 of its data pieces, in order.
    crc: u32,
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

/// The checksum of each block with data, in order, with `hash(off, len,
/// hasher)` feeding a piece's bytes to the hasher.
pub fn block_checksums(extents: &[(u64, u64)], mut hash: impl FnMut(u64, u64, &mut crc32fast::Hasher)) -> Vec<u32> {
    let mut out = Vec::new();
    let mut current: Option<(u64, crc32fast::Hasher)> = None;
    for (index, off, len) in block_pieces(extents) {
        match &mut current {
            Some((i, h)) if *i == index => hash(off, len, h),
            _ => {
                if let Some((_, h)) = current.take() {
                    out.push(h.finalize());
                }
                let mut h = crc32fast::Hasher::new();
                hash(off, len, &mut h);
                current = Some((index, h));
            }
        }
    }
    if let Some((_, h)) = current {
        out.push(h.finalize());
    }
    out
}

impl LazyPages {
    /// Takes the pages file `file`, whose data lies at `extents` (ordered,
    /// not overlapping, below `tail`), with one checksum per block with data.
    /// Checks that the file reaches the last extent, not its contents.
    pub fn new(file: OwnedFd, extents: Vec<(u64, u64)>, crcs: &[u32], tail: u64) -> Result<LazyPages, LoadError> {
        let mut last = 0;
        for &(off, len) in &extents {
            if off < last || len == 0 || off.checked_add(len).is_none_or(|e| e > tail) {
                return Err(LoadError::Inconsistent("a page extent out of order or past the memory file's end"));
            }
            last = off + len;
        }
        // lseek, not fstat: the confined Sentry's filter has it.
        let have = crate::sys::lseek(file.as_raw_fd(), 0, libc::SEEK_END as u32)
            .map_err(|e| LoadError::Io(format!("the pages file's length: {e}")))?;
        if have < last {
            return Err(LoadError::Truncated { have, want: last });
        }
        let mut blocks: Vec<Block> = Vec::new();
        let mut extent = 0;
        for (index, off, _) in block_pieces(&extents) {
            while extents[extent].0 + extents[extent].1 <= off {
                extent += 1;
            }
            if blocks.last().is_none_or(|b| b.index != index) {
                blocks.push(Block { index, crc: 0, first_extent: extent, pending: AtomicBool::new(true) });
            }
        }
        if blocks.len() != crcs.len() {
            return Err(LoadError::Inconsistent("a checksum count unlike the pages' blocks"));
        }
        for (b, &crc) in blocks.iter_mut().zip(crcs) {
            b.crc = crc;
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

    /// Reads block `b`'s pieces into the memory file and checks them.
    fn read_block(&self, mf: &MemoryFile, fd: i32, b: &Block) -> Result<(), LoadError> {
        let (start, end) = (b.index * LOAD_BLOCK, (b.index + 1) * LOAD_BLOCK);
        let mut hasher = crc32fast::Hasher::new();
        for &(off, len) in self.extents[b.first_extent..].iter().take_while(|&&(off, _)| off < end) {
            let (from, to) = (off.max(start), (off + len).min(end));
            if from >= to {
                continue;
            }
            mf.fill_unsettled(fd, from, to - from).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => LoadError::Truncated { have: from, want: to },
                _ => LoadError::Io(e.to_string()),
            })?;
            mf.hash_unsettled(from, to - from, &mut hasher);
        }
        if hasher.finalize() != b.crc {
            return Err(LoadError::Corrupt { offset: start });
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
    fn pieces_are_cut_at_block_boundaries() {
        let b = LOAD_BLOCK;
        let extents = [(0, 4096), (b - 4096, 8192), (3 * b, 4096)];
        let pieces: Vec<_> = block_pieces(&extents).collect();
        assert_eq!(pieces, vec![(0, 0, 4096), (0, b - 4096, 4096), (1, b, 4096), (3, 3 * b, 4096)]);
        let sums = block_checksums(&extents, |_, len, h| h.update(&vec![1u8; len as usize]));
        assert_eq!(sums.len(), 3, "one checksum per block with data");
        assert_eq!(sums[0], crc32fast::hash(&[1u8; 8192]));
    }
}
