//! Builds the vDSO (`vdso/vdso.c`, linked by `vdso/vdso.lds` with the
//! architecture's version script `vdso/ARCH.ver`) that the Sentry maps into
//! every process; `kernel::vdso` includes the image. Needs a C compiler for
//! the target: `CC_<target>`, else (native builds) `CC`, else `gcc` (native) or
//! `aarch64-linux-gnu-gcc` (cross to arm64).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=vdso/vdso.c");
    println!("cargo:rerun-if-changed=vdso/vdso.lds");
    println!("cargo:rerun-if-changed=vdso/x86_64.ver");
    println!("cargo:rerun-if-changed=vdso/aarch64.ver");
    let target = std::env::var("TARGET").expect("TARGET");
    let cc_var = format!("CC_{}", target.replace('-', "_"));
    println!("cargo:rerun-if-env-changed={cc_var}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("vdso.so");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").expect("CARGO_CFG_TARGET_ARCH");
    let (default_cc, arch_flags): (&str, &[&str]) = match arch.as_str() {
        "x86_64" => ("gcc", &["-fcf-protection=none"]),
        "aarch64" if cfg!(target_arch = "aarch64") => ("gcc", &["-mbranch-protection=none"]),
        "aarch64" => ("aarch64-linux-gnu-gcc", &["-mbranch-protection=none"]),
        other => panic!("no vDSO for {other}"),
    };
    // `CC` names the host's compiler: a cross build takes only `CC_<target>`.
    let cross = std::env::var("HOST").is_ok_and(|host| host != target);
    let cc = std::env::var(&cc_var)
        .or_else(|e| if cross { Err(e) } else { std::env::var("CC") })
        .unwrap_or_else(|_| default_cc.into());
    let status = Command::new(&cc)
        .args(arch_flags)
        .arg(format!("-Wl,--version-script=vdso/{arch}.ver"))
        .args([
            "-O2",
            "-fPIC",
            "-ffreestanding",
            "-fno-stack-protector",
            "-fno-plt",
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
