"""The paper's title names the methods the stores hold, each family once."""
from paper.report import title


def test_title_names_every_held_method_once_in_a_fixed_order():
    assert title(["skopt-gp", "random-search", "hyperband", "smac-hb", "smac-bo", "hyperband-bracket"]) == (
        "Which tuner for expensive trials? Hyperband, successive halving, random search, SMAC and scikit-optimize "
        "on U-Net segmentation of aerial imagery")
    assert title(["my-tuner", "random-search"]).startswith("Which tuner for expensive trials? Random search and "
                                                           "my-tuner on")
