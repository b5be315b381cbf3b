from core.store.database import SCHEMA_VERSION, open_store
from core.store.session import Store, StoreSession

__all__ = ["Store", "StoreSession", "open_store", "SCHEMA_VERSION"]
