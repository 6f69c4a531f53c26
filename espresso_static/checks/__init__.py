"""Project checks, in Django's check framework: each registered with
:func:`django.core.checks.register` under a tag of :mod:`espresso_static.checks.ids`
(which lists every id), reported by ``espresso-static check`` and, for declarations
and migrations, before every build (:mod:`espresso_static.checks.report`).

This package's ``__init__`` imports nothing: the configuration reads the id table
before Django is set up.
"""
