"""Pure results logic: totals, ranking and certification by ratio, publicity working days. No Flask, no db."""
