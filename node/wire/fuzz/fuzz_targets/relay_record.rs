//! The relayer's stored records (`pars_wire::relay`): `ActionRecord::decode`,
//! `RequestRecord::decode` and the key parsers are total, and whatever they accept re-encodes to
//! exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pars_wire::relay::{ActionKey, ActionRecord, RequestKey, RequestRecord};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ActionRecord::decode(data) {
        assert_eq!(r.encode(), data);
    }
    if let Ok(r) = RequestRecord::decode(data) {
        assert_eq!(r.encode(), data);
    }
    if let Ok(k) = ActionKey::from_bytes(data) {
        assert_eq!(&k.0[..], data);
    }
    if let Ok(k) = RequestKey::from_bytes(data) {
        assert_eq!(&k.0[..], data);
    }
});
