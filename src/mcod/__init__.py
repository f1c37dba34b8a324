"""mcod: find the outliers in unlabeled data with memory and contrastive learning (MCOD)."""

__version__ = "0.1.0"

from mcod.config import MCODConfig, get_config  # noqa: E402
from mcod.detector import MCOD  # noqa: E402
from mcod.inputs import DataWarning  # noqa: E402
from mcod.persistence import load  # noqa: E402

__all__ = ["MCOD", "DataWarning", "MCODConfig", "__version__", "get_config", "load"]
