"""The control room (issue #14): a web server over a state folder.

One job per module: :mod:`.config` (settings), :mod:`.db` (SQLAlchemy models: users, sessions,
the activity log, jobs), :mod:`.migrate` (Alembic, applied at start), :mod:`.auth` (passwords,
sessions, CSRF, the login rate limit), :mod:`.security` (response headers), :mod:`.view` (what
the pages show, read from the stores and the state's results files through the library),
:mod:`.routes` (one module per audience) and :mod:`.app` (the factory). The web layer computes
no election fact: every number it shows was written by the library.
"""
