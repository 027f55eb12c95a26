// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title Energy — the ENERGY token that pays for training compute.
/// @notice Plain OpenZeppelin ERC-20 (18 decimals) with burning and a minter role.
///         The checkpoint ledger holds escrowed ENERGY and burns it when a window finalizes;
///         accounts holding MINTER_ROLE mint (the devnet funds its test accounts that way).
contract Energy is ERC20, ERC20Burnable, AccessControl {
    /// @notice Semantic version of this contract.
    string public constant version = "1.0.0";

    /// @notice Role allowed to mint new ENERGY.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin receives DEFAULT_ADMIN_ROLE and MINTER_ROLE.
    constructor(address admin) ERC20("ChainBeasts Energy", "ENERGY") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Mint `amount` ENERGY (wei) to `to`; only MINTER_ROLE.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
