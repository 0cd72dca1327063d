//! The master secret key in memory: erased when dropped or zeroised, its encoding handed out in a buffer
//! that is erased too.

// Tests unwrap: a failing unwrap is a failing test, with the error printed.
#![allow(clippy::unwrap_used)]

use privsplit_fe::{setup, MasterSecretKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[test]
fn master_secret_key_is_zeroised() {
    use zeroize::Zeroize;
    fn erased_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
    let mut rng = ChaCha20Rng::seed_from_u64(301);
    let (_, msk) = setup(4, 0, 255, &mut rng).unwrap();
    erased_on_drop(&msk);
    let mut copy = msk.clone();
    assert_eq!(copy.dimension(), 5);
    copy.zeroize();
    assert_eq!(copy.dimension(), 0, "zeroize empties s and t");
    assert_ne!(copy, msk);
    // The encoding of the secret is handed out in a buffer that is erased when dropped.
    let bytes: zeroize::Zeroizing<Vec<u8>> = msk.to_bytes();
    assert_eq!(MasterSecretKey::from_bytes(&bytes).unwrap(), msk);
}
