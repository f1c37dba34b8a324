"""Training under torchrun (mcod.nn.distributed): the launch is read and checked, batches
are shared out, BatchNorm is synchronised; and, in two gloo processes spawned here, one
step equals one process's step on the whole batch, a fit separates the digits' outliers as
one process does, and every process ends with the same model."""

from __future__ import annotations

import contextlib
import copy
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from sklearn.metrics import roc_auc_score
from torch import nn

import mcod
from mcod.cli.main import main
from mcod.nn.distributed import Launch, LaunchError, launch_from_env, shard_batches
from mcod.nn.sharing import SyncedBatchNorm, synced_batchnorm

TESTS = Path(__file__).parent
LAUNCH = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
          "MASTER_PORT": "29500"}


# --------------------------------------------------------------------------- the launch


def test_one_process_without_torchrun() -> None:
    assert launch_from_env({}) is None
    assert launch_from_env({"WORLD_SIZE": "1", "RANK": "0"}) is None


def test_torchrun_environment_is_read() -> None:
    assert launch_from_env(LAUNCH) == Launch(rank=1, size=2, local_rank=1)


@pytest.mark.parametrize(("change", "message"), [
    ({"MASTER_ADDR": None}, "WORLD_SIZE=2 is set but MASTER_ADDR is not"),
    ({"RANK": None, "MASTER_PORT": None}, "RANK and MASTER_PORT are not"),
    ({"RANK": "2"}, "RANK=2 is not below WORLD_SIZE=2"),
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ({"MASTER_PORT": "70000"}, "MASTER_PORT=70000 is not a port"),
])
def test_a_wrong_launch_is_refused(change: dict[str, str | None], message: str) -> None:
    environ = {k: v for k, v in {**LAUNCH, **change}.items() if v is not None}
    with pytest.raises(LaunchError, match=message) as error:
        launch_from_env(environ)
    assert "torchrun --nproc-per-node" in str(error.value)


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


def test_detect_refuses_a_wrong_launch_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    for name, value in LAUNCH.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MASTER_ADDR")
    rc, err = _run(["detect", "--epochs", "1", "--out", str(tmp_path / "out")])
    assert rc == 2
    assert err.startswith("mcod: error: WORLD_SIZE=2 is set but MASTER_ADDR is not")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["score", "model.pt"], ["clean", "--out", "x"],
                                     ["bench", "report"]])
def test_commands_that_do_not_train_refuse_torchrun(monkeypatch: pytest.MonkeyPatch,
                                                    command: list[str]) -> None:
    for name, value in LAUNCH.items():
        monkeypatch.setenv(name, value)
    rc, err = _run(command)
    assert rc == 2
    assert f"mcod: error: mcod {command[0]}" in err and "runs in one process" in err


# --------------------------------------------------------------------------- batches


def test_the_shares_of_a_batch_are_the_batch_in_rank_order() -> None:
    order = torch.randperm(23, generator=torch.Generator().manual_seed(0))
    shares = [shard_batches(order, 8, rank, 2) for rank in range(2)]
    assert [len(share) for share in shares[0]] == [4, 4]  # 2 whole batches of 8
    for step, batch in enumerate(order[:16].split(8)):
        torch.testing.assert_close(torch.cat([shares[0][step], shares[1][step]]), batch)


def test_an_uneven_batch_drops_its_remainder_and_a_tiny_one_is_refused() -> None:
    order = torch.arange(20)
    assert [b.tolist() for b in shard_batches(order, 7, 2, 3)] == [[4, 5], [10, 11],
                                                                   [16, 17]]
    with pytest.raises(ValueError, match="at least 6"):
        shard_batches(order, 5, 0, 3)


# --------------------------------------------------------------------------- BatchNorm


@pytest.fixture
def one_process_group(tmp_path: Path):
    """A gloo group of this process alone: the synchronised paths run, with one share."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(6, 3), (6, 3, 4, 5)])
def test_synced_batchnorm_is_batchnorm_in_one_process(
    one_process_group: None, momentum: float | None, shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    plain = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(3, momentum=momentum)
    nn.init.normal_(plain.weight)
    nn.init.normal_(plain.bias)
    synced = SyncedBatchNorm(copy.deepcopy(plain))
    x, weights = torch.randn(shape) * 3 + 1, torch.randn(shape)
    close = {"rtol": 1e-5, "atol": 1e-5}  # sums in another order
    for _ in range(2):  # the running statistics move twice
        inputs = [x.clone().requires_grad_() for _ in range(2)]
        outputs = [plain(inputs[0]), synced(inputs[1])]
        torch.testing.assert_close(outputs[1], outputs[0], **close)
        for out in outputs:
            (out * weights).sum().backward()
        torch.testing.assert_close(inputs[1].grad, inputs[0].grad, **close)
    for name, tensor in plain.state_dict().items():
        torch.testing.assert_close(synced.state_dict()[name], tensor)
    torch.testing.assert_close(synced.weight.grad, plain.weight.grad, **close)
    torch.testing.assert_close(synced.bias.grad, plain.bias.grad, **close)
    synced.eval(), plain.eval()
    torch.testing.assert_close(synced(x), plain(x))


def test_synced_batchnorm_shares_the_tensors_and_is_put_back() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Sequential(nn.BatchNorm1d(3)))
    originals = [net[1], net[2][0]]
    keys = list(net.state_dict())
    with synced_batchnorm(net):
        assert isinstance(net[1], SyncedBatchNorm) and isinstance(net[2][0], SyncedBatchNorm)
        assert net[1].weight is originals[0].weight
        assert net[2][0].running_mean is originals[1].running_mean
        assert list(net.state_dict()) == keys
        net.eval()
    assert [net[1], net[2][0]] == originals
    assert not originals[0].training  # the mode set inside is kept


# --------------------------------------------------------------------------- two processes


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """What each of two gloo processes ended with (tests/ddp_worker.py)."""
    out = tmp_path_factory.mktemp("ddp")
    source = str(Path(mcod.__file__).parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(TESTS / "ddp_worker.py"), str(out)],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in range(2)]


def test_one_shared_step_is_one_step_on_the_whole_batch(ranks: list[dict]) -> None:
    for rank in ranks:
        step = rank["step"]
        for name, tensor in step["alone"].items():  # weights after SGD, lr 1: the gradients
            torch.testing.assert_close(step["shared"][name], tensor, rtol=1e-5, atol=1e-5)
        assert step["terms_shared"] == pytest.approx(step["terms_alone"], rel=1e-5)
        assert set(step["terms_alone"]) == {"inst", "clu", "bal", "read", "rot"}


@pytest.mark.parametrize("fit", ["fit", "pretrained"])
def test_every_process_ends_with_the_same_model(ranks: list[dict], fit: str) -> None:
    first, second = ranks[0][fit], ranks[1][fit]
    assert first["state"].keys() == second["state"].keys()
    for name, tensor in first["state"].items():  # weights, BatchNorm, queue, memory
        assert torch.equal(second["state"][name], tensor), name
    assert (first["scores"] == second["scores"]).all()


def test_two_processes_separate_outliers_as_one_does(ranks: list[dict]) -> None:
    from ddp_worker import digits_fit

    alone = digits_fit()
    shared = ranks[0]["fit"]
    auroc_alone = roc_auc_score(alone["truth"], alone["scores"])
    auroc_shared = roc_auc_score(shared["truth"], shared["scores"])
    assert auroc_alone > 0.95
    assert abs(auroc_shared - auroc_alone) <= 0.01, (auroc_shared, auroc_alone)
    assert roc_auc_score(ranks[0]["pretrained"]["truth"], ranks[0]["pretrained"]["scores"]) > 0.9


def test_each_process_encodes_its_share_of_the_images(ranks: list[dict]) -> None:
    assert [rank["rows"]["seen"] for rank in ranks] == [[3], [4]]
    for rank in ranks:
        assert (rank["rows"]["rows"] == torch.arange(14.0).view(7, 2).numpy() * 10).all()


def test_a_process_given_another_seed_stops_every_process(ranks: list[dict]) -> None:
    for rank in ranks:
        assert rank["another_seed"].startswith(
            "process 1 was given other random_state than process 0 (1, not 0)")


def test_process_0_alone_reports_and_writes(ranks: list[dict]) -> None:
    first, second = ranks[0]["cli"], ranks[1]["cli"]
    assert first["rc"] == second["rc"] == 0
    assert "demo AUROC" in first["stdout"] and "wrote" in first["stdout"]
    assert second["stdout"] == second["stderr"] == ""
