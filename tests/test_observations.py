"""The observation registry: every figure traceable, every malformed entry a clear error."""

from __future__ import annotations

import datetime as dt

import pytest

from sim.core.errors import UserError
from sim.data.observations import SHARE_QUANTITIES, UNITS, VOLUME_QUANTITIES, load_observations
from tests.conftest import OBSERVATIONS

VALID = '''
[series.fs_enterprise]
definition = "F&S enterprise daily tokens"
role = "reference"

[[observation]]
id = "fs_daily_2024h2"
series = "fs_enterprise"
quantity = "daily_tokens"
kind = "window_average"
value = 21999
unit = "亿 tokens/day"
value_base = 2.1999e12
start = 2024-07-01
end = 2024-12-31
published = 2025-09-01
source = "F&S"
quote = "较2024年下半年的21,999亿tokens"
'''


def write(tmp_path, text):
    path = tmp_path / "observations.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_registry_loads_and_every_figure_is_traceable():
    registry = load_observations(OBSERVATIONS)
    assert len(registry.observations) >= 20
    for observation in registry.observations:
        assert observation.source and observation.quote and observation.published
        multiplier, _ = UNITS[observation.unit]
        assert observation.value * multiplier == pytest.approx(observation.value_base, rel=1e-9)


def test_registry_holds_the_headline_figures_as_window_averages():
    registry = {o.id: o for o in load_observations(OBSERVATIONS).observations}
    assert registry["fs_daily_2024h2"].comparable_value == pytest.approx(2.1999e12)
    assert registry["fs_daily_2025h1"].comparable_value == pytest.approx(10.1865e12)
    assert registry["fs_open_share_2025h1"].comparable_value == pytest.approx(0.444)
    assert registry["fs_daily_2025h1"].kind == "window_average"


def test_window_totals_become_daily_averages_by_their_own_day_count():
    idc_2024 = {o.id: o for o in load_observations(OBSERVATIONS).observations}["idc_total_2024"]
    assert idc_2024.comparable_value == pytest.approx(114.2e12 / 366)  # 2024 is a leap year


def test_vintage_drops_figures_published_later():
    registry = load_observations(OBSERVATIONS)
    early = registry.vintage(dt.date(2025, 8, 31))
    ids = {o.id for o in early.observations}
    assert "fs_daily_2025h1" not in ids and "fs_daily_2024h2" not in ids
    assert "doubao_2024_12" in ids  # published 2025-06
    assert "doubao_2024_12" not in {o.id for o in registry.vintage(dt.date(2025, 5, 31)).observations}
    assert {o.id for o in registry.vintage(dt.date(2025, 6, 30)).observations} <= ids
    assert early.digest() != registry.digest()
    by_window = {o.id for o in registry.vintage(dt.date(2025, 1, 1), cut="window").observations}
    assert "fs_daily_2024h2" in by_window and "fs_daily_2025h1" not in by_window


def test_fitted_selection_excludes_context_series():
    registry = load_observations(OBSERVATIONS)
    fitted = registry.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    assert all(registry.series[o.series].role != "context" for o in fitted)
    assert {"fs_daily_2024h2", "fs_daily_2025h1", "fs_open_share_2025h1"} <= {o.id for o in fitted}


BAD_ENTRIES = [
    ("colour = \"red\"\n", "quote = ", "unknown key", "colour"),
    ("", 'source = "F&S"\n', "missing required key 'source'", "observation[0]"),
    ("", "end = 2024-12-31", "is before start", "end"),
    ("", "value = 21999", "finite positive", "value"),
    ("", "value = 21999", "finite positive", "value"),
    ("", 'unit = "亿 tokens/day"', "unknown unit", "unit"),
    ("", "value_base = 2.1999e12", "is not value x unit", "value_base"),
    ("", 'series = "fs_enterprise"', "unknown series", "series"),
    ("", 'kind = "window_average"', "unknown kind", "kind"),
    ("", "start = 2024-07-01", "expected a date", "start"),
]
REPLACEMENTS = [
    None,
    "",
    "end = 2024-06-30",
    "value = -5",
    "value = nan",
    'unit = "tokens per fortnight"',
    "value_base = 2.2e13",
    'series = "gartner"',
    'kind = "rumour"',
    'start = "July"',
]


@pytest.mark.parametrize(("case", "replacement"), list(zip(BAD_ENTRIES, REPLACEMENTS)))
def test_bad_entry_is_an_error_naming_file_entry_and_key(tmp_path, case, replacement):
    insert, target, message, key = case
    text = VALID
    if insert:
        text = text.replace(target, insert + target, 1)
    else:
        text = text.replace(target, replacement, 1)
    with pytest.raises(UserError) as error:
        load_observations(write(tmp_path, text))
    assert message in str(error.value)
    assert "observations.toml" in str(error.value) and key in str(error.value)


def test_error_points_at_the_line_of_the_key(tmp_path):
    text = VALID.replace("value = 21999", "value = -1")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if row.startswith("value = -1"))
    with pytest.raises(UserError, match=f"line {line}"):
        load_observations(write(tmp_path, text))


def test_malformed_toml_and_missing_file_are_errors(tmp_path):
    with pytest.raises(UserError, match="not valid TOML"):
        load_observations(write(tmp_path, VALID + "\n[[observation]\n"))
    with pytest.raises(UserError, match="not found"):
        load_observations(tmp_path / "nope.toml")


def test_duplicate_ids_are_rejected(tmp_path):
    entry = VALID[VALID.index("[[observation]]"):]
    with pytest.raises(UserError, match="duplicate id"):
        load_observations(write(tmp_path, VALID + "\n" + entry))


def test_the_current_vintage_holds_the_f_and_s_2025h2_report_and_the_new_bounds():
    registry = {o.id: o for o in load_observations(OBSERVATIONS).observations}
    h2 = registry["fs_daily_2025h2"]
    assert (h2.kind, h2.series, h2.comparable_value) == ("window_average", "fs_enterprise", pytest.approx(3.7e13))
    assert (h2.start, h2.end) == (dt.date(2025, 7, 1), dt.date(2025, 12, 31))
    for ident in ("doubao_2025_09", "doubao_2025_12", "national_2025_06", "doubao_2024_09"):
        assert registry[ident].bound == "lower", ident
    shares = {o.subject: (o.value_base, o.licence) for o in registry.values()
              if o.series == "fs_vendor_share" and o.window == h2.window and not o.bound}
    assert shares == {"qwen": (0.321, "mixed"), "doubao": (0.213, "closed"), "deepseek": (0.184, "open")}


def test_nothing_published_after_the_vintage_of_the_project_is_registered():
    assert max(o.published for o in load_observations(OBSERVATIONS).observations) <= dt.date(2026, 2, 28)


def test_the_may_2024_doubao_figure_counts_calls_and_is_not_fitted():
    registry = load_observations(OBSERVATIONS)
    may = {o.id: o for o in registry.observations}["doubao_2024_05"]
    assert (may.quantity, may.unit, registry.series[may.series].role) == ("daily_calls", "亿 calls/day", "context")
    assert "doubao_2024_05" not in {o.id for o in registry.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))}


def test_an_unknown_licence_is_refused(tmp_path):
    text = VALID.replace('quote = "较', 'licence = "shareware"\nquote = "较')
    with pytest.raises(UserError, match="unknown licence 'shareware'; allowed: open, closed, mixed"):
        load_observations(write(tmp_path, text))
