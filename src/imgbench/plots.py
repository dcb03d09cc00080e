"""Figures of an experiment (PNG and SVG), drawn from its result tables only.

Every figure's base case is the serial loop of the same task, size, storage, cache and
number of images. The file names in ``FIGURES`` are stable: the workflow declares them as
outputs, so all of them are written even when there is nothing to plot.
"""

from __future__ import annotations

import io
import math
import zlib
from pathlib import Path

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402
from PIL import Image  # noqa: E402

from imgbench.analysis import BASELINE  # noqa: E402
from imgbench.errors import ImgbenchError  # noqa: E402
from imgbench.results import write_atomic  # noqa: E402

#: Stems of the figures ``plot_all`` writes, each as ``.png`` and ``.svg``.
FIGURES = ("speedup", "efficiency", "faster_than_serial")
FORMATS = ("png", "svg")
BASE_CASE = "base case: serial loop, same task/size/n"

#: One colour per strategy in every figure where hue is the strategy (colour-blind safe).
STRATEGY_COLORS: dict[str, str] = {
    "serial": "#7f7f7f",
    "threads": "#0072b2",
    "processes": "#d55e00",
    "processes_chunked": "#e69f00",
    "asyncio": "#009e73",
}
_SPARE_COLORS = ("#cc79a7", "#56b4e9", "#8c564b", "#f0e442", "#000000", "#9467bd")

# About 120 dpi keeps a PNG legible on a projector; large grids get fewer dots per inch
# (down to 80) and PNGs are saved with a 256-colour palette, so each stays well under
# 400 KB and a bundle stays small.
_DPI = 120
_MIN_DPI = 80
_MAX_PNG_PIXELS = 5_000_000
_PANEL_W, _PANEL_H = 3.4, 2.7
_RC = {
    "svg.hashsalt": "imgbench",
    "figure.facecolor": "white",
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
}


def strategy_color(name: str) -> str:
    """The strategy's fixed colour; an unknown name gets a stable colour from a spare set."""
    if name in STRATEGY_COLORS:
        return STRATEGY_COLORS[name]
    return _SPARE_COLORS[zlib.crc32(name.encode()) % len(_SPARE_COLORS)]


def strategy_order(names) -> list[str]:
    """Known strategies in registry order, then unknown ones alphabetically."""
    names = set(names)
    known = [s for s in STRATEGY_COLORS if s in names]
    return known + sorted(names - set(known))


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ImgbenchError(f"{path}: missing result table (run `imgbench aggregate` first)")
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _has(frame: pd.DataFrame, columns) -> bool:
    return not frame.empty and all(c in frame.columns for c in columns)


def _experiment_name(frames: list[pd.DataFrame], results_dir: Path) -> str:
    names: set[str] = set()
    for frame in frames:
        if "experiment" in frame.columns:
            names |= {str(v) for v in frame["experiment"].dropna().unique()}
    return ", ".join(sorted(names)) or Path(results_dir).name


def _with_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``panel`` (task, and storage-cache when several) and ``size`` labels.

    Size goes into the panel label only for the bar chart; line plots tell sizes apart by
    line style, so that rows stay one per task and storage-cache combination.
    """
    out = frame.copy()
    out["size"] = out["width"].astype(int).astype(str) + "x" + out["height"].astype(int).astype(str)
    out["storage_cache"] = out["storage"].astype(str) + "-" + out["cache"].astype(str)
    out["panel"] = out["task"].astype(str)
    if out["storage_cache"].nunique() > 1:
        out["panel"] = out["panel"] + " · " + out["storage_cache"]
    return out


def _sorted_unique(values) -> list:
    return sorted(pd.unique(values))


def _save(fig: plt.Figure, output_dir: Path, stem: str) -> list[Path]:
    width_in, height_in = fig.get_size_inches()
    dpi = max(_MIN_DPI, min(_DPI, int(math.sqrt(_MAX_PNG_PIXELS / (width_in * height_in)))))
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi, bbox_inches="tight")
    # Dropping the date keeps reruns on the same data byte-equal; Pillow writes no date.
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    with Image.open(png) as image:
        palette = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    png = io.BytesIO()
    palette.save(png, format="PNG", optimize=True)
    written = []
    for fmt, data in (("png", png), ("svg", svg)):
        path = output_dir / f"{stem}.{fmt}"
        write_atomic(path, data.getvalue())
        written.append(path)
    return written


def _no_data_figure(title: str, reason: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"no data\n{reason}", ha="center", va="center", fontsize=16)
    fig.suptitle(title, fontsize=12)
    return fig


def _workers_axis(ax: plt.Axes, workers: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(workers))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    low, high = min(workers), max(workers)
    pad = 2**0.25
    ax.set_xlim(low / pad, high * pad)


def _scaling_figure(frame: pd.DataFrame, experiment: str, metric: str) -> plt.Figure:
    """Speedup or efficiency against workers: rows are panels, columns parallel strategies."""
    is_speedup = metric == "speedup"
    title = (
        f"{experiment}: speedup over the serial loop ({BASE_CASE})"
        if is_speedup
        else f"{experiment}: parallel efficiency = speedup / workers ({BASE_CASE})"
    )
    needed = ["task", "storage", "cache", "width", "height", "n_images", "strategy", "workers"]
    if not _has(frame, [*needed, "usable_cores", metric]):
        return _no_data_figure(title, "the result table is empty")
    data = _with_panel(frame[frame["strategy"] != BASELINE])
    data = data[np.isfinite(data[metric].astype(float))]
    if data.empty:
        return _no_data_figure(title, "no parallel cell has a serial loop to compare with")

    panels = _sorted_unique(data["panel"])
    strategies = strategy_order(data["strategy"].unique())
    n_values = _sorted_unique(data["n_images"])
    sizes = _sorted_unique(data["size"])
    workers = [int(w) for w in _sorted_unique(data["workers"])]
    palette = dict(zip(n_values, sns.color_palette("Dark2", len(n_values)), strict=True))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    dashes = ["", (4, 2), (1, 1), (6, 2, 1, 2), (3, 1, 1, 1)]
    size_style = {
        s: (markers[i % len(markers)], dashes[i % len(dashes)]) for i, s in enumerate(sizes)
    }
    cores = sorted({int(c) for c in data["usable_cores"].dropna()})

    fig, axes = plt.subplots(
        len(panels),
        len(strategies),
        figsize=(_PANEL_W * len(strategies) + 1.8, _PANEL_H * len(panels) + 0.6),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    x_ideal = np.geomspace(min(workers) / 1.2, max(workers) * 1.2, 20)
    for r, panel in enumerate(panels):
        for c, strategy in enumerate(strategies):
            ax = axes[r][c]
            cell = data[(data["panel"] == panel) & (data["strategy"] == strategy)]
            ax.set_title(f"{panel} — {strategy}")
            ax.grid(True, which="major", alpha=0.3)
            ax.plot(x_ideal, x_ideal if is_speedup else np.ones_like(x_ideal), "k--", lw=1)
            if is_speedup:
                ax.axhline(1.0, color=strategy_color(BASELINE), lw=1.2)
            panel_cores = data.loc[data["panel"] == panel, "usable_cores"].dropna()
            if len(panel_cores) and panel_cores.max() <= max(workers) * 2:
                ax.axvline(int(panel_cores.max()), color="k", ls=":", lw=1.2)
            if cell.empty:
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
                continue
            for (n, size), line in cell.groupby(["n_images", "size"], sort=True):
                line = line.sort_values("workers")
                marker, dash = size_style[size]
                ax.plot(
                    line["workers"],
                    line[metric],
                    marker=marker,
                    dashes=dash,
                    color=palette[n],
                    lw=1.6,
                    ms=5,
                )
    for ax in axes.flat:
        _workers_axis(ax, workers)
        if is_speedup:
            ax.set_yscale("log", base=2)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}×"))
        else:
            top = max(1.1, float(data[metric].max()) * 1.08)
            ax.set_ylim(0, top)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
    ylabel = "speedup vs serial loop (×)" if is_speedup else "efficiency (speedup / workers)"
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax in axes[-1, :]:
        ax.set_xlabel("workers (log₂ scale)")

    handles = [Line2D([], [], color=palette[n], marker="o", label=f"{n} images") for n in n_values]
    if len(sizes) > 1:
        handles += [
            Line2D([], [], color="k", marker=size_style[s][0], dashes=size_style[s][1], label=s)
            for s in sizes
        ]
    ideal = "ideal: speedup = workers" if is_speedup else "ideal: 100% efficiency"
    handles.append(Line2D([], [], color="k", ls="--", lw=1, label=ideal))
    if is_speedup:
        handles.append(Line2D([], [], color=strategy_color(BASELINE), lw=1.2, label="serial loop"))
    if cores:
        label = "usable cores = " + ", ".join(str(c) for c in cores)
        if max(cores) > max(workers) * 2:
            label += " (off the axis)"
        handles.append(Line2D([], [], color="k", ls=":", lw=1.2, label=label))
    fig.legend(handles=handles, loc="outside right center", frameon=False)
    fig.suptitle(title, fontsize=12)
    return fig


def _bar_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """The cells at the largest n_images of each panel, with a conservative speedup range.

    The range holds the serial median fixed and divides it by the ends of the cell's median
    CI; it ignores the serial loop's own uncertainty.
    """
    data = _with_panel(speedup)
    data["panel"] = data["panel"] + " · " + data["size"]
    largest = data.groupby("panel")["n_images"].transform("max")
    data = data[data["n_images"] == largest].copy()
    data["panel"] = data["panel"] + " · n=" + data["n_images"].astype(int).astype(str)
    data["speedup_low"] = data["baseline_median_s"] / data["ci_high_s"]
    data["speedup_high"] = data["baseline_median_s"] / data["ci_low_s"]
    order = {s: i for i, s in enumerate(strategy_order(data["strategy"].unique()))}
    data["strategy_rank"] = data["strategy"].map(order)
    data["bar"] = np.where(
        data["strategy"] == BASELINE,
        "serial loop",
        data["strategy"].astype(str) + " ×" + data["workers"].astype(int).astype(str),
    )
    return data.sort_values(["panel", "strategy_rank", "workers"]).reset_index(drop=True)


def _faster_than_serial_figure(speedup: pd.DataFrame, experiment: str) -> plt.Figure:
    title = f"{experiment}: × faster than the serial loop at the largest n ({BASE_CASE})"
    needed = ["task", "storage", "cache", "width", "height", "n_images", "strategy", "workers"]
    if not _has(speedup, [*needed, "speedup", "baseline_median_s", "ci_low_s", "ci_high_s"]):
        return _no_data_figure(title, "the result table is empty")
    data = _bar_frame(speedup)
    panels = _sorted_unique(data["panel"])
    n_bars = int(data.groupby("panel").size().max())
    ncols = min(2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(max(6.0, 0.5 * n_bars + 1.5) * ncols, 3.6 * nrows + 0.8),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        bars = data[data["panel"] == panel].reset_index(drop=True)
        ax.set_title(panel)
        if not np.isfinite(bars["speedup"].astype(float)).any():
            ax.text(
                0.5,
                0.5,
                "no serial loop measured: no speedup",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        x = np.arange(len(bars))
        heights = bars["speedup"].astype(float).fillna(0.0)
        ax.bar(x, heights, color=[strategy_color(s) for s in bars["strategy"]], width=0.75)
        low = (heights - bars["speedup_low"]).clip(lower=0).fillna(0.0)
        high = (bars["speedup_high"] - heights).clip(lower=0).fillna(0.0)
        ax.errorbar(x, heights, yerr=[low, high], fmt="none", ecolor="k", elinewidth=1, capsize=3)
        ax.axhline(1.0, color="k", lw=1, ls="--")
        whisker_top = np.fmax(heights, bars["speedup_high"].fillna(0.0))
        top = float(max(whisker_top.max(), 1.0)) * 1.15
        ax.set_ylim(0, top)
        for xi, value, y in zip(x, bars["speedup"].astype(float), whisker_top, strict=True):
            text = f"{value:.2f}×" if math.isfinite(value) else "n/a"
            ax.text(xi, y + top * 0.01, text, ha="center", va="bottom", fontsize=7.5)
        ax.set_xticks(x, bars["bar"], rotation=40, ha="right", rotation_mode="anchor")
        ax.set_ylabel("× faster than serial loop")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=12)
    fig.text(
        0.5,
        0.0,
        "Bar: ratio of medians (serial / strategy). Whisker: serial median ÷ the ends of the "
        "cell's median CI (serial median held fixed). Dashed line: the serial loop (1×).",
        ha="center",
        va="top",
        fontsize=8.5,
    )
    return fig


def plot_all(results_dir: Path, output_dir: Path) -> list[Path]:
    """Write the speedup, efficiency and faster-than-serial figures, each as PNG and SVG.

    Reads ``speedup.csv`` and ``efficiency.csv`` in ``results_dir``. All six files in
    ``output_dir`` are always written (a "no data" figure stands in for an empty table);
    returns their paths.
    """
    results_dir, output_dir = Path(results_dir), Path(output_dir)
    speedup = _read_csv(results_dir / "speedup.csv")
    efficiency = _read_csv(results_dir / "efficiency.csv")
    experiment = _experiment_name([speedup, efficiency], results_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with plt.rc_context(_RC):
        written += _save(_scaling_figure(speedup, experiment, "speedup"), output_dir, "speedup")
        written += _save(
            _scaling_figure(efficiency, experiment, "efficiency"), output_dir, "efficiency"
        )
        written += _save(
            _faster_than_serial_figure(speedup, experiment), output_dir, "faster_than_serial"
        )
    return written
