#!/usr/bin/env bash
# Writes abi/src/arch/aarch64_sysno.rs from the arm64 kernel headers of
# Debian's cross toolchain (gcc-aarch64-linux-gnu, linux-libc-dev-arm64-cross):
# the generic table of asm-generic/unistd.h as arm64 configures it. Numbers
# newer than the headers (EXTRA below, the same on every architecture since
# 424) are added by hand, to match the x86_64 table.
set -euo pipefail
cd "$(dirname "$0")/../.."
cc=${CC_AARCH64:-aarch64-linux-gnu-gcc}
EXTRA=$'451 cachestat\n452 fchmodat2'
out=abi/src/arch/aarch64_sysno.rs

names=$(echo '#include <asm/unistd.h>' | "$cc" -E -dM - | grep -o '#define __NR_[a-z0-9_]*' | awk '{print $2}' | sort -u)
# __NR_syscalls is the count and __NR_arch_specific_syscall a base, not calls.
table=$({
    echo '#include <asm/unistd.h>'
    for n in $names; do echo "HUSKNR ${n#__NR_} $n"; done
} | "$cc" -E -P - | awk '$1 == "HUSKNR" && $2 != "syscalls" && $2 != "arch_specific_syscall" {print $3, $2}')
table=$(printf '%s\n%s\n' "$table" "$EXTRA" | sort -n -u)
count=$(( $(tail -n 1 <<<"$table" | awk '{print $1}') + 1 ))

{
    echo '//! aarch64 syscall numbers and names: the generic table of'
    echo '//! `asm-generic/unistd.h` (no open, fork, stat, poll and the like), generated'
    echo '//! by `tests/arm64/gen-sysno.sh`.'
    echo
    echo '/// Syscall numbers.'
    echo 'pub mod nr {'
    while read -r num name; do
        echo "    pub const ${name^^}: u64 = $num;"
    done <<<"$table"
    echo '}'
    echo
    echo '/// One past the highest syscall number this table knows.'
    echo "pub const SYSCALL_COUNT: usize = $count;"
    echo
    echo '/// Syscall names indexed by number; `""` where no syscall has the number.'
    echo 'pub static SYSCALL_NAMES: [&str; SYSCALL_COUNT] = ['
    awk -v count="$count" '{name[$1] = $2} END {for (i = 0; i < count; i++) printf "    \"%s\",\n", name[i]}' <<<"$table"
    echo '];'
} >"$out"
echo "wrote $out: $(wc -l <<<"$table") syscalls, SYSCALL_COUNT $count"
