"""Alembic revision files of the session store, applied in order by ``store.setup()``."""
