"""Recruiting: the prompt library, screens, invitations (one at a time or from a CSV),
reminders, the pipeline dashboard and its charts, and outcomes.
"""
