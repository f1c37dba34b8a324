"""Loss terms against values computed by hand on tiny cases."""

import math

import pytest
import torch

from mcod.nn import losses


def test_instance_nce_matches_hand_computed_value():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.6, 0.8]])
    negatives = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    tau = 0.5
    # logits: q.k = 0.6, q.n = 0, -1 -> -log(e^{1.2} / (e^{1.2} + e^0 + e^{-2}))
    expected = -math.log(math.exp(1.2) / (math.exp(1.2) + 1 + math.exp(-2)))
    assert losses.instance_nce(q, k, negatives, tau).item() == pytest.approx(expected, rel=1e-6)


def test_instance_nce_at_large_temperature_is_pinned_at_chance():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    negatives = torch.nn.functional.normalize(torch.randn(99, 16), dim=1)
    # the release's tau = 10 leaves the loss near ln(r + 1), whatever the features
    value = losses.instance_nce(q, q, negatives, temperature=10.0).item()
    assert value == pytest.approx(math.log(100), abs=0.15)


def test_instance_nce_with_empty_queue_is_zero():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert losses.instance_nce(q, q, torch.zeros(0, 2), 0.2).item() == pytest.approx(0.0)


def test_instance_nce_gives_no_gradient_to_keys():
    q = torch.randn(4, 3, requires_grad=True)
    k = torch.randn(4, 3, requires_grad=True)
    losses.instance_nce(q, k, torch.randn(5, 3), 0.2).backward()
    assert q.grad is not None and k.grad is None


def test_cluster_contrastive_hand_computed_two_clusters():
    # each view assigns sample 0 to cluster 0 and sample 1 to cluster 1: columns are one-hot
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tau = 1.0
    # normalised columns: c0 = e0, c1 = e1 in both views; for row c0 of view a the
    # candidates are c1(a) = 0, c0(b) = 1 (positive), c1(b) = 0
    expected = -math.log(math.e / (math.e + 1 + 1))
    assert losses.cluster_contrastive(a, a, tau).item() == pytest.approx(expected, rel=1e-6)


def test_cluster_contrastive_prefers_agreeing_views():
    a = torch.tensor([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2]])
    swapped = a.flip(1)
    assert losses.cluster_contrastive(a, a, 0.5) < losses.cluster_contrastive(a, swapped, 0.5)


def test_balance_entropy_zero_when_even_and_log_k_when_collapsed():
    even = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    collapsed = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert losses.balance_entropy(even).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.balance_entropy(collapsed).item() == pytest.approx(math.log(2), rel=1e-5)


def test_balance_squared_usage_release_form():
    u = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    # column sums 1.5, 1.5 -> (2.25 + 2.25) / 3
    assert losses.balance_squared_usage(u).item() == pytest.approx(1.5)


def test_memory_read_loss_mean_and_sum():
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    r = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    assert losses.memory_read_loss(f, r, "mean").item() == pytest.approx(1.0)
    assert losses.memory_read_loss(f, r, "sum").item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="reduction"):
        losses.memory_read_loss(f, r, "max")


def test_memory_read_loss_trim_leaves_out_the_worst_fitting_samples():
    # squared distances 1, 4, 9, 16, 25: trim 0.2 keeps the best 4 of 5
    f = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]])
    r = torch.zeros(5, 1)
    assert losses.memory_read_loss(f, r, "mean", trim=0.2).item() == pytest.approx(7.5)
    assert losses.memory_read_loss(f, r, "sum", trim=0.2).item() == pytest.approx(30.0)
    assert losses.memory_read_loss(f, r, "mean", trim=0.0).item() == pytest.approx(11.0)
    # the gradient reaches only the kept samples
    f.requires_grad_(True)
    losses.memory_read_loss(f, r, "sum", trim=0.4).backward()
    assert f.grad[:, 0].tolist() == pytest.approx([2.0, 4.0, 6.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="trim"):
        losses.memory_read_loss(f, r, "mean", trim=1.0)
