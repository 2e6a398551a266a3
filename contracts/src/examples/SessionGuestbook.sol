// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SessionContext} from "./SessionContext.sol";

/// @title SessionGuestbook
/// @notice Example SessionTrigger target: each Session identity can leave one note (the last one
///         wins). Used by the devnet and the end-to-end tests.
contract SessionGuestbook is SessionContext {
    mapping(bytes32 sessionId => string) private _notes;

    event Signed(bytes32 indexed sessionId, string note);

    constructor(address trigger) SessionContext(trigger) {}

    /// @notice Records `note` under the session ID digest SessionTrigger appended to the calldata.
    function sign(string calldata note) external {
        bytes32 id = _sessionId();
        _notes[id] = note;
        emit Signed(id, note);
    }

    /// @notice The note of session ID digest `id` (empty if none).
    function noteOf(bytes32 id) external view returns (string memory) {
        return _notes[id];
    }
}
