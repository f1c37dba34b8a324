"""mcod: find the outliers in unlabeled data with memory and contrastive learning (MCOD).

The public names are imported on first use (PEP 562), so that ``import mcod`` and the
command line's start (``mcod --help``, a Ctrl-C while it loads) do not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = ["MCOD", "DataWarning", "MCODConfig", "__version__", "get_config", "load",
           "load_image_folder", "write_clean_copy"]

_HOMES = {
    "MCOD": "mcod.detector",
    "DataWarning": "mcod.data.inputs",
    "MCODConfig": "mcod.config",
    "get_config": "mcod.config",
    "load": "mcod.persistence",
    "load_image_folder": "mcod.data.folders",
    "write_clean_copy": "mcod.io.cleaning",
}

if TYPE_CHECKING:
    from mcod.config import MCODConfig, get_config
    from mcod.data.folders import load_image_folder
    from mcod.data.inputs import DataWarning
    from mcod.detector import MCOD
    from mcod.io.cleaning import write_clean_copy
    from mcod.persistence import load


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mcod' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
