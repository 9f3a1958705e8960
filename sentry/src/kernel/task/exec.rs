//! execve: replacing a process's program.

use std::sync::{Arc, Mutex};

use abi::Errno;

use super::Task;
use crate::loader::{self, ExecArgs};
use crate::mm::{MemoryManager, SysResult};

/// How deep `#!` interpreters may nest.
const MAX_SCRIPT_DEPTH: usize = 4;
/// The longest `#!` line Linux reads.
const BINPRM_BUF_SIZE: usize = 256;

impl Task {
    /// Runs `path` with `argv` and `envp` in this process. On success the
    /// registers point at the new program's entry.
    pub fn execve(&mut self, path: Vec<u8>, argv: Vec<Vec<u8>>, envp: Vec<Vec<u8>>) -> SysResult<()> {
        let (root, cwd) = {
            let fs = self.fs();
            (fs.root.clone(), fs.cwd.clone())
        };
        let vfs = &self.kernel.vfs;
        // An empty argv gets an empty argv[0], so that argc is never 0
        // (Linux 5.18 and later).
        let argv = if argv.is_empty() { vec![Vec::new()] } else { argv };
        let (exe, argv, target) = resolve_program(vfs, &root, &cwd, &path, argv, Some(&self.creds()))?;

        let platform = &self.kernel.platform;
        let mut mm =
            MemoryManager::new(self.kernel.memfile.clone(), platform.min_user_address(), platform.max_user_address());
        // The credentials the program runs with (capabilities, saved ids).
        let mut creds = self.creds();
        let no_new_privs = self.handle.no_new_privs.load(std::sync::atomic::Ordering::Relaxed);
        let secure = crate::kernel::caps::exec(&mut creds, no_new_privs);
        let args = ExecArgs {
            argv: &argv,
            envp: &envp,
            execfn: &path,
            creds: creds.clone(),
            secure,
            vdso: self.kernel.vdso.as_ref(),
            timens: self.handle.tg.ns().time.is_some(),
        };
        let loaded = loader::load(&mut mm, vfs, &root, &exe, &args)?;

        // The point of no return.
        self.end_other_threads();
        let (ids_apart, lost_trust) = {
            let mut c = self.handle.tg.creds.lock().unwrap_or_else(|e| e.into_inner());
            let ids_apart = c.euid != c.uid || c.egid != c.gid;
            let lost_trust = crate::kernel::caps::changes_trust(&c, &creds);
            *c = creds;
            (ids_apart, lost_trust)
        };
        if lost_trust {
            self.handle.tg.pdeathsig.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        // As Linux's begin_new_exec: a program run with its caller's ids
        // apart, or with ids or capabilities its caller lacked, is not
        // dumpable (suid_dumpable 0).
        self.dumpable = !ids_apart && !lost_trust;
        self.switch_mm(Arc::new(Mutex::new(mm)));
        {
            let fds = self.fds().clone();
            self.fds = Arc::new(Mutex::new(fds));
        }
        let closed = self.fds().close_on_exec();
        for f in closed {
            crate::syscalls::file_closed(self, &f);
        }
        self.handle.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).reset_for_exec();
        self.handle.tg.posix_timers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        // A new program gets no thread keyring and a new process keyring
        // when it asks; it keeps the session keyring.
        self.keys.thread = None;
        let old_process = self.handle.tg.keys.lock().unwrap_or_else(|e| e.into_inner()).process.take();
        drop(old_process);
        self.altstack = Default::default();
        // x86-64's SET_PERSONALITY for a 64-bit program.
        self.personality &= !crate::kernel::task::READ_IMPLIES_EXEC;
        self.clear_child_tid = 0;
        self.robust_list = (0, 0);
        let name = target.rsplit(|&b| b == b'/').next().unwrap_or(&target).to_vec();
        self.set_comm(&name);
        self.publish_view();
        self.publish_program(Some(exe.dentry.clone()), super::nul_join(&argv), super::nul_join(&envp));
        self.show_args_to_host();
        if let Some(p) = self.kernel.procs().procs.get_mut(&self.pid) {
            p.did_exec = true;
        }
        if let Some(v) = self.vfork_done.take() {
            v.complete();
        }
        self.regs = platform::Regs::for_entry(loaded.entry, loaded.sp);
        self.reset_fp_state();
        self.ptrace_exec();
        Ok(())
    }

    /// execve in a multi-threaded process ends every other thread.
    fn end_other_threads(&mut self) {
        let threads = self.kernel.procs().procs.get(&self.pid).map(|p| p.threads.clone()).unwrap_or_default();
        for t in threads {
            if t.tid != self.tid {
                t.exit_requested.store(true, std::sync::atomic::Ordering::Release);
                t.kick();
            }
        }
    }
}

/// Opens `path` for execution, following `#!` lines to their interpreters
/// as Linux's binfmt_script does: returns the ELF file to load, the argv to
/// give it, and the path of that file. With `creds`, each file must be
/// executable by them.
pub fn resolve_program(
    vfs: &crate::vfs::Vfs,
    root: &Arc<crate::vfs::Dentry>,
    cwd: &Arc<crate::vfs::Dentry>,
    path: &[u8],
    mut argv: Vec<Vec<u8>>,
    creds: Option<&crate::kernel::process::Credentials>,
) -> SysResult<(loader::Executable, Vec<Vec<u8>>, Vec<u8>)> {
    let mut target = path.to_vec();
    let mut exe = loader::open_executable(vfs, root, cwd, &target)?;
    may_execute(&exe, creds)?;
    for depth in 0.. {
        let mut head = [0u8; BINPRM_BUF_SIZE];
        let n = crate::sys::pread(std::os::fd::AsRawFd::as_raw_fd(exe.fd.as_ref()), &mut head, 0)?;
        if n < 2 || &head[..2] != b"#!" {
            break;
        }
        if depth >= MAX_SCRIPT_DEPTH {
            return Err(Errno::ELOOP);
        }
        let line = &head[2..n];
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        let line: &[u8] = trim(line);
        if line.is_empty() {
            return Err(Errno::ENOEXEC);
        }
        let split = line.iter().position(|&b| b == b' ' || b == b'\t');
        let (interp, arg) = match split {
            Some(i) => (&line[..i], Some(trim(&line[i..]))),
            None => (line, None),
        };
        let mut new_argv = vec![interp.to_vec()];
        if let Some(a) = arg.filter(|a| !a.is_empty()) {
            new_argv.push(a.to_vec());
        }
        new_argv.push(target.clone());
        new_argv.extend(argv.into_iter().skip(1));
        argv = new_argv;
        target = interp.to_vec();
        exe = loader::open_executable(vfs, root, cwd, &target)?;
        may_execute(&exe, creds)?;
    }
    Ok((exe, argv, target))
}

/// Whether `creds` may execute `exe`: the execute bit of their class
/// (owner, group, others), or any execute bit with CAP_DAC_OVERRIDE, as
/// Linux's generic_permission (EACCES). Files of the root filesystem keep
/// the "any execute bit" rule alone, as chdir does for its directories.
fn may_execute(exe: &loader::Executable, creds: Option<&crate::kernel::process::Credentials>) -> SysResult<()> {
    match creds {
        Some(c) if !exe.dentry.is_rootfs() => crate::vfs::ops::check_perm(c, &exe.attr, crate::vfs::ops::MAY_EXEC),
        _ => Ok(()),
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::trim;

    #[test]
    fn trims_interpreter_lines() {
        assert_eq!(trim(b"  /bin/sh -e \t"), b"/bin/sh -e");
        assert_eq!(trim(b"   "), b"");
    }
}
