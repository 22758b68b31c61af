"""cardcash's own records: SQLModel tables, the async engine, migrations."""
