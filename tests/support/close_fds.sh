# Sourced by the scripts that start the tests' long-lived daemons
# (tests/containerd/containerd.sh, tests/docker/dockerd.sh).

# Closes every fd above 2 this shell holds: what a long-lived child
# inherits it holds for good, locks included (the script's own on fd 9, or
# a build lock the test runner took with flock(1), which every process
# started under it inherits).
close_inherited_fds() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        if [ "$fd" -gt 2 ]; then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
}
