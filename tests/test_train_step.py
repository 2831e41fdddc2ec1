"""The lean training step (issue 28): the epoch's augmentation flags drawn at once, normalisation
constants resident on the device, no host synchronisation inside the step; and the captured (CUDA
graph) step refused in one line where there is no CUDA.

The reference below is the step as it was before (flags drawn and copied to the device every step,
constants copied every step, ``x[idx]`` indexing), kept here only to prove the lean step computes
the same thing bit for bit on the CPU."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segmentation.model import build_model
from segmentation.space import default_config
from segmentation.train import (MEAN, STD, CapturedStepUnavailable, _autocast, _Loss, _make_optimiser,
                                _steps_per_epoch, draw_flags, load_task, require_captured_step, train)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke(real_data):
    return load_task("smoke", str(real_data))


def _reference_train(config, epochs, seed, task):
    """Per-step losses and final weights of the step as written before issue 28."""
    device = task.device
    x_train, y_train = task.x["train"], task.y["train"]
    n, bs = x_train.shape[0], int(config["batch_size"])
    spe = _steps_per_epoch(n, bs)
    loss_fn = _Loss(config["loss"])
    losses = []
    with torch.random.fork_rng(devices=[]):
        gen = torch.Generator()
        torch.manual_seed(seed)
        gen.manual_seed(seed)
        model = build_model(config, task.profile).to(device)
        if task.channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt, sched = _make_optimiser(model, config, spe, task.profile, None)
        for _ in range(epochs):
            model.train()
            perm = torch.randperm(n, generator=gen).to(device)
            for step in range(spe):
                idx = perm[step * bs:(step + 1) * bs]
                x, y = x_train[idx], y_train[idx]
                if config["augment"]:  # the old per-step draw and copy
                    flags = torch.randint(0, 2, (3, x.shape[0]), generator=gen).bool().to(x.device)
                    t, h, v = (f.view(-1, 1, 1, 1) for f in flags)
                    yt = y.unsqueeze(1)
                    x = torch.where(t, x.transpose(-1, -2), x)
                    yt = torch.where(t, yt.transpose(-1, -2), yt)
                    x = torch.where(h, x.flip(-1), x)
                    yt = torch.where(h, yt.flip(-1), yt)
                    x = torch.where(v, x.flip(-2), x)
                    yt = torch.where(v, yt.flip(-2), yt)
                    y = yt.squeeze(1)
                x = x.float().div_(255)
                x = (x - MEAN.to(x.device)) / STD.to(x.device)
                if task.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(device):
                    logits = model(x)
                loss = loss_fn(logits, y.long())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.detach().clone())
    return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}, gen.get_state()


def test_epoch_flags_drawn_at_once_equal_per_step_draws():
    for steps, batch in ((1, 8), (7, 16), (300, 32)):
        a, b = torch.Generator(), torch.Generator()
        a.manual_seed(11)
        b.manual_seed(11)
        per_step = torch.stack([torch.randint(0, 2, (3, batch), generator=a).bool() for _ in range(steps)])
        at_once = draw_flags(b, steps, batch, torch.device("cpu"))
        assert at_once.shape == (steps, 3, batch) and at_once.dtype == torch.bool
        assert torch.equal(per_step, at_once)
        assert torch.equal(a.get_state(), b.get_state())  # what follows (the next epoch's permutation) is the same


@pytest.mark.parametrize("encoder,loss,augment", [("resnet18", "ce", True), ("mobilenet_v2", "dice_focal", True),
                                                  ("resnet18", "ce", False)])
def test_lean_step_is_bit_identical_to_the_per_step_draws(smoke, encoder, loss, augment):
    cfg = dict(default_config(smoke.profile), encoder=encoder, loss=loss, augment=augment, batch_size=8)
    ref_losses, ref_weights, ref_gen = _reference_train(cfg, 2, 5, smoke)
    losses = []
    r = train(cfg, 2, 5, smoke, on_step=losses.append, save_to=None)
    assert r.status == "ok" and len(losses) == len(ref_losses) >= 4
    assert all(torch.equal(a, b) for a, b in zip(losses, ref_losses))
    spe = len(losses) // 2
    for e, chunk in zip(r.epochs, (ref_losses[:spe], ref_losses[spe:])):
        total = torch.zeros(())
        for x in chunk:
            total += x
        assert e.train_loss == float(total) / spe


def test_lean_step_checkpoint_holds_the_reference_weights_and_generator(smoke, tmp_path):
    cfg = dict(default_config(smoke.profile), augment=True, batch_size=8)
    _, ref_weights, ref_gen = _reference_train(cfg, 2, 1, smoke)
    train(cfg, 2, 1, smoke, save_to=tmp_path / "c.pt")
    ck = torch.load(tmp_path / "c.pt", weights_only=True)
    assert torch.equal(ck["rng_data"], ref_gen)
    assert ck["model"] and all(torch.equal(v, ref_weights[k]) for k, v in ck["model"].items())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_captured_step_refused_without_cuda(smoke):
    with pytest.raises(CapturedStepUnavailable, match="needs a CUDA device"):
        require_captured_step(torch.device("cpu"))
    with pytest.raises(CapturedStepUnavailable, match="CUDA"):
        train(default_config(smoke.profile), 1, 0, smoke, captured=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_captured_step_cli_refuses_in_one_line(real_data):
    res = subprocess.run([sys.executable, "-m", "bench", "train", "--profile", "smoke", "--epochs", "1",
                          "--captured-step", "--data", str(real_data)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --captured-step:") and "CUDA" in err[0], res.stderr
    assert "epoch" not in res.stdout  # nothing trained


def test_a_captured_steps_optimiser_state_is_saved_in_the_eager_format():
    """A captured step keeps its learning rate and step counts as device tensors and its optimiser
    capturable; its checkpoint is written in the eager step's format (float rates, CPU step counts,
    capturable off), so either step continues it."""
    import copy

    from segmentation.train import _eager_state
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
    p.grad = torch.ones(3)
    opt.step()
    sched.step()
    eager, eager_sched = opt.state_dict(), sched.state_dict()
    captured = copy.deepcopy(eager)
    captured["param_groups"][0].update(lr=torch.tensor(0.05), capturable=True)
    captured_sched = dict(copy.deepcopy(eager_sched), _last_lr=[torch.tensor(0.05)])
    out, out_sched = _eager_state(captured), _eager_state(captured_sched)
    group = out["param_groups"][0]
    assert isinstance(group["lr"], float) and group["lr"] == float(torch.tensor(0.05)) and group["capturable"] is False
    assert {k: v for k, v in group.items() if k not in ("lr", "capturable")} == \
        {k: v for k, v in eager["param_groups"][0].items() if k not in ("lr", "capturable")}
    for k in ("step", "exp_avg", "exp_avg_sq"):
        assert torch.equal(out["state"][0][k], eager["state"][0][k]) and out["state"][0][k].device.type == "cpu"
    assert out_sched["_last_lr"] == [float(torch.tensor(0.05))] and out_sched["base_lrs"] == eager_sched["base_lrs"]
    again = torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))], lr=0.1)
    again.load_state_dict(out)  # loadable by the eager step
    assert again.param_groups[0]["capturable"] is False
