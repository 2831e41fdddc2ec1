import numpy as np
import pytest
import torch

from segmentation.metrics import confusion, scores
from segmentation.palette import CLASSES, COLOURS, UNLABELED, class_to_rgb, rgb_to_class


def test_palette_follows_readme_not_classes_json():
    assert COLOURS[CLASSES.index("Water")] == (226, 169, 41)     # #E2A929 is the sea
    assert COLOURS[CLASSES.index("Building")] == (60, 16, 152)   # #3C1098 is roofs
    assert COLOURS[CLASSES.index("Road")] == (110, 193, 228)


def test_rgb_to_class_roundtrip_and_black_is_unlabeled():
    classes = np.arange(6, dtype=np.uint8).reshape(2, 3)
    rgb = class_to_rgb(classes)
    rgb[0, 0] = (0, 0, 0)
    out, unknown = rgb_to_class(rgb)
    assert unknown == {}
    assert out[0, 0] == UNLABELED
    assert (out.ravel()[1:] == classes.ravel()[1:]).all()


def test_unknown_colour_is_named_with_count():
    rgb = class_to_rgb(np.zeros((3, 3), np.uint8))
    rgb[0, :2] = (1, 2, 3)
    _, unknown = rgb_to_class(rgb)
    assert unknown == {"#010203": 2}


def test_confusion_and_scores_hand_computed():
    # 3 classes; targets and predictions of 8 pixels
    t = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    p = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    conf = confusion(t, p, 3)
    assert conf.tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    s = scores(conf)
    # class 0: TP 2, FP 1, FN 1 -> IoU 2/4; class 1: TP 1, FP 1, FN 1 -> 1/3; class 2: TP 2, FP 1, FN 1 -> 2/4
    assert s["iou"] == pytest.approx([0.5, 1 / 3, 0.5])
    assert s["precision"] == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert s["recall"] == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert s["miou"] == pytest.approx((0.5 + 1 / 3 + 0.5) / 3)
    assert s["pixel_accuracy"] == pytest.approx(5 / 8)


def test_scores_are_micro_not_batch_averaged():
    # batch A: class 0 only, all right; batch B: class 0 all wrong (predicted 1)
    a = confusion(torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long), 2)
    b = confusion(torch.zeros(1, dtype=torch.long), torch.ones(1, dtype=torch.long), 2)
    s = scores(a + b)
    assert s["iou"][0] == pytest.approx(4 / 5)   # summed counts, not mean of 1.0 and 0.0
    assert s["precision"][1] == 0.0
    assert s["miou"] == pytest.approx((4 / 5 + 0.0) / 2)


def test_absent_class_is_nan_and_skipped():
    s = scores(confusion(torch.tensor([0, 0]), torch.tensor([0, 0]), 3))
    assert np.isnan(s["iou"][1]) and np.isnan(s["iou"][2])
    assert s["miou"] == 1.0
