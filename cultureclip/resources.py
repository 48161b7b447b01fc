"""Files at the repository's root that the code reads: the card templates and the run configs.

A checkout (or an editable install) reads them in place; a regular install has copies under
``<prefix>/share/cultureclip`` (``data_files`` in setup.cfg).
"""

from __future__ import annotations

import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
INSTALLED = Path(sys.prefix) / "share" / "cultureclip"


def project_file(relative: str) -> Path:
    """The path of ``relative`` (e.g. ``"dataset_card.md"``, ``"configs/tiny.yaml"``)."""
    for root in (CHECKOUT, INSTALLED):
        if (root / relative).is_file():
            return root / relative
    raise FileNotFoundError(
        f"{relative} is neither in the checkout ({CHECKOUT}) nor in the installed data ({INSTALLED}); "
        "reinstall cultureclip, or run from a checkout of the repository."
    )
