"""Voluntary self-identification after submitting, and the adverse-impact page built on it."""
