"""``python -m sim.cli``: the ``tokensim`` command."""

import sys

from sim.cli import main

sys.exit(main())
