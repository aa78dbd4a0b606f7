"""Scheduling: panels, panelists, conflicts, defense days, the CP-SAT schedule and its publication."""
