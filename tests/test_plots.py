"""Charts that read right: every axis labelled, every label inside the figure, the observed windows the title
mentions drawn and named by what they are, one variable per panel, and a comparison of eight scenarios with
eight colours."""

from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sim.data.observations import Observation  # noqa: E402
from sim.plots.compare import compare_chart  # noqa: E402
from sim.plots.fan import window_label  # noqa: E402


def _texts_outside(figure) -> list[str]:
    """What is drawn beyond the figure's edges after layout: the drawn texts (titles, labels, tick labels in view,
    annotations, legends) whose boxes reach outside it; [] when everything is inside."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    inside = figure.bbox.padded(1)
    outside = []
    for ax in figure.axes:
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts,
                 *(t for ticks in (ax.xaxis, ax.yaxis) for t in ticks.get_ticklabels()
                   if ticks.get_view_interval().min() <= t.get_position()[ticks is ax.yaxis] <= ticks.get_view_interval().max())]
        outside += [t.get_text() for t in texts if t.get_visible() and t.get_text().strip()
                    and not inside.contains(*t.get_window_extent(renderer).min)
                    or t.get_visible() and t.get_text().strip() and not inside.contains(*t.get_window_extent(renderer).max)]
    for legend in (*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())):
        box = legend.get_window_extent(renderer)
        if not (inside.contains(*box.min) and inside.contains(*box.max)):
            outside.append("legend")
    if figure._suptitle is not None:
        box = figure._suptitle.get_window_extent(renderer)
        if not (inside.contains(*box.min) and inside.contains(*box.max)):
            outside.append(figure._suptitle.get_text())
    return outside


def test_fan_draws_the_published_windows_labels_every_axis_and_keeps_labels_inside(baseline_results):
    figure = baseline_results.tokensim.fan()  # no registry passed: the one the results were calibrated with
    try:
        axes = figure.axes
        assert len(axes) == 3 and all(ax.get_ylabel() for ax in axes) and axes[-1].get_xlabel()
        labels = [t.get_text() for ax in axes for t in ax.texts]
        assert "F&S 2024H2: 2.2T" in labels and "F&S 2025H1: 10.2T" in labels and "F&S 2025H1: 44.4%" in labels
        assert not [label for label in labels if "fs_" in label]  # named by what they are, not registry ids
        assert "published window averages" in axes[0].get_title()
        assert _texts_outside(figure) == []
        # one variable per panel: each panel's filled bands share one colour
        for ax in axes:
            colours = {mcolors.to_hex(c.get_facecolor()[0], keep_alpha=False) for c in ax.collections
                       if c.get_facecolor().size}
            assert len(colours) == 1, colours
    finally:
        plt.close(figure)


def test_compare_of_eight_scenarios_gives_each_its_colour_and_every_panel_a_y_label(baseline_results):
    datasets = []
    for index in range(8):
        copy = baseline_results.copy()
        copy.attrs = {**baseline_results.attrs, "scenario": f"scenario_{index}"}
        datasets.append(copy)
    figure = compare_chart(datasets)
    try:
        axes = figure.axes
        assert all(ax.get_ylabel() for ax in axes) and axes[-1].get_xlabel()
        medians = [line for line in axes[0].get_lines() if line.get_linewidth() == 2]
        assert len({mcolors.to_hex(line.get_color()) for line in medians}) == 8
        assert [t.get_text() for t in figure.legends[0].get_texts()] == [f"scenario_{i}" for i in range(8)]
        assert _texts_outside(figure) == []
        assert not [c for ax in axes for c in ax.collections if c.get_facecolor().size and
                    c.get_facecolor()[0][3] > 0]  # bands as edges, never fills that mix into brown
    finally:
        plt.close(figure)


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("2024-07-01", "2024-12-31", "F&S 2024H2: 2.2T"),
    ("2024-01-01", "2024-12-31", "F&S 2024: 2.2T"),
    ("2025-04-01", "2025-06-30", "F&S 2025Q2: 2.2T"),
    ("2025-06-01", "2025-06-30", "F&S 2025-06: 2.2T"),
    ("2025-06-03", "2025-06-30", "F&S 2025-06-03..2025-06-30: 2.2T"),
])
def test_windows_are_named_as_analysts_name_them(start, end, expected):
    observation = Observation("fs_x", "fs_enterprise", "daily_tokens", "window_average", 21999, "亿 tokens/day",
                              2.1999e12, dt.date(2025, 9, 1), "F&S", "q", dt.date.fromisoformat(start),
                              dt.date.fromisoformat(end))
    assert window_label(observation) == expected
    assert np.isclose(observation.comparable_value, 2.1999e12)
