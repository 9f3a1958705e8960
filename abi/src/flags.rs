//! Flag and constant values of the syscall ABI, grouped by the syscall family
//! that takes them. Values are the generic Linux ones, which x86_64 and
//! arm64 share; the few that differ come from [`crate::arch`].
#![allow(missing_docs)]

/// `open` flags.
pub mod open {
    pub const O_ACCMODE: u32 = 0o3;
    pub const O_RDONLY: u32 = 0o0;
    pub const O_WRONLY: u32 = 0o1;
    pub const O_RDWR: u32 = 0o2;
    pub const O_CREAT: u32 = 0o100;
    pub const O_EXCL: u32 = 0o200;
    pub const O_NOCTTY: u32 = 0o400;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_APPEND: u32 = 0o2000;
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_DSYNC: u32 = 0o10000;
    pub const O_ASYNC: u32 = 0o20000;
    // (arm64 moves these four.)
    pub use crate::arch::current::open_flags::*;
    pub const O_NOATIME: u32 = 0o1000000;
    pub const O_CLOEXEC: u32 = 0o2000000;
    pub const O_SYNC: u32 = 0o4010000;
    pub const O_PATH: u32 = 0o10000000;
    /// `__O_TMPFILE | O_DIRECTORY`, so it too differs by architecture.
    pub const O_TMPFILE: u32 = 0o20000000 | O_DIRECTORY;
}

/// `*at` flags and the special directory fd.
pub mod at {
    pub const AT_FDCWD: i32 = -100;
    pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
    pub const AT_EACCESS: u32 = 0x200;
    pub const AT_REMOVEDIR: u32 = 0x200;
    pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
    pub const AT_NO_AUTOMOUNT: u32 = 0x800;
    pub const AT_EMPTY_PATH: u32 = 0x1000;
    pub const AT_STATX_SYNC_TYPE: u32 = 0x6000;
}

/// `access` modes.
pub mod access {
    pub const F_OK: u32 = 0;
    pub const X_OK: u32 = 1;
    pub const W_OK: u32 = 2;
    pub const R_OK: u32 = 4;
}

/// `fcntl` commands and fd flags.
pub mod fcntl {
    pub const F_DUPFD: u32 = 0;
    pub const F_GETFD: u32 = 1;
    pub const F_SETFD: u32 = 2;
    pub const F_GETFL: u32 = 3;
    pub const F_SETFL: u32 = 4;
    pub const F_DUPFD_CLOEXEC: u32 = 1030;
    pub const FD_CLOEXEC: u32 = 1;
}

/// `lseek` whence values.
pub mod seek {
    pub const SEEK_SET: u32 = 0;
    pub const SEEK_CUR: u32 = 1;
    pub const SEEK_END: u32 = 2;
    pub const SEEK_DATA: u32 = 3;
    pub const SEEK_HOLE: u32 = 4;
}

/// File type bits of `st_mode` and the `d_type` values of `getdents64`.
pub mod mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFSOCK: u32 = 0o140000;
    pub const S_IFLNK: u32 = 0o120000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFBLK: u32 = 0o060000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFCHR: u32 = 0o020000;
    pub const S_IFIFO: u32 = 0o010000;

    pub const DT_UNKNOWN: u8 = 0;
    pub const DT_FIFO: u8 = 1;
    pub const DT_CHR: u8 = 2;
    pub const DT_DIR: u8 = 4;
    pub const DT_BLK: u8 = 6;
    pub const DT_REG: u8 = 8;
    pub const DT_LNK: u8 = 10;
    pub const DT_SOCK: u8 = 12;

    /// The `d_type` for an `st_mode`.
    pub const fn dtype(mode: u32) -> u8 {
        match mode & S_IFMT {
            S_IFSOCK => DT_SOCK,
            S_IFLNK => DT_LNK,
            S_IFREG => DT_REG,
            S_IFBLK => DT_BLK,
            S_IFDIR => DT_DIR,
            S_IFCHR => DT_CHR,
            S_IFIFO => DT_FIFO,
            _ => DT_UNKNOWN,
        }
    }
}

/// `statx` mask bits.
pub mod statx {
    pub const STATX_TYPE: u32 = 0x1;
    pub const STATX_MODE: u32 = 0x2;
    pub const STATX_NLINK: u32 = 0x4;
    pub const STATX_UID: u32 = 0x8;
    pub const STATX_GID: u32 = 0x10;
    pub const STATX_ATIME: u32 = 0x20;
    pub const STATX_MTIME: u32 = 0x40;
    pub const STATX_CTIME: u32 = 0x80;
    pub const STATX_INO: u32 = 0x100;
    pub const STATX_SIZE: u32 = 0x200;
    pub const STATX_BLOCKS: u32 = 0x400;
    pub const STATX_BASIC_STATS: u32 = 0x7ff;
    pub const STATX__RESERVED: u32 = 0x8000_0000;
}

/// `mmap`, `mprotect`, `madvise` and `mremap` values.
pub mod mm {
    pub const PROT_NONE: u32 = 0;
    pub const PROT_READ: u32 = 1;
    pub const PROT_WRITE: u32 = 2;
    pub const PROT_EXEC: u32 = 4;
    pub const PROT_GROWSDOWN: u32 = 0x0100_0000;
    pub const PROT_GROWSUP: u32 = 0x0200_0000;

    pub const MAP_SHARED: u32 = 0x01;
    pub const MAP_PRIVATE: u32 = 0x02;
    pub const MAP_SHARED_VALIDATE: u32 = 0x03;
    pub const MAP_TYPE: u32 = 0x0f;
    pub const MAP_FIXED: u32 = 0x10;
    pub const MAP_ANONYMOUS: u32 = 0x20;
    pub const MAP_32BIT: u32 = 0x40;
    pub const MAP_GROWSDOWN: u32 = 0x0100;
    pub const MAP_DENYWRITE: u32 = 0x0800;
    pub const MAP_EXECUTABLE: u32 = 0x1000;
    pub const MAP_LOCKED: u32 = 0x2000;
    pub const MAP_NORESERVE: u32 = 0x4000;
    pub const MAP_POPULATE: u32 = 0x8000;
    pub const MAP_NONBLOCK: u32 = 0x10000;
    pub const MAP_STACK: u32 = 0x20000;
    pub const MAP_HUGETLB: u32 = 0x40000;
    pub const MAP_SYNC: u32 = 0x80000;
    pub const MAP_FIXED_NOREPLACE: u32 = 0x100000;

    pub const MADV_NORMAL: u32 = 0;
    pub const MADV_RANDOM: u32 = 1;
    pub const MADV_SEQUENTIAL: u32 = 2;
    pub const MADV_WILLNEED: u32 = 3;
    pub const MADV_DONTNEED: u32 = 4;
    pub const MADV_FREE: u32 = 8;
    pub const MADV_REMOVE: u32 = 9;
    pub const MADV_DONTFORK: u32 = 10;
    pub const MADV_DOFORK: u32 = 11;
    pub const MADV_MERGEABLE: u32 = 12;
    pub const MADV_UNMERGEABLE: u32 = 13;
    pub const MADV_HUGEPAGE: u32 = 14;
    pub const MADV_NOHUGEPAGE: u32 = 15;
    pub const MADV_DONTDUMP: u32 = 16;
    pub const MADV_DODUMP: u32 = 17;
}

/// Signal numbers (x86_64 and the generic table agree on these).
pub mod signal {
    pub const SIGHUP: u32 = 1;
    pub const SIGINT: u32 = 2;
    pub const SIGQUIT: u32 = 3;
    pub const SIGILL: u32 = 4;
    pub const SIGTRAP: u32 = 5;
    pub const SIGABRT: u32 = 6;
    pub const SIGBUS: u32 = 7;
    pub const SIGFPE: u32 = 8;
    pub const SIGKILL: u32 = 9;
    pub const SIGUSR1: u32 = 10;
    pub const SIGSEGV: u32 = 11;
    pub const SIGUSR2: u32 = 12;
    pub const SIGPIPE: u32 = 13;
    pub const SIGALRM: u32 = 14;
    pub const SIGTERM: u32 = 15;
    pub const SIGCHLD: u32 = 17;
    pub const SIGCONT: u32 = 18;
    pub const SIGSTOP: u32 = 19;
    pub const SIGXCPU: u32 = 24;
    pub const SIGXFSZ: u32 = 25;
    pub const SIGVTALRM: u32 = 26;
    pub const SIGPROF: u32 = 27;
    pub const SIGSYS: u32 = 31;
}

/// Clock ids.
pub mod clock {
    pub const CLOCK_REALTIME: u32 = 0;
    pub const CLOCK_MONOTONIC: u32 = 1;
    pub const CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
    pub const CLOCK_THREAD_CPUTIME_ID: u32 = 3;
    pub const CLOCK_MONOTONIC_RAW: u32 = 4;
    pub const CLOCK_REALTIME_COARSE: u32 = 5;
    pub const CLOCK_MONOTONIC_COARSE: u32 = 6;
    pub const CLOCK_BOOTTIME: u32 = 7;
    pub const CLOCK_REALTIME_ALARM: u32 = 8;
    pub const CLOCK_BOOTTIME_ALARM: u32 = 9;
    pub const CLOCK_TAI: u32 = 11;
    pub const TIMER_ABSTIME: u32 = 1;
}

/// Resource limit ids.
pub mod rlimit {
    pub const RLIMIT_CPU: u32 = 0;
    pub const RLIMIT_FSIZE: u32 = 1;
    pub const RLIMIT_DATA: u32 = 2;
    pub const RLIMIT_STACK: u32 = 3;
    pub const RLIMIT_CORE: u32 = 4;
    pub const RLIMIT_RSS: u32 = 5;
    pub const RLIMIT_NPROC: u32 = 6;
    pub const RLIMIT_NOFILE: u32 = 7;
    pub const RLIMIT_MEMLOCK: u32 = 8;
    pub const RLIMIT_AS: u32 = 9;
    pub const RLIMIT_LOCKS: u32 = 10;
    pub const RLIMIT_SIGPENDING: u32 = 11;
    pub const RLIMIT_MSGQUEUE: u32 = 12;
    pub const RLIMIT_NICE: u32 = 13;
    pub const RLIMIT_RTPRIO: u32 = 14;
    pub const RLIMIT_RTTIME: u32 = 15;
    pub const RLIM_NLIMITS: usize = 16;
    pub const RLIM_INFINITY: u64 = u64::MAX;
}

/// Terminal ioctls.
pub mod ioctl {
    pub const TCGETS: u32 = 0x5401;
    pub const TCSETS: u32 = 0x5402;
    pub const TCSETSW: u32 = 0x5403;
    pub const TCSETSF: u32 = 0x5404;
    /// The old `struct termio` versions of TCGETS and TCSETS*.
    pub const TCGETA: u32 = 0x5405;
    pub const TCSETA: u32 = 0x5406;
    pub const TCSETAW: u32 = 0x5407;
    pub const TCSETAF: u32 = 0x5408;
    pub const TCSBRK: u32 = 0x5409;
    pub const TCXONC: u32 = 0x540a;
    pub const TCFLSH: u32 = 0x540b;
    pub const TIOCSCTTY: u32 = 0x540e;
    pub const TIOCGPGRP: u32 = 0x540f;
    pub const TIOCSPGRP: u32 = 0x5410;
    pub const TIOCOUTQ: u32 = 0x5411;
    pub const TIOCGWINSZ: u32 = 0x5413;
    pub const TIOCSWINSZ: u32 = 0x5414;
    pub const FIONREAD: u32 = 0x541b;
    pub const FIONBIO: u32 = 0x5421;
    pub const TIOCNOTTY: u32 = 0x5422;
    pub const TIOCGSID: u32 = 0x5429;
    pub const TCGETS2: u32 = 0x802c_542a;
    pub const TCSETS2: u32 = 0x402c_542b;
    pub const TCSETSW2: u32 = 0x402c_542c;
    pub const TCSETSF2: u32 = 0x402c_542d;
    pub const TIOCINQ: u32 = FIONREAD;
    pub const TIOCPKT: u32 = 0x5420;
    pub const TIOCGPTN: u32 = 0x8004_5430;
    pub const TIOCSPTLCK: u32 = 0x4004_5431;
    pub const TIOCSIG: u32 = 0x4004_5436;
    pub const TIOCGPKT: u32 = 0x8004_5438;
    pub const TIOCGPTLCK: u32 = 0x8004_5439;
    pub const TIOCGPTPEER: u32 = 0x5441;
    pub const TIOCVHANGUP: u32 = 0x5437;
    /// `c_lflag`: background writes raise SIGTTOU.
    pub const TOSTOP: u32 = 0o400;
    pub const FIOCLEX: u32 = 0x5451;
    pub const FIONCLEX: u32 = 0x5450;
    /// Inode flags (`chattr`): get and set, an `int` (Linux's `_IOR('f', 1, long)`).
    pub const FS_IOC_GETFLAGS: u32 = 0x8008_6601;
    pub const FS_IOC_SETFLAGS: u32 = 0x4008_6602;
    /// `_IOWR('f', 17, struct procmap_query)`: on an open /proc/PID/maps,
    /// one mapping described (Linux 6.11).
    pub const PROCMAP_QUERY: u32 = 0xc068_6611;
}

/// Inode flags of FS_IOC_GETFLAGS and FS_IOC_SETFLAGS (`linux/fs.h`).
pub mod fsflags {
    pub const FS_IMMUTABLE_FL: u32 = 0x10;
    pub const FS_APPEND_FL: u32 = 0x20;
    pub const FS_NODUMP_FL: u32 = 0x40;
    pub const FS_NOATIME_FL: u32 = 0x80;
    /// statx's `stx_attributes` bits for them.
    pub const STATX_ATTR_IMMUTABLE: u64 = 0x10;
    pub const STATX_ATTR_APPEND: u64 = 0x20;
    pub const STATX_ATTR_NODUMP: u64 = 0x40;
}

/// `struct termios` flags and control-character indices (asm-generic).
pub mod termios {
    // c_iflag
    pub const IGNBRK: u32 = 0o1;
    pub const BRKINT: u32 = 0o2;
    pub const ISTRIP: u32 = 0o40;
    pub const INLCR: u32 = 0o100;
    pub const IGNCR: u32 = 0o200;
    pub const ICRNL: u32 = 0o400;
    pub const IUCLC: u32 = 0o1000;
    pub const IXON: u32 = 0o2000;
    pub const IXANY: u32 = 0o4000;
    pub const IMAXBEL: u32 = 0o20000;
    pub const IUTF8: u32 = 0o40000;
    // c_oflag
    pub const OPOST: u32 = 0o1;
    pub const OLCUC: u32 = 0o2;
    pub const ONLCR: u32 = 0o4;
    pub const OCRNL: u32 = 0o10;
    pub const ONOCR: u32 = 0o20;
    pub const ONLRET: u32 = 0o40;
    pub const TABDLY: u32 = 0o14000;
    pub const XTABS: u32 = 0o14000;
    // c_cflag
    pub const B38400: u32 = 0o17;
    pub const CS8: u32 = 0o60;
    pub const CREAD: u32 = 0o200;
    pub const HUPCL: u32 = 0o2000;
    // c_lflag
    pub const ISIG: u32 = 0o1;
    pub const ICANON: u32 = 0o2;
    pub const ECHO: u32 = 0o10;
    pub const ECHOE: u32 = 0o20;
    pub const ECHOK: u32 = 0o40;
    pub const ECHONL: u32 = 0o100;
    pub const NOFLSH: u32 = 0o200;
    pub const TOSTOP: u32 = 0o400;
    pub const ECHOCTL: u32 = 0o1000;
    pub const ECHOPRT: u32 = 0o2000;
    pub const ECHOKE: u32 = 0o4000;
    pub const FLUSHO: u32 = 0o10000;
    pub const PENDIN: u32 = 0o40000;
    pub const IEXTEN: u32 = 0o100000;
    pub const EXTPROC: u32 = 0o200000;
    // c_cc indices
    pub const VINTR: usize = 0;
    pub const VQUIT: usize = 1;
    pub const VERASE: usize = 2;
    pub const VKILL: usize = 3;
    pub const VEOF: usize = 4;
    pub const VTIME: usize = 5;
    pub const VMIN: usize = 6;
    pub const VSTART: usize = 8;
    pub const VSTOP: usize = 9;
    pub const VSUSP: usize = 10;
    pub const VEOL: usize = 11;
    pub const VREPRINT: usize = 12;
    pub const VWERASE: usize = 14;
    pub const VLNEXT: usize = 15;
    pub const VEOL2: usize = 16;
    /// A control character set to this is disabled.
    pub const VDISABLE: u8 = 0;
    // tcflush and tcflow arguments
    pub const TCIFLUSH: u64 = 0;
    pub const TCOFLUSH: u64 = 1;
    pub const TCIOFLUSH: u64 = 2;
    pub const TCOOFF: u64 = 0;
    pub const TCOON: u64 = 1;
    pub const TCIOFF: u64 = 2;
    pub const TCION: u64 = 3;
}

/// `arch_prctl` codes (x86_64 only: arm64 has no arch_prctl, its TLS
/// register `tpidr_el0` is written by user code).
pub mod arch_prctl {
    pub const ARCH_SET_GS: u32 = 0x1001;
    pub const ARCH_SET_FS: u32 = 0x1002;
    pub const ARCH_GET_FS: u32 = 0x1003;
    pub const ARCH_GET_GS: u32 = 0x1004;
    pub const ARCH_GET_CPUID: u32 = 0x1011;
    pub const ARCH_SET_CPUID: u32 = 0x1012;
}

/// Capabilities (capabilities(7)): their numbers, the `capget`/`capset`
/// header versions and the securebits.
pub mod capability {
    pub const CAP_CHOWN: u32 = 0;
    pub const CAP_DAC_OVERRIDE: u32 = 1;
    pub const CAP_DAC_READ_SEARCH: u32 = 2;
    pub const CAP_FOWNER: u32 = 3;
    pub const CAP_FSETID: u32 = 4;
    pub const CAP_KILL: u32 = 5;
    pub const CAP_SETGID: u32 = 6;
    pub const CAP_SETUID: u32 = 7;
    pub const CAP_SETPCAP: u32 = 8;
    pub const CAP_LINUX_IMMUTABLE: u32 = 9;
    pub const CAP_NET_BIND_SERVICE: u32 = 10;
    pub const CAP_NET_BROADCAST: u32 = 11;
    pub const CAP_NET_ADMIN: u32 = 12;
    pub const CAP_NET_RAW: u32 = 13;
    pub const CAP_IPC_LOCK: u32 = 14;
    pub const CAP_IPC_OWNER: u32 = 15;
    pub const CAP_SYS_MODULE: u32 = 16;
    pub const CAP_SYS_RAWIO: u32 = 17;
    pub const CAP_SYS_CHROOT: u32 = 18;
    pub const CAP_SYS_PTRACE: u32 = 19;
    pub const CAP_SYS_PACCT: u32 = 20;
    pub const CAP_SYS_ADMIN: u32 = 21;
    pub const CAP_SYS_BOOT: u32 = 22;
    pub const CAP_SYS_NICE: u32 = 23;
    pub const CAP_SYS_RESOURCE: u32 = 24;
    pub const CAP_SYS_TIME: u32 = 25;
    pub const CAP_SYS_TTY_CONFIG: u32 = 26;
    pub const CAP_MKNOD: u32 = 27;
    pub const CAP_LEASE: u32 = 28;
    pub const CAP_AUDIT_WRITE: u32 = 29;
    pub const CAP_AUDIT_CONTROL: u32 = 30;
    pub const CAP_SETFCAP: u32 = 31;
    pub const CAP_MAC_OVERRIDE: u32 = 32;
    pub const CAP_MAC_ADMIN: u32 = 33;
    pub const CAP_SYSLOG: u32 = 34;
    pub const CAP_WAKE_ALARM: u32 = 35;
    pub const CAP_BLOCK_SUSPEND: u32 = 36;
    pub const CAP_AUDIT_READ: u32 = 37;
    pub const CAP_PERFMON: u32 = 38;
    pub const CAP_BPF: u32 = 39;
    pub const CAP_CHECKPOINT_RESTORE: u32 = 40;
    /// The highest capability number (/proc/sys/kernel/cap_last_cap).
    pub const CAP_LAST_CAP: u32 = CAP_CHECKPOINT_RESTORE;
    /// Every capability, one bit each.
    pub const CAP_VALID_MASK: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;

    /// The capabilities' names, by number, as capabilities(7) spells them.
    pub const NAMES: [&str; CAP_LAST_CAP as usize + 1] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];

    /// The number of the capability called `name`: `CAP_CHOWN`, `chown`
    /// or `Chown` alike (Docker and OCI configs write them either way).
    pub fn by_name(name: &str) -> Option<u32> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        NAMES.iter().position(|n| n.strip_prefix("CAP_") == Some(bare)).map(|i| i as u32)
    }

    /// `capget`/`capset` header versions: v1 carries 32 bits per set, v2
    /// and v3 64 (two `__user_cap_data_struct`s).
    pub const LINUX_CAPABILITY_VERSION_1: u32 = 0x1998_0330;
    pub const LINUX_CAPABILITY_VERSION_2: u32 = 0x2007_1026;
    pub const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

    /// Securebits (PR_SET_SECUREBITS): each setting, and above it the bit
    /// that locks it.
    pub const SECBIT_NOROOT: u32 = 1 << 0;
    pub const SECBIT_NOROOT_LOCKED: u32 = 1 << 1;
    pub const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
    pub const SECBIT_NO_SETUID_FIXUP_LOCKED: u32 = 1 << 3;
    pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
    pub const SECBIT_KEEP_CAPS_LOCKED: u32 = 1 << 5;
    pub const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
    pub const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: u32 = 1 << 7;
    pub const SECBIT_EXEC_RESTRICT_FILE: u32 = 1 << 8;
    pub const SECBIT_EXEC_RESTRICT_FILE_LOCKED: u32 = 1 << 9;
    pub const SECBIT_EXEC_DENY_INTERACTIVE: u32 = 1 << 10;
    pub const SECBIT_EXEC_DENY_INTERACTIVE_LOCKED: u32 = 1 << 11;
    /// Every setting.
    pub const SECURE_ALL_BITS: u32 = SECBIT_NOROOT
        | SECBIT_NO_SETUID_FIXUP
        | SECBIT_KEEP_CAPS
        | SECBIT_NO_CAP_AMBIENT_RAISE
        | SECBIT_EXEC_RESTRICT_FILE
        | SECBIT_EXEC_DENY_INTERACTIVE;
    /// Every lock.
    pub const SECURE_ALL_LOCKS: u32 = SECURE_ALL_BITS << 1;
    /// The settings a process without CAP_SETPCAP may change (Linux 6.14:
    /// restrictions user space enforces on itself).
    pub const SECURE_ALL_UNPRIVILEGED: u32 = SECBIT_EXEC_RESTRICT_FILE | SECBIT_EXEC_DENY_INTERACTIVE;
}

/// `prctl` options.
pub mod prctl {
    pub const PR_SET_PDEATHSIG: u32 = 1;
    pub const PR_GET_PDEATHSIG: u32 = 2;
    pub const PR_GET_DUMPABLE: u32 = 3;
    pub const PR_SET_DUMPABLE: u32 = 4;
    pub const PR_GET_KEEPCAPS: u32 = 7;
    pub const PR_SET_KEEPCAPS: u32 = 8;
    pub const PR_SET_NAME: u32 = 15;
    pub const PR_GET_NAME: u32 = 16;
    pub const PR_CAPBSET_READ: u32 = 23;
    pub const PR_CAPBSET_DROP: u32 = 24;
    pub const PR_GET_SECUREBITS: u32 = 27;
    pub const PR_SET_SECUREBITS: u32 = 28;
    pub const PR_GET_TSC: u32 = 25;
    /// PR_GET_TSC's answer: the time-stamp counter may be read.
    pub const PR_TSC_ENABLE: i32 = 1;
    pub const PR_GET_TIMERSLACK: u32 = 30;
    pub const PR_SET_TIMERSLACK: u32 = 29;
    pub const PR_GET_TID_ADDRESS: u32 = 40;
    pub const PR_SET_THP_DISABLE: u32 = 41;
    pub const PR_GET_THP_DISABLE: u32 = 42;
    pub const PR_SET_CHILD_SUBREAPER: u32 = 36;
    pub const PR_GET_CHILD_SUBREAPER: u32 = 37;
    pub const PR_SET_NO_NEW_PRIVS: u32 = 38;
    pub const PR_GET_NO_NEW_PRIVS: u32 = 39;
    pub const PR_CAP_AMBIENT: u32 = 47;
    /// PR_CAP_AMBIENT's operations.
    pub const PR_CAP_AMBIENT_IS_SET: u64 = 1;
    pub const PR_CAP_AMBIENT_RAISE: u64 = 2;
    pub const PR_CAP_AMBIENT_LOWER: u64 = 3;
    pub const PR_CAP_AMBIENT_CLEAR_ALL: u64 = 4;
}

/// System V IPC: flags and commands shared by the shm, sem and msg calls,
/// and each family's own.
pub mod ipc {
    /// The key that always makes a new object.
    pub const IPC_PRIVATE: i32 = 0;
    pub const IPC_CREAT: u32 = 0o1000;
    pub const IPC_EXCL: u32 = 0o2000;
    pub const IPC_NOWAIT: u32 = 0o4000;
    pub const IPC_RMID: u32 = 0;
    pub const IPC_SET: u32 = 1;
    pub const IPC_STAT: u32 = 2;
    pub const IPC_INFO: u32 = 3;
    /// The "new layout" bit some libcs add to a ctl command.
    pub const IPC_64: u32 = 0x100;

    pub const SHM_LOCK: u32 = 11;
    pub const SHM_UNLOCK: u32 = 12;
    pub const SHM_STAT: u32 = 13;
    pub const SHM_INFO: u32 = 14;
    pub const SHM_STAT_ANY: u32 = 15;
    pub const SHM_RDONLY: u32 = 0o10000;
    pub const SHM_RND: u32 = 0o20000;
    pub const SHM_REMAP: u32 = 0o40000;
    pub const SHM_EXEC: u32 = 0o100000;
    /// Mode bit: removed, freed at the last detach.
    pub const SHM_DEST: u32 = 0o1000;
    /// Mode bit: locked in memory.
    pub const SHM_LOCKED: u32 = 0o2000;

    pub const GETPID: u32 = 11;
    pub const GETVAL: u32 = 12;
    pub const GETALL: u32 = 13;
    pub const GETNCNT: u32 = 14;
    pub const GETZCNT: u32 = 15;
    pub const SETVAL: u32 = 16;
    pub const SETALL: u32 = 17;
    pub const SEM_STAT: u32 = 18;
    pub const SEM_INFO: u32 = 19;
    pub const SEM_STAT_ANY: u32 = 20;
    pub const SEM_UNDO: i16 = 0x1000;

    pub const MSG_STAT: u32 = 11;
    pub const MSG_INFO: u32 = 12;
    pub const MSG_STAT_ANY: u32 = 13;
    pub const MSG_NOERROR: u32 = 0o10000;
    pub const MSG_EXCEPT: u32 = 0o20000;
    pub const MSG_COPY: u32 = 0o40000;
}

/// `getrandom` flags.
pub mod random {
    pub const GRND_NONBLOCK: u32 = 1;
    pub const GRND_RANDOM: u32 = 2;
    pub const GRND_INSECURE: u32 = 4;
}

/// Auxiliary vector entry types.
pub mod auxv {
    pub const AT_NULL: u64 = 0;
    pub const AT_PHDR: u64 = 3;
    pub const AT_PHENT: u64 = 4;
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    pub const AT_BASE: u64 = 7;
    pub const AT_FLAGS: u64 = 8;
    pub const AT_ENTRY: u64 = 9;
    pub const AT_UID: u64 = 11;
    pub const AT_EUID: u64 = 12;
    pub const AT_GID: u64 = 13;
    pub const AT_EGID: u64 = 14;
    pub const AT_PLATFORM: u64 = 15;
    pub const AT_HWCAP: u64 = 16;
    pub const AT_CLKTCK: u64 = 17;
    pub const AT_SECURE: u64 = 23;
    pub const AT_RANDOM: u64 = 25;
    pub const AT_SYSINFO_EHDR: u64 = 33;
    pub const AT_HWCAP2: u64 = 26;
    pub const AT_EXECFN: u64 = 31;
    pub const AT_MINSIGSTKSZ: u64 = 51;
}

/// `ptrace` requests, options and events. GETREGS and the like are
/// x86_64's numbers, which arm64 does not have (it uses the regsets).
pub mod ptrace {
    pub const PTRACE_TRACEME: u64 = 0;
    pub const PTRACE_PEEKTEXT: u64 = 1;
    pub const PTRACE_PEEKDATA: u64 = 2;
    pub const PTRACE_PEEKUSR: u64 = 3;
    pub const PTRACE_POKETEXT: u64 = 4;
    pub const PTRACE_POKEDATA: u64 = 5;
    pub const PTRACE_POKEUSR: u64 = 6;
    pub const PTRACE_CONT: u64 = 7;
    pub const PTRACE_KILL: u64 = 8;
    pub const PTRACE_SINGLESTEP: u64 = 9;
    pub const PTRACE_GETREGS: u64 = 12;
    pub const PTRACE_SETREGS: u64 = 13;
    pub const PTRACE_GETFPREGS: u64 = 14;
    pub const PTRACE_SETFPREGS: u64 = 15;
    pub const PTRACE_ATTACH: u64 = 16;
    pub const PTRACE_DETACH: u64 = 17;
    pub const PTRACE_SYSCALL: u64 = 24;
    pub const PTRACE_SETOPTIONS: u64 = 0x4200;
    pub const PTRACE_GETEVENTMSG: u64 = 0x4201;
    pub const PTRACE_GETSIGINFO: u64 = 0x4202;
    pub const PTRACE_SETSIGINFO: u64 = 0x4203;
    pub const PTRACE_GETREGSET: u64 = 0x4204;
    pub const PTRACE_SETREGSET: u64 = 0x4205;
    pub const PTRACE_SEIZE: u64 = 0x4206;
    pub const PTRACE_INTERRUPT: u64 = 0x4207;
    pub const PTRACE_LISTEN: u64 = 0x4208;
    pub const PTRACE_GETSIGMASK: u64 = 0x420a;
    pub const PTRACE_SETSIGMASK: u64 = 0x420b;

    pub const PTRACE_O_TRACESYSGOOD: u32 = 1;
    pub const PTRACE_O_TRACEFORK: u32 = 1 << 1;
    pub const PTRACE_O_TRACEVFORK: u32 = 1 << 2;
    pub const PTRACE_O_TRACECLONE: u32 = 1 << 3;
    pub const PTRACE_O_TRACEEXEC: u32 = 1 << 4;
    pub const PTRACE_O_TRACEVFORKDONE: u32 = 1 << 5;
    pub const PTRACE_O_TRACEEXIT: u32 = 1 << 6;
    pub const PTRACE_O_TRACESECCOMP: u32 = 1 << 7;
    pub const PTRACE_O_EXITKILL: u32 = 1 << 20;
    pub const PTRACE_O_SUSPEND_SECCOMP: u32 = 1 << 21;

    pub const PTRACE_EVENT_FORK: u32 = 1;
    pub const PTRACE_EVENT_VFORK: u32 = 2;
    pub const PTRACE_EVENT_CLONE: u32 = 3;
    pub const PTRACE_EVENT_EXEC: u32 = 4;
    pub const PTRACE_EVENT_VFORK_DONE: u32 = 5;
    pub const PTRACE_EVENT_EXIT: u32 = 6;
    pub const PTRACE_EVENT_STOP: u32 = 128;

    /// Regset notes (PTRACE_GETREGSET's `addr`).
    pub const NT_PRSTATUS: u64 = 1;
    pub const NT_PRFPREG: u64 = 2;
    pub const NT_X86_XSTATE: u64 = 0x202;
    /// arm64's TLS register (`tpidr_el0`) and its syscall number.
    pub const NT_ARM_TLS: u64 = 0x401;
    pub const NT_ARM_SYSTEM_CALL: u64 = 0x404;
}

/// mount(2)'s and umount2(2)'s flags.
pub mod mount {
    pub const MS_RDONLY: u64 = 1;
    pub const MS_NOSUID: u64 = 2;
    pub const MS_NODEV: u64 = 4;
    pub const MS_NOEXEC: u64 = 8;
    pub const MS_SYNCHRONOUS: u64 = 16;
    pub const MS_REMOUNT: u64 = 32;
    pub const MS_MANDLOCK: u64 = 64;
    pub const MS_DIRSYNC: u64 = 128;
    pub const MS_NOSYMFOLLOW: u64 = 256;
    pub const MS_NOATIME: u64 = 1024;
    pub const MS_NODIRATIME: u64 = 2048;
    pub const MS_BIND: u64 = 4096;
    pub const MS_MOVE: u64 = 8192;
    pub const MS_REC: u64 = 16384;
    pub const MS_SILENT: u64 = 32768;
    pub const MS_POSIXACL: u64 = 1 << 16;
    pub const MS_UNBINDABLE: u64 = 1 << 17;
    pub const MS_PRIVATE: u64 = 1 << 18;
    pub const MS_SLAVE: u64 = 1 << 19;
    pub const MS_SHARED: u64 = 1 << 20;
    pub const MS_RELATIME: u64 = 1 << 21;
    pub const MS_KERNMOUNT: u64 = 1 << 22;
    pub const MS_I_VERSION: u64 = 1 << 23;
    pub const MS_STRICTATIME: u64 = 1 << 24;
    pub const MS_LAZYTIME: u64 = 1 << 25;
    pub const MS_NOUSER: u64 = 1 << 31;
    /// The magic number old programs put in the top half of the flags.
    pub const MS_MGC_VAL: u64 = 0xC0ED_0000;
    pub const MS_MGC_MSK: u64 = 0xffff_0000;
    /// The propagation types.
    pub const MS_PROPAGATION: u64 = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

    pub const MNT_FORCE: u32 = 1;
    pub const MNT_DETACH: u32 = 2;
    pub const MNT_EXPIRE: u32 = 4;
    pub const UMOUNT_NOFOLLOW: u32 = 8;
}

/// PROCMAP_QUERY's flags: what the mapping must be (the first four are
/// also its answer's `vma_flags`), and which one to take.
pub mod procmap_query {
    pub const VMA_READABLE: u64 = 0x01;
    pub const VMA_WRITABLE: u64 = 0x02;
    pub const VMA_EXECUTABLE: u64 = 0x04;
    pub const VMA_SHARED: u64 = 0x08;
    /// The mapping covering the address, or else the next one.
    pub const COVERING_OR_NEXT_VMA: u64 = 0x10;
    /// Only mappings of files.
    pub const FILE_BACKED_VMA: u64 = 0x20;
}
