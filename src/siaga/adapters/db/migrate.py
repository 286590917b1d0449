"""Schema migrations with Alembic, run from code: `siaga run` and `siaga db upgrade` need no ini file."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

_SCRIPTS = Path(__file__).with_name("migrations")


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> str | None:
    """Bring the schema to the newest revision; return the revision now in force."""
    config = _config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    if current_revision(engine) != head:
        command.upgrade(config, "head")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
