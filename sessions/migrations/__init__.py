"""Schema migrations of the session store (alembic revisions, run by ``store.setup()``).

Users never run alembic themselves: ``SqlSessionStore.setup()`` applies these revisions
programmatically. Add a new revision file under ``versions/`` for every schema change and
never edit a released one.
"""
