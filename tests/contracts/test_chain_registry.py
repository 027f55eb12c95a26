"""SeasonRegistry: defaults, timelocked changes, and every revert path."""

from __future__ import annotations

from eth_abi import encode as abi_encode

from devnet import artifacts
from devnet.bindings import Param
from devnet.deploy import DEFAULT_PARAMS
from devnet.errors import revert_data

from chain_helpers import ev, raises_error


def test_defaults_match_deploy_params(net) -> None:  # type: ignore[no-untyped-def]
    assert net.cb.params() == DEFAULT_PARAMS
    assert net.cb.ledger.functions.epochSteps().call() == 512
    assert net.cb.registry.functions.timelockDelay().call() == 10
    assert net.cb.registry.functions.challengePeriod().call() == 20
    assert net.cb.registry.functions.wrongVoteSlashBps().call() == 1000
    assert len(Param) == 13 and Param.WRONG_VOTE_SLASH_BPS == 12


def test_change_is_visible_then_effective_after_delay(net) -> None:  # type: ignore[no-untyped-def]
    r = net.cb.queue_param_change(net.admin, Param.CHALLENGE_PERIOD, 7)
    eta = r.block_number + 10
    ev(r, "ParamChangeQueued", param=int(Param.CHALLENGE_PERIOD), value=7, effectiveAt=eta)
    assert net.cb.registry.functions.pendingOf(int(Param.CHALLENGE_PERIOD)).call() == [7, eta]
    assert net.cb.param(Param.CHALLENGE_PERIOD) == 20
    net.mine(eta - net.cb.block_number() - 1)
    assert net.cb.param(Param.CHALLENGE_PERIOD) == 20  # block eta-1
    net.mine(1)
    assert net.cb.param(Param.CHALLENGE_PERIOD) == 7
    assert net.cb.registry.functions.pendingOf(int(Param.CHALLENGE_PERIOD)).call() == [0, 0]
    # A second change folds the first into `current`.
    net.cb.queue_param_change(net.admin, Param.CHALLENGE_PERIOD, 9)
    assert net.cb.param(Param.CHALLENGE_PERIOD) == 7


def test_cancel(net) -> None:  # type: ignore[no-untyped-def]
    net.cb.queue_param_change(net.admin, Param.BOND_MULTIPLIER, 3)
    r = net.cb.cancel_param_change(net.admin, Param.BOND_MULTIPLIER)
    ev(r, "ParamChangeCancelled", param=int(Param.BOND_MULTIPLIER), value=3)
    net.mine(12)
    assert net.cb.param(Param.BOND_MULTIPLIER) == 2
    with raises_error("SeasonNothingPending", param=int(Param.BOND_MULTIPLIER)):
        net.cb.cancel_param_change(net.admin, Param.BOND_MULTIPLIER)


FIXED = (Param.WINDOW_STEPS, Param.BASE_COST, Param.SLAB_PARAMS, Param.SPURT_COST, Param.EPOCH_STEPS)


def test_fixed_and_invalid_params(net) -> None:  # type: ignore[no-untyped-def]
    # The constants written into every kernel state (and the spec's window length) never change
    # within a season: validators replay old windows under their state's constants.
    for p in Param:
        assert net.cb.registry.functions.isFixed(int(p)).call() == (p in FIXED), p.name
    for p in FIXED:
        with raises_error("SeasonParamFixed", param=int(p)):
            net.cb.queue_param_change(net.admin, p, 256)
    for p, bad in ((Param.BOND_MULTIPLIER, 0), (Param.VALIDATOR_QUORUM, 33), (Param.CHALLENGE_PERIOD, 0),
                   (Param.VOTING_PERIOD, 0), (Param.MAX_DATASET_BYTES, 0),
                   (Param.WRONG_VOTE_SLASH_BPS, 5001), (Param.WRONG_VOTE_SLASH_BPS, 2**96 - 1)):
        with raises_error("SeasonParamInvalid", param=int(p), value=bad):
            net.cb.queue_param_change(net.admin, p, bad)


def test_only_owner_queues(net) -> None:  # type: ignore[no-untyped-def]
    with raises_error("OwnableUnauthorizedAccount", account=net.a[1].address):
        net.cb.queue_param_change(net.a[1], Param.BASE_COST, 1)


def test_wrong_vote_slash_bps_is_at_most_half(net) -> None:  # type: ignore[no-untyped-def]
    """0..5000 basis points, through the timelock and in the constructor."""
    p = int(Param.WRONG_VOTE_SLASH_BPS)
    for good in (0, 5000):
        r = net.cb.queue_param_change(net.admin, Param.WRONG_VOTE_SLASH_BPS, good)
        ev(r, "ParamChangeQueued", param=p, value=good, effectiveAt=r.block_number + 10)
    net.mine(10)
    assert net.cb.param(Param.WRONG_VOTE_SLASH_BPS) == 5000
    with raises_error("SeasonParamInvalid", param=p, value=5001):
        net.cb.queue_param_change(net.admin, Param.WRONG_VOTE_SLASH_BPS, 5001)
    code = bytes.fromhex(artifacts.load("SeasonRegistry").bytecode.removeprefix("0x"))

    def construct(value: int) -> None:
        initial = [*DEFAULT_PARAMS.values()][:p] + [value]
        data = code + abi_encode(["address", "uint64", f"uint96[{len(Param)}]"], [net.admin.address, 10, initial])
        try:
            net.raw.w3.eth.call({"from": net.admin.address, "data": "0x" + data.hex()})
        except Exception as exc:  # noqa: BLE001 - eth-tester's revert type
            raise net.cb.decoder.decode(revert_data(exc) or b"") from None

    construct(5000)
    with raises_error("SeasonParamInvalid", param=p, value=5001):
        construct(5001)


def _registry(net, delay: int):  # type: ignore[no-untyped-def]
    """A SeasonRegistry deployed by the devnet's deployer with ``delay`` and the default values."""
    art = artifacts.load("SeasonRegistry")
    data = bytes.fromhex(art.bytecode.removeprefix("0x")) + abi_encode(
        ["address", "uint64", f"uint96[{len(Param)}]"], [net.admin.address, delay, list(DEFAULT_PARAMS.values())])
    receipt = net.cb.sender.send(net.admin, None, data, gas=None)
    return net.raw.w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


def test_a_queued_change_is_never_in_force_in_its_own_block(net) -> None:  # type: ignore[no-untyped-def]
    """Issue 14 item 7: with timelockDelay = 0 a change queued in block b was in force in block b (a
    shorter challengePeriod, a smaller quorum took effect before anyone could see it coming). The
    constructor now requires at least MIN_TIMELOCK_DELAY blocks."""
    minimum = int(net.cb.registry.functions.MIN_TIMELOCK_DELAY().call())
    assert minimum >= 1
    for delay in (0, minimum - 1):
        with raises_error("SeasonTimelockDelayInvalid", delay=delay):
            _registry(net, delay)
    registry = _registry(net, minimum)
    p = int(Param.CHALLENGE_PERIOD)
    r = net.cb._send(net.admin, registry, "queueChange", [p, 1], 150_000)
    assert registry.functions.value(p).call(block_identifier=r.block_number) == 20  # not in its own block
    net.mine(minimum - 1)
    assert registry.functions.value(p).call() == 20  # block b + minimum - 1
    net.mine(1)
    assert registry.functions.value(p).call() == 1


def test_value_at_answers_for_every_past_block(net) -> None:  # type: ignore[no-untyped-def]
    """valueAt(p, b) is what value(p) returned in block b, across folds, a cancel and a pending change."""
    p = int(Param.CHALLENGE_PERIOD)
    reg = net.cb.registry.functions
    first = net.cb.block_number()
    for v in (7, 9):  # 7 takes effect, then queueing 9 folds it (and keeps 20 for the blocks before)
        net.cb.queue_param_change(net.admin, Param.CHALLENGE_PERIOD, v)
        net.mine(12)
    net.cb.queue_param_change(net.admin, Param.CHALLENGE_PERIOD, 30)
    net.mine(3)
    net.cb._send(net.admin, net.cb.registry, "cancelChange", [p], 100_000)  # 30 never takes effect
    net.mine(2)
    net.cb.queue_param_change(net.admin, Param.CHALLENGE_PERIOD, 4)  # pending: in force 10 blocks on
    last = net.cb.block_number()
    seen = set()
    for b in range(first, last + 1):
        then = reg.value(p).call(block_identifier=b)
        assert reg.valueAt(p, b).call() == then, b
        seen.add(then)
    assert seen == {20, 7, 9}
    assert reg.valueAt(p, last + 9).call() == 9 and reg.valueAt(p, last + 10).call() == 4  # as queued now
