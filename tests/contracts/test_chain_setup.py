"""Who may set the contracts up (issue 14 item 8): every one-time or privileged set-up call is refused
for a stranger, and a one-time call for a second try, each with its exact error.

The one one-time call is ``CheckpointLedger.bindBisectionGame`` (the deployer binds the game once,
after deploying it with the ledger's address); until then the game hooks (``beginGame``,
``endGame``) answer nobody, and afterwards only the game. BisectionGame and StepVerifier have no
set-up call at all: everything is fixed in the game's constructor (ledger, verifier, clock), which
refuses a clock out of range. The other set-up powers are the registry owner's (OpenZeppelin
Ownable: ``queueChange``, ``cancelChange``, ``transferOwnership``, ``renounceOwnership``) and the
ENERGY admin's (AccessControl: ``mint``, ``grantRole``, ``revokeRole``). The test of a binding needs
a ledger nobody has bound yet, so it deploys one next to the devnet's contracts.
"""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from web3 import Web3
from web3.contract import Contract

import devnet
from devnet import artifacts
from devnet.bindings import Param
from devnet.deploy import _create
from devnet.season import MAX_GAME_CLOCK_BLOCKS, MIN_GAME_CLOCK_BLOCKS

from chain_helpers import Net, raises_error

ZERO_ADDRESS = "0x" + "00" * 20
SETUP_FUNCTIONS = {  # every non-view function of each contract that is neither a game move nor an account's own business
    "CheckpointLedger": {"bindBisectionGame", "beginGame", "endGame"},
    "BisectionGame": set(),
    "StepVerifier": set(),
}


def _unbound_ledger(net: Net) -> Contract:
    """A CheckpointLedger deployed by the devnet's deployer over the devnet's Energy, Beast and registry."""
    art = artifacts.load("CheckpointLedger")
    addrs = net.cb.addresses
    data = bytes.fromhex(art.bytecode.removeprefix("0x")) + abi_encode(
        ["address", "address", "address"], [addrs["Energy"], addrs["Beast"], addrs["SeasonRegistry"]])
    receipt = net.cb.sender.send(net.admin, None, data, gas=None)
    return net.raw.w3.eth.contract(address=Web3.to_checksum_address(receipt["contractAddress"]), abi=art.abi)


def _bind(net: Net, ledger: Contract, sender, game: str):  # type: ignore[no-untyped-def]
    return net.cb._send(sender, ledger, "bindBisectionGame", [game], 100_000)


def _hooks_refuse(net: Net, ledger: Contract, caller) -> None:  # type: ignore[no-untyped-def]
    with raises_error("LedgerOnlyGame", caller=caller.address):
        net.cb._send(caller, ledger, "beginGame", [1, 0], 200_000)
    with raises_error("LedgerOnlyGame", caller=caller.address):
        net.cb._send(caller, ledger, "endGame", [1, 0, 0, True], 200_000)


def test_only_the_deployer_binds_the_bisection_game_and_only_once(net: Net) -> None:
    deployer, stranger = net.admin, net.a[3]
    game, other_game = net.cb.addresses["BisectionGame"], net.a[4].address
    ledger = _unbound_ledger(net)
    assert ledger.functions.bisectionGame().call() == ZERO_ADDRESS
    # A stranger cannot bind first (front-running the deployer's bind would hand it every slash and escrow).
    with raises_error("LedgerGameBinding", caller=stranger.address):
        _bind(net, ledger, stranger, other_game)
    assert ledger.functions.bisectionGame().call() == ZERO_ADDRESS
    # Unbound, the game hooks answer nobody (not even the zero-address check can be met), the deployer included.
    for caller in (stranger, deployer):
        _hooks_refuse(net, ledger, caller)
    # The deployer cannot bind the zero address (that would leave the ledger bindable again).
    with raises_error("LedgerGameBinding", caller=deployer.address):
        _bind(net, ledger, deployer, ZERO_ADDRESS)
    receipt = net.raw.w3.eth.get_transaction_receipt(_bind(net, ledger, deployer, game).tx_hash)
    assert [e.args["game"] for e in ledger.events.BisectionGameBound().process_receipt(receipt)] == [game]
    assert ledger.functions.bisectionGame().call() == game
    # Bound once: a second bind fails for the deployer and for anyone else, with any address.
    for sender, target in ((deployer, other_game), (deployer, game), (stranger, other_game)):
        with raises_error("LedgerGameBinding", caller=sender.address):
            _bind(net, ledger, sender, target)
    assert ledger.functions.bisectionGame().call() == game
    for caller in (stranger, deployer):  # bound, the hooks still answer only the game
        _hooks_refuse(net, ledger, caller)


def test_the_devnet_ledger_is_bound_once_at_deployment(net: Net) -> None:
    """devnet.deploy binds the game in the deployment itself; nobody can rebind it afterwards."""
    game = net.cb.addresses["BisectionGame"]
    assert net.cb.ledger.functions.bisectionGame().call() == game
    assert net.cb.game.functions.ledger().call() == net.cb.addresses["CheckpointLedger"]
    assert net.cb.game.functions.verifier().call() == net.cb.addresses["StepVerifier"]
    for sender in (net.admin, net.a[3]):
        with raises_error("LedgerGameBinding", caller=sender.address):
            _bind(net, net.cb.ledger, sender, sender.address)
        _hooks_refuse(net, net.cb.ledger, sender)
    assert net.cb.ledger.functions.bisectionGame().call() == game


def test_the_only_setup_calls_are_the_ones_tested_here() -> None:
    """A new privileged or one-time function must come with its refusal test: list the state-changing
    functions that no account may call for itself, and compare with what this module covers."""
    own_business = {
        "CheckpointLedger": {"commit", "commitMany", "deposit", "withdrawDeposit", "stake", "requestUnstake", "withdrawStake",
                             "finalize", "finalizeMany", "sealEpochSeeds", "clearVoided"},
        "BisectionGame": {"commitChallenge", "challenge", "bisect", "respond", "proveStep", "proveWordLie", "proveInvalidDataset",
                          "timeout", "claimReward"},
        "StepVerifier": set(),
    }
    for name, fns in SETUP_FUNCTIONS.items():
        writes = {i["name"] for i in artifacts.load(name).abi
                  if i.get("type") == "function" and i.get("stateMutability") not in ("view", "pure")}
        assert writes == fns | own_business[name], name


@pytest.mark.parametrize("clock", [0, 1, MIN_GAME_CLOCK_BLOCKS - 1, MAX_GAME_CLOCK_BLOCKS + 1, 2**32 - 1])
def test_the_game_constructor_refuses_a_clock_out_of_range(net: Net, clock: int) -> None:
    """The clock is fixed at construction; a bad one never deploys (and devnet.deploy refuses it before any transaction)."""
    with raises_error("GameClockInvalid", clockBlocks=clock):
        _create(net.cb.sender, net.admin, "BisectionGame", ["address", "address", "uint32"],
                [net.cb.addresses["CheckpointLedger"], net.cb.addresses["StepVerifier"], clock])
    with pytest.raises(devnet.ConfigError, match="game clock"):
        devnet.deploy(net.raw.w3, net.admin, game_clock_blocks=clock)


def test_registry_owner_calls_refuse_strangers(net: Net) -> None:
    stranger = net.a[3]
    p = int(Param.BOND_MULTIPLIER)
    net.cb.queue_param_change(net.admin, Param.BOND_MULTIPLIER, 3)
    pending = net.cb.registry.functions.pendingOf(p).call()
    calls = [("queueChange", [p, 5]), ("cancelChange", [p]), ("transferOwnership", [stranger.address]),
             ("renounceOwnership", [])]
    for fn, args in calls:
        with raises_error("OwnableUnauthorizedAccount", account=stranger.address):
            net.cb._send(stranger, net.cb.registry, fn, args, 150_000)
    assert net.cb.registry.functions.owner().call() == net.admin.address
    assert net.cb.registry.functions.pendingOf(p).call() == pending  # the owner's change still stands


def test_energy_admin_calls_refuse_strangers(net: Net) -> None:
    stranger = net.a[3]
    energy = net.cb.energy.functions
    minter, admin_role = energy.MINTER_ROLE().call(), energy.DEFAULT_ADMIN_ROLE().call()
    with raises_error("AccessControlUnauthorizedAccount", account=stranger.address, neededRole=minter):
        net.cb.mint(stranger, stranger.address, 1)
    for fn, args in (("grantRole", [minter, stranger.address]), ("revokeRole", [minter, net.admin.address]),
                     ("grantRole", [admin_role, stranger.address])):
        with raises_error("AccessControlUnauthorizedAccount", account=stranger.address, neededRole=admin_role):
            net.cb._send(stranger, net.cb.energy, fn, args, 150_000)
    assert not energy.hasRole(minter, stranger.address).call()
    assert energy.hasRole(minter, net.admin.address).call()
