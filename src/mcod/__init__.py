"""mcod: find the outliers in unlabeled data with memory and contrastive learning (MCOD)."""

__version__ = "0.1.0"
