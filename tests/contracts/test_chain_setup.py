"""Who may set the contracts up (issue 14 item 8): every one-time or privileged set-up call is refused
for a stranger, and a one-time call for a second try, each with its exact error.

The one one-time call is ``CheckpointLedger.bindDisputeGame`` (the deployer binds the game once,
after deploying it with the ledger's address). The other set-up powers are the registry owner's
(OpenZeppelin Ownable: ``queueChange``, ``cancelChange``, ``transferOwnership``,
``renounceOwnership``) and the ENERGY admin's (AccessControl: ``mint``, ``grantRole``,
``revokeRole``). The test of a binding needs a ledger nobody has bound yet, so it deploys one
next to the devnet's contracts.
"""

from __future__ import annotations

from eth_abi import encode as abi_encode
from web3 import Web3
from web3.contract import Contract

from devnet import artifacts
from devnet.bindings import Param

from chain_helpers import Net, raises_error

ZERO_ADDRESS = "0x" + "00" * 20


def _unbound_ledger(net: Net) -> Contract:
    """A CheckpointLedger deployed by the devnet's deployer over the devnet's Energy, Beast and registry."""
    art = artifacts.load("CheckpointLedger")
    addrs = net.cb.addresses
    data = bytes.fromhex(art.bytecode.removeprefix("0x")) + abi_encode(
        ["address", "address", "address"], [addrs["Energy"], addrs["Beast"], addrs["SeasonRegistry"]])
    receipt = net.cb.sender.send(net.admin, None, data, gas=None)
    return net.raw.w3.eth.contract(address=Web3.to_checksum_address(receipt["contractAddress"]), abi=art.abi)


def _bind(net: Net, ledger: Contract, sender, game: str):  # type: ignore[no-untyped-def]
    return net.cb._send(sender, ledger, "bindDisputeGame", [game], 100_000)


def test_only_the_deployer_binds_the_dispute_game_and_only_once(net: Net) -> None:
    deployer, stranger = net.admin, net.a[3]
    game, other_game = net.cb.addresses["DisputeGame"], net.a[4].address
    ledger = _unbound_ledger(net)
    assert ledger.functions.disputeGame().call() == ZERO_ADDRESS
    # A stranger cannot bind first (front-running the deployer's bind would hand it the escrow).
    with raises_error("LedgerDisputeGameBinding", caller=stranger.address):
        _bind(net, ledger, stranger, other_game)
    assert ledger.functions.disputeGame().call() == ZERO_ADDRESS
    # Unbound, the dispute hooks answer nobody (not even the zero-address check can be met).
    with raises_error("LedgerOnlyDisputeGame", caller=stranger.address):
        net.cb._send(stranger, ledger, "beginDispute", [1, 0], 100_000)
    # The deployer cannot bind the zero address (that would leave the ledger bindable again).
    with raises_error("LedgerDisputeGameBinding", caller=deployer.address):
        _bind(net, ledger, deployer, ZERO_ADDRESS)
    receipt = net.raw.w3.eth.get_transaction_receipt(_bind(net, ledger, deployer, game).tx_hash)
    assert [e.args["game"] for e in ledger.events.DisputeGameBound().process_receipt(receipt)] == [game]
    assert ledger.functions.disputeGame().call() == game
    # Bound once: a second bind fails for the deployer and for anyone else, with any address.
    for sender, target in ((deployer, other_game), (deployer, game), (stranger, other_game)):
        with raises_error("LedgerDisputeGameBinding", caller=sender.address):
            _bind(net, ledger, sender, target)
    assert ledger.functions.disputeGame().call() == game


def test_the_devnet_ledger_is_bound_once_at_deployment(net: Net) -> None:
    """devnet.deploy binds the game in the deployment itself; nobody can rebind it afterwards."""
    game = net.cb.addresses["DisputeGame"]
    assert net.cb.ledger.functions.disputeGame().call() == game
    for sender in (net.admin, net.a[3]):
        with raises_error("LedgerDisputeGameBinding", caller=sender.address):
            _bind(net, net.cb.ledger, sender, sender.address)
    assert net.cb.ledger.functions.disputeGame().call() == game


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
