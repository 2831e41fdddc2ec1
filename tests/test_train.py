import math

import numpy as np
import pytest
import torch
from PIL import Image

from segmentation.palette import COLOURS
from segmentation.predict import predict_image, save_mask_png
from segmentation.space import default_config, search_space
from segmentation.train import load_checkpoint, load_task, model_from_checkpoint, train


@pytest.fixture(scope="module")
def smoke(real_data):
    return load_task("smoke", str(real_data))


def _same(a, b):
    return [(e.train_loss, e.val_loss, e.val_miou) for e in a] == [(e.train_loss, e.val_loss, e.val_miou) for e in b]


@pytest.mark.parametrize("encoder,loss", [("resnet18", "ce"), ("mobilenet_v2", "dice_focal")])
def test_continue_from_checkpoint_equals_uninterrupted(smoke, tmp_path, encoder, loss):
    cfg = dict(default_config(smoke.profile), encoder=encoder, loss=loss, augment=True)
    full = train(cfg, 4, 3, smoke, save_to=tmp_path / "full.pt")
    part = train(cfg, 1, 3, smoke, save_to=tmp_path / "a.pt")
    rest = train(cfg, 4, 3, smoke, checkpoint=tmp_path / "a.pt", save_to=tmp_path / "b.pt")
    assert [e.epoch for e in rest.epochs] == [2, 3, 4]
    assert _same(full.epochs, part.epochs + rest.epochs)
    fa, fb = load_checkpoint(tmp_path / "full.pt"), load_checkpoint(tmp_path / "b.pt")
    assert fa["epoch"] == fb["epoch"] == 4
    assert all(torch.equal(fa["model"][k], fb["model"][k]) for k in fa["model"])


def test_checkpoint_leaves_out_unused_encoder_stages(smoke, tmp_path):
    cfg = dict(default_config(smoke.profile), encoder="resnet18")
    train(cfg, 1, 0, smoke, save_to=tmp_path / "c.pt")
    keys = load_checkpoint(tmp_path / "c.pt")["model"].keys()
    assert any(k.startswith("encoder.layer2.") for k in keys)      # depth 3 uses layer1, layer2
    assert not any(k.startswith("encoder.layer4.") for k in keys)  # never trained, never stored


def test_same_seed_same_result_other_seed_differs(smoke):
    cfg = default_config(smoke.profile)
    a, b, c = (train(cfg, 2, s, smoke) for s in (1, 1, 2))
    assert _same(a.epochs, b.epochs)
    assert not _same(a.epochs, c.epochs)


def test_epoch_records_and_test_only_on_request(smoke):
    r = train(default_config(smoke.profile), 2, 0, smoke)
    assert r.status == "ok" and [e.epoch for e in r.epochs] == [1, 2]
    e = r.epochs[-1]
    assert len(e.val_iou) == len(e.val_precision) == len(e.val_recall) == 6
    assert 0 <= e.val_miou <= 1 and e.val_loss > 0 and e.seconds > 0
    assert e.test is None
    r2 = train(default_config(smoke.profile), 1, 0, smoke, with_test=True)
    assert 0 <= r2.epochs[0].test["miou"] <= 1


def test_non_finite_loss_fails_the_trial(smoke):
    cfg = dict(default_config(smoke.profile), learning_rate=math.inf)
    r = train(cfg, 3, 0, smoke)
    assert r.status == "failed"
    assert "non-finite" in r.error and "nan" in r.error.lower()
    assert all(math.isfinite(e.val_loss) for e in r.epochs)


def test_checkpoint_of_other_config_is_refused(smoke, tmp_path):
    cfg = default_config(smoke.profile)
    train(cfg, 1, 0, smoke, save_to=tmp_path / "a.pt")
    with pytest.raises(ValueError, match="trained with config"):
        train(dict(cfg, learning_rate=0.01), 2, 0, smoke, checkpoint=tmp_path / "a.pt")


def test_predict_whole_image_and_palette_png(smoke, tmp_path):
    cfg = default_config(smoke.profile)
    train(cfg, 1, 0, smoke, save_to=tmp_path / "m.pt")
    model, _ = model_from_checkpoint(tmp_path / "m.pt", smoke.profile, smoke.device)
    img = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)  # not a multiple of 32
    pred = predict_image(model, img, smoke.profile.patch, smoke.device)
    assert pred.shape == (45, 70) and pred.max() < 6
    # stitching: the top-left patch equals predicting that patch alone
    alone = predict_image(model, img[:32, :32], 32, smoke.device)
    assert (pred[:32, :32] == alone).all()
    png = np.array(Image.open(save_mask_png(pred, tmp_path / "p.png")).convert("RGB"))
    assert {tuple(c) for c in png.reshape(-1, 3)} <= set(COLOURS)


def test_space_has_the_required_hyperparameters(smoke):
    cs = search_space(smoke.profile)
    names = set(cs.keys())
    assert {"learning_rate", "weight_decay", "batch_size", "encoder", "decoder_width", "loss", "augment"} <= names
    assert cs["learning_rate"].log and cs["weight_decay"].log
    assert set(cs["loss"].choices) == {"ce", "dice_focal"}
    assert default_config(smoke.profile)["encoder"] in cs["encoder"].choices
