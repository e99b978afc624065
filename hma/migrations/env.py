"""Alembic environment: runs migrations on the engine `hma.db` hands over.

On SQLite, altering a table means rebuilding it, and dropping the old copy
with foreign keys enforced would cascade deletes into every table that refers
to it. Enforcement is therefore off while migrations run (SQLite only honours
that outside a transaction), and integrity is checked before it is restored.
"""

from alembic import context

from hma.db import metadata

engine = context.config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"

with engine.connect() as connection:
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
