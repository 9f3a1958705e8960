//! The systrap platform where its stub is not written yet (every
//! architecture but x86_64): [`probe`] and [`SystrapPlatform::new`] refuse
//! with a message saying so, so that the runtime's automatic choice falls
//! back to ptrace and `--platform systrap` fails clearly. The stub and its
//! SIGSYS handler are x86_64 assembly, and its signal frames and control
//! page are x86_64's; an aarch64 port needs its own (issue 17).

use std::os::fd::BorrowedFd;

use crate::{AddressSpace, Context, Platform, PlatformError};

/// Why systrap is not available on this architecture.
fn unsupported() -> PlatformError {
    let why = format!(
        "the systrap platform is not implemented on {} yet (its stub and SIGSYS handler are x86_64 \
         assembly): use --platform ptrace",
        std::env::consts::ARCH
    );
    PlatformError::StubCreate(std::io::Error::new(std::io::ErrorKind::Unsupported, why))
}

/// Checks that the host can run the systrap platform: never here.
pub fn probe() -> Result<(), PlatformError> {
    Err(unsupported())
}

/// The systrap platform, which cannot be made on this architecture (the
/// type has no values).
pub enum SystrapPlatform {}

impl SystrapPlatform {
    /// Refuses: see the module's documentation.
    pub fn new(_memfile: BorrowedFd<'_>) -> Result<Self, PlatformError> {
        Err(unsupported())
    }
}

impl Platform for SystrapPlatform {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn max_user_address(&self) -> u64 {
        match *self {}
    }

    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>, PlatformError> {
        match *self {}
    }

    fn new_context(&self) -> Box<dyn Context> {
        match *self {}
    }
}
