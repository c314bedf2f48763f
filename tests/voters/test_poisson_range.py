"""The verifier's Poisson range (``store_evidence.poisson_interval_95``) is SciPy's.

``verify`` computes the voter checks' 95% ranges through ``scipy.special`` to avoid importing
``scipy.stats``; the range must stay exactly ``scipy.stats.poisson.interval(0.95, mean)``,
or a bundle that was correct would be called inconsistent (or the reverse)."""

from __future__ import annotations

import numpy as np
from scipy.stats import poisson

from tallyproof.voters.store_evidence import poisson_interval_95


def test_poisson_interval_equals_scipy_stats() -> None:
    means = np.concatenate([np.geomspace(1e-6, 1e7, 2000), np.arange(0.25, 200, 0.25),
                            [1.0, 2.0, 3.0, 10.0, 100.0, 1000.0, 2.5e-3]])
    for mean in means.tolist():
        want = tuple(float(x) for x in poisson.interval(0.95, mean))
        assert poisson_interval_95(mean) == want, mean
