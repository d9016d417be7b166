"""Name a line of the learner's shop in a diagnosis, found by what it says."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["shop_site"]


def shop_site(root: str | Path, module: str, *patterns: str) -> str:
    """Return `module:<line>` of the first line matching one of `patterns`.

    The patterns are tried in order; with none matching, the first line.
    """
    path = Path(root) / module
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    for pattern in patterns:
        found = [n for n, line in enumerate(lines, 1) if re.search(pattern, line)]
        if found:
            return f"{module}:{found[0]}"
    return f"{module}:1"
