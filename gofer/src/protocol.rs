//! The wire protocol between the Sentry ([`GoferClient`](crate::GoferClient))
//! and the gofer ([`serve`](crate::serve)).
//!
//! Each call is exactly one [`Tagged<Request>`] message followed by exactly
//! one [`Tagged<Response>`] message carrying the same tag, on an `AF_UNIX`
//! `SOCK_SEQPACKET` socket (one message per datagram, so no framing). The
//! response to [`Request::Open`] carries the opened host fd as `SCM_RIGHTS`
//! ancillary data. Messages are bincode 1.3 with fixed-width integers, no
//! trailing bytes, and at most [`MAX_MESSAGE`] bytes; anything else is a
//! protocol violation and the gofer closes the connection.

use bincode::Options;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{DirEntry, Fid, FileAttr, FsStat, NewNode, SetAttr};

/// Largest encoded message, in either direction. Well under the default
/// socket send buffer (about 208 KiB), which bounds a seqpacket datagram.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Longest single path component, as Linux's `NAME_MAX`.
pub const NAME_MAX: usize = 255;

/// Most names in one [`Request::Walk`]; the client splits longer walks.
/// 128 names of [`NAME_MAX`] bytes, or 128 steps of attributes, fit easily
/// in [`MAX_MESSAGE`].
pub const MAX_WALK_NAMES: usize = 128;

/// Longest symlink target the gofer returns (Linux's `PATH_MAX`, which
/// includes the terminating NUL, minus one).
pub const MAX_SYMLINK_TARGET: usize = 4095;

/// Bytes of [`Response::Dirents`] entries per page; leaves room for the
/// envelope so the whole response stays under [`MAX_MESSAGE`].
pub const DIRENTS_PAGE_BUDGET: usize = MAX_MESSAGE - 1024;

/// Longest extended attribute value (and list of names) carried: Linux's
/// own limit is 64 KiB, less room here for the envelope. Host filesystems
/// mostly allow far less (ext4: a block).
pub const MAX_XATTR: usize = MAX_MESSAGE - 2048;

/// Longest extended attribute name, as Linux's `XATTR_NAME_MAX`.
pub const XATTR_NAME_MAX: usize = 255;

/// A message with the tag that pairs a response with its request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tagged<T> {
    /// Chosen by the client, echoed by the gofer.
    pub tag: u64,
    /// The request or response itself.
    pub msg: T,
}

/// A request from the Sentry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// New fid for the root of served tree `root`: 0 is the rootfs, 1.. the
    /// extra roots (bind-mount sources) in the order the gofer was given
    /// them; an unknown index is ENOENT. Answer: [`Response::Attach`].
    Attach { root: u32 },
    /// Walk single components from `dir`, at most [`MAX_WALK_NAMES`] of them.
    /// Answer: [`Response::Walk`].
    Walk { dir: Fid, names: Vec<Vec<u8>> },
    /// Attributes of `fid`. Answer: [`Response::Stat`].
    Stat { fid: Fid },
    /// Open `fid` for reading with the app's Linux open `flags`. Answer:
    /// [`Response::Open`] with the fd attached.
    Open { fid: Fid, flags: u32 },
    /// Target of the symlink `fid`. Answer: [`Response::Readlink`].
    Readlink { fid: Fid },
    /// One page of the entries of directory `fid`, starting at `offset` (0 for
    /// the start, else a `next` from an earlier page). Answer:
    /// [`Response::Dirents`].
    Getdents { fid: Fid, offset: i64 },
    /// Release `fid`. Answer: [`Response::Clunk`].
    Clunk { fid: Fid },

    // The calls below change a tree, and only a root served writable
    // accepts them (EROFS otherwise). The Sentry has made Linux's
    // permission checks for the app; the Gofer confines each call beneath
    // its root, names one component, and makes no device nodes.
    /// Create the regular file `name` in `dir` (`O_CREAT | O_EXCL` on the
    /// host) with permission bits `mode`, owned by `uid`:`gid`, and open it
    /// with the access mode of `flags`. Answer: [`Response::Created`] with
    /// the fd attached.
    Create { dir: Fid, name: Vec<u8>, flags: u32, mode: u32, uid: u32, gid: u32 },
    /// Make `name` in `dir`: a directory, FIFO, socket, empty regular file
    /// or symlink, with permission bits `mode`, owned by `uid`:`gid`.
    /// Answer: [`Response::Made`].
    Mknod { dir: Fid, name: Vec<u8>, node: NewNode, mode: u32, uid: u32, gid: u32 },
    /// Give the file `file` the further name `name` in `dir`. Answer:
    /// [`Response::Made`], a fid for the new name.
    Link { file: Fid, dir: Fid, name: Vec<u8> },
    /// Remove `name` from `dir`: a directory if `dir_flag`, else anything
    /// else. Answer: [`Response::Done`].
    Unlink { dir: Fid, name: Vec<u8>, dir_flag: bool },
    /// renameat2 of `oname` in `odir` to `nname` in `ndir`, both in one
    /// root; `flags` may hold RENAME_NOREPLACE or RENAME_EXCHANGE. Answer:
    /// [`Response::Done`].
    Rename { odir: Fid, oname: Vec<u8>, ndir: Fid, nname: Vec<u8>, flags: u32 },
    /// Change owner, mode and times of `fid`. Answer: [`Response::Stat`],
    /// the attributes after.
    Setattr { fid: Fid, set: SetAttr },
    /// The filesystem `fid` is on. Answer: [`Response::Statfs`].
    Statfs { fid: Fid },
    /// The value of the `user.` extended attribute `name` of `fid`.
    /// Answer: [`Response::Xattr`].
    Getxattr { fid: Fid, name: Vec<u8> },
    /// The names of `fid`'s `user.` extended attributes, each ending in
    /// NUL. Answer: [`Response::Xattr`].
    Listxattr { fid: Fid },
    /// Set a `user.` extended attribute (`flags`: XATTR_CREATE or
    /// XATTR_REPLACE). Answer: [`Response::Done`].
    Setxattr { fid: Fid, name: Vec<u8>, value: Vec<u8>, flags: u32 },
    /// Remove a `user.` extended attribute. Answer: [`Response::Done`].
    Removexattr { fid: Fid, name: Vec<u8> },
}

/// A response from the gofer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The request failed with this Linux errno (1..=4095).
    Error(i32),
    /// A new fid for the root and its attributes.
    Attach { fid: Fid, attr: FileAttr },
    /// One step per component walked; `error` is set when a component failed.
    Walk { steps: Vec<(Fid, FileAttr)>, error: Option<i32> },
    /// Attributes of the fid.
    Stat(FileAttr),
    /// The fd is attached as `SCM_RIGHTS`.
    Open,
    /// The symlink target.
    Readlink(Vec<u8>),
    /// A page of entries ("." and ".." left out). `next` is the offset to ask
    /// for the following page; `eof` is set once the directory is exhausted.
    Dirents { entries: Vec<DirEntry>, next: i64, eof: bool },
    /// The fid was released.
    Clunk,
    /// A regular file made and opened: a fid for it and its attributes;
    /// the fd is attached as `SCM_RIGHTS`.
    Created { fid: Fid, attr: FileAttr },
    /// A name made: a fid for it and its attributes.
    Made { fid: Fid, attr: FileAttr },
    /// The change was made.
    Done,
    /// The filesystem's figures.
    Statfs(FsStat),
    /// An extended attribute's value, or a list of names.
    Xattr(Vec<u8>),
}

/// Errors while encoding or decoding a message.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// bincode refused the bytes (malformed, trailing bytes, over the limit).
    #[error("bad message: {0}")]
    Bincode(#[from] bincode::Error),
}

fn options() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_limit(MAX_MESSAGE as u64).reject_trailing_bytes()
}

/// Encodes a message; fails if it would exceed [`MAX_MESSAGE`].
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    Ok(options().serialize(msg)?)
}

/// Decodes a message of at most [`MAX_MESSAGE`] bytes with no trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(options().deserialize(bytes)?)
}

/// Encoded size of one [`DirEntry`] inside [`Response::Dirents`]: the name's
/// length prefix and bytes, `ino`, and `dtype`.
pub(crate) fn dirent_encoded_len(name_len: usize) -> usize {
    8 + name_len + 8 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_dirent_size() {
        let entry = DirEntry { name: b"hello".to_vec(), ino: 7, dtype: 8 };
        let bytes = encode(&entry).unwrap();
        assert_eq!(bytes.len(), dirent_encoded_len(5));
        let empty = encode(&Tagged { tag: 1, msg: Response::Dirents { entries: vec![], next: 0, eof: true } }).unwrap();
        let one =
            encode(&Tagged { tag: 1, msg: Response::Dirents { entries: vec![entry.clone()], next: 0, eof: true } })
                .unwrap();
        assert_eq!(one.len() - empty.len(), dirent_encoded_len(5));
        let back: Tagged<Response> = decode(&one).unwrap();
        assert_eq!(back.msg, Response::Dirents { entries: vec![entry], next: 0, eof: true });
    }

    #[test]
    fn largest_requests_and_responses_fit() {
        let walk = Tagged {
            tag: u64::MAX,
            msg: Request::Walk { dir: u64::MAX, names: vec![vec![b'x'; NAME_MAX + 1]; MAX_WALK_NAMES] },
        };
        assert!(encode(&walk).unwrap().len() < MAX_MESSAGE);
        let steps = Tagged {
            tag: u64::MAX,
            msg: Response::Walk { steps: vec![(u64::MAX, FileAttr::default()); MAX_WALK_NAMES], error: Some(1) },
        };
        assert!(encode(&steps).unwrap().len() < MAX_MESSAGE / 2);
        let link = Tagged { tag: 0, msg: Response::Readlink(vec![b'x'; MAX_SYMLINK_TARGET]) };
        assert!(encode(&link).unwrap().len() < MAX_MESSAGE);
    }

    #[test]
    fn decode_rejects_garbage_trailing_bytes_and_huge_lengths() {
        assert!(decode::<Tagged<Request>>(&[]).is_err());
        assert!(decode::<Tagged<Request>>(&[0xff; 64]).is_err());
        let mut ok = encode(&Tagged { tag: 3, msg: Request::Stat { fid: 9 } }).unwrap();
        assert!(decode::<Tagged<Request>>(&ok).is_ok());
        ok.push(0);
        assert!(decode::<Tagged<Request>>(&ok).is_err());
        // A Walk claiming 2^62 names must fail, not try to allocate them.
        let mut huge = Vec::new();
        huge.extend_from_slice(&1u64.to_le_bytes()); // tag
        huge.extend_from_slice(&1u32.to_le_bytes()); // variant Walk
        huge.extend_from_slice(&1u64.to_le_bytes()); // dir
        huge.extend_from_slice(&(1u64 << 62).to_le_bytes()); // names.len()
        assert!(decode::<Tagged<Request>>(&huge).is_err());
        // Encoding refuses anything over the limit.
        assert!(encode(&vec![0u8; MAX_MESSAGE]).is_err());
    }
}
