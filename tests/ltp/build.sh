#!/usr/bin/env bash
# Builds the Linux Test Project's syscall tests (issue 14) from a pinned
# release, once, under $HUSK_TEST_CACHE (default /var/cache/husk-test) in
# ltp-TAG/: the source in src/, the tests installed in install/ (what
# tests/ltp/run.sh runs). Nothing of LTP goes into this repository.
#
#   LTP_GIT=DIR bash tests/ltp/build.sh
#
# LTP_GIT is a git directory holding linux-test-project/ltp with the tag
# (a clone, or a snapshot such as the session tools' fetch makes); the
# registries do not carry LTP, so CI cannot fetch it, and the conformance
# run is an optional, cached input. LTP_TAG picks another release than the
# pinned one. Needs gcc, make, autoconf, automake and m4.
set -euo pipefail

tag=${LTP_TAG:-20260529}
cache=${HUSK_TEST_CACHE:-/var/cache/husk-test}
out=$cache/ltp-$tag
if [ -f "$out/install/.built" ]; then
    echo "ltp: $out/install is built"
    exit 0
fi
git_dir=${LTP_GIT:?set LTP_GIT to a git directory of linux-test-project/ltp with tag $tag}
git --git-dir="$git_dir" rev-parse -q --verify "refs/tags/$tag" >/dev/null || {
    echo "ltp: $git_dir has no tag $tag" >&2
    exit 2
}
rm -rf "$out"
mkdir -p "$out/src"
git --git-dir="$git_dir" archive "$tag" | tar -x -C "$out/src"
cd "$out/src"
jobs=$(nproc)
{
    make autotools
    ./configure --prefix="$out/install"
    make -j"$jobs" -C lib
    make -j"$jobs" -C testcases/kernel/syscalls
    make -C testcases/kernel/syscalls install
    mkdir -p "$out/install/runtest"
    cp runtest/syscalls "$out/install/runtest/"
} >"$out/build.log" 2>&1 || {
    echo "ltp: the build failed; see $out/build.log" >&2
    tail -20 "$out/build.log" >&2
    exit 1
}
touch "$out/install/.built"
echo "ltp: built $tag into $out/install"
