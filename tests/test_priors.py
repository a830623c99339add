"""Priors by vintage: a backtest origin rests only on priors justified by what was known then; the pooled
prior of the substitution rate comes from the reference class of analogs as known at the vintage."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sim.calibration.inputs import CalibrationInputs
from sim.core.errors import UserError
from sim.data.analogs import load_reference_class
from sim.data.priors import load_priors
from tests.conftest import OBSERVATIONS, PRIORS

ANALOGS = PRIORS.parent / "analogs.toml"
SEPTEMBER = dt.date(2025, 9, 30)


def test_every_prior_has_a_version_for_every_backtest_origin():
    book, reference = load_priors(PRIORS), load_reference_class(ANALOGS)
    for as_of in (dt.date(2024, 9, 14), dt.date(2025, 2, 28), SEPTEMBER, None):
        priors = book.vintage(as_of, reference)
        assert all(as_of is None or dt.date.fromisoformat(date) <= as_of for _, date in priors.evidence)


def test_a_vintage_never_uses_a_prior_justified_by_later_figures():
    book, reference = load_priors(PRIORS), load_reference_class(ANALOGS)
    early, now = book.vintage(dt.date(2025, 8, 31), reference), book.vintage(None, reference)
    # the ceiling prior that cites the F&S 2025H1 level (published 2025-09) is not the one used before it
    assert now.volume["ceiling_headroom"].spec["p95"] == 200.0
    assert early.volume["ceiling_headroom"].spec["p95"] == 1000.0
    assert ("volume.ceiling_headroom", "2025-09-01") in now.evidence
    assert early.digest() != now.digest()


def test_a_prior_with_no_version_known_at_the_vintage_is_refused(tmp_path):
    text = PRIORS.read_text(encoding="utf-8")
    late = text.replace('shape = { dist = "lognormal", p5 = 0.1, p95 = 3.0, why',
                        'shape = { dist = "lognormal", p5 = 0.1, p95 = 3.0, evidence = 2025-09-01, why')
    path = tmp_path / "priors.toml"
    path.write_text(late, encoding="utf-8")
    book = load_priors(path)
    book.vintage(None, load_reference_class(ANALOGS))
    with pytest.raises(UserError, match=r"line \d+, key 'volume\.shape': no version of this prior is justified by "
                                        r"what was known on 2025-08-31"):
        book.vintage(dt.date(2025, 8, 31), load_reference_class(ANALOGS))


@pytest.mark.parametrize("old, new, message", [
    ("evidence = 2025-09-01", 'evidence = "September"', "'evidence' must be a date"),
    ('{ dist = "lognormal", p5 = 4.0, p95 = 1000.0, why', '{ dist = "lognormal", p5 = 4.0, p95 = 1000.0, '
                                                         'evidence = 2025-09-01, why', "same date"),
    ('k = { dist = "analogs", quantity = "usage_share"', 'k = { dist = "analogs", quantity = "mood"',
     "quantity one of usage_share, adopter_share"),
])
def test_bad_versions_name_the_file_and_key(tmp_path, old, new, message):
    text = PRIORS.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "priors.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(UserError, match=message) as error:
        load_priors(path)
    assert "priors.toml" in str(error.value) and "line" in str(error.value)


def test_analog_rates_are_logit_slopes_and_a_fall_is_a_negative_rate():
    reference = load_reference_class(ANALOGS)
    rates = reference.rates("usage_share")
    assert rates["menlo_us_enterprise_oss_llm_share"][0] < 0  # 20% -> 19% -> 13% -> 11%
    android = next(a for a in reference.analogs if a.id == "android_global_smartphone_sales_share")
    used = [p for p in android.points if p.use]
    t = np.array([(p.date - dt.date(2025, 1, 1)).days / 365.25 for p in used])
    y = np.log([p.value / (1 - p.value) for p in used])
    assert rates[android.id][0] == pytest.approx(np.polyfit(t, y, 1)[0])


def test_the_pooled_rate_prior_admits_a_falling_share_and_resists_one_extreme_analog():
    reference = load_reference_class(ANALOGS)
    p5, p95, rates = reference.pooled("usage_share")
    values = np.array([rate for rate, _ in rates.values()])
    assert p5 < min(values) < 0 < np.median(values) < p95  # a share that falls stays possible
    # Chinese open models' takeover of OpenRouter (about 5.7/yr) widens the prior without setting it
    assert p95 < max(values) and (p5 + p95) / 2 < np.mean(values)


def test_a_vintage_pools_only_the_analog_points_published_by_then():
    reference = load_reference_class(ANALOGS)
    early = reference.vintage(SEPTEMBER)
    assert "menlo_us_enterprise_oss_llm_share" in early.rates("usage_share")
    assert "openrouter_open_weight_token_share" not in early.rates("usage_share")  # published 2025-12
    assert early.pooled("usage_share")[:2] != reference.pooled("usage_share")[:2]
    assert all(p.published <= SEPTEMBER for a in early.analogs for p in a.points)


def test_the_pooled_prior_is_what_calibration_fits_and_the_id_names_its_vintage():
    now = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    then = now.vintage(SEPTEMBER)
    assert now.priors.open["k"].as_dict()["dist"] == "analogs"
    resolved = now.priors.open["k"].resolved()
    assert resolved["dist"] == "normal"
    assert (resolved["p5"], resolved["p95"]) == pytest.approx(load_reference_class(ANALOGS).pooled("usage_share")[:2])
    assert now.priors.open["k"].as_dict() != then.priors.open["k"].as_dict()
