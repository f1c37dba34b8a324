"""A tiny configuration so that API tests train in a fraction of a second."""

from mcod import get_config

TINY = get_config("scratch").replace(
    name="tiny-test", image_size=8, feature_dim=16, embedding_dim=8, n_memory=4, queue_size=64
)
