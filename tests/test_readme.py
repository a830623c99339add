"""The README describes what the code does: its variable table lists every variable a results file holds, and
it cites only what the repository holds."""

from __future__ import annotations

import re

from tests.conftest import ROOT

README = ROOT / "README.md"


def _table_names(text: str, heading: str) -> set[str]:
    table = text.split(heading, 1)[1].split("\n\n", 1)[0]
    return {name for row in table.splitlines()[2:] for name in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])}


def test_variable_table_lists_every_variable_of_a_results_file(baseline_results, posterior_dir, tmp_path):
    import sim
    from tests.conftest import OBSERVATIONS, PRIORS

    compute = sim.run(ROOT / "scenarios" / "compute_constrained.toml", draws=100, observations=OBSERVATIONS,
                      priors=PRIORS, posteriors=posterior_dir)
    stored = {name for ds in (baseline_results, compute) for name in ds.data_vars}
    listed = _table_names(README.read_text(encoding="utf-8"), "| variable | dims | units | meaning |")
    assert stored - listed == set(), "variables missing from the README's table"
    assert listed - stored == set(), "the README lists variables no results file holds"


def test_readme_cites_only_what_the_repository_holds():
    for path in (README, *ROOT.glob("scenarios/*"), *ROOT.glob("calibration/*.toml"), ROOT / "results" / "README.md"):
        text = path.read_text(encoding="utf-8")
        assert "DATA.md" not in text and "shared/sources" not in text, path
    sections = re.findall(r'"([^"]+)" in the top-level README', (ROOT / "results" / "README.md").read_text())
    assert sections and all(f"## {s}" in README.read_text(encoding="utf-8") for s in sections)
