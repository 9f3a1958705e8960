#!/usr/bin/env bash
# Runs a command natively, as root, in a throwaway copy of a root tree: the
# native side of the heavy conformance runs (tests/cpython.sh,
# tests/ltp/run.sh), set up as a Husk sandbox sees its world.
#
#   native_root.sh ROOT 'COMMAND' [HOST_DIR:DEST ...] [-- VAR=VALUE ...]
#
# The command runs under /bin/sh -c in a chroot of ROOT with an overlay
# over it (nothing is written into ROOT), in new mount, pid, network, IPC
# and UTS namespaces with the loopback up, with a tmpfs /tmp, procfs (its
# /proc/sys read-only), a read-only sysfs, a /dev of the usual nodes and links
# only and its own devpts. Each HOST_DIR is bound read-only at DEST. The
# environment is only the VAR=VALUE given. It exits with the command's
# status.
set -euo pipefail

root=$1 cmd=$2
shift 2
binds=()
while (($#)) && [[ $1 != -- ]]; do
    binds+=("$1")
    shift
done
(($#)) && shift
scratch=$(mktemp -d /tmp/husk-native-XXXXXX)
status=0
unshare --mount --pid --fork --net --ipc --uts --propagation private -- /bin/sh -c '
    set -e
    root=$1 scratch=$2 cmd=$3 nbinds=$4
    shift 4
    mount -t tmpfs none "$scratch"
    mkdir "$scratch/u" "$scratch/w" "$scratch/r"
    mount -t overlay none -o "lowerdir=$root,upperdir=$scratch/u,workdir=$scratch/w" "$scratch/r"
    mount -t tmpfs -o mode=1777 none "$scratch/r/tmp"
    mount -t proc none "$scratch/r/proc"
    mount --bind "$scratch/r/proc/sys" "$scratch/r/proc/sys"
    mount -o remount,bind,ro "$scratch/r/proc/sys"
    mount -t sysfs -o ro none "$scratch/r/sys"
    mount -t tmpfs -o mode=0755 none "$scratch/r/dev"
    for dev in null zero full random urandom; do
        : >"$scratch/r/dev/$dev" && mount --bind "/dev/$dev" "$scratch/r/dev/$dev"
    done
    mkdir -m 1777 "$scratch/r/dev/shm"
    mkdir "$scratch/r/dev/pts" && ln -s pts/ptmx "$scratch/r/dev/ptmx"
    # The links runc puts in a container /dev, as the devfs of Husk has
    # them (without them test_asyncio test_devstdin_input fails here).
    ln -s /proc/self/fd "$scratch/r/dev/fd"
    for fd in 0:stdin 1:stdout 2:stderr; do
        ln -s "/proc/self/fd/${fd%%:*}" "$scratch/r/dev/${fd#*:}"
    done
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 none "$scratch/r/dev/pts"
    while [ "$nbinds" -gt 0 ]; do
        src=${1%%:*} dest=${1#*:}
        mkdir -p "$scratch/r$dest" && mount --bind -o ro "$src" "$scratch/r$dest"
        nbinds=$((nbinds - 1))
        shift
    done
    ip link set lo up
    exec chroot "$scratch/r" /usr/bin/env -i "$@" /bin/sh -c "$cmd"
' sh "$root" "$scratch" "$cmd" "${#binds[@]}" "${binds[@]}" "$@" || status=$?
umount -l "$scratch" 2>/dev/null || true
rmdir "$scratch" 2>/dev/null || true
exit "$status"
