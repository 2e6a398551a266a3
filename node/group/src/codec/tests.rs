//! The codec's tests: round trips, the documented layout, and damaged input.

#![allow(clippy::unwrap_used)]
use super::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    Empty,
    One(u16),
    Pair(i32, bool),
    Named { a: Option<u64>, b: String },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Unit;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Wrapper(Vec<u8>);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    id: Wrapper,
    kinds: Vec<Kind>,
    map: BTreeMap<u32, Vec<u8>>,
    #[serde(with = "serde_bytes_like")]
    blob: Vec<u8>,
    tuple: (u8, char, i128, f64),
    unit: Unit,
    nothing: (),
    #[serde(skip)]
    cache: u32,
}

/// `serialize_bytes` and `deserialize_byte_buf`, as `serde_bytes` does.
mod serde_bytes_like {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_byte_buf(V)
    }
}

fn sample() -> Record {
    Record {
        id: Wrapper(vec![1, 2, 3]),
        kinds: vec![
            Kind::Empty,
            Kind::One(0xbeef),
            Kind::Pair(-7, true),
            Kind::Named {
                a: Some(u64::MAX),
                b: "pars ✓".into(),
            },
            Kind::Named {
                a: None,
                b: String::new(),
            },
        ],
        map: [(1, vec![9; 3]), (u32::MAX, vec![])].into_iter().collect(),
        blob: (0..=255).collect(),
        tuple: (200, 'λ', -1, 0.5),
        unit: Unit,
        nothing: (),
        cache: 0,
    }
}

#[test]
fn every_data_model_type_round_trips() {
    let r = sample();
    let bytes = encode(&r, 0).unwrap();
    assert_eq!(decode::<Record>(&bytes).unwrap(), r);
    // Deterministic, and a capacity guess changes nothing but the allocation.
    assert_eq!(*encode(&r, 10_000).unwrap(), *bytes);
}

#[test]
fn the_layout_is_the_documented_one() {
    let bytes = encode(&(true, 0x0102u16, Some(Kind::One(5)), vec![7u8, 8]), 0).unwrap();
    assert_eq!(
        *bytes,
        [
            1, // bool
            2, 1, // u16, little-endian
            1, // Some
            1, 0, 0, 0, // variant 1
            5, 0, // its u16
            2, 0, 0, 0, 7, 8, // a sequence: count, elements
        ]
    );
    let s: HashMap<u8, u8> = [(3, 4)].into_iter().collect();
    assert_eq!(*encode(&s, 0).unwrap(), [1, 0, 0, 0, 3, 4]);
}

#[test]
fn a_sequence_of_unknown_length_gets_its_count_afterwards() {
    struct Unsized(Vec<u16>);
    impl Serialize for Unsized {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            // `filter` hides the length: `collect_seq` passes `None`.
            s.collect_seq(self.0.iter().filter(|x| **x != 0))
        }
    }
    let bytes = encode(&Unsized(vec![1, 0, 2, 3]), 0).unwrap();
    assert_eq!(decode::<Vec<u16>>(&bytes).unwrap(), vec![1, 2, 3]);
}

#[test]
fn every_truncation_and_extension_of_a_record_is_an_error_not_a_panic() {
    let bytes = encode(&sample(), 0).unwrap();
    for cut in 0..bytes.len() {
        assert!(decode::<Record>(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(decode::<Record>(&longer).is_err());
}

#[test]
fn corrupt_tags_and_forged_lengths_are_errors() {
    // A bool of 2, an option tag of 2, an unknown variant, a huge length, bad UTF-8.
    assert!(decode::<bool>(&[2]).is_err());
    assert!(decode::<Option<u8>>(&[2, 0]).is_err());
    assert!(decode::<Kind>(&[9, 0, 0, 0]).is_err());
    assert!(decode::<Vec<u64>>(&[0xff, 0xff, 0xff, 0xff, 1]).is_err());
    assert!(decode::<String>(&[2, 0, 0, 0, 0xc3, 0x28]).is_err());
    assert!(decode::<char>(&0xd800u32.to_le_bytes()).is_err());
    // Every single-byte change of a record decodes to something or fails: never panics.
    let bytes = encode(&sample(), 0).unwrap();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.to_vec();
            b[i] ^= flip;
            let _ = decode::<Record>(&b);
        }
    }
}

#[test]
fn a_type_that_needs_a_self_describing_format_is_refused() {
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Either {
        Int(u64),
        Text(String),
    }
    let bytes = encode(&5u64, 0).unwrap();
    assert!(decode::<Either>(&bytes).is_err());
}

#[test]
fn a_skipped_field_is_refused_when_encoding() {
    #[derive(Serialize)]
    struct Sparse {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u8>,
        b: u8,
    }
    assert!(encode(&Sparse { a: None, b: 1 }, 0).is_err());
    assert!(encode(&Sparse { a: Some(1), b: 1 }, 0).is_ok());
}

#[test]
fn a_growing_buffer_keeps_its_contents() {
    // From no capacity to 64 KiB, through many growths.
    let v: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    let bytes = encode(&v, 0).unwrap();
    assert_eq!(bytes.len(), 4 + v.len());
    assert_eq!(decode::<Vec<u8>>(&bytes).unwrap(), v);
}

/// Encoding and decoding speed on records shaped like a ratchet tree's (byte strings as
/// sequences of single bytes, as openmls's `VLBytes` reach serde). Prints nanoseconds per
/// byte; run with `cargo test --release -p pars-group codec_speed -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn codec_speed() {
    #[derive(Serialize, Deserialize)]
    struct Leaf {
        encryption_key: tls_codec::VLBytes,
        signature_key: tls_codec::VLBytes,
        signature: tls_codec::VLBytes,
        index: u32,
    }
    let leaves: Vec<Leaf> = (0..1_000u32)
        .map(|i| Leaf {
            encryption_key: vec![i as u8; 1_568].into(),
            signature_key: vec![(i >> 8) as u8; 2_592].into(),
            signature: vec![7; 4_627].into(),
            index: i,
        })
        .collect();
    let bytes = encode(&leaves, 0).unwrap();
    let rounds = 20;
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(encode(&leaves, bytes.len()).unwrap());
    }
    let enc = t.elapsed().as_nanos() as f64 / (rounds * bytes.len()) as f64;
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(decode::<Vec<Leaf>>(&bytes).unwrap());
    }
    let dec = t.elapsed().as_nanos() as f64 / (rounds * bytes.len()) as f64;
    println!(
        "{} bytes: encode {enc:.3} ns/B, decode {dec:.3} ns/B",
        bytes.len()
    );
}
