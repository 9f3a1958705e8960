#!/usr/bin/env bash
# A private containerd 1.6 for the tests, and the offline busybox image.
#
#   containerd.sh start     start it (idempotent: reuses a running one)
#   containerd.sh stop      stop it (tasks left in it are killed first)
#   containerd.sh address   print its socket
#   containerd.sh image     build (cached) and import the busybox image; print its name
#   containerd.sh env       print NAMESPACE, ADDRESS, IMAGE and SNAPSHOTTER as shell assignments
#
# It has its own config, root, state and socket, so it never collides with a
# system containerd (nor depends on systemd). Tests use the namespace
# $NAMESPACE, so the runc.v2 shim passes `--root /run/containerd/runc/husk-test`
# to the runtime (see ../../../shared/containerd-contract.md).
set -euo pipefail

ROOT=/var/lib/husk-test-containerd
STATE=/run/husk-test-containerd
ADDRESS=$STATE/containerd.sock
CONFIG=$STATE/config.toml
LOG=$STATE/containerd.log
PIDFILE=$STATE/containerd.pid
NAMESPACE=husk-test
IMAGE=docker.io/husk-test/busybox:latest
CACHE=/var/cache/husk-test
LOCK=/run/husk-test-containerd.lock

# The busybox applets the image links to /bin/busybox.
APPLETS=(sh echo true false sleep cat ls ps id env pwd hostname kill wc tty test
    printf grep head tail mkdir rm touch uname ln mount umount date seq yes)

die() {
    echo "containerd.sh: $*" >&2
    exit 1
}

ctr_() {
    ctr --address "$ADDRESS" --namespace "$NAMESPACE" "$@"
}

# shellcheck source=../support/close_fds.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/close_fds.sh"

answers() {
    [ -S "$ADDRESS" ] && timeout 5 ctr --address "$ADDRESS" version >/dev/null 2>&1
}

# overlayfs where the kernel and $ROOT's filesystem allow it, else native.
snapshotter() {
    local f=$STATE/snapshotter
    if [ ! -s "$f" ]; then
        local s=native
        mkdir -p "$ROOT"
        # The probe lives under $ROOT's filesystem: that is where the
        # snapshots go, and overlay refuses some upper filesystems.
        local rprobe
        rprobe=$(mktemp -d "$ROOT/overlay-probe.XXXXXX")
        mkdir -p "$rprobe"/{l,u,w,m}
        if mount -t overlay overlay -o "lowerdir=$rprobe/l,upperdir=$rprobe/u,workdir=$rprobe/w" "$rprobe/m" 2>/dev/null; then
            umount "$rprobe/m"
            s=overlayfs
        fi
        rm -rf "$rprobe"
        echo "$s" >"$f"
    fi
    cat "$f"
}

start() {
    mkdir -p "$STATE" "$ROOT"
    if answers; then
        return 0
    fi
    command -v containerd >/dev/null || die "containerd is not installed (apt-get install containerd runc)"
    local snap
    snap=$(snapshotter)
    cat >"$CONFIG" <<EOF
version = 2
root = "$ROOT"
state = "$STATE"
# No Kubernetes CRI here: the tests drive containerd with ctr only.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$ADDRESS"

[ttrpc]
  address = "$STATE/containerd.sock.ttrpc"

[debug]
  address = "$STATE/debug.sock"

[plugins."io.containerd.snapshotter.v1.overlayfs"]
  root_path = "$ROOT/overlayfs"
EOF
    # A stale socket from a killed containerd would make it fail to listen.
    rm -f "$ADDRESS" "$STATE/containerd.sock.ttrpc" "$STATE/debug.sock"
    # setsid: it must outlive the shell (and the test) that started it.
    # It must not inherit (and hold forever) a lock: only stdio is left.
    (
        close_inherited_fds
        exec setsid containerd --config "$CONFIG" >>"$LOG" 2>&1 </dev/null
    ) &
    echo $! >"$PIDFILE"
    local i
    for i in $(seq 1 100); do
        if answers; then
            return 0
        fi
        if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
            tail -n 20 "$LOG" >&2
            die "containerd exited; its log is $LOG"
        fi
        sleep 0.1
    done
    tail -n 20 "$LOG" >&2
    die "containerd did not answer on $ADDRESS within 10 s; its log is $LOG"
}

stop() {
    if answers; then
        local t
        for t in $(ctr_ task ls -q 2>/dev/null); do
            ctr_ task kill -s SIGKILL "$t" >/dev/null 2>&1 || true
            ctr_ task delete -f "$t" >/dev/null 2>&1 || true
        done
    fi
    if [ -s "$PIDFILE" ]; then
        local pid
        pid=$(cat "$PIDFILE")
        # Only the containerd this script started: check its command line.
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--config $CONFIG"; then
            kill "$pid"
            local i
            for i in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        rm -f "$PIDFILE"
    fi
}

# Writes the OCI image layout of busybox into directory $1 (empty).
# Its text is part of the cache key, so any change here rebuilds the image.
build_layout() {
    local out=$1 tmp rootfs
    tmp=$(mktemp -d)
    rootfs=$tmp/rootfs
    mkdir -p "$rootfs"/{bin,etc,dev,proc,sys,tmp,root}
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    local a
    for a in "${APPLETS[@]}"; do
        ln -s busybox "$rootfs/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    # A reproducible layer: sorted names, fixed times and owners, no gzip name/time.
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$tmp/layer.tar" .
    local diff_id
    diff_id=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
    gzip -n -9 <"$tmp/layer.tar" >"$tmp/layer.tar.gz"

    mkdir -p "$out/blobs/sha256"
    blob() { # FILE -> prints "DIGEST SIZE", storing FILE as a blob
        local d s
        d=$(sha256sum "$1" | cut -d' ' -f1)
        s=$(stat -c %s "$1")
        cp "$1" "$out/blobs/sha256/$d"
        echo "$d $s"
    }
    local layer config manifest
    read -r -a layer <<<"$(blob "$tmp/layer.tar.gz")"
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"husk tests/containerd/containerd.sh"}]}' \
        "$diff_id" >"$tmp/config.json"
    read -r -a config <<<"$(blob "$tmp/config.json")"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "${config[0]}" "${config[1]}" "${layer[0]}" "${layer[1]}" >"$tmp/manifest.json"
    read -r -a manifest <<<"$(blob "$tmp/manifest.json")"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' \
        "${manifest[0]}" "${manifest[1]}" "$IMAGE" >"$out/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
    echo "sha256:${manifest[0]}" >"$out/manifest-digest"
    (cd "$out" && tar -cf image.tar oci-layout index.json blobs)
    rm -rf "$tmp"
}

# The cached layout's directory: keyed by the recipe and busybox's version.
layout_dir() {
    [ -x /bin/busybox ] || die "/bin/busybox is missing (apt-get install busybox-static)"
    local version key
    version=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)
    key=$( {
        declare -f build_layout
        echo "${APPLETS[*]} $IMAGE $version"
        sha256sum /bin/busybox
    } | sha256sum | cut -c1-16)
    echo "$CACHE/busybox-oci-$key"
}

image() {
    start
    local dir
    dir=$(layout_dir)
    if [ ! -s "$dir/manifest-digest" ]; then
        local tmp
        mkdir -p "$CACHE"
        tmp=$(mktemp -d "$CACHE/busybox-oci.tmp.XXXXXX")
        build_layout "$tmp"
        rm -rf "$dir"
        mv "$tmp" "$dir"
    fi
    local digest
    digest=$(cat "$dir/manifest-digest")
    # Skip the import when this very image (same name and digest) is there.
    if ! ctr_ image ls 2>/dev/null | awk -v n="$IMAGE" -v d="$digest" '$1 == n && $3 == d {f=1} END {exit !f}'; then
        ctr_ image import --snapshotter "$(snapshotter)" --platform linux/amd64 "$dir/image.tar" >/dev/null
    fi
    echo "$IMAGE"
}

main() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    mkdir -p "$(dirname "$LOCK")"
    # One caller at a time (test binaries and CI may race to start it).
    exec 9>"$LOCK"
    flock 9
    case "${1:-}" in
    start) start ;;
    stop) stop ;;
    address) echo "$ADDRESS" ;;
    image) image ;;
    env)
        start
        printf 'NAMESPACE=%s\nADDRESS=%s\nIMAGE=%s\nSNAPSHOTTER=%s\n' "$NAMESPACE" "$ADDRESS" "$IMAGE" "$(snapshotter)"
        ;;
    *) die "usage: containerd.sh start|stop|address|image|env" ;;
    esac
}

main "$@"
