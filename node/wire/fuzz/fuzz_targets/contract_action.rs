//! `ContractAction::decode`, `Action::decode` and `ContractReceipt::decode` are total, and whatever
//! they accept re-encodes to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pars_wire::action::{Action, ContractAction, ContractReceipt};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = ContractAction::decode(data) {
        assert_eq!(v.encode().ok().as_deref(), Some(data));
        // Verification of arbitrary input is total too.
        let _ = v.verify(None);
    }
    if let Ok(a) = Action::decode(data) {
        assert_eq!(a.encode().ok().as_deref(), Some(data));
    }
    if let Ok(r) = ContractReceipt::decode(data) {
        assert_eq!(r.encode(), data);
    }
});
