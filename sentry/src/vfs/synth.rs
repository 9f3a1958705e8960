//! Synthetic filesystems served by the Sentry (procfs, sysfs): trees whose
//! directories list and look up their entries on demand and whose files
//! are generated when they are opened, like Linux's seq_file.
//!
//! A synthetic dentry is made afresh on every lookup and never cached, so
//! what a directory shows is always current (processes come and go). Every
//! node of one instance reports that instance's device number; inode
//! numbers are derived from the path, so they are stable across lookups.
//! Nothing here is writable: opening for writing fails with EACCES, and
//! every change to the tree with EROFS or EACCES as Linux answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::flags::mode::{dtype, DT_DIR, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use abi::Errno;
use gofer::{DirEntry, FileAttr};

use super::file::FileOps;
use super::Dentry;
use crate::mm::{Chunk, MemoryFile, SysResult};

static NEXT_DEV: AtomicU64 = AtomicU64::new(0x300);

/// One synthetic filesystem instance.
pub struct SynthFs {
    dev: u64,
    /// `f_type` for statfs.
    pub magic: i64,
}

impl SynthFs {
    /// A new instance reporting `magic` as its filesystem type.
    pub fn new(magic: i64) -> Arc<SynthFs> {
        Arc::new(SynthFs { dev: NEXT_DEV.fetch_add(1, Ordering::Relaxed), magic })
    }

    /// Its device number (also its filesystem id).
    pub fn dev(&self) -> u64 {
        self.dev
    }
}

/// Produces a file's contents or a symlink's target when asked.
pub type Generator = Arc<dyn Fn() -> SysResult<Vec<u8>> + Send + Sync>;

/// A directory whose entries are computed when listed or looked up.
pub trait SynthDir: Send + Sync {
    /// Every entry, in listing order.
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)>;

    /// The entry called `name`.
    fn lookup(&self, name: &[u8]) -> Option<SynthNode> {
        self.entries().into_iter().find(|(n, _)| n == name).map(|(_, node)| node)
    }

    /// The process this directory is (/proc/PID, not a task's directory):
    /// an fd of it stands for the process in pidfd_send_signal, as on
    /// Linux.
    fn process(&self) -> Option<i32> {
        None
    }

    /// Makes an entry called `name` of kind `kind` with permission bits
    /// `perm`, for the few directories that allow it (/dev/mqueue); None
    /// where creation is refused as in any synthetic directory.
    fn create(
        &self,
        _name: &[u8],
        _kind: &super::tmpfs::NewKind,
        _perm: u32,
        _creds: &crate::kernel::process::Credentials,
    ) -> Option<SysResult<()>> {
        None
    }

    /// Removes the entry called `name`, for the few directories whose
    /// entries may be removed (/dev/mqueue); None where unlink is refused
    /// as in any synthetic directory.
    fn unlink(&self, _name: &[u8], _creds: &crate::kernel::process::Credentials) -> Option<SysResult<()>> {
        None
    }
}

/// What a synthetic node is.
#[derive(Clone)]
pub enum SynthKind {
    /// A directory.
    Dir(Arc<dyn SynthDir>),
    /// A regular file, generated at open.
    File(Generator),
    /// A symlink, its target generated when read.
    Link(Generator),
    /// A file that is an object of its own (a message queue): opening it
    /// gives that object's file, readable and writable as it allows.
    Object(Opener),
    /// A character device node (devpts's): opening it opens the Sentry's
    /// device of its number, as for a device node anywhere.
    Device,
}

/// Opens a [`SynthKind::Object`] node.
pub type Opener = Arc<dyn Fn() -> SysResult<Box<dyn FileOps>> + Send + Sync>;

/// A node of a synthetic filesystem.
#[derive(Clone)]
pub struct SynthNode {
    /// Its filesystem.
    pub fs: Arc<SynthFs>,
    /// What it is.
    pub kind: SynthKind,
    /// Mode (type and permissions), owner and inode number.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Inode number.
    pub ino: u64,
    /// The size stat reports (0 for generated files, as in Linux's procfs).
    pub size: u64,
    /// A device node's number.
    pub rdev: u64,
    /// For /proc/PID/fd/N: the open file the link stands for. Opening the
    /// link opens that file again (Linux's magic links), whatever its
    /// textual target says.
    pub file: Option<std::sync::Weak<super::file::File>>,
    /// For /proc/PID/ns/NAME: what opening the link opens (a new file of
    /// the namespace), whatever its text says.
    pub opens: Option<Opener>,
    /// For /proc/PID/maps (and a task's): the process and thread whose
    /// mappings the PROCMAP_QUERY ioctl on an open file of it asks about.
    pub maps_of: Option<(i32, Option<i32>)>,
}

/// An inode number for `name` in the directory numbered `parent`: stable,
/// and unlikely to collide within one instance.
pub fn child_ino(parent: u64, name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ parent.wrapping_mul(0x100_0000_01b3);
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    // Small numbers are easier to read; keep clear of 0 and the root's 1.
    (h % 0xffff_fff0) + 2
}

impl SynthNode {
    fn new(fs: &Arc<SynthFs>, kind: SynthKind, mode: u32, ino: u64, size: u64) -> SynthNode {
        SynthNode {
            fs: fs.clone(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            ino,
            size,
            rdev: 0,
            file: None,
            opens: None,
            maps_of: None,
        }
    }

    /// A directory.
    pub fn dir(fs: &Arc<SynthFs>, ino: u64, perm: u32, d: Arc<dyn SynthDir>) -> SynthNode {
        SynthNode::new(fs, SynthKind::Dir(d), S_IFDIR | perm, ino, 0)
    }

    /// A read-only regular file.
    pub fn file(fs: &Arc<SynthFs>, ino: u64, perm: u32, g: Generator) -> SynthNode {
        SynthNode::new(fs, SynthKind::File(g), S_IFREG | perm, ino, 0)
    }

    /// A read-only regular file of fixed contents, whose size stat shows.
    pub fn fixed(fs: &Arc<SynthFs>, ino: u64, perm: u32, contents: Vec<u8>) -> SynthNode {
        let size = contents.len() as u64;
        let contents = Arc::new(contents);
        SynthNode::new(fs, SynthKind::File(Arc::new(move || Ok(contents.to_vec()))), S_IFREG | perm, ino, size)
    }

    /// A symlink.
    pub fn link(fs: &Arc<SynthFs>, ino: u64, g: Generator) -> SynthNode {
        SynthNode::new(fs, SynthKind::Link(g), S_IFLNK | 0o777, ino, 0)
    }

    /// A regular file that is an object of its own, of `size` bytes.
    pub fn object(fs: &Arc<SynthFs>, ino: u64, perm: u32, size: u64, open: Opener) -> SynthNode {
        SynthNode::new(fs, SynthKind::Object(open), S_IFREG | perm, ino, size)
    }

    /// A character device node, opened as the Sentry's device `rdev`.
    pub fn device(fs: &Arc<SynthFs>, ino: u64, perm: u32, rdev: u64) -> SynthNode {
        SynthNode { rdev, ..SynthNode::new(fs, SynthKind::Device, S_IFCHR | perm, ino, 0) }
    }

    /// Whether opening it for writing is for the object to decide, not
    /// refused as for every other synthetic file.
    pub fn is_object(&self) -> bool {
        matches!(self.kind, SynthKind::Object(_) | SynthKind::Device)
    }

    /// The same node, owned by `uid`:`gid`.
    pub fn owned(mut self, uid: u32, gid: u32) -> SynthNode {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Its attributes. Sizes are 0, as in Linux's procfs and sysfs (tools
    /// read to EOF); times are the boot time of the Sentry's clock.
    pub fn attr(&self) -> FileAttr {
        let t = boot_time();
        FileAttr {
            mode: self.mode,
            nlink: if self.mode & S_IFMT == S_IFDIR { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            blksize: 1024,
            blocks: 0,
            atime_sec: t.0,
            atime_nsec: t.1,
            mtime_sec: t.0,
            mtime_nsec: t.1,
            ctime_sec: t.0,
            ctime_nsec: t.1,
            ino: self.ino,
            dev: self.fs.dev,
            rdev: self.rdev,
        }
    }
}

/// A dentry for the root of a synthetic filesystem, to mount.
pub fn new_root(node: SynthNode) -> Arc<Dentry> {
    Dentry::make(b"", std::sync::Weak::new(), super::Node::Synth(node))
}

fn boot_time() -> (i64, i64) {
    static T: std::sync::OnceLock<(i64, i64)> = std::sync::OnceLock::new();
    *T.get_or_init(super::tmpfs::now)
}

/// A directory with a fixed list of entries.
pub struct StaticDir(pub Vec<(Vec<u8>, SynthNode)>);

impl SynthDir for StaticDir {
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        self.0.clone()
    }
}

/// Builds a static tree: `files` are (path relative to the root, contents)
/// pairs; directories on the way are made as needed, mode 0555, and
/// `dirs` adds empty ones.
pub fn static_tree(fs: &Arc<SynthFs>, files: &[(&str, Vec<u8>)], dirs: &[&str]) -> SynthNode {
    static_tree_with_links(fs, files, &[], dirs)
}

/// [`static_tree`] with symlinks too: `links` are (path, target) pairs.
pub fn static_tree_with_links(
    fs: &Arc<SynthFs>,
    files: &[(&str, Vec<u8>)],
    links: &[(&str, &str)],
    dirs: &[&str],
) -> SynthNode {
    static_tree_with_objects(fs, files, links, &[], dirs)
}

/// [`static_tree_with_links`] with objects too: `objects` are (path,
/// permission bits, opener) triples, files whose opener decides what they
/// read and whether they may be written (a writable sysctl).
pub fn static_tree_with_objects(
    fs: &Arc<SynthFs>,
    files: &[(&str, Vec<u8>)],
    links: &[(&str, &str)],
    objects: &[(&str, u32, Opener)],
    dirs: &[&str],
) -> SynthNode {
    #[derive(Default)]
    struct Tree {
        dirs: std::collections::BTreeMap<Vec<u8>, Tree>,
        files: Vec<(Vec<u8>, Vec<u8>)>,
        links: Vec<(Vec<u8>, Vec<u8>)>,
        objects: Vec<(Vec<u8>, u32, Opener)>,
    }
    fn place<'a>(t: &'a mut Tree, path: &str) -> (&'a mut Tree, Vec<u8>) {
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let last = parts.pop().unwrap_or_default().as_bytes().to_vec();
        let mut cur = t;
        for p in parts {
            cur = cur.dirs.entry(p.as_bytes().to_vec()).or_default();
        }
        (cur, last)
    }
    fn build(fs: &Arc<SynthFs>, t: Tree, ino: u64) -> SynthNode {
        let mut list = Vec::new();
        for (name, sub) in t.dirs {
            let cino = child_ino(ino, &name);
            list.push((name, build(fs, sub, cino)));
        }
        for (name, data) in t.files {
            let data = Arc::new(data);
            let g: Generator = Arc::new(move || Ok(data.to_vec()));
            list.push((name.clone(), SynthNode::file(fs, child_ino(ino, &name), 0o444, g)));
        }
        for (name, target) in t.links {
            let target = Arc::new(target);
            let g: Generator = Arc::new(move || Ok(target.to_vec()));
            list.push((name.clone(), SynthNode::link(fs, child_ino(ino, &name), g)));
        }
        for (name, perm, open) in t.objects {
            list.push((name.clone(), SynthNode::object(fs, child_ino(ino, &name), perm, 0, open)));
        }
        SynthNode::dir(fs, ino, 0o555, Arc::new(StaticDir(list)))
    }
    let mut root = Tree::default();
    for d in dirs {
        let (parent, name) = place(&mut root, d);
        parent.dirs.entry(name).or_default();
    }
    for (path, data) in files {
        let (parent, name) = place(&mut root, path);
        parent.files.push((name, data.clone()));
    }
    for (path, target) in links {
        let (parent, name) = place(&mut root, path);
        parent.links.push((name, target.as_bytes().to_vec()));
    }
    for (path, perm, open) in objects {
        let (parent, name) = place(&mut root, path);
        parent.objects.push((name, *perm, open.clone()));
    }
    build(fs, root, 1)
}

/// An open synthetic file: its contents as generated on the first read
/// (as seq_file does: `tr < /proc/self/cmdline` shows tr, not the shell
/// that opened it), then kept, so that reads at any offset agree.
pub struct SynthFile {
    gen: Generator,
    data: std::sync::OnceLock<Vec<u8>>,
    attr: FileAttr,
    maps_of: Option<(i32, Option<i32>)>,
}

impl SynthFile {
    /// Opens the file `node`.
    pub fn open(node: &SynthNode) -> SysResult<SynthFile> {
        match &node.kind {
            SynthKind::File(g) => Ok(SynthFile {
                gen: g.clone(),
                data: std::sync::OnceLock::new(),
                attr: node.attr(),
                maps_of: node.maps_of,
            }),
            SynthKind::Dir(_) => Err(Errno::EISDIR),
            SynthKind::Link(_) => Err(Errno::ELOOP),
            SynthKind::Object(_) | SynthKind::Device => Err(Errno::ENXIO),
        }
    }

    /// The contents.
    pub fn contents(&self) -> SysResult<&[u8]> {
        if let Some(d) = self.data.get() {
            return Ok(d);
        }
        let d = (self.gen)()?;
        Ok(self.data.get_or_init(|| d))
    }
}

impl FileOps for SynthFile {
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        let data = self.contents()?;
        let start = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX).min(data.len());
        Ok(super::file::put_bytes(mf, dst, &data[start..]))
    }

    fn write(&self, _mf: &MemoryFile, _src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EBADF)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.attr)
    }

    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Err(Errno::EINVAL)
    }

    fn maps_of(&self) -> Option<(i32, Option<i32>)> {
        self.maps_of
    }
}

/// An open synthetic directory: its entries as listed on the first
/// getdents64 (not at open: `ls /proc/self/fd` shows the fd it reads with).
pub struct SynthDirFile {
    dir: Arc<dyn SynthDir>,
    ino: u64,
    parent_ino: u64,
    entries: std::sync::OnceLock<Vec<DirEntry>>,
    attr: FileAttr,
}

impl SynthDirFile {
    /// Opens the directory `dentry` (whose node is `node`).
    pub fn open(dentry: &Dentry, node: &SynthNode) -> SysResult<SynthDirFile> {
        let SynthKind::Dir(d) = &node.kind else { return Err(Errno::ENOTDIR) };
        let parent_ino = dentry.parent().map_or(node.ino, |p| p.attr().ino);
        Ok(SynthDirFile {
            dir: d.clone(),
            ino: node.ino,
            parent_ino,
            entries: std::sync::OnceLock::new(),
            attr: node.attr(),
        })
    }
}

impl FileOps for SynthDirFile {
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, _mf: &MemoryFile, _dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.attr)
    }

    fn entries(&self) -> SysResult<&[DirEntry]> {
        Ok(self.entries.get_or_init(|| {
            let mut list = vec![
                DirEntry { name: b".".to_vec(), ino: self.ino, dtype: DT_DIR },
                DirEntry { name: b"..".to_vec(), ino: self.parent_ino, dtype: DT_DIR },
            ];
            list.extend(self.dir.entries().into_iter().map(|(name, n)| DirEntry {
                name,
                ino: n.ino,
                dtype: dtype(n.mode),
            }));
            list
        }))
    }

    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Err(Errno::EINVAL)
    }
}
