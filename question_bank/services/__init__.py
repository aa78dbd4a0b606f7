"""Pure logic of the question bank: no Flask, no database session."""
