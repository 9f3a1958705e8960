//! File handles (name_to_handle_at, open_by_handle_at): an opaque handle
//! names a file by its filesystem's device, its inode number and a
//! generation, and open_by_handle_at finds the file again through a mount
//! of that filesystem.
//!
//! The Sentry's filesystems have no index from inode numbers to files
//! (the Gofer's trees are walked by name), so the handles made are kept
//! in a table, each holding its file's name: up to [`MAX_HANDLES`], the
//! oldest going first, as an NFS server forgets old handles. A handle
//! whose file was removed (its name no longer links it), whose entry went,
//! or whose generation is not the entry's (the inode number was used
//! again) is stale (ESTALE), as Linux's is for a file that is gone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::Dentry;

/// Whether `old` and `new`, names of one device and inode number, name
/// the same file: the same in-Sentry inode, or, for the Gofer's trees
/// (whose inode numbers are the host's), a number `old` still links.
fn same_file(old: &Arc<Dentry>, new: &Arc<Dentry>) -> bool {
    match (old.inode(), new.inode()) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => Arc::ptr_eq(old, new) || old.is_linked(),
    }
}

/// Whether the file of `d` is still there: its name links it, or, in the
/// Sentry's own filesystems, another name does (it has links left).
fn alive(d: &Arc<Dentry>) -> bool {
    d.is_linked() || (d.inode().is_some() && d.attr().nlink > 0)
}

/// How many files keep a handle at most.
pub const MAX_HANDLES: usize = 4096;

/// The handles made: (device, inode number) → generation and file.
#[derive(Default)]
pub struct HandleTable(Mutex<Table>);

#[derive(Default)]
struct Table {
    files: HashMap<(u64, u64), (u32, Arc<Dentry>)>,
    /// The keys of `files`, oldest first.
    order: VecDeque<(u64, u64)>,
    last_gen: u32,
}

impl HandleTable {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generation of `d`'s handle (device `dev`, inode `ino`): the one
    /// it has while the file is the same, else a new one.
    pub fn encode(&self, dev: u64, ino: u64, d: &Arc<Dentry>) -> u32 {
        let mut t = self.table();
        let key = (dev, ino);
        if let Some((gen, old)) = t.files.get_mut(&key) {
            // Another name of the same file (a hard link, a name looked up
            // again) keeps the handle, and the entry keeps a name that
            // links it; a file gone leaves its number to another, whose
            // handle is new.
            if same_file(old, d) {
                if !old.is_linked() {
                    *old = d.clone();
                }
                return *gen;
            }
            t.last_gen = t.last_gen.wrapping_add(1);
            let gen = t.last_gen;
            t.files.insert(key, (gen, d.clone()));
            return gen;
        }
        if t.files.len() >= MAX_HANDLES {
            if let Some(oldest) = t.order.pop_front() {
                t.files.remove(&oldest);
            }
        }
        t.last_gen = t.last_gen.wrapping_add(1);
        let gen = t.last_gen;
        t.files.insert(key, (gen, d.clone()));
        t.order.push_back(key);
        gen
    }

    /// The file of the handle (`dev`, `ino`, `gen`), if it is not stale.
    pub fn decode(&self, dev: u64, ino: u64, gen: u32) -> Option<Arc<Dentry>> {
        let t = self.table();
        let (g, d) = t.files.get(&(dev, ino))?;
        (*g == gen && alive(d)).then(|| d.clone())
    }

    /// Whether no handle was made.
    pub fn is_empty(&self) -> bool {
        self.table().files.is_empty()
    }

    /// For a checkpoint: the handles whose files are still there, oldest
    /// first, as (inode number, generation, file), and the last
    /// generation given.
    pub fn entries(&self) -> (Vec<(u64, u32, Arc<Dentry>)>, u32) {
        let t = self.table();
        let list = t
            .order
            .iter()
            .filter_map(|key| t.files.get(key).map(|(gen, d)| (key.1, *gen, d.clone())))
            .filter(|(_, _, d)| alive(d))
            .collect();
        (list, t.last_gen)
    }

    /// Takes a checkpoint's handles, each with its file found again (by
    /// its device and inode number now), oldest first, into this table,
    /// bounded as ever; and the generation to count on from.
    pub fn restore(&self, entries: Vec<(u32, Arc<Dentry>)>, last_gen: u32) {
        let mut t = self.table();
        for (gen, d) in entries.into_iter().rev().take(MAX_HANDLES).rev() {
            let a = d.attr();
            let key = (a.dev, a.ino);
            if t.files.insert(key, (gen, d)).is_none() {
                t.order.push_back(key);
            }
        }
        t.last_gen = last_gen;
    }
}
