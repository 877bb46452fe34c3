// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {ERC20} from "solady/tokens/ERC20.sol";

/// @title TestUSDC — a 6-decimal stand-in for USDC on development chains.
/// @notice Anyone can mint. Never deploy this on a real network.
contract TestUSDC is ERC20 {
    function name() public pure override returns (string memory) {
        return "Test USD Coin";
    }

    function symbol() public pure override returns (string memory) {
        return "USDC";
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @dev Real USDC grants Permit2 no implicit allowance; neither do we.
    function _givePermit2InfiniteAllowance() internal pure override returns (bool) {
        return false;
    }

    /// @notice Mints `amount` micro-units to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
