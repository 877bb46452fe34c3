// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {ERC721} from "solady/tokens/ERC721.sol";
import {ERC2981} from "solady/tokens/ERC2981.sol";
import {Ownable} from "solady/auth/Ownable.sol";
import {LibString} from "solady/utils/LibString.sol";

/// @title LeadNFT — one token per sold lead, owned by its buyer.
/// @notice The token id is the lead hash: `uint256(keccak256(leadId))`, where
/// `leadId` is the 16 raw bytes of the lead's UUID. Each token costs exactly one
/// storage word: Solady's ownership word holds the owner (bits 0..159) and 96
/// bits of packed sale metadata (bits 160..255). See
/// docs/decisions/0009-contracts.md for the layout and the gas accounting.
///
/// Packed metadata (the 96 "extra data" bits, least significant first):
///   [ 0..31]  soldAt       uint32  unix seconds (until 2106)
///   [32..65]  priceMicros  34 bits micro-USDC, saturating at 2^34-1
///                                  (17 179.869183 USDC)
///   [66..79]  score        14 bits CRE score 0..10 000 (SPEC §4.2)
///   [80..95]  verticalId   uint16  numeric vertical id assigned off chain
contract LeadNFT is ERC721, ERC2981, Ownable {
    /// @notice One lead to mint. ABI-encoded as six static words.
    struct MintRequest {
        bytes16 leadId; // the lead's UUID bytes; token id = keccak256(leadId)
        address to; // the buyer's wallet, or the platform custody address
        uint16 verticalId;
        uint16 score; // 0..10 000
        uint64 priceMicros; // stored saturated at MAX_PRICE_MICROS
        uint32 soldAt; // unix seconds
    }

    /// @notice Largest storable price; larger prices are stored as this value.
    uint64 public constant MAX_PRICE_MICROS = (1 << 34) - 1;
    /// @notice Largest CRE score (SPEC §4.2).
    uint16 public constant MAX_SCORE = 10_000;

    /// @notice Accounts allowed to call `mintBatch` (the hot wallets).
    mapping(address account => bool) public isMinter;

    string private _baseURIValue;

    event MinterSet(address indexed account, bool allowed);
    /// @dev ERC-4906: every token's metadata URI may have changed.
    event BatchMetadataUpdate(uint256 fromTokenId, uint256 toTokenId);

    error NotMinter();
    error AlreadyMinted(uint256 tokenId);
    error ScoreOutOfRange(uint256 tokenId, uint256 score);
    error InvalidRequest(uint256 index);

    /// @param owner_ administers minters, the base URI and the royalty.
    /// @param baseURI_ prefix of every token URI, e.g. "https://host/v1/nft/".
    /// @param royaltyReceiver receives ERC-2981 royalties.
    /// @param royaltyBps royalty in basis points (denominator 10 000).
    constructor(address owner_, string memory baseURI_, address royaltyReceiver, uint96 royaltyBps) {
        _initializeOwner(owner_);
        _baseURIValue = baseURI_;
        _setDefaultRoyalty(royaltyReceiver, royaltyBps);
    }

    // ---------------------------------------------------------------- minting

    /// @notice Mints one token per request, each to its own recipient.
    /// Reverts as a whole on an already minted lead (`AlreadyMinted(tokenId)`),
    /// a zero recipient, a score above 10 000, a field with bits beyond its ABI
    /// type (`InvalidRequest(index)`), or a caller that is not a minter.
    function mintBatch(MintRequest[] calldata requests) external {
        if (!isMinter[msg.sender]) revert NotMinter();
        // The ABI decoder has checked that the array lies within calldata. The
        // fields are read straight from calldata (six words per request, see
        // MintRequest) to save the per-field decoding overhead of
        // `requests[i].field`; the validation below is the decoder's.
        uint256 p;
        uint256 end;
        assembly ("memory-safe") {
            p := requests.offset
            end := add(p, mul(requests.length, 0xc0))
        }
        for (uint256 i; p != end; ++i) {
            uint256 leadWord;
            address to;
            uint256 score;
            uint256 price;
            uint96 packed;
            uint256 dirty;
            assembly ("memory-safe") {
                leadWord := calldataload(p)
                to := calldataload(add(p, 0x20))
                let vertical := calldataload(add(p, 0x40))
                score := calldataload(add(p, 0x60))
                price := calldataload(add(p, 0x80))
                let soldAt := calldataload(add(p, 0xa0))
                // bytes16 must be left-aligned, every integer within its type.
                dirty := or(
                    or(shl(128, leadWord), shr(160, to)),
                    or(or(shr(16, vertical), shr(16, score)), or(shr(64, price), shr(32, soldAt)))
                )
                if gt(price, MAX_PRICE_MICROS) { price := MAX_PRICE_MICROS }
                packed := or(or(shl(80, vertical), shl(66, score)), or(shl(32, price), soldAt))
                p := add(p, 0xc0)
            }
            if (dirty != 0) revert InvalidRequest(i);
            uint256 id = tokenIdOf(bytes16(bytes32(leadWord)));
            if (_exists(id)) revert AlreadyMinted(id);
            if (score > MAX_SCORE) revert ScoreOutOfRange(id, score);
            // The existence check warmed the ownership slot; this writes owner
            // and metadata in a single SSTORE, bumps the balance and emits
            // Transfer(0, to, id). A zero `to` reverts TransferToZeroAddress().
            _mintAndSetExtraDataUnchecked(to, id, packed);
        }
    }

    /// @notice The token id of a lead: keccak256 of its 16 UUID bytes.
    function tokenIdOf(bytes16 leadId) public pure returns (uint256 id) {
        assembly ("memory-safe") {
            mstore(0x00, leadId)
            id := keccak256(0x00, 0x10)
        }
    }

    /// @notice Whether the token has been minted.
    function exists(uint256 tokenId) external view returns (bool) {
        return _exists(tokenId);
    }

    /// @notice The owner and the unpacked sale metadata of a minted token.
    function metadata(uint256 tokenId)
        external
        view
        returns (address owner, uint16 verticalId, uint16 score, uint64 priceMicros, uint32 soldAt)
    {
        owner = ownerOf(tokenId); // reverts TokenDoesNotExist()
        uint256 packed = _getExtraData(tokenId);
        verticalId = uint16(packed >> 80);
        score = uint16((packed >> 66) & 0x3fff);
        priceMicros = uint64((packed >> 32) & MAX_PRICE_MICROS);
        soldAt = uint32(packed);
    }

    // ----------------------------------------------------------- administration

    /// @notice Authorizes or de-authorizes a minter.
    function setMinter(address account, bool allowed) external onlyOwner {
        isMinter[account] = allowed;
        emit MinterSet(account, allowed);
    }

    /// @notice Changes the token URI prefix (ERC-4906 event for all tokens).
    function setBaseURI(string calldata baseURI_) external onlyOwner {
        _baseURIValue = baseURI_;
        emit BatchMetadataUpdate(0, type(uint256).max);
    }

    /// @notice Changes the ERC-2981 royalty for every token.
    function setDefaultRoyalty(address receiver, uint96 royaltyBps) external onlyOwner {
        _setDefaultRoyalty(receiver, royaltyBps);
    }

    // ---------------------------------------------------------------- metadata

    function name() public pure override returns (string memory) {
        return "leadex Lead";
    }

    function symbol() public pure override returns (string memory) {
        return "LEAD";
    }

    function baseURI() external view returns (string memory) {
        return _baseURIValue;
    }

    /// @notice baseURI followed by the decimal token id; nothing is stored per token.
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        if (!_exists(tokenId)) revert TokenDoesNotExist();
        return LibString.concat(_baseURIValue, LibString.toString(tokenId));
    }

    /// @dev ERC-165: ERC-721 (+ metadata), ERC-2981 and ERC-4906.
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, ERC2981) returns (bool) {
        return ERC721.supportsInterface(interfaceId) || ERC2981.supportsInterface(interfaceId)
            || interfaceId == 0x49064906;
    }
}
