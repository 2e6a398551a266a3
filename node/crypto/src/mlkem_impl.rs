//! The ML-KEM wrapper shared by every parameter set ([`crate::mlkem`] for ML-KEM-1024,
//! [`crate::mlkem768`] for ML-KEM-768): validated keys and ciphertexts over `libcrux-ml-kem`,
//! secret keys zeroized on drop. Each module defines its sizes (`PUBLIC_KEY_LEN`,
//! `SECRET_KEY_LEN`, `CIPHERTEXT_LEN`, `SEED_LEN`, `DK_PKE_LEN`) and imports what the body uses,
//! then invokes [`ml_kem_parameter_set!`].

/// Defines the key, ciphertext and key-pair types of one ML-KEM parameter set.
macro_rules! ml_kem_parameter_set {
    (
        name: $name:literal,
        backend: ($BPk:ident, $BSk:ident, $BCt:ident),
        types: ($Pk:ident, $Sk:ident, $Ct:ident, $Kp:ident) $(,)?
    ) => {
        #[doc = concat!(" An ", $name, " encapsulation key. Always passes the FIPS 203 modulus check.")]
        #[derive(Clone, PartialEq, Eq)]
        pub struct $Pk(Box<[u8; PUBLIC_KEY_LEN]>);

        #[doc = concat!(" An ", $name, " decapsulation key. Zeroized on drop.")]
        #[derive(Clone)]
        pub struct $Sk(Box<[u8; SECRET_KEY_LEN]>);

        impl Drop for $Sk {
            fn drop(&mut self) {
                self.0.as_mut_slice().zeroize();
            }
        }

        #[doc = concat!(" An ", $name, " ciphertext.")]
        #[derive(Clone, PartialEq, Eq)]
        pub struct $Ct(Box<[u8; CIPHERTEXT_LEN]>);

        /// A key pair.
        #[derive(Clone)]
        pub struct $Kp {
            /// The secret half.
            pub secret: $Sk,
            /// The public half.
            pub public: $Pk,
        }

        impl $Kp {
            /// FIPS 203 `ML-KEM.KeyGen_internal(d, z)` from `seed = d ‖ z`.
            pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
                let mut seed_copy = *seed;
                let kp = backend::generate_key_pair(seed_copy);
                seed_copy.zeroize();
                let (sk, pk) = kp.into_parts();
                let mut sk_bytes: [u8; SECRET_KEY_LEN] = sk.into();
                let secret = $Sk(Box::new(sk_bytes));
                sk_bytes.zeroize();
                Self {
                    secret,
                    public: $Pk(Box::new(pk.into())),
                }
            }

            /// A fresh random key pair (ephemeral and ratchet keys).
            pub fn generate(rng: &mut impl CryptoRng) -> Self {
                let mut seed = random_array::<SEED_LEN>(rng);
                let kp = Self::from_seed(&seed);
                seed.zeroize();
                kp
            }
        }

        impl $Pk {
            /// Parses and validates an encapsulation key (FIPS 203 §7.2 modulus check).
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
                let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| {
                    CryptoError::len(concat!($name, " public key"), PUBLIC_KEY_LEN, bytes.len())
                })?;
                let pk = backend::$BPk::from(&arr);
                if !backend::validate_public_key(&pk) {
                    return Err(CryptoError::InvalidMlKemPublicKey);
                }
                Ok(Self(Box::new(arr)))
            }

            /// The encoded key.
            pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
                &self.0
            }

            /// Encapsulates with randomness from `rng`: returns the ciphertext and the 32-byte secret.
            pub fn encapsulate(&self, rng: &mut impl CryptoRng) -> ($Ct, SharedSecret) {
                let mut m = random_array::<32>(rng);
                let out = self.encapsulate_derand(&m);
                m.zeroize();
                out
            }

            /// FIPS 203 `Encaps_internal(ek, m)`: deterministic given `m`. Only for known-answer tests
            /// and for callers that derive `m` themselves.
            pub fn encapsulate_derand(&self, m: &[u8; 32]) -> ($Ct, SharedSecret) {
                let pk = backend::$BPk::from(&*self.0);
                let (ct, mut ss) = backend::encapsulate(&pk, *m);
                let secret = SharedSecret::from_bytes(ss);
                ss.zeroize();
                ($Ct(Box::new(ct.into())), secret)
            }
        }

        impl std::fmt::Debug for $Pk {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    concat!(stringify!($Pk), "({}…)"),
                    hex::encode(&self.0[..8])
                )
            }
        }

        impl $Sk {
            /// Restores a stored decapsulation key. The encoding embeds `H(ek)`, which is checked.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
                let arr: [u8; SECRET_KEY_LEN] = bytes.try_into().map_err(|_| {
                    CryptoError::len(concat!($name, " secret key"), SECRET_KEY_LEN, bytes.len())
                })?;
                let key = Self(Box::new(arr));
                // dk = dk_pke (DK_PKE_LEN) ‖ ek (PUBLIC_KEY_LEN) ‖ H(ek) (32) ‖ z (32): FIPS 203 §7.3
                // hash check.
                let ek = &key.0[DK_PKE_LEN..DK_PKE_LEN + PUBLIC_KEY_LEN];
                let h = crate::sha3_256(&[ek]);
                if h[..] != key.0[DK_PKE_LEN + PUBLIC_KEY_LEN..DK_PKE_LEN + PUBLIC_KEY_LEN + 32] {
                    return Err(CryptoError::MalformedKey(
                        "ML-KEM secret key fails its hash check",
                    ));
                }
                $Pk::from_bytes(ek)?;
                Ok(key)
            }

            /// The encoded key, for the encrypted keystore only.
            pub fn to_secret_bytes(&self) -> SecretBytes {
                SecretBytes::new(self.0.to_vec())
            }

            /// The public key embedded in this secret key.
            pub fn public_key(&self) -> $Pk {
                let mut pk = [0u8; PUBLIC_KEY_LEN];
                pk.copy_from_slice(&self.0[DK_PKE_LEN..DK_PKE_LEN + PUBLIC_KEY_LEN]);
                $Pk(Box::new(pk))
            }

            /// Decapsulates. ML-KEM uses implicit rejection: a tampered ciphertext yields an unrelated
            /// pseudorandom secret rather than an error, so the failure surfaces at the AEAD that uses it.
            pub fn decapsulate(&self, ct: &$Ct) -> SharedSecret {
                let mut sk = backend::$BSk::from(&*self.0);
                let c = backend::$BCt::from(&*ct.0);
                let mut ss = backend::decapsulate(&sk, &c);
                sk[0..].zeroize();
                let secret = SharedSecret::from_bytes(ss);
                ss.zeroize();
                secret
            }
        }

        impl std::fmt::Debug for $Sk {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($Sk), "([redacted])"))
            }
        }

        impl $Ct {
            /// Parses a ciphertext (any CIPHERTEXT_LEN bytes are a valid encoding).
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
                let arr: [u8; CIPHERTEXT_LEN] = bytes.try_into().map_err(|_| {
                    CryptoError::len(concat!($name, " ciphertext"), CIPHERTEXT_LEN, bytes.len())
                })?;
                Ok(Self(Box::new(arr)))
            }

            /// The encoded ciphertext.
            pub fn as_bytes(&self) -> &[u8; CIPHERTEXT_LEN] {
                &self.0
            }
        }

        impl std::fmt::Debug for $Ct {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    concat!(stringify!($Ct), "({}…)"),
                    hex::encode(&self.0[..8])
                )
            }
        }
    };
}

pub(crate) use ml_kem_parameter_set;
