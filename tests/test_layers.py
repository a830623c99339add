"""The layers of sim/ show in its imports: each imports only the layers below it, and nothing inside the
package imports the package root. The contracts are import-linter's, in pyproject.toml; deferred
(function-level) imports count too."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

#: import-linter's ``lint-imports``, run by this interpreter (no cache folder left in the tree).
LINT_IMPORTS = ("import sys; from importlinter.cli import lint_imports; "
                "sys.exit(lint_imports(sys.argv[1], no_cache=True, no_logo=True))")


def test_every_layer_imports_only_the_layers_below_it_and_nothing_imports_the_package_root():
    done = subprocess.run([sys.executable, "-c", LINT_IMPORTS, str(ROOT / "pyproject.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout, done.stdout
