//! The group formats' decoders are total, and whatever decodes re-encodes to exactly the input:
//! group mailbox items, group contents, group control messages, the group records of the client
//! store, and blob chunks (which open only under their reference).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pars_wire::group::{BlobAssembler, BlobRef, GroupContent, GroupControl, Payload};
use pars_wire::records::{GroupOutboxRecord, GroupRecord, GroupTaskRecord};
use pars_wire::Reader;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Payload::decode(data) {
        assert_eq!(p.encode(), data);
    }
    if let Ok(c) = GroupContent::decode(data) {
        assert_eq!(c.encode(), data);
    }
    if let Ok(c) = GroupControl::decode(data) {
        assert_eq!(c.encode().as_slice(), data);
    }
    if let Ok(r) = GroupRecord::decode(data) {
        assert_eq!(r.encode().as_slice(), data);
    }
    if let Ok(r) = GroupOutboxRecord::decode(data) {
        assert_eq!(r.encode().as_slice(), data);
    }
    if let Ok(r) = GroupTaskRecord::decode(data) {
        assert_eq!(r.encode().as_slice(), data);
    }
    let mut r = [1u8; 68];
    r[32..64].fill(2);
    r[64..].copy_from_slice(&40_000u32.to_be_bytes());
    let Ok(blob) = BlobRef::read(&mut Reader::new(&r)) else {
        panic!("a valid reference")
    };
    let mut asm = BlobAssembler::new(blob);
    // Forged chunks never open.
    assert!(asm.add(data).is_err() || asm.progress().0 == 0);
});
