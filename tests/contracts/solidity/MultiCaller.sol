// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title MultiCaller — a contract account that makes several calls in one transaction, compiled
///        only by the tests (tests/contracts/test_attack_review7.py): a committer that commits and
///        requests to unstake in the very same block, which no externally owned account can do on
///        the py-evm devnet (one pending transaction per sender).
contract MultiCaller {
    /// @notice Call targets[i] with datas[i], in order; bubbles the first revert up unchanged.
    function batch(address[] calldata targets, bytes[] calldata datas) external {
        for (uint256 i = 0; i < targets.length; ++i) {
            (bool ok, bytes memory out) = targets[i].call(datas[i]);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(out, 0x20), mload(out))
                }
            }
        }
    }
}
