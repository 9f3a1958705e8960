#!/usr/bin/env bash
# A private dockerd (Debian's docker.io, Docker 20.10) for the tests, with
# `husk` registered as a runtime, and the offline images they use.
#
#   dockerd.sh start [HUSK]   start it (idempotent: reuses a running one), with
#                             HUSK (an absolute path; default: this tree's
#                             target/debug/husk) as the runtimes husk and
#                             husk-open; a running one is reloaded (SIGHUP)
#                             when HUSK differs
#   dockerd.sh stop           stop it (its containers are removed first)
#   dockerd.sh busybox        import (once) the busybox image; print its name
#   dockerd.sh debian DIR     import (once) the Debian root DIR (the tests'
#                             fixture, tests/support/debian.rs); print its name
#   dockerd.sh env            print HOST, DOCKER_CONFIG, DATA_ROOT, EXEC_ROOT
#                             and LOG as shell assignments
#
# busybox and debian need it running.
#
# Its own data root (under /var/cache/husk-test, keyed by this recipe and
# dockerd's version, so that imported images outlive it), exec root, pid
# file, socket, daemon.json and CLI config: nothing is shared with a system
# Docker's files, nor with the tests' private containerd
# (tests/containerd/containerd.sh): this dockerd starts a containerd of its
# own under its exec root, whose containers live in its namespace `moby`.
# What it does share with any other dockerd is the host's network: the
# bridge docker0 and the iptables chains DOCKER*; so it refuses to start
# while another dockerd runs. No systemd.
#
# The runtimes: runc is Docker's built-in `runc` (the name is reserved);
# `husk` is HUSK with no flags (egress denied, Husk's default); `husk-open`
# is HUSK with `--default-allow-egress all` (Docker's usual open egress).
set -euo pipefail

# Bump when the daemon's settings or the images' recipes change: it keys the
# data root, so a new recipe starts from an empty one.
RECIPE="husk-docker-1: overlay2, busybox image v1, debian image v1"
CACHE=${HUSK_TEST_CACHE:-/var/cache/husk-test}
EXEC_ROOT=/run/husk-test-docker
SOCK=$EXEC_ROOT/docker.sock
HOST=unix://$SOCK
CONFIG=$EXEC_ROOT/daemon.json
PIDFILE=$EXEC_ROOT/dockerd.pid
LOG=$EXEC_ROOT/dockerd.log
CLI_CONFIG=$EXEC_ROOT/cli
LOCK=/run/husk-test-docker.lock
DOCKER=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd
BUSYBOX_IMAGE=husk-test/busybox:latest
DEBIAN_IMAGE=husk-test/debian:latest
LABEL=dev.husk.test.recipe

die() {
    echo "dockerd.sh: $*" >&2
    exit 1
}

docker_() {
    DOCKER_CONFIG=$CLI_CONFIG "$DOCKER" --host "$HOST" "$@"
}

data_root() {
    local version key
    version=$("$DOCKERD" --version 2>/dev/null || echo unknown)
    key=$(printf '%s\n%s\n' "$RECIPE" "$version" | sha256sum | cut -c1-16)
    echo "$CACHE/docker-$key"
}

# shellcheck source=../support/close_fds.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/close_fds.sh"

answers() {
    [ -S "$SOCK" ] && timeout 5 env DOCKER_CONFIG="$CLI_CONFIG" "$DOCKER" --host "$HOST" version >/dev/null 2>&1
}

# The pid of the dockerd this script started, if it runs.
our_pid() {
    local pid
    [ -s "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--exec-root $EXEC_ROOT " || return 1
    echo "$pid"
}

# Other dockerd processes (a system Docker): they own docker0 and the
# DOCKER iptables chains this one would fight over.
other_dockerd() {
    local ours pid
    ours=$(our_pid || true)
    for pid in $(pgrep -x dockerd || true); do
        [ "$pid" = "$ours" ] || echo "$pid"
    done
}

default_husk() {
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    echo "${CARGO_TARGET_DIR:-$here/target}/debug/husk"
}

write_config() {
    local husk=$1
    cat >"$CONFIG.tmp" <<EOF
{
  "runtimes": {
    "husk": {"path": "$husk"},
    "husk-open": {"path": "$husk", "runtimeArgs": ["--default-allow-egress", "all"]}
  },
  "log-driver": "json-file",
  "storage-driver": "overlay2",
  "features": {"buildkit": false},
  "experimental": true
}
EOF
    mv "$CONFIG.tmp" "$CONFIG"
}

start() {
    local husk=${1:-$(default_husk)}
    case "$husk" in
    /*) ;;
    *) die "the husk path must be absolute: $husk" ;;
    esac
    [ -x "$husk" ] || die "no husk binary at $husk (cargo build --workspace)"
    [ -x "$DOCKERD" ] && [ -x "$DOCKER" ] || die "Docker is not installed (apt-get install docker.io)"
    mkdir -p "$EXEC_ROOT" "$CLI_CONFIG"
    local pid
    if pid=$(our_pid) && answers && ! docker_ info --format '{{.ExperimentalBuild}}' 2>/dev/null | grep -qx true; then
        # One started before experimental mode (docker checkpoint) was in
        # its config: that setting needs a new dockerd.
        stop
    fi
    if pid=$(our_pid) && answers; then
        if ! grep -qF "\"path\": \"$husk\"" "$CONFIG"; then
            # Runtimes are reloadable: dockerd rereads its config on SIGHUP.
            write_config "$husk"
            kill -HUP "$pid"
            local i
            for i in $(seq 1 50); do
                if docker_ info --format '{{json .Runtimes}}' 2>/dev/null | grep -qF "\"$husk\""; then
                    return 0
                fi
                sleep 0.1
            done
            die "dockerd did not take the new husk path $husk; its log is $LOG"
        fi
        return 0
    fi
    local others
    others=$(other_dockerd)
    [ -z "$others" ] || die "another dockerd runs (pid $others): it owns docker0 and the DOCKER iptables chains; stop it first"
    local data
    data=$(data_root)
    mkdir -p "$data"
    write_config "$husk"
    # A stale socket or pid file from a killed dockerd; containerd's, which
    # a dockerd started at once after a stop takes for a running one.
    rm -f "$SOCK" "$PIDFILE" "$EXEC_ROOT/containerd/containerd.pid"
    (
        close_inherited_fds
        exec setsid "$DOCKERD" --config-file "$CONFIG" --data-root "$data" --exec-root "$EXEC_ROOT" \
            --pidfile "$PIDFILE" --host "$HOST" >>"$LOG" 2>&1 </dev/null
    ) &
    local child=$!
    local i
    for i in $(seq 1 300); do
        if answers; then
            return 0
        fi
        if ! kill -0 "$child" 2>/dev/null; then
            tail -n 20 "$LOG" >&2
            die "dockerd exited; its log is $LOG"
        fi
        sleep 0.1
    done
    tail -n 20 "$LOG" >&2
    die "dockerd did not answer on $SOCK within 30 s; its log is $LOG"
}

stop() {
    if answers; then
        local ids
        ids=$(docker_ ps -aq)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086 # one id a word
            docker_ rm -f $ids >/dev/null 2>&1 || true
        fi
    fi
    local pid
    if pid=$(our_pid); then
        # dockerd stops its containerd (and that its shims) on SIGTERM.
        kill "$pid"
        local i
        for i in $(seq 1 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && die "dockerd (pid $pid) did not stop within 20 s; its log is $LOG"
    fi
    rm -f "$PIDFILE" "$SOCK"
}

# Whether IMAGE exists with label $LABEL equal to KEY.
has_image() {
    local got
    got=$(docker_ image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true)
    [ "$got" = "$2" ]
}

# The busybox root, as a tar on stdout: busybox-static's /bin/busybox with
# a link for each applet, /etc/passwd and /etc/group naming root, nobody
# and a user 1000, and /www/index.html for httpd. Its text keys the image.
busybox_tar() {
    local tmp rootfs
    tmp=$(mktemp -d)
    rootfs=$tmp/rootfs
    mkdir -p "$rootfs"/{bin,etc,dev,proc,sys,tmp,root,www,home/user}
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    local a
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    chown 1000:1000 "$rootfs/home/user"
    printf 'hello from busybox httpd\n' >"$rootfs/www/index.html"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf - .
    rm -rf "$tmp"
}

busybox() {
    [ -x /bin/busybox ] || die "/bin/busybox is missing (apt-get install busybox-static)"
    local key
    key=$( {
        echo "$RECIPE"
        declare -f busybox_tar
        sha256sum /bin/busybox
    } | sha256sum | cut -c1-16)
    if ! has_image "$BUSYBOX_IMAGE" "$key"; then
        busybox_tar | docker_ import \
            --change "LABEL $LABEL=$key" \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["sh"]' \
            - "$BUSYBOX_IMAGE" >/dev/null
        has_image "$BUSYBOX_IMAGE" "$key" || die "the imported $BUSYBOX_IMAGE has no label $LABEL=$key"
    fi
    echo "$BUSYBOX_IMAGE"
}

debian() {
    local dir=${1:-}
    [ -n "$dir" ] && [ -x "$dir/usr/bin/python3" ] || die "usage: dockerd.sh debian DIR (a Debian root with python3)"
    # The fixture's directory name (debian-<recipe hash>) is its recipe.
    local key
    key=$(printf '%s\n%s\n' "$RECIPE" "$(basename "$dir")" | sha256sum | cut -c1-16)
    if ! has_image "$DEBIAN_IMAGE" "$key"; then
        tar --numeric-owner -C "$dir" -cf - . | docker_ import \
            --change "LABEL $LABEL=$key" \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["bash"]' \
            - "$DEBIAN_IMAGE" >/dev/null
        has_image "$DEBIAN_IMAGE" "$key" || die "the imported $DEBIAN_IMAGE has no label $LABEL=$key"
    fi
    echo "$DEBIAN_IMAGE"
}

main() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    # One caller at a time (test binaries and CI may race to start it).
    exec 9>"$LOCK"
    flock 9
    case "${1:-}" in
    start) start "${2:-}" ;;
    stop) stop ;;
    busybox)
        answers || die "no dockerd answers on $SOCK: dockerd.sh start first"
        busybox
        ;;
    debian)
        answers || die "no dockerd answers on $SOCK: dockerd.sh start first"
        debian "${2:-}"
        ;;
    env)
        printf 'HOST=%s\nDOCKER_CONFIG=%s\nDATA_ROOT=%s\nEXEC_ROOT=%s\nLOG=%s\n' \
            "$HOST" "$CLI_CONFIG" "$(data_root)" "$EXEC_ROOT" "$LOG"
        ;;
    *) die "usage: dockerd.sh start [HUSK] | stop | busybox | debian DIR | env" ;;
    esac
}

main "$@"
