//! The file-descriptor table of a task.

use std::sync::Arc;

use abi::Errno;

use crate::mm::SysResult;
use crate::vfs::file::File;

#[derive(Clone)]
struct Slot {
    file: Arc<File>,
    cloexec: bool,
}

/// fd → open file, with the close-on-exec bit.
#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
}

impl FdTable {
    /// The file behind `fd`, or EBADF.
    pub fn get(&self, fd: i32) -> SysResult<&Arc<File>> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(|s| s.as_ref())
            .map(|s| &s.file)
            .ok_or(Errno::EBADF)
    }

    fn slot_mut(&mut self, fd: i32) -> SysResult<&mut Slot> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)).and_then(|s| s.as_mut()).ok_or(Errno::EBADF)
    }

    /// The close-on-exec bit of `fd`.
    pub fn cloexec(&self, fd: i32) -> SysResult<bool> {
        self.get(fd)?;
        Ok(self.slots[fd as usize].as_ref().is_some_and(|s| s.cloexec))
    }

    /// Sets the close-on-exec bit of `fd`.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> SysResult<()> {
        self.slot_mut(fd)?.cloexec = on;
        Ok(())
    }

    /// Installs `file` at the lowest free fd ≥ `min`, below `limit`.
    pub fn insert(&mut self, file: Arc<File>, cloexec: bool, min: i32, limit: u64) -> SysResult<i32> {
        let min = usize::try_from(min).map_err(|_| Errno::EINVAL)?;
        let free = (min..).find(|&i| self.slots.get(i).is_none_or(|s| s.is_none())).ok_or(Errno::EMFILE)?;
        if free as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        self.place(free, Slot { file, cloexec });
        Ok(free as i32)
    }

    /// Installs `file` at `fd`, returning what was there.
    pub fn insert_at(&mut self, fd: i32, file: Arc<File>, cloexec: bool, limit: u64) -> SysResult<Option<Arc<File>>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        if i as u64 >= limit {
            return Err(Errno::EBADF);
        }
        let old = self.slots.get_mut(i).and_then(|s| s.take()).map(|s| s.file);
        self.place(i, Slot { file, cloexec });
        Ok(old)
    }

    fn place(&mut self, i: usize, slot: Slot) {
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(slot);
    }

    /// Removes `fd`.
    pub fn remove(&mut self, fd: i32) -> SysResult<Arc<File>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.slots.get_mut(i).and_then(|s| s.take()).map(|s| s.file).ok_or(Errno::EBADF)
    }
}

impl FdTable {
    /// Closes every fd marked close-on-exec; returns their files, for what
    /// a close lets go of (a process's record locks on the file).
    pub fn close_on_exec(&mut self) -> Vec<Arc<File>> {
        let mut closed = Vec::new();
        for s in self.slots.iter_mut() {
            if s.as_ref().is_some_and(|s| s.cloexec) {
                if let Some(slot) = s.take() {
                    closed.push(slot.file);
                }
            }
        }
        closed
    }

    /// The open fds, lowest first.
    pub fn fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| i as i32)
    }
}
