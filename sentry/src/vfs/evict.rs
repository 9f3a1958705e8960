//! A bound on the Gofer-backed names the Sentry keeps (`du /usr`, `git
//! status` and `tar` touch every file of a tree): each cached file holds a
//! Gofer fid, and the Gofer a host fd per fid, both limited.
//!
//! Files and directories looked up in a Gofer tree are noted in order;
//! past the bound ([`set_limit`]), the oldest that nothing else holds (no
//! open file, no cwd, not copied up, not a mount point, no cached names
//! of its own) leave their directory's child map and give their fid back.
//! A later lookup walks the name again.
//! Eviction only try-locks the directories it touches, and runs before a
//! lookup takes any lock of its own.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use gofer::GoferClient;

use super::{Dentry, Node};

/// How many Gofer-backed names stay cached before the oldest unused ones
/// go, at most: well under the Gofer's fid limit.
pub const MAX_CACHED: usize = 16384;

/// The bound in force: [`MAX_CACHED`], or less where the host's fd limit
/// (which the Gofer's fids count against) is lower.
static LIMIT: AtomicUsize = AtomicUsize::new(MAX_CACHED);

/// Bounds the cache to half of `fd_limit` (the Gofer's fids hold fds), and
/// at most [`MAX_CACHED`].
pub fn set_limit(fd_limit: u64) {
    let half = usize::try_from(fd_limit / 2).unwrap_or(usize::MAX);
    LIMIT.store(half.clamp(256, MAX_CACHED), Ordering::Relaxed);
}

/// How many candidates one eviction pass looks at.
const BATCH: usize = 1024;

static NOTED: Mutex<VecDeque<Weak<Dentry>>> = Mutex::new(VecDeque::new());
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Notes a new dentry of a Gofer tree.
pub(super) fn note(d: &Arc<Dentry>) {
    if !matches!(d.node, Node::Gofer { .. } | Node::Host(_)) {
        return;
    }
    NOTED.lock().unwrap_or_else(|e| e.into_inner()).push_back(Arc::downgrade(d));
    COUNT.fetch_add(1, Ordering::Relaxed);
}

/// Lets the oldest unused names go while more than the bound are noted.
/// Call with no lock of the VFS held.
pub(super) fn maybe_evict(gofer: Option<&Arc<GoferClient>>) {
    if COUNT.load(Ordering::Relaxed) <= LIMIT.load(Ordering::Relaxed) {
        return;
    }
    let candidates: Vec<Weak<Dentry>> = {
        let mut noted = NOTED.lock().unwrap_or_else(|e| e.into_inner());
        let n = noted.len().min(BATCH);
        noted.drain(..n).collect()
    };
    let mut kept = Vec::new();
    for w in candidates {
        let Some(d) = w.upgrade() else {
            COUNT.fetch_sub(1, Ordering::Relaxed);
            continue;
        };
        if evict(&d) {
            COUNT.fetch_sub(1, Ordering::Relaxed);
            // Ours is the last reference: the fid goes (a host tree's
            // node clunks its own when dropped).
            if let (Node::Gofer { fid, .. }, Some(g)) = (&d.node, gofer) {
                if Arc::strong_count(&d) == 1 {
                    let _ = g.clunk(*fid);
                }
            }
        } else {
            kept.push(w);
        }
    }
    // Those still in use go to the back of the line.
    NOTED.lock().unwrap_or_else(|e| e.into_inner()).extend(kept);
}

/// Takes `d` out of its directory's child map if nothing but that map
/// (and the caller) holds it.
fn evict(d: &Arc<Dentry>) -> bool {
    if d.upper.get().is_some() || d.is_mount_point() {
        return false;
    }
    // A directory goes only once no name in it is cached (its names go
    // first: they were noted after it, and it waits at the back).
    if d.is_dir() && d.children.try_lock().map_or(true, |k| !k.map.is_empty()) {
        return false;
    }
    let Some(parent) = d.parent() else { return false };
    let Ok(mut kids) = parent.children.try_lock() else { return false };
    let name = d.name();
    let here = kids.map.get(&name).and_then(|c| c.as_ref()).is_some_and(|c| Arc::ptr_eq(c, d));
    // The map's reference and the caller's: no open file, cwd or walk in
    // progress holds it.
    if !here || Arc::strong_count(d) != 2 {
        return false;
    }
    kids.map.remove(&name);
    let pos = d.place().pos;
    if kids.order.get(&pos).is_some_and(|c| Arc::ptr_eq(c, d)) {
        kids.order.remove(&pos);
    }
    true
}
