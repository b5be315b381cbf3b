from core.history.records import HistoryFilter, HistoryRow, record_verification, record_verifications, list_history, count_by_result

__all__ = ["HistoryFilter", "HistoryRow", "record_verification", "record_verifications", "list_history",
           "count_by_result"]
