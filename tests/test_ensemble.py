"""The ensemble of members: its score is their mean, its history their mean, members differ."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mcod import MCOD
from mcod.config import get_config
from mcod.nn.ensemble import MCODEnsemble, mean_history

SMALL = get_config("tabular").replace(feature_dim=8, embedding_dim=4, n_memory=2, members=3)


def test_score_is_the_mean_of_the_members_scores():
    torch.manual_seed(0)
    ensemble = MCODEnsemble(SMALL, (5,), queue_size=16).eval()
    x = torch.randn(12, 5)
    each = torch.stack([member.score(x) for member in ensemble.members])
    assert not torch.allclose(each[0], each[1])  # members start from different draws
    torch.testing.assert_close(ensemble.score(x), each.mean(dim=0))


def test_mean_history_averages_each_term_of_each_epoch():
    histories = [
        [{"inst": 1.0}, {"inst": 2.0, "read": 4.0}],
        [{"inst": 3.0}, {"inst": 0.0, "read": 2.0}],
    ]
    assert mean_history(histories) == [{"inst": 2.0}, {"inst": 1.0, "read": 3.0}]


def test_fitted_scores_and_history_come_from_every_member():
    X = np.random.default_rng(0).normal(size=(48, 5))
    detector = MCOD(config=SMALL, epochs=2, batch_size=16, random_state=0).fit(X)
    assert len(detector.network_.members) == 3
    assert len(detector.history_) == 2
    data = detector.preprocessor_.transform(detector.preprocessor_.check(X))
    each = np.stack([member.score(data).double().numpy() for member in detector.network_.members])
    np.testing.assert_allclose(detector.decision_scores_, each.mean(axis=0), rtol=1e-6)
    features, attention = detector.embed(X)  # the first member's, for reports
    assert features.shape == (48, 8) and attention.shape == (48, 2)


def test_fewer_than_one_member_is_refused():
    with pytest.raises(ValueError, match="members must be at least 1"):
        get_config("tabular").replace(members=0)
