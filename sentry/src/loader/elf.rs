//! ELF64 parsing: just what loading needs, with every field checked, since
//! the binary is app input.

use std::os::fd::{AsRawFd, OwnedFd};

use abi::elf::*;
use abi::flags::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
use abi::{Errno, PAGE_SIZE};
use zerocopy::FromBytes;

use crate::mm::SysResult;

/// One PT_LOAD segment.
#[derive(Clone, Copy, Debug)]
pub struct LoadSegment {
    /// Virtual address (before the load bias).
    pub vaddr: u64,
    /// File offset.
    pub offset: u64,
    /// Bytes from the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zero).
    pub memsz: u64,
    /// `PROT_*`.
    pub prot: u32,
}

/// What the loader needs from an ELF file.
#[derive(Debug)]
pub struct ElfImage {
    /// ET_DYN: loaded at a bias of our choosing.
    pub dynamic: bool,
    /// Entry point (before the bias).
    pub entry: u64,
    /// The PT_LOAD segments.
    pub loads: Vec<LoadSegment>,
    /// Lowest and highest addresses the segments cover.
    pub min_vaddr: u64,
    /// See `min_vaddr`.
    pub max_vaddr: u64,
    /// Where the program headers are in memory (before the bias).
    pub phdr_vaddr: Option<u64>,
    /// Number of program headers.
    pub phnum: u64,
    /// PT_INTERP's path.
    pub interp: Option<Vec<u8>>,
}

/// Largest program-header table Linux accepts.
const MAX_PHDRS_BYTES: usize = 65536;

fn pread_exact(fd: &OwnedFd, buf: &mut [u8], off: u64) -> SysResult<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = crate::sys::pread(fd.as_raw_fd(), &mut buf[done..], off + done as u64)?;
        if n == 0 {
            return Err(Errno::ENOEXEC);
        }
        done += n;
    }
    Ok(())
}

/// The longest build ID Linux reports (BUILD_ID_SIZE_MAX).
pub const BUILD_ID_MAX: usize = 20;

/// The GNU build ID of the ELF64 file behind `fd`, found as Linux's
/// `build_id_parse` finds it: the first NT_GNU_BUILD_ID note of owner
/// "GNU", of 1 to 20 bytes, in a PT_NOTE segment. None for anything else
/// (not ELF64, no such note, a malformed header).
pub fn build_id(fd: &OwnedFd) -> Option<Vec<u8>> {
    let mut hdr = [0u8; 64];
    pread_exact(fd, &mut hdr, 0).ok()?;
    let eh = Elf64Ehdr::read_from_bytes(&hdr).ok()?;
    if eh.e_ident[..4] != ELFMAG || eh.e_ident[4] != ELFCLASS64 || eh.e_ident[5] != ELFDATA2LSB {
        return None;
    }
    let ph_size = std::mem::size_of::<Elf64Phdr>();
    if usize::from(eh.e_phentsize) != ph_size || usize::from(eh.e_phnum) * ph_size > MAX_PHDRS_BYTES {
        return None;
    }
    let mut table = vec![0u8; usize::from(eh.e_phnum) * ph_size];
    pread_exact(fd, &mut table, eh.e_phoff).ok()?;
    for ph in table.chunks_exact(ph_size).filter_map(|c| Elf64Phdr::read_from_bytes(c).ok()) {
        // A note segment of a sane size (Linux reads notes through the
        // page cache; one this big is no build ID's).
        if ph.p_type != PT_NOTE || ph.p_filesz > MAX_PHDRS_BYTES as u64 {
            continue;
        }
        let mut notes = vec![0u8; ph.p_filesz as usize];
        if pread_exact(fd, &mut notes, ph.p_offset).is_err() {
            continue;
        }
        if let Some(id) = gnu_build_id(&notes) {
            return Some(id);
        }
    }
    None
}

/// The build ID among the notes `notes` (a PT_NOTE segment's bytes).
fn gnu_build_id(notes: &[u8]) -> Option<Vec<u8>> {
    let word = |at: usize| notes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut at = 0;
    while at + 12 < notes.len() {
        let (namesz, descsz, kind) = (word(at)?, word(at + 4)?, word(at + 8)?);
        let name = notes.get(at + 12..at + 12 + namesz.min(notes.len()))?;
        if kind == NT_GNU_BUILD_ID as usize && name == b"GNU\0" && (1..=BUILD_ID_MAX).contains(&descsz) {
            let desc = at + 12 + 4;
            return notes.get(desc..desc + descsz).map(<[u8]>::to_vec);
        }
        let step = align4(namesz)?.checked_add(align4(descsz)?)?.checked_add(12)?;
        at = at.checked_add(step)?;
    }
    None
}

/// Parses the headers of the ELF file behind `fd`.
pub fn parse(fd: &OwnedFd, size: u64) -> SysResult<ElfImage> {
    let mut hdr_bytes = [0u8; 64];
    if size < 64 {
        return Err(Errno::ENOEXEC);
    }
    pread_exact(fd, &mut hdr_bytes, 0)?;
    let eh = Elf64Ehdr::read_from_bytes(&hdr_bytes).map_err(|_| Errno::ENOEXEC)?;
    if eh.e_ident[..4] != ELFMAG || eh.e_ident[4] != ELFCLASS64 || eh.e_ident[5] != ELFDATA2LSB {
        return Err(Errno::ENOEXEC);
    }
    if eh.e_machine != abi::ELF_MACHINE || !matches!(eh.e_type, ET_EXEC | ET_DYN) {
        return Err(Errno::ENOEXEC);
    }
    if usize::from(eh.e_phentsize) != std::mem::size_of::<Elf64Phdr>() || eh.e_phnum == 0 {
        return Err(Errno::ENOEXEC);
    }
    let ph_bytes = usize::from(eh.e_phnum) * std::mem::size_of::<Elf64Phdr>();
    if ph_bytes > MAX_PHDRS_BYTES || eh.e_phoff.checked_add(ph_bytes as u64).is_none_or(|e| e > size) {
        return Err(Errno::ENOEXEC);
    }
    let mut table = vec![0u8; ph_bytes];
    pread_exact(fd, &mut table, eh.e_phoff)?;
    let phdrs: Vec<Elf64Phdr> = table
        .chunks_exact(std::mem::size_of::<Elf64Phdr>())
        .filter_map(|c| Elf64Phdr::read_from_bytes(c).ok())
        .collect();

    let mut img = ElfImage {
        dynamic: eh.e_type == ET_DYN,
        entry: eh.e_entry,
        loads: Vec::new(),
        min_vaddr: u64::MAX,
        max_vaddr: 0,
        phdr_vaddr: None,
        phnum: u64::from(eh.e_phnum),
        interp: None,
    };
    for ph in &phdrs {
        match ph.p_type {
            PT_LOAD => {
                if ph.p_filesz > ph.p_memsz
                    || ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE
                    || ph.p_offset.checked_add(ph.p_filesz).is_none_or(|e| e > size)
                    || ph.p_vaddr.checked_add(ph.p_memsz).is_none_or(|e| e > (1 << 47))
                {
                    return Err(Errno::ENOEXEC);
                }
                let mut prot = 0;
                if ph.p_flags & PF_R != 0 {
                    prot |= PROT_READ;
                }
                if ph.p_flags & PF_W != 0 {
                    prot |= PROT_WRITE;
                }
                if ph.p_flags & PF_X != 0 {
                    prot |= PROT_EXEC;
                }
                img.min_vaddr = img.min_vaddr.min(ph.p_vaddr);
                img.max_vaddr = img.max_vaddr.max(ph.p_vaddr + ph.p_memsz);
                img.loads.push(LoadSegment {
                    vaddr: ph.p_vaddr,
                    offset: ph.p_offset,
                    filesz: ph.p_filesz,
                    memsz: ph.p_memsz,
                    prot,
                });
            }
            PT_INTERP => {
                if ph.p_filesz == 0
                    || ph.p_filesz > 4096
                    || ph.p_offset.checked_add(ph.p_filesz).is_none_or(|e| e > size)
                {
                    return Err(Errno::ENOEXEC);
                }
                let mut path = vec![0u8; ph.p_filesz as usize];
                pread_exact(fd, &mut path, ph.p_offset)?;
                if let Some(nul) = path.iter().position(|&b| b == 0) {
                    path.truncate(nul);
                }
                img.interp = Some(path);
            }
            PT_PHDR => img.phdr_vaddr = Some(ph.p_vaddr),
            _ => {}
        }
    }
    if img.loads.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    if img.phdr_vaddr.is_none() {
        // No PT_PHDR: the headers are wherever the segment holding e_phoff
        // maps them.
        img.phdr_vaddr = img
            .loads
            .iter()
            .find(|l| l.offset <= eh.e_phoff && eh.e_phoff + ph_bytes as u64 <= l.offset + l.filesz)
            .map(|l| l.vaddr + (eh.e_phoff - l.offset));
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name);
        n.resize(n.len().next_multiple_of(4), 0);
        n.extend_from_slice(desc);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    #[test]
    fn the_gnu_build_id_note_is_found_after_others() {
        let id: Vec<u8> = (1..=20).collect();
        let mut notes = note(b"GNU\0", 1, &[0; 16]); // NT_GNU_ABI_TAG
        notes.extend(note(b"Go\0\0", NT_GNU_BUILD_ID, b"not this one"));
        notes.extend(note(b"GNU\0", NT_GNU_BUILD_ID, &id));
        assert_eq!(gnu_build_id(&notes), Some(id));
    }

    #[test]
    fn bad_notes_give_no_build_id() {
        // Too long (Linux's limit is 20 bytes), empty, truncated, and a
        // name size that runs past the end.
        assert_eq!(gnu_build_id(&note(b"GNU\0", NT_GNU_BUILD_ID, &[7; 21])), None);
        assert_eq!(gnu_build_id(&note(b"GNU\0", NT_GNU_BUILD_ID, &[])), None);
        let n = note(b"GNU\0", NT_GNU_BUILD_ID, &[7; 20]);
        assert_eq!(gnu_build_id(&n[..n.len() - 4]), None);
        let mut huge = n.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(gnu_build_id(&huge), None);
    }
}
