//! What the group tests share: members with fresh identities, and a group of three.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use pars_crypto::mldsa::MlDsaSigningKey;
use pars_group::{Group, IdentitySigner, Member};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub fn member(seed: u64) -> Member {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let key = MlDsaSigningKey::generate(&mut rng);
    Member::new(IdentitySigner::new(key, &mut rng)).unwrap()
}

/// Alice's group with Bob and Carol joined, all at epoch 1.
pub fn trio() -> ([Member; 3], [Group; 3]) {
    let [a, b, c] = [member(1), member(2), member(3)];
    let mut ga = a.create_group(&[7; 32]).unwrap();
    let commit = ga
        .add(&a, &[b.key_package().unwrap(), c.key_package().unwrap()])
        .unwrap();
    ga.confirm(&a).unwrap();
    let welcome = commit.welcome.unwrap();
    let gb = b.join(&welcome).unwrap();
    let gc = c.join(&welcome).unwrap();
    ([a, b, c], [ga, gb, gc])
}
