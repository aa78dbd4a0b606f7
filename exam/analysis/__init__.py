"""Item analysis: statistics of a session's items, the report pages and the write-back."""
