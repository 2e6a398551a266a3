//! `SwarmResponse::decode` is total, and whatever it accepts re-encodes to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pars_wire::swarm::SwarmResponse;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = SwarmResponse::decode(data) {
        assert_eq!(v.encode(), data);
    }
});
