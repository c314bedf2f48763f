"""The routes, one module per audience: :mod:`.public` (no login), :mod:`.login`,
:mod:`.county` (a county's admins and the state admins), :mod:`.state` (state admins only)
and :mod:`.api` (the read-only JSON API, public)."""
