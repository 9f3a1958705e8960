#!/usr/bin/env bash
# The arm64 cross-build (issue 17): builds the whole workspace (the husk
# binary, its arm64 vDSO and the test and bench targets) for
# aarch64-unknown-linux-gnu, lints it with clippy, and runs the unit tests
# of the crates below the Sentry under qemu-user. It installs what it needs
# (the Rust target, Debian's gcc-aarch64-linux-gnu and qemu-user-static;
# the linker and the qemu runner are set in .cargo/config.toml) and, when
# the target cannot be installed (offline), says so and succeeds.
#
# qemu-user cannot run the husk binary's sandboxes (no ptrace of an
# emulated process); tests/arm64/run.sh runs them on an arm64 kernel.
#
# CARGO overrides the cargo command (e.g. CARGO="flock -o LOCK cargo").
set -euo pipefail
cd "$(dirname "$0")/../.."

target=aarch64-unknown-linux-gnu
crates=(abi platform seccomp netstack netrelay gofer)
read -r -a cargo <<<"${CARGO:-cargo}"
pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)

say() { printf 'arm64: %s\n' "$*"; }
run() {
    printf '+ %s\n' "$*"
    "$@"
}
skip() {
    say "SKIPPED: $*"
    exit 0
}

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    run rustup target add "$target" || skip "the Rust target $target cannot be installed (offline?)"
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        skip "missing ${missing[*]} (install them as root)"
    fi
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } ||
        skip "cannot install ${missing[*]} (offline?)"
fi

start=$SECONDS
pflags=()
for c in "${crates[@]}"; do pflags+=(-p "$c"); done

say "building the workspace for $target"
run "${cargo[@]}" build --target "$target" --workspace
say "clippy for $target"
run "${cargo[@]}" clippy --target "$target" --workspace --all-targets -- -D warnings

# Unit tests under qemu-user (.cargo/config.toml's runner). Left out, each
# for a reason of qemu-user's, not Husk's; tests/arm64/kernel.sh runs them
# on an arm64 kernel under qemu-system-aarch64:
# - platform's integration tests fork stubs and ptrace them or filter
#   them with seccomp (systrap), which
#   qemu-user cannot do for an emulated process (only --lib runs);
# - seccomp's a_syscall_outside_* tests re-exec the test binary (no binfmt
#   here) and install seccomp filters, which qemu-user refuses (they would
#   filter qemu's own host syscalls);
# - gofer's server tests and its integration tests (tests/gofer.rs) need
#   openat2, which qemu-user 7.2 does not know.
say "unit tests under qemu-user ($(qemu-aarch64-static --version | head -n 1))"
run "${cargo[@]}" test --target "$target" -p abi -p netstack -p netrelay
# The Sentry's unit tests: its arm64 signal frames, vDSO, memory manager.
run "${cargo[@]}" test --target "$target" -p sentry --lib
run "${cargo[@]}" test --target "$target" -p platform --lib
run "${cargo[@]}" test --target "$target" -p seccomp -- --skip tests::a_syscall_outside_
run "${cargo[@]}" test --target "$target" -p gofer --lib -- --skip server::tests

say "OK in $((SECONDS - start))s: the workspace builds and lints clean for $target;" \
    "${crates[*]} and sentry pass their unit tests under qemu-user"
say "the tests left out above run on an arm64 kernel with: bash tests/arm64/kernel.sh;" \
    "sandboxes on it, against native: bash tests/arm64/run.sh"
