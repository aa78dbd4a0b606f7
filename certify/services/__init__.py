"""Pure domain logic of the core (no Flask, no database session): plain values in, results out."""
