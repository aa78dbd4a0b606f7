"""Pure services of the defense area (no Flask, no database)."""
