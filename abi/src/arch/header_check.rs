//! For the arch modules' tests: checks values against an architecture's
//! kernel headers by compiling static assertions with that architecture's
//! C compiler (which runs nothing, so any host can check any architecture).

use std::fmt::Write as _;

/// Static assertions, one per line.
#[derive(Default)]
pub(crate) struct Checks(String);

impl Checks {
    /// `c_expr` (a C constant expression) equals `v`.
    pub(crate) fn eq(&mut self, c_expr: &str, v: impl std::fmt::Display) {
        let _ = writeln!(self.0, "_Static_assert(({c_expr}) == {v}ULL, \"{}\");", c_expr.replace('"', "'"));
    }

    /// `sizeof(c_type)` is `v`.
    pub(crate) fn size(&mut self, c_type: &str, v: usize) {
        self.eq(&format!("sizeof({c_type})"), v);
    }

    /// `field` sits at `v` in `c_type`.
    pub(crate) fn off(&mut self, c_type: &str, field: &str, v: usize) {
        self.eq(&format!("__builtin_offsetof({c_type}, {field})"), v);
    }

    /// Every name of a syscall table has its number in `asm/unistd.h`; a
    /// name the headers lack is newer than them, which only numbers past
    /// the headers' table may be.
    pub(crate) fn syscalls(&mut self, names: &[&str]) {
        for (n, name) in names.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            let _ = writeln!(
                self.0,
                "#ifdef __NR_{name}\n_Static_assert(__NR_{name} == {n}, \"{name}\");\n\
                 #elif defined(__NR_syscalls) && {n} < __NR_syscalls\n#error \"{name} is missing from the headers\"\n#endif"
            );
        }
        let count = names.len();
        let _ = writeln!(
            self.0,
            "#ifdef __NR_syscalls\n_Static_assert(__NR_syscalls <= {count}, \"headers know more syscalls\");\n#endif"
        );
    }

    /// Compiles the assertions after `headers` with the compiler `$env`
    /// names, else `default`; panics with the compiler's complaints if one
    /// fails, and skips (saying so) where there is no such compiler.
    pub(crate) fn compile(&self, env: &str, default: &str, headers: &str) {
        let cc = std::env::var(env).unwrap_or_else(|_| default.into());
        let found = std::process::Command::new(&cc).arg("--version").output().is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("skipped: no {cc} (or ${env}) to check the layouts against");
            return;
        }
        let dir = tempfile_dir(&cc);
        let src = dir.join("check.c");
        std::fs::write(&src, format!("{headers}{}", self.0)).unwrap();
        let out = std::process::Command::new(&cc).args(["-fsyntax-only", "-x", "c"]).arg(&src).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.status.success(), "{cc} refused the layouts:\n{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A fresh directory of this test's own.
fn tempfile_dir(cc: &str) -> std::path::PathBuf {
    let name = cc.rsplit('/').next().unwrap_or(cc);
    let dir = std::env::temp_dir().join(format!("husk-abi-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
