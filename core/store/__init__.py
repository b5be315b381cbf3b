from core.store.database import Store, open_store, SCHEMA_VERSION

__all__ = ["Store", "open_store", "SCHEMA_VERSION"]
