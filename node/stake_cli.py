"""``cb-node stake`` and ``cb-node unstake``: the owner's manual control of the committer stake (node.staking).

``stake`` without an amount shows the account's stake; with one, stakes it from the wallet.
``unstake AMOUNT`` moves that much to unbonding (the ledger unlocks it after the challenge period
and two game clocks, so a slash can still reach a window committed just before);
``unstake --withdraw`` takes everything unlocked back to the wallet. All need a chain (rpc =
an URL in node.toml); none needs the daemon, and both take --json.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from node.errors import ChainError, ConfigError


def _ledger(args: argparse.Namespace) -> tuple[Any, Any]:
    """(Ledger over the node's key, ChainHandle) for node.toml's chain."""
    from node.config import load_config
    from node.daemon import make_engine, open_chain, unlock
    from node.daemon_cli import _node_dir

    cfg = load_config(_node_dir(args))
    if cfg.rpc == "embedded":
        raise ConfigError('rpc = "embedded" lives only inside `cb-node run` (it stakes there by itself, '
                          "node.toml's stake); point rpc at a chain (`cb-devnet up`) to stake by hand")
    account = unlock(cfg, args.password_file)
    chain = open_chain(cfg)
    return make_engine(cfg, chain, account, log=lambda m: None).ledger, chain


def _stake_doc(ledger: Any) -> dict[str, Any]:
    staked, unbonding, unlock_block = ledger.stake_of()
    return {"account": ledger.client.address, "staked": str(staked), "unbonding": str(unbonding),
            "unlockBlock": unlock_block, "block": ledger.block_number()}


def _print(args: argparse.Namespace, doc: dict[str, Any], done: str) -> None:
    from chainbeasts.units import format_energy

    if args.json:
        print(json.dumps(doc))
        return
    if done:
        print(done)
    line = f"account {doc['account']}: staked {format_energy(int(doc['staked']))}"
    if int(doc["unbonding"]):
        when = "withdrawable now" if doc["block"] >= doc["unlockBlock"] else f"unlocks at block {doc['unlockBlock']}"
        line += f", unbonding {format_energy(int(doc['unbonding']))} ({when})"
    print(line)


def _cmd_stake(args: argparse.Namespace) -> int:
    from chainbeasts.units import format_energy
    from node.staking import parse_energy

    amount = parse_energy(args.amount, "AMOUNT") if args.amount is not None else None
    ledger, chain = _ledger(args)
    try:
        done = ""
        if amount is not None:
            if ledger.energy_balance() < amount:
                raise ChainError(f"the account holds {format_energy(ledger.energy_balance())}, less than the "
                                 f"{format_energy(amount)} to stake")
            rcpt = ledger.stake(amount)
            done = f"staked {format_energy(amount)} (tx 0x{bytes(rcpt['transactionHash']).hex()})"
        doc = _stake_doc(ledger)
        if amount is not None:
            doc["stakedNow"] = str(amount)
        _print(args, doc, done)
    finally:
        chain.close()
    return 0


def _cmd_unstake(args: argparse.Namespace) -> int:
    from chainbeasts.units import format_energy
    from node.staking import parse_energy

    if (args.amount is None) == (not args.withdraw):
        raise ConfigError("give either AMOUNT (to start unbonding it) or --withdraw (to take back what unlocked)")
    amount = parse_energy(args.amount, "AMOUNT") if args.amount is not None else None
    ledger, chain = _ledger(args)
    try:
        staked, unbonding, unlock_block = ledger.stake_of()
        if amount is not None:
            if amount > staked:
                raise ChainError(f"only {format_energy(staked)} is staked; cannot unstake {format_energy(amount)}")
            ledger.request_unstake(amount)
            doc = _stake_doc(ledger)
            doc["requested"] = str(amount)
            done = f"unbonding {format_energy(amount)}; withdraw it with `cb-node unstake --withdraw` from block " \
                   f"{doc['unlockBlock']}"
        else:
            head = ledger.block_number()
            if unbonding == 0 or head < unlock_block:
                raise ChainError("nothing to withdraw yet: " + ("nothing is unbonding" if unbonding == 0 else
                                 f"{format_energy(unbonding)} unlocks at block {unlock_block} (now {head})"))
            ledger.withdraw_stake()
            doc = _stake_doc(ledger)
            doc["withdrawn"] = str(unbonding)
            done = f"withdrew {format_energy(unbonding)} to the wallet"
        _print(args, doc, done)
    finally:
        chain.close()
    return 0


def add_commands(sub: Any, fmt: type[argparse.HelpFormatter], epilog: str,
                 node_dir_opt: Any, password_opt: Any) -> None:
    """Register stake and unstake on cb-node's subparsers."""
    p = sub.add_parser("stake", help="show the committer stake, or stake AMOUNT ENERGY from the node's wallet",
                       description="Every commit needs the call's energyBurn staked in the ledger, and a slash of "
                                   "one of this node's windows takes up to its energyBurn from the stake. `cb-node "
                                   "run` keeps it as node.toml's stake says (\"auto\": what its commits need). This "
                                   "shows the account's stake, or stakes AMOUNT (ENERGY, e.g. 250 or 0.5) more.",
                       epilog=epilog, formatter_class=fmt)
    node_dir_opt(p)
    password_opt(p)
    p.add_argument("amount", nargs="?", default=None, metavar="AMOUNT", help="ENERGY to stake (default: only show)")
    p.add_argument("--json", action="store_true", help="print JSON (amounts in wei, as strings)")
    p.set_defaults(func=_cmd_stake)

    p = sub.add_parser("unstake", help="start unbonding AMOUNT of the stake, or --withdraw what unlocked",
                       description="Move AMOUNT ENERGY of the stake to unbonding: it unlocks after the challenge "
                                   "period and two game clocks (a window committed before can still be slashed), "
                                   "then `cb-node unstake --withdraw` returns it to the wallet. A running node "
                                   "with stake = \"auto\" stakes again what its next commit needs.",
                       epilog=epilog, formatter_class=fmt)
    node_dir_opt(p)
    password_opt(p)
    p.add_argument("amount", nargs="?", default=None, metavar="AMOUNT", help="ENERGY to unbond")
    p.add_argument("--withdraw", action="store_true", help="withdraw every unlocked unbonding amount instead")
    p.add_argument("--json", action="store_true", help="print JSON (amounts in wei, as strings)")
    p.set_defaults(func=_cmd_unstake)


__all__ = ["add_commands"]
