"""A statewide election: many county stores, one statewide body of evidence.

:mod:`.spec` (``state.json``: counties, statewide contests and each county's names for them),
:mod:`.executor` (the seam every per-county task goes through: in-process or Dask),
:mod:`.tasks` (the per-county tasks), :mod:`.workflow` (set-up, statewide merge) and
:mod:`.statelog` (the state log of county checkpoints, proofs through it).
"""
