//! Architecture-independent `#[repr(C)]` structs of the syscall ABI.
//! Each asserts its size against Linux's.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

abi_struct! {
    /// `struct timespec`.
    pub struct Timespec { pub tv_sec: i64, pub tv_nsec: i64 } size 16;
}

abi_struct! {
    /// `struct timeval`.
    pub struct Timeval { pub tv_sec: i64, pub tv_usec: i64 } size 16;
}

abi_struct! {
    /// `struct iovec`.
    pub struct Iovec { pub base: u64, pub len: u64 } size 16;
}

abi_struct! {
    /// `struct rlimit64`.
    pub struct Rlimit { pub cur: u64, pub max: u64 } size 16;
}

abi_struct! {
    /// `struct statx_timestamp`.
    pub struct StatxTimestamp { pub tv_sec: i64, pub tv_nsec: u32, pub reserved: i32 } size 16;
}

abi_struct! {
    /// `struct statx` (256 bytes).
    pub struct Statx {
        pub stx_mask: u32,
        pub stx_blksize: u32,
        pub stx_attributes: u64,
        pub stx_nlink: u32,
        pub stx_uid: u32,
        pub stx_gid: u32,
        pub stx_mode: u16,
        pub spare0: u16,
        pub stx_ino: u64,
        pub stx_size: u64,
        pub stx_blocks: u64,
        pub stx_attributes_mask: u64,
        pub stx_atime: StatxTimestamp,
        pub stx_btime: StatxTimestamp,
        pub stx_ctime: StatxTimestamp,
        pub stx_mtime: StatxTimestamp,
        pub stx_rdev_major: u32,
        pub stx_rdev_minor: u32,
        pub stx_dev_major: u32,
        pub stx_dev_minor: u32,
        pub stx_mnt_id: u64,
        pub stx_dio_mem_align: u32,
        pub stx_dio_offset_align: u32,
        pub spare3: [u64; 12],
    } size 256;
}

abi_struct! {
    /// `struct sysinfo` on 64-bit architectures.
    pub struct Sysinfo {
        pub uptime: i64,
        pub loads: [u64; 3],
        pub totalram: u64,
        pub freeram: u64,
        pub sharedram: u64,
        pub bufferram: u64,
        pub totalswap: u64,
        pub freeswap: u64,
        pub procs: u16,
        pub pad: [u16; 3],
        pub totalhigh: u64,
        pub freehigh: u64,
        pub mem_unit: u32,
        pub pad2: u32,
    } size 112;
}

abi_struct! {
    /// `struct winsize` (TIOCGWINSZ).
    pub struct Winsize { pub ws_row: u16, pub ws_col: u16, pub ws_xpixel: u16, pub ws_ypixel: u16 } size 8;
}

abi_struct! {
    /// `struct termios` as the kernel's TCGETS uses it (not glibc's larger one).
    pub struct Termios {
        pub c_iflag: u32,
        pub c_oflag: u32,
        pub c_cflag: u32,
        pub c_lflag: u32,
        pub c_line: u8,
        pub c_cc: [u8; 19],
    } size 36;
}

abi_struct! {
    /// `struct termios2` (TCGETS2): `struct termios` with the line speeds.
    pub struct Termios2 {
        pub c_iflag: u32,
        pub c_oflag: u32,
        pub c_cflag: u32,
        pub c_lflag: u32,
        pub c_line: u8,
        pub c_cc: [u8; 19],
        pub c_ispeed: u32,
        pub c_ospeed: u32,
    } size 44;
}

abi_struct! {
    /// `struct __user_cap_header_struct` (capget, capset).
    pub struct CapUserHeader { pub version: u32, pub pid: i32 } size 8;
}

abi_struct! {
    /// `struct __user_cap_data_struct`: 32 bits of each set; v2 and v3
    /// headers take two, the low bits first.
    pub struct CapUserData { pub effective: u32, pub permitted: u32, pub inheritable: u32 } size 12;
}

/// `struct utsname`: six fields of 65 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Utsname {
    /// sysname, nodename, release, version, machine, domainname.
    pub fields: [[u8; 65]; 6],
}
const _: () = assert!(core::mem::size_of::<Utsname>() == 390);

/// Offset of `d_name` within `struct linux_dirent64`.
pub const DIRENT64_NAME_OFFSET: usize = 19;

abi_struct! {
    /// `struct ipc64_perm`: the owner and mode of a System V IPC object.
    pub struct IpcPerm {
        pub key: i32,
        pub uid: u32,
        pub gid: u32,
        pub cuid: u32,
        pub cgid: u32,
        pub mode: u32,
        pub seq: u16,
        pub pad2: u16,
        pub pad3: u32,
        pub unused1: u64,
        pub unused2: u64,
    } size 48;
}

abi_struct! {
    /// `struct shmid64_ds` (x86_64 layout).
    pub struct ShmidDs {
        pub shm_perm: IpcPerm,
        pub shm_segsz: u64,
        pub shm_atime: i64,
        pub shm_dtime: i64,
        pub shm_ctime: i64,
        pub shm_cpid: i32,
        pub shm_lpid: i32,
        pub shm_nattch: u64,
        pub unused4: u64,
        pub unused5: u64,
    } size 112;
}

abi_struct! {
    /// `struct shminfo64`, shmctl(IPC_INFO)'s answer.
    pub struct ShmInfo64 {
        pub shmmax: u64,
        pub shmmin: u64,
        pub shmmni: u64,
        pub shmseg: u64,
        pub shmall: u64,
        pub unused: [u64; 4],
    } size 72;
}

abi_struct! {
    /// `struct shm_info`, shmctl(SHM_INFO)'s answer.
    pub struct ShmUsage {
        pub used_ids: i32,
        pub pad: u32,
        pub shm_tot: u64,
        pub shm_rss: u64,
        pub shm_swp: u64,
        pub swap_attempts: u64,
        pub swap_successes: u64,
    } size 48;
}

/// `struct semid64_ds`, whose layout differs by architecture.
pub use crate::arch::current::SemidDs;

abi_struct! {
    /// `struct sembuf`: one operation of semop.
    pub struct Sembuf { pub sem_num: u16, pub sem_op: i16, pub sem_flg: i16 } size 6;
}

abi_struct! {
    /// `struct seminfo`, semctl(IPC_INFO and SEM_INFO)'s answer.
    pub struct SemInfo {
        pub semmap: i32,
        pub semmni: i32,
        pub semmns: i32,
        pub semmnu: i32,
        pub semmsl: i32,
        pub semopm: i32,
        pub semume: i32,
        pub semusz: i32,
        pub semvmx: i32,
        pub semaem: i32,
    } size 40;
}

abi_struct! {
    /// `struct msqid64_ds` (x86_64 layout).
    pub struct MsqidDs {
        pub msg_perm: IpcPerm,
        pub msg_stime: i64,
        pub msg_rtime: i64,
        pub msg_ctime: i64,
        pub msg_cbytes: u64,
        pub msg_qnum: u64,
        pub msg_qbytes: u64,
        pub msg_lspid: i32,
        pub msg_lrpid: i32,
        pub unused4: u64,
        pub unused5: u64,
    } size 120;
}

abi_struct! {
    /// `struct msginfo`, msgctl(IPC_INFO and MSG_INFO)'s answer.
    pub struct MsgInfo {
        pub msgpool: i32,
        pub msgmap: i32,
        pub msgmax: i32,
        pub msgmnb: i32,
        pub msgmni: i32,
        pub msgssz: i32,
        pub msgtql: i32,
        pub msgseg: u16,
        pub pad: u16,
    } size 32;
}

abi_struct! {
    /// `struct mq_attr`.
    pub struct MqAttr {
        pub mq_flags: i64,
        pub mq_maxmsg: i64,
        pub mq_msgsize: i64,
        pub mq_curmsgs: i64,
        pub reserved: [i64; 4],
    } size 64;
}

abi_struct! {
    /// `struct procmap_query` (`linux/fs.h`), PROCMAP_QUERY's argument.
    pub struct ProcmapQuery {
        pub size: u64,
        pub query_flags: u64,
        pub query_addr: u64,
        pub vma_start: u64,
        pub vma_end: u64,
        pub vma_flags: u64,
        pub vma_page_size: u64,
        pub vma_offset: u64,
        pub inode: u64,
        pub dev_major: u32,
        pub dev_minor: u32,
        pub vma_name_size: u32,
        pub build_id_size: u32,
        pub vma_name_addr: u64,
        pub build_id_addr: u64,
    } size 104;
}
