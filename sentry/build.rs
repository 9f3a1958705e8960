//! Builds the vDSO (`vdso/vdso.c`, linked by `vdso/vdso.lds`) that the
//! Sentry maps into every process; `kernel::vdso` includes the image.
//! Needs a C compiler (`CC`, else `gcc`). Targets other than x86_64 get an
//! empty image (no vDSO yet).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=vdso/vdso.c");
    println!("cargo:rerun-if-changed=vdso/vdso.lds");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("vdso.so");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("x86_64") {
        std::fs::write(&out, []).expect("write an empty vdso.so");
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let status = Command::new(&cc)
        .args([
            "-O2",
            "-fPIC",
            "-ffreestanding",
            "-fno-stack-protector",
            "-fno-plt",
            "-fcf-protection=none",
            "-nostdlib",
            "-shared",
            "-Wall",
            "-Werror",
            "-Wl,-T,vdso/vdso.lds",
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,--hash-style=both",
            "-Wl,--eh-frame-hdr",
            "-Wl,-z,max-page-size=4096",
            "-Wl,--no-undefined",
            "-Wl,-Bsymbolic",
            "-Wl,--build-id=none",
            "-o",
        ])
        .arg(&out)
        .arg("vdso/vdso.c")
        .status()
        .unwrap_or_else(|e| panic!("running {cc} for the vDSO: {e} (a C compiler is needed to build the Sentry)"));
    assert!(status.success(), "building the vDSO with {cc} failed");
}
