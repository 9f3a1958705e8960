//! Shared helpers for Husk's whole-system tests (`tests/*.rs`).
//!
//! A case is a program run inside a root filesystem directory, either
//! natively (`chroot ROOTFS PROG ARGS`, the reference Linux behaviour) or
//! under `husk run --rootfs ROOTFS --platform P -- PROG ARGS`.
//!
//! - [`Rootfs`] builds a fresh root directory per test: files, symlinks,
//!   busybox and its applets, and C programs from `tests/progs/` that
//!   [`progs::build`] compiles at test time (`cc -static` or `-static-pie`).
//! - [`Case`] says what to run and what to expect; [`differential`] runs it
//!   both ways and asserts the same exit status and stdout (and stderr when
//!   asked), printing both sides on a mismatch.
//! - [`debian::debian_rootfs`] is a Debian bookworm root (debootstrap),
//!   built once and cached under `/var/cache/husk-test/`; cases in it use
//!   [`Case::in_root`] and [`Case::scratch_mounts`].
//! - [`husk_test!`] and [`differential_test!`] expand one case into one
//!   `#[test]` per platform, named `<case>_<platform>` (plus
//!   `<case>_native` for differential cases), and skip the names listed in
//!   `tests/blocklist.txt`.
//!
//! The tests need the `husk` binary next to the test executables: run
//! `cargo build --workspace` before `cargo test` (or set `HUSK_BIN`).

pub mod blocklist;
pub mod debian;
pub mod docker;
pub mod oci;
pub mod paths;
pub mod procs;
pub mod progs;
pub mod pty;
pub mod rootfs;
pub mod run;

pub use progs::Link;
pub use rootfs::Rootfs;
pub use run::{differential, no_bad_results, prog_rootfs, run_husk, run_native, self_checking_case, Case, Outcome};

#[doc(hidden)]
pub use paste as __paste;

/// The release string `uname -r` prints inside the sandbox.
pub use sentry::UTS_RELEASE;

/// The pseudo-platform of differential tests that run natively only.
pub const NATIVE: &str = "native";

/// The Husk platforms every case runs on (listed once, in `__with_platforms!`).
pub const PLATFORMS: &[&str] = __with_platforms!(__platform_names {});

/// Calls `$cb! { [PLATFORM...] ARGS }` with the list of Husk platforms.
///
/// This is the one place that lists them: [`PLATFORMS`] and the test
/// macros are built from it. `kvm` cases skip themselves, with a note,
/// unless `HUSK_TEST_KVM=1` and the host's KVM can run the platform
/// ([`platform_unusable`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __with_platforms {
    ($cb:ident { $($args:tt)* }) => {
        $crate::$cb! { [ptrace systrap kvm] $($args)* }
    };
}

/// Whether `platform`'s cases are not to run here (only `kvm`'s: they run
/// when `HUSK_TEST_KVM=1`, and where the host's KVM can run the platform);
/// if so, prints that `test` is skipped and why, past the harness's output
/// capture, so that a run shows it.
///
/// kvm cases are asked for by name because on the one host we have (a
/// nested PVM, where a syscall costs about 140 µs) the suites take hours
/// and the slowest cases time out; tests/blocklist.txt lists the kvm cases
/// known to fail when they do run.
pub fn platform_unusable(platform: &str, test: &str) -> bool {
    use std::io::Write;
    static KVM: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if platform != "kvm" {
        return false;
    }
    let usable = || {
        if std::env::var("HUSK_TEST_KVM").as_deref() != Ok("1") {
            return Err("kvm cases run with HUSK_TEST_KVM=1".to_string());
        }
        sentry::platform_usable_here()
    };
    match KVM.get_or_init(usable) {
        Ok(()) => false,
        Err(why) => {
            let _ = writeln!(std::io::stderr(), "note: skipping {test}: {why}");
            true
        }
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __platform_names {
    ([$($plat:ident)*]) => {
        &[$(stringify!($plat)),*]
    };
}

/// Expands to one test per platform in the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __per_platform {
    ([$($plat:ident)*] $attrs:tt $name:ident $p:ident $body:block) => {
        $( $crate::__one_test!($plat $attrs $name $p $body); )*
    };
}

/// Expands to the test `<name>_<plat>`, which binds `$p` to the platform
/// name and skips itself when blocklisted.
#[doc(hidden)]
#[macro_export]
macro_rules! __one_test {
    ($plat:tt [$($attr:tt)*] $name:ident $p:ident $body:block) => {
        $crate::__paste::paste! {
            $($attr)*
            #[test]
            fn [<$name _ $plat>]() {
                if $crate::blocklist::skip(concat!(stringify!($name), "_", stringify!($plat))) {
                    return;
                }
                if $crate::platform_unusable(stringify!($plat), concat!(stringify!($name), "_", stringify!($plat))) {
                    return;
                }
                #[allow(unused_variables)]
                let $p: &'static str = stringify!($plat);
                $body
            }
        }
    };
}

/// Defines Husk tests.
///
/// `fn NAME(platform) { ... }` becomes one `#[test]` per platform in
/// [`PLATFORMS`], named `NAME_<platform>`, with `platform: &'static str`
/// in scope. `fn NAME() { ... }` is a single platform-independent test.
/// Both skip themselves (with a note on stderr) when their name is listed
/// in `tests/blocklist.txt`.
///
/// ```text
/// husk_test! {
///     /// `uname -r` reports Husk's release.
///     fn busybox_uname_r(platform) {
///         let out = run_husk(platform, &case);
///         assert_eq!(out.stdout, b"6.1.0-husk\n");
///     }
/// }
/// ```
#[macro_export]
macro_rules! husk_test {
    ($(#[$attr:meta])* fn $name:ident() $body:block) => {
        $(#[$attr])*
        #[test]
        fn $name() {
            if $crate::blocklist::skip(stringify!($name)) {
                return;
            }
            $body
        }
    };
    ($(#[$attr:meta])* fn $name:ident($p:ident) $body:block) => {
        $crate::__with_platforms!(__per_platform { [$(#[$attr])*] $name $p $body });
    };
}

/// Defines differential tests: like [`husk_test!`], plus `NAME_native`,
/// which runs with `platform == NATIVE` so that [`differential`] checks
/// the case natively only. A case must pass natively before Husk can be
/// held to it.
///
/// `fn NAME(platform, link) { ... }` also expands over [`Link`]: the
/// tests are `NAME_static_<platform>` and `NAME_static_pie_<platform>`,
/// with `link: Link` in scope.
#[macro_export]
macro_rules! differential_test {
    ($(#[$attr:meta])* fn $name:ident($p:ident) $body:block) => {
        $crate::__one_test!(native [$(#[$attr])*] $name $p $body);
        $crate::__with_platforms!(__per_platform { [$(#[$attr])*] $name $p $body });
    };
    ($(#[$attr:meta])* fn $name:ident($p:ident, $link:ident) $body:block) => {
        $crate::__paste::paste! {
            $crate::differential_test! {
                $(#[$attr])*
                fn [<$name _static>]($p) {
                    #[allow(unused_variables)]
                    let $link = $crate::Link::Static;
                    $body
                }
            }
            $crate::differential_test! {
                $(#[$attr])*
                fn [<$name _static_pie>]($p) {
                    #[allow(unused_variables)]
                    let $link = $crate::Link::StaticPie;
                    $body
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::{NATIVE, PLATFORMS};

    #[test]
    fn platforms_are_distinct_and_include_ptrace() {
        assert!(PLATFORMS.contains(&"ptrace"));
        assert!(!PLATFORMS.contains(&NATIVE), "native is not a Husk platform");
        let mut sorted = PLATFORMS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), PLATFORMS.len(), "a platform is listed twice");
    }
}
