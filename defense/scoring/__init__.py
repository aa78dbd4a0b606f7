"""Live scoring: the panel room, score sheets, aggregation and the defense exports."""
