"""One of the processes that tests/test_distributed.py starts with torch.distributed.run:
it does each distributed task once and saves what this process ends with, for the test
to compare across processes and with one process alone.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py OUT
"""

from __future__ import annotations

import contextlib
import copy
import io
import sys
from pathlib import Path

import numpy as np
import torch

from mcod import MCOD, get_config
from mcod.cli.main import main as mcod_main
from mcod.nn.distributed import LaunchError, join
from mcod.nn.model import MCODNet

STEP = get_config("scratch").replace(image_size=16, feature_dim=16, embedding_dim=8,
                                      n_memory=4, queue_size=64, erase=False,
                                      rotation_weight=0.5)
FIT = get_config("scratch").replace(image_size=16)  # the digits are 8 x 8
FIT_EPOCHS = 20


def digits_task() -> tuple[np.ndarray, np.ndarray]:
    """The demo's task: digit 0 plus 10 % other digits, and which are the others."""
    from mcod.data.datasets import load_dataset, uod_split

    digits = load_dataset("digits")
    index, is_outlier = uod_split(digits.labels, inlier_class=0, rho=0.1, seed=0)
    return digits.images[index], is_outlier


def one_step() -> dict[str, object]:
    """The network after one SGD step (lr 1: the step is the gradient) on a whole batch in
    this process alone, and after one step shared by the processes, each on its share."""
    torch.manual_seed(0)
    net = MCODNet(STEP, (1, 16, 16), queue_size=64).train()
    x_q, x_k = torch.rand(2, 24, 1, 16, 16)
    turns = torch.randint(0, 4, (24,))
    with torch.no_grad():  # a queue to read: the read loss runs too
        net.after_step(net.training_losses(x_q.flip(0), x_k.flip(0), use_read=False)[1])
    alone = copy.deepcopy(net)
    terms, keys = alone.training_losses(x_q, x_k, use_read=True, quarter_turns=turns)
    _sgd_step(alone, terms)
    alone.after_step(keys)
    group = join(torch.device("cpu"))
    share = slice(24 // group.size * group.rank, 24 // group.size * (group.rank + 1))
    with group.training(net) as session:
        shared, keys = session.losses(x_q[share], x_k[share], use_read=True,
                                      quarter_turns=turns[share])
        _sgd_step(net, shared)
        net.after_step(session.gather(keys))
        shared_terms = session.mean({name: value.item() for name, value in shared.items()})
    return {"alone": alone.state_dict(), "shared": net.state_dict(),
            "terms_alone": {name: value.item() for name, value in terms.items()},
            "terms_shared": shared_terms}


def _sgd_step(net: MCODNet, terms: dict[str, torch.Tensor]) -> None:
    optimizer = torch.optim.SGD(net.query.parameters(), lr=1.0)
    sum(terms.values()).backward()  # type: ignore[union-attr]
    optimizer.step()


def digits_fit() -> dict[str, object]:
    images, is_outlier = digits_task()
    detector = MCOD(config=FIT, epochs=FIT_EPOCHS, random_state=0, device="cpu")
    detector.fit(images)
    return {"state": detector.network_.state_dict(), "truth": is_outlier,
            "scores": detector.decision_scores_, "history": detector.history_}


def pretrained_fit() -> dict[str, object]:
    """The pretrained path (each process encodes a share of the images), briefly."""
    images, is_outlier = digits_task()
    config = get_config("default").replace(encoder_size=32, members=1)
    detector = MCOD(config=config, epochs=3, random_state=0, device="cpu", feature_cache=None)
    detector.fit(images)
    return {"state": detector.network_.state_dict(), "truth": is_outlier,
            "scores": detector.decision_scores_}


def shared_rows() -> dict[str, object]:
    seen: list[int] = []

    def tenfold(part: np.ndarray) -> np.ndarray:
        seen.append(len(part))
        return part * 10

    rows = join(torch.device("cpu")).shard_rows(tenfold, np.arange(14.0).reshape(7, 2))
    return {"rows": rows, "seen": seen}


def another_seed(rank: int) -> str:
    """A fit given another seed in each process: refused everywhere, before training."""
    images, _ = digits_task()
    try:
        MCOD(random_state=rank, epochs=1, device="cpu").fit(images)
    except LaunchError as error:
        return str(error)
    return "fitted"


def command_line(out: Path) -> dict[str, object]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = mcod_main(["detect", "--epochs", "1", "--device", "cpu", "--out", str(out)])
    return {"rc": rc, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def run(out: Path) -> None:
    rank = join(torch.device("cpu")).rank
    results = {"step": one_step(), "fit": digits_fit(), "pretrained": pretrained_fit(),
               "rows": shared_rows(), "another_seed": another_seed(rank),
               "cli": command_line(out / "cli")}
    torch.save(results, out / f"rank{rank}.pt")


if __name__ == "__main__":
    run(Path(sys.argv[1]))
