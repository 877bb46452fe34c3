// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Ownable} from "solady/auth/Ownable.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";

/// @title Escrow — custody of buyer USDC.
/// @notice Buyers `deposit` USDC with a reference to their leadex account; the
/// chain indexer credits the ledger from the `Deposited` event. Operators (the
/// hot wallets) pay sellers with `payoutBatch` and execute withdrawals with
/// `withdrawTo`. Every outgoing movement carries a non-zero `ref` (the payout
/// batch or withdrawal id) that can be used once only, so a re-sent
/// transaction can never pay twice. Token transfers use SafeTransferLib, which
/// accepts tokens that return nothing and reverts on `false` or on a revert.
contract Escrow is Ownable {
    using SafeTransferLib for address;

    /// @notice The custodied ERC-20 (USDC, 6 decimals).
    address public immutable token;

    /// @notice Accounts allowed to move money out (the hot wallets).
    mapping(address account => bool) public isOperator;

    /// @notice Whether a payout/withdrawal reference has been executed.
    mapping(bytes32 ref => bool) public refUsed;

    /// @notice `amount` of `token` received from `from` for the leadex account `accountRef`.
    event Deposited(address indexed from, bytes32 indexed accountRef, uint256 amount);
    /// @notice One payment of a payout batch.
    event PaidOut(bytes32 indexed ref, address indexed to, uint256 amount);
    /// @notice A withdrawal executed for a buyer.
    event Withdrawn(bytes32 indexed ref, address indexed to, uint256 amount);
    event OperatorSet(address indexed account, bool allowed);

    error NotOperator();
    error ZeroAmount();
    error ZeroAddress();
    error ZeroRef();
    error RefAlreadyUsed(bytes32 ref);
    error LengthMismatch();
    error EmptyBatch();
    /// @dev Raised by SafeTransferLib when the token's transferFrom / transfer
    /// fails; declared here so that they appear in the ABI.
    error TransferFromFailed();
    error TransferFailed();

    modifier onlyOperator() {
        if (!isOperator[msg.sender]) revert NotOperator();
        _;
    }

    constructor(address owner_, address token_) {
        if (token_ == address(0)) revert ZeroAddress();
        _initializeOwner(owner_);
        token = token_;
    }

    /// @notice Pulls `amount` from the caller (who must have approved it) and
    /// credits the leadex account `accountRef` (its UUID, left-aligned).
    function deposit(uint256 amount, bytes32 accountRef) external {
        if (amount == 0) revert ZeroAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, accountRef, amount);
    }

    /// @notice Pays `amounts[i]` to `to[i]` for every i, once per `ref`.
    function payoutBatch(address[] calldata to, uint256[] calldata amounts, bytes32 ref)
        external
        onlyOperator
    {
        uint256 n = to.length;
        if (n != amounts.length) revert LengthMismatch();
        if (n == 0) revert EmptyBatch();
        _useRef(ref);
        for (uint256 i; i < n;) {
            address recipient = to[i];
            uint256 amount = amounts[i];
            if (recipient == address(0)) revert ZeroAddress();
            if (amount == 0) revert ZeroAmount();
            token.safeTransfer(recipient, amount);
            emit PaidOut(ref, recipient, amount);
            unchecked {
                ++i;
            }
        }
    }

    /// @notice Sends `amount` to `to` for the withdrawal `ref`, once.
    function withdrawTo(address to, uint256 amount, bytes32 ref) external onlyOperator {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        _useRef(ref);
        token.safeTransfer(to, amount);
        emit Withdrawn(ref, to, amount);
    }

    /// @notice The escrow's token balance (for proof of reserves).
    function reserves() external view returns (uint256) {
        return token.balanceOf(address(this));
    }

    /// @notice Authorizes or de-authorizes an operator.
    function setOperator(address account, bool allowed) external onlyOwner {
        isOperator[account] = allowed;
        emit OperatorSet(account, allowed);
    }

    function _useRef(bytes32 ref) private {
        if (ref == bytes32(0)) revert ZeroRef();
        if (refUsed[ref]) revert RefAlreadyUsed(ref);
        refUsed[ref] = true;
    }
}
