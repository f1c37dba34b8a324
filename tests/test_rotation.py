"""The rotation ablation (`rotation_weight`, `score_rotations`): the auxiliary loss trains,
and the score is the memory distance averaged over the four quarter turns."""

from __future__ import annotations

import numpy as np
import torch
from tiny import TINY

from mcod import MCOD
from mcod.nn.augment import rotate_batch
from mcod.nn.model import MCODNet


def _images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(24, 8, 8), dtype=np.uint8)


def test_rotation_loss_is_trained_and_recorded():
    detector = MCOD(config=TINY.replace(rotation_weight=1.0), epochs=2, random_state=0,
                    device="cpu").fit(_images())
    assert all("rot" in epoch and np.isfinite(epoch["rot"]) for epoch in detector.history_)
    plain = MCOD(config=TINY, epochs=2, random_state=0, device="cpu").fit(_images())
    assert all("rot" not in epoch for epoch in plain.history_)


def test_scored_rotations_average_the_four_quarter_turns():
    detector = MCOD(config=TINY.replace(rotation_weight=1.0, score_rotations=True), epochs=1,
                    random_state=0, device="cpu").fit(_images())
    net = detector.network_.first.eval()
    x = torch.from_numpy(_images()[:5, None].astype(np.float32) / 255)
    distances = [net.outlier_distance(*net.score_encode(torch.rot90(x, k, dims=(2, 3))))
                 for k in range(4)]
    torch.testing.assert_close(net.score(x), torch.stack(distances).mean(0))
    assert not torch.allclose(distances[0], distances[1])  # the turns do differ


def test_rotate_batch_turns_each_image_by_its_own_quarter_turns():
    x = torch.arange(2 * 4, dtype=torch.float32).reshape(2, 1, 2, 2)
    turned = rotate_batch(x, torch.tensor([0, 1]))
    torch.testing.assert_close(turned[0], x[0])
    torch.testing.assert_close(turned[1], torch.rot90(x[1], 1, dims=(1, 2)))


def test_rotation_term_is_the_weighted_cross_entropy_of_the_rotation_head():
    torch.manual_seed(0)
    net = MCODNet(TINY.replace(rotation_weight=0.5), (1, 8, 8), queue_size=16).train()
    x, turns = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    state = net.state_dict()
    terms, _ = net.training_losses(x, x, use_read=False, quarter_turns=turns)
    net.load_state_dict(state)  # the same weights and BatchNorm statistics as in the step
    assert net.query.rotation is not None
    logits = net.query.rotation(net.query(x)[0])
    expected = 0.5 * torch.nn.functional.cross_entropy(logits, turns)
    torch.testing.assert_close(terms["rot"], expected)
    unturned, _ = net.training_losses(x, x, use_read=False)  # no turns given: no term
    assert set(unturned) == {"inst", "clu", "bal"}


def test_without_a_rotation_weight_there_is_no_head_and_no_term():
    net = MCODNet(TINY, (1, 8, 8), queue_size=16).train()
    assert net.query.rotation is None
    terms, _ = net.training_losses(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8),
                                   use_read=False, quarter_turns=torch.tensor([0, 1, 2, 3]))
    assert "rot" not in terms
