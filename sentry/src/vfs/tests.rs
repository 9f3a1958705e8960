//! Tests of the tree, mounts, tmpfs and devfs, on a tree with no Gofer: an
//! in-Sentry root with filesystems mounted in it.

use super::file::FileOps;
use super::tmpfs::{self, FsKind, MemFs, NewKind, RegFile, TimeSet};
use super::*;
use crate::kernel::process::Credentials;
use crate::mm::{Chunk, MemoryFile, PageSource};
use abi::PAGE_SIZE;

fn root_creds() -> Credentials {
    Credentials::new(0, 0)
}

struct World {
    mf: Arc<MemoryFile>,
    vfs: Vfs,
    fs: Arc<MemFs>,
}

fn world() -> World {
    let mf = Arc::new(MemoryFile::new(1 << 30).unwrap());
    let fs = MemFs::new(FsKind::Tmpfs, mf.clone());
    let vfs = Vfs::with_root(fs.new_root(0o755, 0, 0));
    World { mf, vfs, fs }
}

impl World {
    fn resolve(&self, path: &str) -> SysResult<Arc<Dentry>> {
        let r = self.vfs.root().clone();
        self.vfs.resolve(&r, &r, path.as_bytes(), Follow::Yes)
    }

    fn lresolve(&self, path: &str) -> SysResult<Arc<Dentry>> {
        let r = self.vfs.root().clone();
        self.vfs.resolve(&r, &r, path.as_bytes(), Follow::No)
    }

    fn parent(&self, path: &str) -> SysResult<ParentPath> {
        let r = self.vfs.root().clone();
        self.vfs.resolve_parent(&r, &r, path.as_bytes())
    }

    fn make(&self, path: &str, kind: NewKind, creds: &Credentials) -> SysResult<Arc<Dentry>> {
        ops::make_node(&self.vfs, &self.parent(path)?, kind, 0o755, creds)
    }

    fn mkdir(&self, path: &str) -> Arc<Dentry> {
        self.make(path, NewKind::Dir, &root_creds()).unwrap()
    }

    fn file(&self, path: &str, data: &[u8]) -> Arc<Dentry> {
        let d = self.make(path, NewKind::Regular, &root_creds()).unwrap();
        let f = RegFile::new(d.inode().unwrap().clone());
        self.write(&f, data, 0);
        d
    }

    /// Writes `data` at `off` through a memory-file "app buffer".
    fn write(&self, f: &dyn FileOps, data: &[u8], off: u64) -> usize {
        let len = (data.len() as u64).next_multiple_of(PAGE_SIZE).max(PAGE_SIZE);
        let buf = self.mf.allocate(len).unwrap();
        self.mf.write(buf, data);
        let n = f.write(&self.mf, &[Chunk { off: buf, len: data.len() as u64 }], Some(off)).unwrap();
        self.mf.release(buf, len);
        n
    }

    fn read(&self, f: &dyn FileOps, len: usize, off: u64) -> Vec<u8> {
        let blen = (len as u64).next_multiple_of(PAGE_SIZE).max(PAGE_SIZE);
        let buf = self.mf.allocate(blen).unwrap();
        let n = f.read(&self.mf, &[Chunk { off: buf, len: len as u64 }], Some(off)).unwrap();
        let mut out = vec![0u8; n];
        self.mf.read(buf, &mut out);
        self.mf.release(buf, blen);
        out
    }

    fn names(&self, path: &str) -> Vec<String> {
        let d = self.resolve(path).unwrap();
        let f = tmpfs::DirFile::new(d);
        let mut out = Vec::new();
        f.readdir(0, &mut |e, _| {
            out.push(String::from_utf8_lossy(&e.name).into_owned());
            true
        })
        .unwrap();
        out
    }
}

#[test]
fn create_resolve_and_remove() {
    let w = world();
    w.mkdir("/a");
    w.mkdir("/a/b");
    w.file("/a/b/f", b"hello");
    let f = w.resolve("/a/b/f").unwrap();
    assert!(f.is_regular());
    assert_eq!(f.attr().size, 5);
    assert_eq!(w.vfs.path_of(&f), b"/a/b/f");
    assert_eq!(w.resolve("/a/b/../b/./f").unwrap().attr().ino, f.attr().ino);
    assert_eq!(w.resolve("/a/b/f/").err(), Some(Errno::ENOTDIR));
    assert_eq!(w.resolve("/a/nope").err(), Some(Errno::ENOENT));
    assert_eq!(w.resolve("/../../a").unwrap().attr().ino, w.resolve("/a").unwrap().attr().ino);
    // Directory link counts and sizes as Linux's tmpfs keeps them.
    let a = w.resolve("/a").unwrap().attr();
    assert_eq!((a.nlink, a.size), (3, 60));
    assert_eq!(w.make("/a/b", NewKind::Dir, &root_creds()).err(), Some(Errno::EEXIST));
    assert_eq!(w.make("/a/b/f/x", NewKind::Dir, &root_creds()).err(), Some(Errno::ENOTDIR));
    assert_eq!(w.make("/a/new/", NewKind::Regular, &root_creds()).err(), Some(Errno::ENOENT));
    assert_eq!(ops::rmdir(&w.vfs, &w.parent("/a/b").unwrap(), &root_creds()), Err(Errno::ENOTEMPTY));
    assert_eq!(ops::unlink(&w.vfs, &w.parent("/a/b").unwrap(), &root_creds()), Err(Errno::EISDIR));
    assert_eq!(ops::unlink(&w.vfs, &w.parent("/a/b/f/").unwrap(), &root_creds()), Err(Errno::ENOTDIR));
    assert_eq!(ops::rmdir(&w.vfs, &w.parent("/a/b/f").unwrap(), &root_creds()), Err(Errno::ENOTDIR));
    assert_eq!(ops::rmdir(&w.vfs, &w.parent("/a/.").unwrap(), &root_creds()), Err(Errno::EINVAL));
    ops::unlink(&w.vfs, &w.parent("/a/b/f").unwrap(), &root_creds()).unwrap();
    ops::rmdir(&w.vfs, &w.parent("/a/b").unwrap(), &root_creds()).unwrap();
    assert_eq!(w.resolve("/a").unwrap().attr().nlink, 2);
    assert_eq!(w.names("/a"), [".", ".."]);
}

#[test]
fn symlinks_resolve_against_the_root() {
    let w = world();
    w.mkdir("/d");
    w.file("/d/target", b"x");
    w.make("/d/abs", NewKind::Symlink(b"/d/target".to_vec()), &root_creds()).unwrap();
    w.make("/d/rel", NewKind::Symlink(b"target".to_vec()), &root_creds()).unwrap();
    w.make("/d/up", NewKind::Symlink(b"../../../d".to_vec()), &root_creds()).unwrap();
    w.make("/d/loop", NewKind::Symlink(b"loop".to_vec()), &root_creds()).unwrap();
    let t = w.resolve("/d/target").unwrap().attr().ino;
    assert_eq!(w.resolve("/d/abs").unwrap().attr().ino, t);
    assert_eq!(w.resolve("/d/rel").unwrap().attr().ino, t);
    assert_eq!(w.resolve("/d/up/target").unwrap().attr().ino, t);
    assert!(w.lresolve("/d/abs").unwrap().is_symlink());
    assert_eq!(w.vfs.readlink(&w.lresolve("/d/rel").unwrap()).unwrap(), b"target");
    assert_eq!(w.resolve("/d/loop").err(), Some(Errno::ELOOP));
}

#[test]
fn mounts_are_crossed_both_ways() {
    let w = world();
    w.mkdir("/mnt");
    let other = MemFs::new(FsKind::Tmpfs, w.mf.clone());
    let oroot = other.new_root(0o1777, 0, 0);
    w.vfs.mount_at(b"/mnt", oroot.clone()).unwrap();
    // A mount point that does not exist yet is made.
    let third = MemFs::new(FsKind::Tmpfs, w.mf.clone()).new_root(0o700, 0, 0);
    w.vfs.mount_at(b"/mnt/deep", third.clone()).unwrap();
    assert!(Arc::ptr_eq(&w.resolve("/mnt").unwrap(), &oroot));
    assert_eq!(w.resolve("/mnt").unwrap().attr().mode & 0o7777, 0o1777);
    assert!(Arc::ptr_eq(&w.resolve("/mnt/deep").unwrap(), &third));
    w.mkdir("/mnt/deep/x");
    let x = w.resolve("/mnt/deep/x").unwrap();
    assert_eq!(w.vfs.path_of(&x), b"/mnt/deep/x");
    assert_eq!(w.vfs.path_of(&oroot), b"/mnt");
    // ".." from a mounted root goes to the mount point's parent.
    let r = w.vfs.root().clone();
    let up = w.vfs.resolve(&r, &third, b"..", Follow::Yes).unwrap();
    assert!(Arc::ptr_eq(&up, &oroot));
    let up2 = w.vfs.resolve(&r, &oroot, b"../mnt/..", Follow::Yes).unwrap();
    assert!(Arc::ptr_eq(&up2, &r));
    // Mount points cannot be removed; names do not move across mounts.
    assert_eq!(ops::rmdir(&w.vfs, &w.parent("/mnt/deep").unwrap(), &root_creds()), Err(Errno::EBUSY));
    assert_eq!(ops::rmdir(&w.vfs, &w.parent("/mnt").unwrap(), &root_creds()), Err(Errno::EBUSY));
    w.file("/f", b"1");
    let to = w.parent("/mnt/f").unwrap();
    assert_eq!(ops::rename(&w.vfs, &w.parent("/f").unwrap(), &to, false, false, &root_creds()), Err(Errno::EXDEV));
    assert_eq!(ops::link(&w.vfs, &w.resolve("/f").unwrap(), &to, &root_creds()), Err(Errno::EXDEV));
}

#[test]
fn rename_semantics() {
    let w = world();
    let c = root_creds();
    w.mkdir("/a");
    w.mkdir("/a/sub");
    w.mkdir("/b");
    w.file("/a/f", b"first");
    w.file("/b/g", b"second");
    let rn = |from: &str, to: &str, noreplace: bool| {
        ops::rename(&w.vfs, &w.parent(from).unwrap(), &w.parent(to).unwrap(), noreplace, false, &c)
    };
    // Replacing a file: the target's inode loses its name.
    let g = w.resolve("/b/g").unwrap();
    rn("/a/f", "/b/g", false).unwrap();
    assert_eq!(g.attr().nlink, 0);
    assert_eq!(w.resolve("/a/f").err(), Some(Errno::ENOENT));
    assert_eq!(w.read(&RegFile::new(w.resolve("/b/g").unwrap().inode().unwrap().clone()), 10, 0), b"first");
    // Directories: into their own subtree, over files, over non-empty dirs.
    assert_eq!(rn("/a", "/a/sub/x", false), Err(Errno::EINVAL));
    assert_eq!(rn("/a/sub", "/b/g", false), Err(Errno::ENOTDIR));
    assert_eq!(rn("/b/g", "/a/sub", false), Err(Errno::EISDIR));
    w.file("/b/keep", b"");
    assert_eq!(rn("/a/sub", "/b", false), Err(Errno::ENOTEMPTY));
    assert_eq!(rn("/b/g", "/b/keep", true), Err(Errno::EEXIST));
    assert_eq!(rn("/b/g/", "/b/h", false), Err(Errno::ENOTDIR));
    // Moving a directory moves a link count.
    rn("/a/sub", "/b/sub", false).unwrap();
    assert_eq!((w.resolve("/a").unwrap().attr().nlink, w.resolve("/b").unwrap().attr().nlink), (2, 3));
    assert_eq!(w.vfs.path_of(&w.resolve("/b/sub").unwrap()), b"/b/sub");
    // Renaming onto another name of the same file does nothing.
    ops::link(&w.vfs, &w.resolve("/b/g").unwrap(), &w.parent("/b/g2").unwrap(), &c).unwrap();
    rn("/b/g", "/b/g2", false).unwrap();
    assert_eq!(w.resolve("/b/g").unwrap().attr().nlink, 2);
    // Exchange swaps a file and a directory across parents.
    ops::rename(&w.vfs, &w.parent("/b/sub").unwrap(), &w.parent("/a/x").unwrap(), false, false, &c).unwrap();
    w.file("/b/file", b"");
    ops::rename(&w.vfs, &w.parent("/a/x").unwrap(), &w.parent("/b/file").unwrap(), false, true, &c).unwrap();
    assert!(w.resolve("/a/x").unwrap().is_regular());
    assert!(w.resolve("/b/file").unwrap().is_dir());
    assert_eq!((w.resolve("/a").unwrap().attr().nlink, w.resolve("/b").unwrap().attr().nlink), (2, 3));
}

#[test]
fn unlinked_open_files_keep_their_data_until_closed() {
    let w = world();
    w.mkdir("/d");
    let d = w.file("/d/f", &vec![7u8; 3 * PAGE_SIZE as usize + 10]);
    assert_eq!(w.fs.pages_used(), 4);
    let f = RegFile::new(d.inode().unwrap().clone());
    drop(d);
    ops::unlink(&w.vfs, &w.parent("/d/f").unwrap(), &root_creds()).unwrap();
    assert_eq!(f.stat().unwrap().nlink, 0);
    assert_eq!(w.read(&f, 4, 3 * PAGE_SIZE), [7, 7, 7, 7]);
    w.write(&f, b"again", 0);
    assert_eq!(w.read(&f, 5, 0), b"again");
    assert_eq!(w.fs.pages_used(), 4);
    drop(f);
    assert_eq!(w.fs.pages_used(), 0, "the last close frees the pages");
}

#[test]
fn file_data_holes_truncate_and_append() {
    let w = world();
    let d = w.file("/f", b"");
    let f = RegFile::new(d.inode().unwrap().clone());
    w.write(&f, b"end", 3 * PAGE_SIZE);
    assert_eq!(f.stat().unwrap().size, 3 * PAGE_SIZE + 3);
    assert_eq!(f.stat().unwrap().blocks, 8, "only the written page is allocated");
    assert_eq!(w.read(&f, 8, PAGE_SIZE), [0; 8], "holes read as zeros");
    w.write(&f, b"0123456789", 0);
    f.truncate(4).unwrap();
    f.truncate(10).unwrap();
    assert_eq!(w.read(&f, 20, 0), b"0123\0\0\0\0\0\0", "truncation zeroes the rest of the page");
    let buf = w.mf.allocate(PAGE_SIZE).unwrap();
    w.mf.write(buf, b"XY");
    assert_eq!(f.write_append(&w.mf, &[Chunk { off: buf, len: 2 }]).unwrap(), (2, 12));
    assert_eq!(w.read(&f, 20, 0), b"0123\0\0\0\0\0\0XY");
    f.allocate(100, 10, false, true).unwrap();
    assert_eq!(w.read(&f, 4, 0), b"0123", "a punched hole past the data changes nothing before it");
    f.allocate(1, 2, true, true).unwrap();
    assert_eq!(w.read(&f, 4, 0), b"0\0\x003");
    f.allocate(0, 2 * PAGE_SIZE, false, false).unwrap();
    assert_eq!(f.stat().unwrap().size, 2 * PAGE_SIZE);
    let m = d.inode().unwrap().attr();
    assert!(m.mtime_sec > 0 && m.ctime_sec > 0);
}

#[test]
fn shared_pages_outlive_truncation() {
    let w = world();
    let d = w.file("/f", &vec![1u8; 2 * PAGE_SIZE as usize]);
    let inode = d.inode().unwrap().clone();
    let runs = inode.share(0, 4 * PAGE_SIZE).unwrap();
    assert_eq!(runs.iter().map(|r| r.len).sum::<u64>(), 2 * PAGE_SIZE, "stops at the end of the file");
    inode.truncate(0).unwrap();
    let mut b = [0u8; 1];
    w.mf.read(runs[0].off, &mut b);
    assert_eq!(b, [1], "the mapping's reference keeps the page");
    for r in runs {
        w.mf.release(r.off, r.len);
    }
    assert_eq!(w.fs.pages_used(), 0);
}

#[test]
fn readdir_offsets_survive_removals() {
    let w = world();
    w.mkdir("/d");
    for i in 0..10 {
        w.file(&format!("/d/f{i}"), b"");
    }
    let dir = w.resolve("/d").unwrap();
    let f = tmpfs::DirFile::new(dir);
    let mut first = Vec::new();
    let mut resume = 0;
    f.readdir(0, &mut |e, next| {
        first.push(e.name.clone());
        resume = next;
        first.len() < 5
    })
    .unwrap();
    assert_eq!(first[..2], [b".".to_vec(), b"..".to_vec()]);
    // Remove what was read and one entry not yet read, add a new one.
    for n in ["f0", "f1", "f2", "f5"] {
        ops::unlink(&w.vfs, &w.parent(&format!("/d/{n}")).unwrap(), &root_creds()).unwrap();
    }
    w.file("/d/new", b"");
    let mut rest = Vec::new();
    f.readdir(resume, &mut |e, _| {
        rest.push(String::from_utf8_lossy(&e.name).into_owned());
        true
    })
    .unwrap();
    assert_eq!(rest, ["f3", "f4", "f6", "f7", "f8", "f9", "new"]);
}

#[test]
fn permissions_and_the_sticky_bit() {
    let w = world();
    let tmp = w.mkdir("/tmp");
    tmp.inode().unwrap().set_mode(0o1777);
    let alice = Credentials::new(1000, 1000);
    let bob = Credentials::new(1001, 1001);
    let a = ops::make_node(&w.vfs, &w.parent("/tmp/a").unwrap(), NewKind::Regular, 0o644, &alice).unwrap();
    assert_eq!((a.attr().uid, a.attr().gid), (1000, 1000));
    assert_eq!(ops::unlink(&w.vfs, &w.parent("/tmp/a").unwrap(), &bob), Err(Errno::EPERM));
    let rn = ops::rename(&w.vfs, &w.parent("/tmp/a").unwrap(), &w.parent("/tmp/b").unwrap(), false, false, &bob);
    assert_eq!(rn, Err(Errno::EPERM));
    assert_eq!(ops::chmod(&a, 0o777, &bob), Err(Errno::EPERM));
    assert_eq!(ops::chown(&a, Some(1001), None, &alice), Err(Errno::EPERM));
    assert_eq!(ops::chown(&a, None, Some(5), &alice), Err(Errno::EPERM));
    ops::chown(&a, None, Some(1000), &alice).unwrap();
    assert_eq!(ops::utimes(&a, TimeSet::At(1, 0), TimeSet::Omit, &bob), Err(Errno::EPERM));
    assert_eq!(ops::utimes(&a, TimeSet::Now, TimeSet::Now, &bob), Err(Errno::EACCES));
    assert_eq!(ops::truncate(&a, 0, &bob), Err(Errno::EACCES));
    assert!(ops::permits(&bob, &a.attr(), ops::MAY_READ));
    assert!(!ops::permits(&bob, &a.attr(), ops::MAY_WRITE));
    assert!(!ops::permits(&root_creds(), &a.attr(), ops::MAY_EXEC), "root needs an x bit to execute");
    // Root-owned 0755 directory: others may not create in it.
    assert_eq!(
        ops::make_node(&w.vfs, &w.parent("/x").unwrap(), NewKind::Regular, 0o644, &bob).err(),
        Some(Errno::EACCES)
    );
    ops::unlink(&w.vfs, &w.parent("/tmp/a").unwrap(), &alice).unwrap();
}

#[test]
fn devfs_devices() {
    let w = world();
    let dev = devfs::new(w.mf.clone()).unwrap();
    w.mkdir("/dev");
    w.vfs.mount_at(b"/dev", dev).unwrap();
    let names = w.names("/dev");
    for n in ["null", "zero", "full", "random", "urandom", "fd", "stdin", "stdout", "stderr", "shm"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let null = w.resolve("/dev/null").unwrap().attr();
    assert_eq!(
        (null.mode, devfs::major(null.rdev), devfs::minor(null.rdev)),
        (abi::flags::mode::S_IFCHR | 0o666, 1, 3)
    );
    assert_eq!(w.vfs.readlink(&w.lresolve("/dev/stdout").unwrap()).unwrap(), b"/proc/self/fd/1");
    let open = |p: &str| devfs::open(&w.resolve(p).unwrap()).unwrap();
    assert_eq!(w.read(&*open("/dev/null"), 10, 0), b"");
    assert_eq!(w.write(&*open("/dev/null"), b"gone", 0), 4);
    let zero = open("/dev/zero");
    assert_eq!(w.read(&*zero, 5000, 0), vec![0u8; 5000]);
    let full = open("/dev/full");
    assert_eq!(full.write(&w.mf, &[Chunk { off: 0, len: 1 }], None), Err(Errno::ENOSPC));
    assert_eq!(w.read(&*full, 3, 0), [0, 0, 0]);
    let r = w.read(&*open("/dev/urandom"), 64, 0);
    assert_eq!(r.len(), 64);
    assert!(r.iter().any(|&b| b != 0));
    assert_eq!(zero.seek(100, 0), Ok(0));
}

#[test]
fn mmap_shares_tmpfs_pages_across_fork() {
    use crate::mm::{FileSource, MapFile, MemoryManager, MmapRequest};
    use abi::flags::mm::{MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE};
    let w = world();
    let d = w.file("/shm", &vec![0u8; 2 * PAGE_SIZE as usize]);
    let inode = d.inode().unwrap().clone();
    let f = RegFile::new(inode.clone());
    let mut mm = MemoryManager::new(w.mf.clone(), 0x10000, 0x7fff_ffff_f000);
    let req = |flags, len| MmapRequest {
        addr: 0,
        len,
        prot: PROT_READ | PROT_WRITE,
        flags,
        file: Some(MapFile {
            source: FileSource::Pages(inode.clone()),
            offset: 0,
            size: 2 * PAGE_SIZE,
            may_write: true,
            name: None,
        }),
    };
    let shared = mm.mmap(req(MAP_SHARED, 3 * PAGE_SIZE)).unwrap();
    let private = mm.mmap(req(MAP_PRIVATE, PAGE_SIZE)).unwrap();
    mm.copy_out(shared + 10, b"parent").unwrap();
    assert_eq!(w.read(&f, 6, 10), b"parent", "a shared mapping is the file's pages");
    let mut b = [0u8; 6];
    mm.copy_in(private + 10, &mut b).unwrap();
    assert_eq!(&b, b"parent", "an untouched private mapping still sees the file");
    assert!(mm.fault_is_past_eof(shared + 2 * PAGE_SIZE), "the page past the end is a bus error");
    assert_eq!(mm.copy_out(shared + 2 * PAGE_SIZE, b"x"), Err(Errno::EFAULT));
    let mut child = mm.fork().unwrap();
    child.copy_out(shared + PAGE_SIZE, b"child").unwrap();
    child.copy_out(private, b"mine").unwrap();
    assert_eq!(w.read(&f, 5, PAGE_SIZE), b"child", "fork shares, not copies");
    assert_eq!(w.read(&f, 4, 0), [0; 4], "private writes stay private");
    w.write(&f, b"file", 20);
    mm.copy_in(shared + 20, &mut b[..4]).unwrap();
    assert_eq!(&b[..4], b"file");
    drop(child);
    mm.munmap(shared, 3 * PAGE_SIZE).unwrap();
    drop(mm);
    drop(f);
    drop(inode);
    drop(d);
    ops::unlink(&w.vfs, &w.parent("/shm").unwrap(), &root_creds()).unwrap();
    assert_eq!(w.fs.pages_used(), 0);
}

#[test]
fn search_permission_is_checked_for_others() {
    let w = world();
    let private = w.mkdir("/private");
    private.inode().unwrap().set_mode(0o700);
    w.file("/private/f", b"x");
    let r = w.vfs.root().clone();
    let bob = Credentials::new(1001, 1001);
    assert_eq!(w.vfs.resolve_as(&r, &r, b"/private/f", Follow::Yes, &bob).err(), Some(Errno::EACCES));
    assert_eq!(w.vfs.resolve_parent_as(&r, &r, b"/private/g", &bob).err(), Some(Errno::EACCES));
    assert!(w.vfs.resolve_as(&r, &r, b"/private", Follow::Yes, &bob).is_ok(), "the directory itself may be named");
    assert!(w.vfs.resolve_as(&r, &r, b"/private/f", Follow::Yes, &root_creds()).is_ok());
}

#[test]
fn huge_sparse_ranges_are_cheap_and_bounded() {
    let w = world();
    let d = w.file("/f", b"");
    let f = RegFile::new(d.inode().unwrap().clone());
    // A write far out allocates one page; the file is sparse.
    w.write(&f, b"far", 1 << 50);
    assert_eq!(f.stat().unwrap().size, (1 << 50) + 3);
    assert_eq!(w.fs.pages_used(), 1);
    // Reserving more than the filesystem may hold fails at once.
    assert_eq!(f.allocate(0, 1 << 60, false, false), Err(Errno::ENOSPC));
    assert_eq!(w.fs.pages_used(), 1);
    assert_eq!(f.allocate(0, u64::MAX, false, false), Err(Errno::EFBIG));
    f.truncate(0).unwrap();
    assert_eq!(w.fs.pages_used(), 0);
}

#[test]
fn a_limited_filesystem_fills_with_enospc() {
    let w = world();
    w.fs.limit_to(3 * abi::PAGE_SIZE);
    assert_eq!(w.fs.pages_max(), 3);
    let d = w.file("/f", b"");
    let f = RegFile::new(d.inode().unwrap().clone());
    w.write(&f, &[7u8; 3 * 4096], 0);
    assert_eq!(f.write(&w.mf, &[Chunk { off: 0, len: 1 }], Some(3 * 4096)), Err(Errno::ENOSPC));
    // A larger limit later does not raise it.
    w.fs.limit_to(1 << 30);
    assert_eq!(w.fs.pages_max(), 3);
    f.truncate(4096).unwrap();
    assert_eq!(f.write(&w.mf, &[Chunk { off: 0, len: 1 }], Some(8192)), Ok(1));
}
