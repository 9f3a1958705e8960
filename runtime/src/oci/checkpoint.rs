//! `husk checkpoint` and `husk restore`, with runc's flags: the Sentry
//! writes the image (it opens no host path, so the files are opened here
//! and passed to it), and a restore is a create and a start whose sandbox
//! boots from the image instead of running the bundle's process.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::control::{self, Request, Response};
use super::state::{ContainerDir, Status};
use super::CreateArgs;
use crate::Globals;

/// The image's files.
const STATE_FILE: &str = sentry::checkpoint::image::STATE_FILE;
const PAGES_FILE: &str = sentry::checkpoint::image::PAGES_FILE;
const DISK_FILE: &str = sentry::checkpoint::image::DISK_FILE;

/// runc's options for CRIU, which `checkpoint` and `restore` take and Husk
/// ignores: they do not apply when the Sentry owns every object it saves.
#[derive(clap::Args, Debug, Default)]
pub struct CriuOptions {
    /// Allow established TCP connections (Husk resets outside ones).
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long)]
    pub shell_job: bool,
    /// Allow file locks.
    #[arg(long)]
    pub file_locks: bool,
    /// CRIU's page deduplication.
    #[arg(long)]
    pub auto_dedup: bool,
    /// CRIU's cgroup handling.
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    /// Namespaces CRIU leaves out.
    #[arg(long)]
    pub empty_ns: Vec<String>,
    /// CRIU's status fd (lazy pages).
    #[arg(long)]
    pub status_fd: Option<i32>,
}

/// `husk checkpoint`.
#[derive(clap::Args, Debug)]
pub struct CheckpointArgs {
    /// Where to write the image (made if missing).
    #[arg(long, default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Accepted for runc compatibility (Husk writes no work files).
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long)]
    pub leave_running: bool,
    /// Not supported (incremental images): refused.
    #[arg(long)]
    pub pre_dump: bool,
    /// Not supported (incremental images): refused.
    #[arg(long)]
    pub parent_path: Option<PathBuf>,
    /// Not supported: refused.
    #[arg(long)]
    pub page_server: Option<String>,
    /// Not supported: refused.
    #[arg(long)]
    pub lazy_pages: bool,
    /// CRIU's options, accepted and ignored.
    #[command(flatten)]
    pub criu: CriuOptions,
    /// The container id.
    pub id: String,
}

/// `husk restore`.
/// When a restored container's memory is read from its image.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageLoading {
    /// As it is touched, and the rest in the background.
    Background,
    /// Only as it is touched.
    OnDemand,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The image to restore from.
    #[arg(long, default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Accepted for runc compatibility.
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// The bundle the checkpointed container ran (its rootfs and mounts).
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// A unix socket to send a terminal's master fd to.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Return once the container runs again.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the sandbox process's pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Not supported: refused.
    #[arg(long)]
    pub lazy_pages: bool,
    /// How the image's memory comes back. Either way the container runs
    /// before its memory is read, and a page is read when first touched;
    /// `background` (the default) also reads the rest in a thread of the
    /// sandbox's own, so that the image is let go of soon; `on-demand`
    /// reads only what is touched, keeping the rest on disk (and the image
    /// in use) for as long as the container runs.
    #[arg(long, value_enum, default_value_t = PageLoading::Background)]
    pub page_loading: PageLoading,
    /// Accepted for runc compatibility.
    #[arg(long)]
    pub no_subreaper: bool,
    /// As above.
    #[arg(long)]
    pub no_pivot: bool,
    /// CRIU's options, accepted and ignored.
    #[command(flatten)]
    pub criu: CriuOptions,
    /// As above.
    #[arg(long)]
    pub lsm_profile: Option<String>,
    /// As above.
    #[arg(long)]
    pub lsm_mount_context: Option<String>,
    /// The container id.
    pub id: String,
}

/// Creates (or truncates) one of the image's files.
fn create_file(dir: &Path, name: &str) -> anyhow::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(f.into())
}

/// `husk checkpoint`: the image goes to `--image-path`; without
/// `--leave-running` the container then ends and is deleted, as runc's
/// checkpoint leaves it.
pub fn checkpoint(g: &Globals, args: &CheckpointArgs) -> anyhow::Result<()> {
    if args.pre_dump || args.parent_path.is_some() {
        bail!("incremental checkpoints (--pre-dump, --parent-path) are not supported");
    }
    if args.page_server.is_some() || args.lazy_pages {
        bail!("--page-server and --lazy-pages are not supported");
    }
    let dir = ContainerDir::open(&g.root, &args.id)?;
    let st = dir.load()?;
    // containerd pauses a container before it checkpoints it. A paused
    // sandbox cannot answer, so it is thawed for the checkpoint, whose own
    // freezer then stops its tasks (they may run a few milliseconds in
    // between), and paused again after it if it is left running.
    let paused = match st.current_status() {
        Status::Running => false,
        Status::Paused => true,
        s => bail!("cannot checkpoint container {} that is {s}", args.id),
    };
    let cgroups = super::cgroup::Cgroups { dirs: st.cgroups.clone() };
    if paused {
        cgroups.set_frozen(false)?;
    }
    let result = write_image(args, &dir);
    if paused && (result.is_err() || args.leave_running) {
        cgroups.set_frozen(true)?;
    }
    result?;
    if !args.leave_running {
        // delete takes the container's lock, which `dir` holds.
        drop(dir);
        super::delete(g, &args.id, true)?;
    }
    Ok(())
}

/// Has the sandbox write its image into `--image-path`; removes what it
/// made there if that fails.
fn write_image(args: &CheckpointArgs, dir: &ContainerDir) -> anyhow::Result<()> {
    let made = !args.image_path.exists();
    std::fs::create_dir_all(&args.image_path)
        .with_context(|| format!("creating the image directory {}", args.image_path.display()))?;
    let written = (|| {
        let state = create_file(&args.image_path, STATE_FILE)?;
        let pages = create_file(&args.image_path, PAGES_FILE)?;
        let disk = create_file(&args.image_path, DISK_FILE)?;
        let req = Request::Checkpoint { leave_running: args.leave_running };
        control::connect_at(dir.dir_fd())?.call(&req, &[state.as_raw_fd(), pages.as_raw_fd(), disk.as_raw_fd()])
    })();
    let cleanup = || {
        for name in [STATE_FILE, PAGES_FILE, DISK_FILE] {
            let _ = std::fs::remove_file(args.image_path.join(name));
        }
        if made {
            let _ = std::fs::remove_dir(&args.image_path);
        }
    };
    match written {
        Ok(Response::Checkpointed { processes, threads, state_bytes, page_bytes, disk_bytes }) => {
            log::info!(
                "checkpoint of {}: {processes} processes, {threads} threads, {state_bytes} bytes of state, \
                 {page_bytes} bytes of memory, {disk_bytes} bytes of files on disk",
                args.id
            );
        }
        Ok(Response::Error(e)) => {
            cleanup();
            bail!("{e}");
        }
        Ok(other) => {
            cleanup();
            bail!("unexpected answer from the sandbox: {other:?}");
        }
        Err(e) => {
            cleanup();
            return Err(e);
        }
    }
    Ok(())
}

use std::os::fd::AsRawFd;

/// An image's files, open for a restore.
pub struct ImageFiles {
    pub state: OwnedFd,
    pub pages: OwnedFd,
    /// The data of an overlay's files on disk; an image copied without
    /// this file restores as long as it kept no such file.
    pub disk: Option<OwnedFd>,
}

/// Opens an image's files for a restore, with a clear error for a
/// directory that holds no image.
pub fn open_image(dir: &Path) -> anyhow::Result<ImageFiles> {
    let open = |name: &str| -> anyhow::Result<OwnedFd> {
        let path = dir.join(name);
        std::fs::File::open(&path)
            .map(OwnedFd::from)
            .with_context(|| format!("{} holds no Husk checkpoint image ({name})", dir.display()))
    };
    Ok(ImageFiles { state: open(STATE_FILE)?, pages: open(PAGES_FILE)?, disk: open(DISK_FILE).ok() })
}

/// `husk restore`: a create and a start of container `id` from `--bundle`,
/// whose processes come from the image; waits for it unless `--detach`.
pub fn restore(g: &Globals, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    if args.lazy_pages {
        bail!("--lazy-pages is not supported");
    }
    // Checked before anything is made, so that a bad path leaves nothing.
    open_image(&args.image_path)?;
    let create = CreateArgs {
        bundle: args.bundle.clone(),
        pid_file: args.pid_file.clone(),
        console_socket: args.console_socket.clone(),
        no_pivot: args.no_pivot,
        no_new_keyring: false,
        preserve_fds: 0,
        id: args.id.clone(),
        restore_image: Some(args.image_path.clone()),
        pages_on_demand: args.page_loading == PageLoading::OnDemand,
    };
    super::run(g, &create, args.detach)
}
