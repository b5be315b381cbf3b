from core.history.records import (HistoryFilter, HistoryRow, count_by_result, list_history, record_verification,
                                  record_verifications)

__all__ = ["HistoryFilter", "HistoryRow", "record_verification", "record_verifications", "list_history",
           "count_by_result"]
