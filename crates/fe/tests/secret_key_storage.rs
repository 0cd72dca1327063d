//! The master secret key at rest and in memory: written readable by its owner only, erased on drop.

// Tests unwrap: a failing unwrap is a failing test, with the error printed.
#![allow(clippy::unwrap_used)]

use privsplit_fe::{setup, MasterSecretKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[cfg(unix)]
#[test]
fn master_secret_key_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fe.msk");
    let mut rng = ChaCha20Rng::seed_from_u64(300);
    let (_, msk) = setup(4, 0, 255, &mut rng).unwrap();
    // Also when a world-readable file of that name exists already.
    std::fs::write(&p, b"old").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    msk.save(&p).unwrap();
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    assert_eq!(
        MasterSecretKey::from_bytes(&std::fs::read(&p).unwrap()).unwrap(),
        msk
    );
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
