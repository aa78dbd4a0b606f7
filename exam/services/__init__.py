"""Pure exam logic (no Flask, no database session): paper assembly, grading, timing."""
