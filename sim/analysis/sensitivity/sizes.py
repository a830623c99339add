"""Design sizes of a sensitivity analysis: allowed Saltelli base sizes and paths, defaults, and their check."""

from __future__ import annotations

from sim.core.errors import UserError

#: Allowed Saltelli base sizes (powers of two: the Sobol' sequence's balance needs them) and paths.
BASE_SAMPLES = tuple(2**k for k in range(3, 15))
PATHS_RANGE = (100, 100_000)
DEFAULT_BASE_SAMPLES = 128
DEFAULT_PATHS = 1000


def check_sizes(base_samples: int, paths: int) -> None:
    """Refuse design sizes outside what the method supports or what finishes in reasonable time."""
    if base_samples not in BASE_SAMPLES:
        raise UserError(f"must be a power of two from {BASE_SAMPLES[0]} to {BASE_SAMPLES[-1]} (the Sobol' "
                        f"sequence is balanced only at powers of two), got {base_samples}", where="--base-samples")
    if not PATHS_RANGE[0] <= paths <= PATHS_RANGE[1]:
        raise UserError(f"must be between {PATHS_RANGE[0]} and {PATHS_RANGE[1]}, got {paths}", where="--paths")
