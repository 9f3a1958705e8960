# Shared by tests/arm64/kernel.sh and tests/arm64/run.sh (sourced, from the
# repository's top): the tools, Debian's arm64 cloud kernel and arm64
# packages, cached under $cache, and booting an initramfs.

target=aarch64-unknown-linux-gnu
cache=${HUSK_ARM64_CACHE:-/var/cache/husk-test/arm64}
read -r -a cargo <<<"${CARGO:-cargo}"
say() { printf 'arm64 %s: %s\n' "$who" "$*"; }
skip() {
    say "SKIPPED: $*"
    exit 0
}
run() {
    printf '+ %s\n' "$*"
    "$@"
}

# qemu-system-aarch64, cpio and the cross compiler, installed if missing.
need_tools() {
    local need=()
    command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
    command -v cpio >/dev/null || need+=(cpio)
    command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
    if ((${#need[@]})); then
        export DEBIAN_FRONTEND=noninteractive
        run apt-get install -y -qq --no-install-recommends "${need[@]}" || skip "cannot install ${need[*]} (offline?)"
    fi
    mkdir -p "$cache"
}

# Downloads arm64 package $1 (apt-get download; the arm64 architecture
# added first) into a fresh directory and unpacks it there; prints the
# directory.
unpack_arm64_deb() {
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        run dpkg --add-architecture arm64 >&2
        run apt-get update -qq >&2 || skip "apt-get update failed (offline?)"
    fi
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download "$1:arm64" >&2) || {
        apt-get update -qq >&2 && (cd "$tmp" && apt-get download "$1:arm64" >&2)
    } || skip "cannot download $1:arm64 (offline?)"
    dpkg-deb -x "$tmp"/*.deb "$tmp/x"
    printf '%s\n' "$tmp"
}

# The kernel: the Image of the newest linux-image-*-cloud-arm64 (Debian's
# metapackage names it), extracted once; prints its path.
fetch_kernel() {
    local image pkg tmp
    image=$(find "$cache" -maxdepth 1 -name 'vmlinuz-*-arm64' | sort -V | tail -n 1)
    if [ -z "$image" ]; then
        unpack_arm64_deb base-files >/dev/null # adds the architecture
        pkg=$(apt-cache depends linux-image-cloud-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
        [ -n "$pkg" ] || skip "no arm64 cloud kernel package known to apt"
        tmp=$(unpack_arm64_deb "${pkg%:arm64}")
        cp "$tmp"/x/boot/vmlinuz-* "$cache/"
        rm -rf "$tmp"
        image=$(find "$cache" -maxdepth 1 -name 'vmlinuz-*-arm64' | sort -V | tail -n 1)
    fi
    printf '%s\n' "$image"
}

# Boots kernel $1 with initramfs $2 (2 CPUs, $3 MiB, no network, at most
# $4 seconds); the console goes to $5.
boot() {
    timeout "$4" qemu-system-aarch64 -M virt -cpu max -smp 2 -m "$3" -nographic -no-reboot -nic none \
        -kernel "$1" -initrd "$2" -append "console=ttyAMA0 panic=-1 quiet" >"$5" 2>&1 || true
}

# An arm64 Debian root (debootstrap --variant=minbase, bash, coreutils and
# python3 with its standard library), built once under $cache, keyed by
# its recipe; prints
# its path. The second stage runs the arm64 maintainer scripts under
# qemu-user through binfmt_misc: the qemu-aarch64 entry is registered for
# the build if the host has none, and removed after.
debian_root() {
    local suite=bookworm packages=python3
    local recipe="debootstrap --arch=arm64 --variant=minbase --include=$packages $suite"
    local key
    key=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
    local dir=$cache/debian-arm64-$key
    if [ -e "$dir/.done" ]; then
        printf '%s\n' "$dir"
        return
    fi
    command -v debootstrap >/dev/null || run apt-get install -y -qq debootstrap >&2 || skip "cannot install debootstrap"
    command -v qemu-aarch64-static >/dev/null || run apt-get install -y -qq qemu-user-static >&2 ||
        skip "cannot install qemu-user-static"
    local binfmt=/proc/sys/fs/binfmt_misc registered=
    [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" >&2 || skip "no binfmt_misc"
    if [ ! -e "$binfmt/qemu-aarch64" ]; then
        # The ELF header of an arm64 executable, as Debian's qemu-user-static
        # registers it; F: the interpreter is opened now, so it works in
        # the chroot.
        printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
            >"$binfmt/register"
        registered=1
    fi
    rm -rf "$dir.tmp"
    local ok=0
    printf '+ %s %s\n' "$recipe" "$dir" >&2
    # shellcheck disable=SC2086
    debootstrap --arch=arm64 --variant=minbase --include=$packages $suite "$dir.tmp" http://deb.debian.org/debian \
        >"$cache/debian-arm64.log" 2>&1 && ok=1
    [ -n "$registered" ] && echo -1 >"$binfmt/qemu-aarch64"
    if [ "$ok" != 1 ]; then
        tail -n 20 "$cache/debian-arm64.log" >&2
        rm -rf "$dir.tmp"
        skip "debootstrap of the arm64 root failed (offline?); its log: $cache/debian-arm64.log"
    fi
    rm -rf "$dir.tmp"/var/cache/apt/archives/*.deb "$dir.tmp"/var/lib/apt/lists/*
    touch "$dir.tmp/.done"
    mv "$dir.tmp" "$dir"
    printf '%s\n' "$dir"
}

# Packs directory $1 as a gzipped newc cpio, $1.initrd.gz (beside it, not
# in it).
initrd() {
    (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1 >"$1.initrd.gz")
}
