"""Pure rules of the notices: kinds, the delivery back-off, the text of each notice (no Flask, no database)."""
