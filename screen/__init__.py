"""Screen: timed written technical screens, blind rubric reviews, a pass/fail signal."""
