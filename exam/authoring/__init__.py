"""Authoring: blueprints, paper assembly and exam sessions (the secretariat's set-up pages)."""
