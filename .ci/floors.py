"""Print a pip constraints file that pins every dependency of tokensim (and of its test extra) to the lowest
version pyproject.toml allows: CI installs with it to show that the declared floors work.

A package named in both lists is pinned to the higher of its two floors; a requirement without a ">=" floor
is left to pip.
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml").read_text())["project"]
floors: dict[str, tuple[str, tuple[int, ...]]] = {}
for requirement in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
    found = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*[^;]*?>=\s*([0-9][0-9.]*)", requirement)
    if found:
        name, version = found.group(1).lower(), found.group(2)
        key = tuple(int(part) for part in version.split(".") if part)
        if name not in floors or key > floors[name][1]:
            floors[name] = (version, key)
print("\n".join(f"{name}=={version}" for name, (version, _) in sorted(floors.items())))
