// SPDX-License-Identifier: MIT
pragma solidity 0.8.25;

/// @title SuperRootGame (devnet stand-in)
/// @notice The devnet's OP contracts (contracts-bedrock 0.17.3, the newest npm release) predate the
///         super-root games, so this stand-in is registered in the real DisputeGameFactory for game types
///         4 (SUPER_CANNON) and 5 (SUPER_PERMISSIONED). It applies the creation rules the proposer has to
///         satisfy in the newest SuperFaultDisputeGame / SuperPermissionedDisputeGame `initialize()`:
///         extraData is the super-root preimage (version 1 ++ uint64 timestamp ++ (chainId, outputRoot)*),
///         the root claim must be its keccak256, the timestamp must be past the anchor, and (permissioned)
///         tx.origin must be the configured proposer. There is no bisection game: it only records the claim.
///         Compiled with solc 0.8.25 (solc-js, optimizer 200 runs) into SuperRootGame.json beside this file.
contract SuperRootGame {
    error AlreadyInitialized();
    error BadExtraData();
    error BadAuth();
    error UnexpectedRootClaim(bytes32 rootClaim);
    error NotSupported();

    uint32 public immutable GAME_TYPE;
    address public immutable PROPOSER;
    uint64 public immutable ANCHOR_TIMESTAMP;

    bool public initialized;
    uint64 public createdAt;
    uint256 public bond;

    constructor(uint32 _gameType, address _proposer, uint64 _anchorTimestamp) {
        GAME_TYPE = _gameType;
        PROPOSER = _proposer;
        ANCHOR_TIMESTAMP = _anchorTimestamp;
    }

    function initialize() external payable {
        if (initialized) revert AlreadyInitialized();
        bytes memory data = extraData();
        if (data.length < 73 || (data.length - 9) % 64 != 0 || uint8(data[0]) != 1) revert BadExtraData();
        if (keccak256(data) != rootClaim()) revert BadExtraData();
        if (PROPOSER != address(0) && tx.origin != PROPOSER) revert BadAuth();
        if (l2SequenceNumber() <= ANCHOR_TIMESTAMP) revert UnexpectedRootClaim(rootClaim());
        initialized = true;
        createdAt = uint64(block.timestamp);
        bond = msg.value;
    }

    function _argsOffset() internal pure returns (uint256 offset, uint256 argsLength) {
        uint256 suffix;
        assembly {
            suffix := shr(240, calldataload(sub(calldatasize(), 2)))
            offset := sub(calldatasize(), suffix)
        }
        argsLength = suffix - 2;
    }

    function gameType() external view returns (uint32) {
        return GAME_TYPE;
    }

    function gameCreator() public pure returns (address creator_) {
        (uint256 offset,) = _argsOffset();
        assembly {
            creator_ := shr(96, calldataload(offset))
        }
    }

    function rootClaim() public pure returns (bytes32 claim_) {
        (uint256 offset,) = _argsOffset();
        assembly {
            claim_ := calldataload(add(offset, 0x14))
        }
    }

    function l1Head() external pure returns (bytes32 head_) {
        (uint256 offset,) = _argsOffset();
        assembly {
            head_ := calldataload(add(offset, 0x34))
        }
    }

    function extraData() public pure returns (bytes memory data_) {
        (uint256 offset, uint256 argsLength) = _argsOffset();
        uint256 length = argsLength - 0x54;
        data_ = new bytes(length);
        assembly {
            calldatacopy(add(data_, 0x20), add(offset, 0x54), length)
        }
    }

    /// @notice The super root's timestamp (bytes 1..9 of the preimage).
    function l2SequenceNumber() public pure returns (uint256) {
        bytes memory data = extraData();
        uint256 ts;
        for (uint256 i = 1; i < 9; i++) {
            ts = (ts << 8) | uint8(data[i]);
        }
        return ts;
    }

    function gameData() external view returns (uint32, bytes32, bytes memory) {
        return (GAME_TYPE, rootClaim(), extraData());
    }

    function status() external pure returns (uint8) {
        return 0;
    }

    function resolve() external pure returns (uint8) {
        revert NotSupported();
    }
}
