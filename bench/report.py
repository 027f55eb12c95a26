"""How every CPU benchmark ends: one report of its machine facts, its figures and its own run time.

``--json`` prints one JSON object (what docs/PERFORMANCE.md's baselines are recorded from);
otherwise one line per section and one aligned line per figure. Floats are rounded to three
places in both, so a baseline and a rerun compare digit for digit.
"""

from __future__ import annotations

import json
import time
from typing import Any


def finish(figures: dict[str, Any], started: float, *, as_json: bool, width: tuple[int, int], **sections: dict[str, Any]) -> None:
    """Print the report of a bench that began at ``started`` (a ``time.perf_counter()`` reading).

    ``sections`` (``machine=...``, ``service=...``) come first, in the order given; ``width`` is
    the (name, value) column widths of the figure lines.
    """
    out = {**sections, "figures": {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()},
           "bench_seconds": round(time.perf_counter() - started, 1)}
    if as_json:
        print(json.dumps(out))
        return
    for name, section in sections.items():
        print(f"{name}: {section}")
    key_w, value_w = width
    for k, v in out["figures"].items():
        print(f"  {k:{key_w}s} {v:>{value_w},.3f}" if isinstance(v, float) else f"  {k:{key_w}s} {v:>{value_w}}")
    print(f"bench took {out['bench_seconds']} s")
