"""One colour and one marker per method across all figures (Okabe-Ito, colour-blind safe)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
LINESTYLES = ["-", "--", ":", "-."]

# The methods every suite shares keep the same look in every figure.
FIXED = {  # label: (colour index, marker index, line style)
    "hyperband": (0, 0, "-"), "hb-eta3": (0, 0, "-"), "random": (7, 1, "-"), "random (2x budget)": (7, 4, ":"),
    "smac-bo": (3, 2, "-"), "smac-hb": (4, 3, "-"), "skopt-gp": (1, 5, "-"), "hb-eta2": (5, 6, "-"),
    "hb-eta3-table1": (5, 7, "--"), "hb-eta4": (2, 8, "-"),
    # the workers study: an asynchronous version shares its synchronous original's colour, dashed
    "async-hyperband": (0, 9, "--"), "sh": (2, 10, "-."), "asha": (2, 11, "--"), "optuna-tpe-hb": (3, 5, "--"),
    "dehb": (5, 4, "--"),
}


def method_style(label: str, order: list[str]) -> dict:
    """matplotlib keywords (color, marker, linestyle) for a method label; stable across figures."""
    if label in FIXED:
        c, m, ls = FIXED[label]
        return {"color": OKABE_ITO[c], "marker": MARKERS[m], "linestyle": ls}
    # Other labels (single brackets, successive halving with some n, ...) are never drawn with a
    # solid line, so their (colour, marker, line style) never repeats one of the fixed methods'.
    others = [x for x in order if x not in FIXED]
    k = others.index(label) if label in others else len(others)
    return {"color": OKABE_ITO[(k + 1) % len(OKABE_ITO)], "marker": MARKERS[(k + 9) % len(MARKERS)],
            "linestyle": LINESTYLES[1 + (k // len(OKABE_ITO)) % (len(LINESTYLES) - 1)]}


def setup() -> None:
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "font.size": 9, "axes.grid": True,
                         "grid.alpha": 0.3, "legend.fontsize": 8, "axes.titlesize": 10,
                         "svg.hashsalt": "aerial-hpo-bench", "pdf.fonttype": 42})


META = {"Creator": "aerial-hpo-bench paper", "CreationDate": None}


def save(fig, out, stem: str) -> list:
    """Write ``fig`` as ``<out>/<stem>.png`` and ``.pdf`` (no timestamps: rebuilt byte for byte) and close it."""
    from pathlib import Path

    import matplotlib.pyplot as plt
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.savefig(paths[0], bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata=META)
    plt.close(fig)
    return paths
