"""Alembic's environment for the registry: the models' metadata is the target, the connection is
the one `daemon.registry.schema` hands over (never a URL from a file), and SQLite's ALTERs run as
batch operations (copy and move the table), since SQLite cannot alter most of a table in place.
Migrations are written with SQLAlchemy's own types (`sa.String`, `sa.DateTime(timezone=True)`),
not SQLModel's wrappers of them, so that a migration does not depend on SQLModel's version."""

from alembic import context
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from daemon.registry import models  # noqa: F401  (registers the tables)


def render_item(kind, obj, autogen_context):
    if kind == "type" and isinstance(obj, TypeDecorator) and type(obj).__module__.startswith("sqlmodel"):
        return f"sa.{obj.impl_instance!r}"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    render_item=render_item,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
