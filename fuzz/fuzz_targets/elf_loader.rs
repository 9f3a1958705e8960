//! The Sentry's ELF parser (`sentry::loader::elf::parse`) on an untrusted
//! image: it reads the file through an fd, as the loader does with the fd
//! the Gofer donates, so each input goes into a memfd first.
//!
//! Besides not panicking, an image the parser accepts must keep the
//! promises the loader's address arithmetic relies on.

#![no_main]

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libfuzzer_sys::fuzz_target;

thread_local! {
    static FILE: RefCell<OwnedFd> = RefCell::new(memfd());
}

fn memfd() -> OwnedFd {
    // SAFETY: a plain syscall with a NUL-terminated name; the fd it
    // returns is owned by nothing else.
    let fd = unsafe { libc::memfd_create(c"elf".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create");
    // SAFETY: `fd` was just opened and is owned here only.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn fill(fd: &OwnedFd, data: &[u8]) {
    // SAFETY: `fd` is a valid memfd; the buffer is `data`, live for the call.
    unsafe {
        assert_eq!(libc::ftruncate(fd.as_raw_fd(), 0), 0);
        let mut done = 0;
        while done < data.len() {
            let n = libc::pwrite(fd.as_raw_fd(), data[done..].as_ptr().cast(), data.len() - done, done as i64);
            assert!(n > 0, "pwrite to the memfd");
            done += n as usize;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    FILE.with(|f| {
        let fd = f.borrow();
        fill(&fd, data);
        let size = data.len() as u64;
        let Ok(img) = sentry::loader::elf::parse(&fd, size) else { return };
        assert!(!img.loads.is_empty());
        assert!(img.min_vaddr <= img.max_vaddr);
        assert!(img.max_vaddr <= 1 << 47);
        for l in &img.loads {
            assert!(l.filesz <= l.memsz);
            assert!(l.offset.checked_add(l.filesz).is_some_and(|e| e <= size));
            assert!(l.vaddr >= img.min_vaddr && l.vaddr + l.memsz <= img.max_vaddr);
            assert_eq!(l.vaddr % 4096, l.offset % 4096);
        }
        if let Some(interp) = &img.interp {
            assert!(interp.len() <= 4096 && !interp.contains(&0));
        }
    });
});
