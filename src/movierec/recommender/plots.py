"""The grid search's RMSE surface as heatmaps: one panel per (n_factors, n_epochs), lr_all
across and reg_all down, one colour scale for all panels, the winner outlined."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def plot_rmse_heatmaps(
    results: pd.DataFrame, best: Mapping[str, Any], path: Path, *, n_folds: int | None = None
) -> Path:
    # Figure + the Agg canvas directly, not pyplot: no global backend state, safe in servers
    # and threads, and nothing tries to open a window.
    factors = sorted(results["n_factors"].unique())
    epochs = sorted(results["n_epochs"].unique())
    lrs = sorted(results["lr_all"].unique())
    regs = sorted(results["reg_all"].unique())
    low, high = results["mean_rmse"].min(), results["mean_rmse"].max()
    if high <= low:
        high = low + 1e-9

    cell = 0.62
    width = max(4.5, len(epochs) * (len(lrs) * cell + 1.3) + 1.5)
    height = max(3.5, len(factors) * (len(regs) * cell + 1.0) + 1.2)
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(factors), len(epochs), squeeze=False, sharex=True, sharey=True)
    image = None
    annotate = len(lrs) * len(regs) <= 64
    for row, n_factors in enumerate(factors):
        for col, n_epochs in enumerate(epochs):
            ax = axes[row][col]
            panel = results[(results["n_factors"] == n_factors) & (results["n_epochs"] == n_epochs)]
            surface = (
                panel.pivot(index="reg_all", columns="lr_all", values="mean_rmse")
                .reindex(index=regs, columns=lrs)
                .to_numpy()
            )
            image = ax.imshow(surface, cmap="viridis_r", vmin=low, vmax=high, aspect="auto")
            if annotate:
                middle = (low + high) / 2
                for (y, x), value in np.ndenumerate(surface):
                    if np.isfinite(value):
                        ax.text(
                            x, y, f"{value:.4f}", ha="center", va="center", fontsize=7,
                            color="black" if value < middle else "white",
                        )  # fmt: skip
            if n_factors == best["n_factors"] and n_epochs == best["n_epochs"]:
                x, y = lrs.index(best["lr_all"]), regs.index(best["reg_all"])
                ax.add_patch(
                    Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5)
                )
                for spine in ax.spines.values():
                    spine.set_edgecolor("red")
                    spine.set_linewidth(1.5)
            ax.set_title(f"n_factors={n_factors}, n_epochs={n_epochs}", fontsize=9)
            ax.set_xticks(range(len(lrs)), [f"{v:g}" for v in lrs], fontsize=8)
            ax.set_yticks(range(len(regs)), [f"{v:g}" for v in regs], fontsize=8)
            if row == len(factors) - 1:
                ax.set_xlabel("lr_all")
            if col == 0:
                ax.set_ylabel("reg_all")
    assert image is not None
    figure.colorbar(image, ax=axes, label="mean RMSE (lower is better)", shrink=0.8)
    folds = f" over {n_folds} folds" if n_folds else ""
    figure.suptitle(
        f"Mean RMSE{folds}; best (red): n_factors={best['n_factors']}, "
        f"n_epochs={best['n_epochs']}, lr_all={best['lr_all']:g}, reg_all={best['reg_all']:g}",
        fontsize=10,
    )
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


# -- ranking ----------------------------------------------------------------------------------

_RANKING_PANELS = (
    ("ndcg_rel", "NDCG@{k}"),
    ("precision_rel", "Precision@{k}"),
    ("recall_rel", "Recall@{k}"),
    ("map_rel", "MAP@{k}"),
    ("hit_rate_rel", "Hit rate@{k}"),
    ("ndcg_any", "NDCG@{k} (any held-out movie)"),
    ("coverage", "Catalogue coverage"),
    ("rare_share", "Share of slots on rare movies"),
)


def plot_ranking_evaluation(
    rows: Sequence[Mapping[str, Any]], k: int, title: str, path: Path
) -> Path:
    """One panel per metric, a bar per model; the popularity baseline's bar is grey and its
    level a dashed line across the panel, so "beats the popular list" reads at a glance."""
    models = [row["model"] for row in rows]
    figure = Figure(figsize=(max(8.0, 1.1 * len(models) * 4), 6.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 4, squeeze=False).ravel()
    colours = ["#9e9e9e" if model == "popular" else "#1f77b4" for model in models]
    for ax, (metric, label) in zip(axes, _RANKING_PANELS, strict=True):
        values = [float(row[metric]) for row in rows]
        bars = ax.bar(range(len(models)), values, color=colours)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
        if "popular" in models:
            ax.axhline(values[models.index("popular")], color="#616161", linestyle="--", lw=1)
        ax.set_title(label.format(k=k), fontsize=9)
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        ax.margins(y=0.15)
    figure.suptitle(f"{title} (grey, dashed: the popularity baseline)", fontsize=10)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def plot_ranking_grid(results: pd.DataFrame, metric: str, k: int, ranker: str, path: Path) -> Path:
    """The validation NDCG of every combination of a ranking grid search, best first, the
    winner red."""
    parameters = [c for c in results.columns if c in _grid_parameters(results)]
    ordered = results.sort_values(metric, ascending=False, kind="stable").reset_index(drop=True)
    labels = [
        ", ".join(f"{name}={row[name]}" for name in parameters) for _, row in ordered.iterrows()
    ]
    figure = Figure(figsize=(8, max(3.0, 0.32 * len(ordered) + 1.2)), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    colours = ["#d62728"] + ["#1f77b4"] * (len(ordered) - 1)
    bars = ax.barh(range(len(ordered)), ordered[metric], color=colours)
    ax.bar_label(bars, fmt="%.4f", fontsize=7)
    ax.set_yticks(range(len(ordered)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"NDCG@{k} on the validation split (higher is better)")
    ax.set_title(f"{ranker}: grid search, best in red", fontsize=10)
    ax.margins(x=0.15)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def _grid_parameters(results: pd.DataFrame) -> list[str]:
    from movierec.recommender.evaluation import RELEVANCES, USER_METRICS

    metrics = {f"{m}_{r}" for m in (*USER_METRICS, "users") for r in RELEVANCES}
    metrics |= {"distinct_movies", "coverage", "mean_popularity", "rare_share", "fit_seconds"}
    return [column for column in results.columns if column not in metrics]


def plot_cold_movies(document: Mapping[str, Any], path: Path) -> Path:
    """The cold-movie protocol at a glance: NDCG@k of each model on the new movies (the genre
    baseline dashed, the 1.8x mark dotted), the share of list slots new movies take against
    their share of the catalogue, and the ordinary temporal NDCG without and with the content
    model."""
    rows = document["results"]
    k = document["k"]
    figure = Figure(figsize=(12.5, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    ranking, slots, temporal = figure.subplots(1, 3, width_ratios=[2.2, 1.2, 1.0])
    models = [row["model"] for row in rows]
    values = [float(row["ndcg"]) for row in rows]
    colours = ["#1f77b4" if model.startswith("content model") else "#9e9e9e" for model in models]
    bars = ranking.bar(range(len(models)), values, color=colours)
    ranking.bar_label(bars, fmt="%.3f", fontsize=8)
    genre = next(row["ndcg"] for row in rows if row["model"] == "genre affinity")
    ranking.axhline(genre, color="#616161", linestyle="--", lw=1)
    ranking.axhline(1.8 * genre, color="#d62728", linestyle=":", lw=1)
    ranking.set_xticks(range(len(models)), models, rotation=20, ha="right", fontsize=8)
    ranking.set_title(
        f"NDCG@{k} ranking the new movies ({document['n_new_movies']} movies, "
        f"{document['n_users']} users)",
        fontsize=9,
    )
    ranking.margins(y=0.15)
    shares = document["new_share_of_slots"]
    labels = ["catalogue", *(name.replace("content model", "model") for name in shares)]
    numbers = [document["new_share_of_catalogue"], *shares.values()]
    bars = slots.bar(
        range(len(labels)),
        [100 * n for n in numbers],
        color=["#9e9e9e"] + ["#1f77b4"] * len(shares),
    )
    slots.bar_label(bars, fmt="%.1f%%", fontsize=8)
    slots.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    slots.set_title(f"new movies: share of the catalogue\nand of all top-{k} slots", fontsize=9)
    slots.margins(y=0.15)
    ordinary = document.get("temporal")
    if ordinary:
        pair = [ordinary["without_content"]["ndcg_rel"], ordinary["with_content"]["ndcg_rel"]]
        bars = temporal.bar([0, 1], pair, color=["#9e9e9e", "#1f77b4"])
        temporal.bar_label(bars, fmt="%.4f", fontsize=8)
        temporal.set_xticks([0, 1], ["without", "with content"], fontsize=8)
        temporal.set_title(
            f"temporal split, NDCG@{k}\n({100 * (pair[1] / pair[0] - 1):+.1f}% with content)",
            fontsize=9,
        )
        temporal.margins(y=0.15)
    else:
        temporal.set_axis_off()
    figure.suptitle(
        f"New movies (seed {document['seed']}, {document['fraction']:.0%} of the movies with "
        f"{document['min_ratings']}+ ratings): grey dashed = genre affinity, red dotted = 1.8x it",
        fontsize=10,
    )
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def plot_blend_tradeoff(rows: Sequence[Mapping[str, Any]], k: int, path: Path) -> Path:
    """Temporal against random NDCG, both as a multiple of PureSVD's (the rows of weight None),
    one line per data variant through the sequential ranker's transition weights: a weight
    that helps the temporal split and costs the random one lies up and to the left of (1, 1),
    the dotted cross, which is PureSVD."""
    figure = Figure(figsize=(7.5, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    frame = pd.DataFrame([row for row in rows if row["weight"] is not None])
    for label, part in frame.groupby("data", sort=False):
        temporal = part[part["split"] == "temporal"].set_index("weight")["x_puresvd"]
        random = part[part["split"] == "random"].set_index("weight")["x_puresvd"]
        weights = temporal.index.intersection(random.index)
        ax.plot(random[weights], temporal[weights], marker="o", label=str(label))
        for weight in weights:
            ax.annotate(f"{weight:g}", (random[weight], temporal[weight]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")  # fmt: skip
    ax.axhline(1.0, color="#616161", linestyle=":", lw=1)
    ax.axvline(1.0, color="#616161", linestyle=":", lw=1)
    ax.set_xlabel(f"random split NDCG@{k} (x PureSVD)")
    ax.set_ylabel(f"temporal split NDCG@{k} (x PureSVD)")
    ax.set_title(
        "Sequential ranker: transition weight (labels) on both splits; (1, 1) is PureSVD",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path
