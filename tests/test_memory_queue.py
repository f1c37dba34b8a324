"""Memory read / write / erase, the key queue and the momentum update, by hand."""

import pytest
import torch

from mcod.config import get_config
from mcod.nn.memory import Memory, read_distance
from mcod.nn.model import MCODNet
from mcod.nn.queue import KeyQueue


def test_memory_starts_with_unit_items():
    memory = Memory(5, 8)
    assert memory.items.shape == (5, 8)
    torch.testing.assert_close(memory.items.norm(dim=1), torch.ones(5))


def test_read_is_softmax_weighted_sum_of_items():
    memory = Memory(2, 2)
    memory.items.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    logits = torch.tensor([[0.0, 0.0], [torch.log(torch.tensor(3.0)).item(), 0.0]])
    recalled = memory.read(logits)
    torch.testing.assert_close(recalled, torch.tensor([[0.5, 0.5], [0.75, 0.25]]))


def test_write_is_normalised_soft_assigned_mean():
    memory = Memory(2, 2)
    features = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    logits = torch.tensor([[10.0, -10.0], [-10.0, 10.0]])  # near one-hot
    memory.write(features, logits)
    torch.testing.assert_close(memory.items, torch.eye(2), atol=1e-6, rtol=0)


def test_erase_moves_only_unused_items_and_keeps_stored_items_clean():
    memory = Memory(2, 3)
    memory.items.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    logits = torch.tensor([[5.0, 0.0]] * 4)  # every queued sample uses item 0
    before = memory.items.clone()
    erased = memory.erased(logits, std=0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(erased[0], before[0])  # usage 1: no noise
    assert not torch.allclose(erased[1], before[1])  # usage 0: full noise
    torch.testing.assert_close(erased.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(memory.items, before)  # scoring never sees the noise


def test_usage_shares():
    memory = Memory(3, 2)
    logits = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 1.0], [1.0, 0, 0]])
    torch.testing.assert_close(memory.usage(logits), torch.tensor([0.75, 0.0, 0.25]))


def test_read_distance():
    f = torch.tensor([[1.0, 1.0]])
    r = torch.tensor([[0.0, 1.0]])
    assert read_distance(f, r).item() == pytest.approx(1.0)


def test_distance_read_and_nearest_item_by_hand():
    memory = Memory(2, 2)
    memory.items.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    features = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logits = torch.zeros(2, 2)  # even attention: memory reads (0.5, 0.5) for both
    torch.testing.assert_close(
        memory.distance(features, logits, "read"), torch.tensor([0.5, 0.25 + 2.25])
    )
    # nearest item: item 0 for the first (distance 0), item 1 for the second (distance 1)
    torch.testing.assert_close(
        memory.distance(features, logits, "nearest"), torch.tensor([0.0, 1.0])
    )
    with pytest.raises(ValueError, match="score must be"):
        memory.distance(features, logits, "knn")


def tiny_table_net(**changes: object) -> tuple[MCODNet, torch.Tensor]:
    sizes = {"feature_dim": 8, "embedding_dim": 4, "n_memory": 2}
    config = get_config("tabular").replace(**{**sizes, **changes})
    torch.manual_seed(0)
    return MCODNet(config, (5,), queue_size=16), torch.randn(40, 5)


# Four encoded samples for consolidation, their clusters chosen by the logits (a softmax of
# (20, 0) is (1, 0) to 2e-9): three in cluster 0, though sample 2 points along item 1's axis.
RAW = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
LOGITS = torch.tensor([[20.0, 0.0], [20.0, 0.0], [20.0, 0.0], [0.0, 20.0]])


def consolidated(monkeypatch: pytest.MonkeyPatch, **changes: object) -> torch.Tensor:
    """The items `consolidate` writes when the encoder gives RAW and LOGITS."""
    net, _ = tiny_table_net(feature_dim=2, score="read", **changes)
    monkeypatch.setattr(net, "encode", lambda x: (RAW[: len(x)], LOGITS[: len(x)]))
    net.consolidate(torch.zeros(4, 5))
    return net.memory.items


def test_consolidation_writes_all_the_data_without_trim(monkeypatch: pytest.MonkeyPatch):
    # item 0: normalise((1, 0) + (1, 0) + (0, 1)) = (2, 1) / sqrt(5); item 1: (0, 1)
    expected = torch.tensor([[2 / 5**0.5, 1 / 5**0.5], [0.0, 1.0]])
    items = consolidated(monkeypatch, consolidate_trim=0.0)
    torch.testing.assert_close(items, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("by_norm", [False, True])
def test_trimmed_consolidation_leaves_out_the_worst_fitting_share(
    monkeypatch: pytest.MonkeyPatch, by_norm: bool
):
    # After the first write, samples 0 and 1 read item 0 at distance 2 - 4/sqrt(5) = 0.21,
    # sample 2 at 2 - 2/sqrt(5) = 1.11 and sample 3 reads item 1 at 0 (times the norms 1, 1,
    # 1 and 2 with score_by_norm). A trim of 0.25 keeps 3 of 4: sample 2 goes, so item 0 is
    # written from samples 0 and 1 alone.
    items = consolidated(monkeypatch, consolidate_trim=0.25, score_by_norm=by_norm)
    torch.testing.assert_close(items, torch.eye(2), atol=1e-6, rtol=0)


def test_score_by_norm_is_the_unit_feature_distance_times_the_raw_norm():
    net, _ = tiny_table_net(score="nearest", score_by_norm=True, feature_dim=2)
    net.memory.items.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    raw = torch.tensor([[3.0, 0.0], [0.0, 0.5], [2.0, 2.0]])
    # unit features (1, 0), (0, 1), (0.707, 0.707): nearest-item distances 0, 0, 2 - sqrt(2)
    expected = torch.tensor([0.0, 0.0, (2 - 2**0.5) * 8**0.5])
    torch.testing.assert_close(net.outlier_distance(raw, torch.zeros(3, 2)), expected)
    plain = tiny_table_net(score="nearest", score_by_norm=False, feature_dim=2)[0]
    plain.memory.items.copy_(net.memory.items)
    torch.testing.assert_close(
        plain.outlier_distance(raw, torch.zeros(3, 2)), torch.tensor([0.0, 0.0, 2 - 2**0.5])
    )


def test_score_by_norm_without_unit_features_is_refused():
    with pytest.raises(ValueError, match="score_by_norm needs normalize_features"):
        get_config("tabular").replace(normalize_features=False)


def test_bad_consolidation_trim_is_refused():
    with pytest.raises(ValueError, match="trim must be in"):
        tiny_table_net(consolidate_trim=1.0)


def test_bad_score_is_refused_before_any_training():
    with pytest.raises(ValueError, match="score must be"):
        get_config("scratch").replace(score="knn")


def test_queue_fills_then_wraps_fifo():
    queue = KeyQueue(size=3, feature_dim=1, embedding_dim=1, n_clusters=1)
    assert len(queue) == 0
    queue.push(torch.tensor([[1.0], [2.0]]), torch.zeros(2, 1), torch.zeros(2, 1))
    assert len(queue) == 2
    torch.testing.assert_close(queue.contents()[0], torch.tensor([[1.0], [2.0]]))
    queue.push(torch.tensor([[3.0], [4.0]]), torch.zeros(2, 1), torch.zeros(2, 1))
    assert len(queue) == 3
    # 4 overwrote the oldest key (1)
    assert sorted(queue.contents()[0].flatten().tolist()) == [2.0, 3.0, 4.0]


def test_queue_keeps_newest_when_batch_exceeds_size():
    queue = KeyQueue(size=2, feature_dim=1, embedding_dim=1, n_clusters=1)
    queue.push(torch.tensor([[1.0], [2.0], [3.0]]), torch.zeros(3, 1), torch.zeros(3, 1))
    assert sorted(queue.contents()[0].flatten().tolist()) == [2.0, 3.0]


def test_queue_rejects_nonpositive_size():
    with pytest.raises(ValueError, match="queue size"):
        KeyQueue(0, 1, 1, 1)


def test_momentum_update_moves_key_toward_query():
    config = get_config("tabular").replace(momentum=0.9)
    net = MCODNet(config, (4,), queue_size=8)
    with torch.no_grad():
        for q, k in zip(net.query.parameters(), net.key.parameters(), strict=True):
            q.fill_(1.0)
            k.fill_(0.0)
    net.momentum_update()
    for k in net.key.parameters():
        torch.testing.assert_close(k, torch.full_like(k, 0.1))
    assert all(not p.requires_grad for p in net.key.parameters())
