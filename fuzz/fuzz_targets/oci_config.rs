//! An OCI bundle's config.json, as `husk create` reads it: parsed by
//! oci-spec (`Spec`), then reduced to a plan by the runtime's
//! `runtime/src/oci/bundle.rs` (compiled in here: the runtime is a binary
//! crate), and the init process turned into the Sentry's description.
//!
//! The bundle is an empty directory with an empty `rootfs/`; paths in the
//! config may name any host path, which the plan only looks at.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

// The runtime's files, at the crate root as the runtime has them:
// bundle.rs uses the capability plans of caps.rs at `crate::caps`.
#[path = "../../runtime/src/oci/bundle.rs"]
#[allow(dead_code)]
mod bundle;
#[path = "../../runtime/src/caps.rs"]
#[allow(dead_code)]
mod caps;

fn bundle_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("husk-fuzz-bundle-").tempdir().expect("a bundle directory");
        std::fs::create_dir(dir.path().join("rootfs")).expect("rootfs/");
        // Kept for the life of the fuzzer.
        dir.keep()
    })
}

fuzz_target!(|data: &[u8]| {
    // `bundle::load` reads config.json as UTF-8 text, then parses it.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(spec) = serde_json::from_str::<oci_spec::runtime::Spec>(text) else { return };
    if let Some(p) = spec.process() {
        if let Ok(plan) = bundle::process_plan(p) {
            assert!(!plan.args.is_empty() && plan.cwd.starts_with('/'));
            let _ = plan.to_sentry(Vec::new());
        }
    }
    if let Ok(plan) = bundle::plan(bundle_dir(), &spec) {
        let _ = plan.process.to_sentry(Vec::new());
        // What the control socket carries for `husk exec` round-trips.
        let json = serde_json::to_vec(&plan.process).expect("a plan serialises");
        let back: bundle::ProcessPlan = serde_json::from_slice(&json).expect("and deserialises");
        assert_eq!(back, plan.process);
    }
});
