"""Reviewing: the blind queue and its claims, scoring, decisions and adjudication,
calibration, agreement figures, similar and leaked answers.
"""
