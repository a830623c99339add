"""The layers of sim/ show in its imports: each imports only the layers below it, and nothing inside the
package imports the package root. The contracts are import-linter's, in pyproject.toml; deferred
(function-level) imports count too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_every_layer_imports_only_the_layers_below_it_and_nothing_imports_the_package_root():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports), str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout, done.stdout
