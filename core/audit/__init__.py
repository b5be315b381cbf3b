from core.audit.chain import AuditEntry, GENESIS_HASH, append_entry, verify_chain, export_entries, ChainStatus

__all__ = ["AuditEntry", "GENESIS_HASH", "append_entry", "verify_chain", "export_entries", "ChainStatus"]
