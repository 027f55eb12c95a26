"""The Tavern's ``/metrics``: the node's state in the Prometheus text exposition format (version 0.0.4).

Gauges per beast (labels ``beast`` and, for window counts, ``status``) built from the same overview
the dashboard shows, so a scraper and the page never disagree. ENERGY is exported in wei as a float
sample, as Prometheus stores every sample (the exact integer is in the JSON endpoints).
"""

from __future__ import annotations

from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "chainbeasts_node_daemon_running": ("gauge", "1 while a cb-node run holds the node directory"),
    "chainbeasts_node_beasts": ("gauge", "beasts with a run directory on this node"),
    "chainbeasts_node_energy_spent_wei": ("gauge", "ENERGY (wei) locked by this node's committed, finalized and disputed windows"),
    "chainbeasts_beast_windows": ("gauge", "windows in the beast's local index, by status"),
    "chainbeasts_beast_latest_window": ("gauge", "highest window in the beast's local index"),
    "chainbeasts_beast_loss_sum": ("gauge", "loss sum (Q8) of the beast's latest window"),
    "chainbeasts_beast_energy_spent_wei": ("gauge", "ENERGY (wei) locked by the beast's committed, finalized and disputed windows"),
    "chainbeasts_beast_eval": ("gauge", "latest held-out figure of the beast (metrics.jsonl kind=eval), by figure"),
}


def _labels(**kv: Any) -> str:
    inner = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in kv.items())
    return "{" + inner + "}" if inner else ""


def render(overview: dict[str, Any], evals: dict[int, dict[str, float]]) -> str:
    """The exposition text for ``overview`` (TavernData.overview) and the latest eval figures per beast."""
    samples: dict[str, list[str]] = {name: [] for name in _HELP}
    samples["chainbeasts_node_daemon_running"].append(f"chainbeasts_node_daemon_running {int(bool(overview['daemon']['running']))}")
    samples["chainbeasts_node_beasts"].append(f"chainbeasts_node_beasts {len(overview['beasts'])}")
    samples["chainbeasts_node_energy_spent_wei"].append(f"chainbeasts_node_energy_spent_wei {int(overview['energySpentWei'])}")
    for b in overview["beasts"]:
        bid = b["beastId"]
        for status, n in sorted(b["windows"].items()):
            samples["chainbeasts_beast_windows"].append(f"chainbeasts_beast_windows{_labels(beast=bid, status=status)} {n}")
        if b.get("latestWindow") is not None:
            samples["chainbeasts_beast_latest_window"].append(
                f"chainbeasts_beast_latest_window{_labels(beast=bid)} {b['latestWindow']}")
        if b.get("lossSum") is not None:
            samples["chainbeasts_beast_loss_sum"].append(f"chainbeasts_beast_loss_sum{_labels(beast=bid)} {b['lossSum']}")
        samples["chainbeasts_beast_energy_spent_wei"].append(
            f"chainbeasts_beast_energy_spent_wei{_labels(beast=bid)} {int(b['energySpentWei'])}")
        for fig, value in sorted(evals.get(bid, {}).items()):
            samples["chainbeasts_beast_eval"].append(f"chainbeasts_beast_eval{_labels(beast=bid, figure=fig)} {value}")
    out = []
    for name, (kind, text) in _HELP.items():
        out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(out) + "\n"


__all__ = ["CONTENT_TYPE", "render"]
