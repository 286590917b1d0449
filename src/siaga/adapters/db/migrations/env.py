"""Alembic environment: the engine comes from ``config.attributes`` (see ``migrate.py``)."""

from alembic import context

from siaga.adapters.db.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
