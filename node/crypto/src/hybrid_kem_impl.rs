//! The hybrid X25519 + ML-KEM KEM shared by both parameter sets ([`crate::hybrid_kem`] with
//! ML-KEM-1024 for identities and handshakes, [`crate::hybrid_kem768`] with ML-KEM-768 for onion
//! layers): public key, ciphertext, encapsulation, their encodings and the combined secret.
//! Each module defines `PUBLIC_KEY_LEN` and `CIPHERTEXT_LEN`, imports what the body uses, and
//! invokes [`hybrid_kem_parameter_set!`]; its secret-key type (whose shape differs: the
//! ML-KEM-768 one caches its public key) decapsulates with the generated `decapsulate_parts`.
//!
//! The combined secret is
//! `HKDF-SHA3-256(salt = label, ikm = ss_mlkem ‖ ss_x25519, info = label ‖ transcript)` with the
//! transcript `ct_x25519 ‖ pk_x25519 ‖ ct_mlkem ‖ pk_mlkem`, each part prefixed by its 4-byte
//! big-endian length ([`combine`](crate::hybrid_kem::combine)).

/// Defines the public-key and ciphertext types of one hybrid parameter set, and the functions its
/// secret key decapsulates with.
macro_rules! hybrid_kem_parameter_set {
    (
        name: $name:literal,
        errors: (public_key: $pk_what:literal, ciphertext: $ct_what:literal $(,)?),
        mlkem: ($MPk:ident, $MSk:ident, $MCt:ident),
        types: ($Pk:ident, $Ct:ident) $(,)?
    ) => {
        #[doc = concat!(" A hybrid X25519 + ", $name, " public key.")]
        #[derive(Clone, PartialEq, Eq, Debug)]
        pub struct $Pk {
            /// The classical half.
            pub x25519: X25519PublicKey,
            /// The post-quantum half.
            pub mlkem: $MPk,
        }

        #[doc = concat!(" A hybrid X25519 + ", $name, " ciphertext.")]
        #[derive(Clone, PartialEq, Eq, Debug)]
        pub struct $Ct {
            /// The sender's ephemeral X25519 public key.
            pub x25519_ephemeral: X25519PublicKey,
            #[doc = concat!(" The ", $name, " ciphertext.")]
            pub mlkem: $MCt,
        }

        impl $Pk {
            /// Encapsulates to this key under `label`: a fresh ephemeral X25519 key and an
            /// ML-KEM encapsulation.
            pub fn encapsulate(
                &self,
                label: &[u8],
                rng: &mut impl CryptoRng,
            ) -> Result<($Ct, SharedSecret), CryptoError> {
                let eph = X25519SecretKey::generate(rng);
                let ss_x = eph.diffie_hellman(&self.x25519)?;
                let (ct_pq, ss_pq) = self.mlkem.encapsulate(rng);
                let ct = $Ct {
                    x25519_ephemeral: eph.public_key(),
                    mlkem: ct_pq,
                };
                let ss = combine_kem(label, &ss_x, &ss_pq, self, &ct);
                Ok((ct, ss))
            }

            #[doc = concat!(" `x25519 (32) ‖ ", $name, " public key`.")]
            pub fn to_bytes(&self) -> Vec<u8> {
                let mut v = Vec::with_capacity(PUBLIC_KEY_LEN);
                v.extend_from_slice(&self.x25519.0);
                v.extend_from_slice(self.mlkem.as_bytes());
                v
            }

            #[doc = concat!(" Parses `x25519 (32) ‖ ", $name, " public key`, validating the ML-KEM half.")]
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
                if bytes.len() != PUBLIC_KEY_LEN {
                    return Err(CryptoError::len($pk_what, PUBLIC_KEY_LEN, bytes.len()));
                }
                let (x, m) = bytes.split_at(32);
                Ok(Self {
                    x25519: X25519PublicKey::from_bytes(x)?,
                    mlkem: $MPk::from_bytes(m)?,
                })
            }
        }

        impl $Ct {
            #[doc = concat!(" `x25519_ephemeral (32) ‖ ", $name, " ciphertext`.")]
            pub fn to_bytes(&self) -> Vec<u8> {
                let mut v = Vec::with_capacity(CIPHERTEXT_LEN);
                self.write_to(&mut v);
                v
            }

            #[doc = concat!(" Appends `x25519_ephemeral (32) ‖ ", $name, " ciphertext` to `out`.")]
            pub fn write_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.x25519_ephemeral.0);
                out.extend_from_slice(self.mlkem.as_bytes());
            }

            #[doc = concat!(" Parses `x25519_ephemeral (32) ‖ ", $name, " ciphertext` (any bytes of the right length parse).")]
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
                if bytes.len() != CIPHERTEXT_LEN {
                    return Err(CryptoError::len($ct_what, CIPHERTEXT_LEN, bytes.len()));
                }
                let (x, m) = bytes.split_at(32);
                Ok(Self {
                    x25519_ephemeral: X25519PublicKey::from_bytes(x)?,
                    mlkem: $MCt::from_bytes(m)?,
                })
            }
        }

        /// Recovers the combined secret of `ct` for the key whose halves are `x25519` and
        /// `mlkem` and whose public key is `pk`. ML-KEM rejects implicitly: a tampered ciphertext
        /// yields an unrelated secret.
        fn decapsulate_parts(
            x25519: &X25519SecretKey,
            mlkem: &$MSk,
            pk: &$Pk,
            ct: &$Ct,
            label: &[u8],
        ) -> Result<SharedSecret, CryptoError> {
            let ss_x = x25519.diffie_hellman(&ct.x25519_ephemeral)?;
            let ss_pq = mlkem.decapsulate(&ct.mlkem);
            Ok(combine_kem(label, &ss_x, &ss_pq, pk, ct))
        }

        /// The combiner over both secrets and the whole transcript.
        fn combine_kem(
            label: &[u8],
            ss_x: &SharedSecret,
            ss_pq: &SharedSecret,
            pk: &$Pk,
            ct: &$Ct,
        ) -> SharedSecret {
            $crate::hybrid_kem::combine(
                label,
                ss_x,
                ss_pq,
                &[
                    &ct.x25519_ephemeral.0,
                    &pk.x25519.0,
                    ct.mlkem.as_bytes(),
                    pk.mlkem.as_bytes(),
                ],
            )
        }
    };
}

pub(crate) use hybrid_kem_parameter_set;
