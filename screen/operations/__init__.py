"""Keeping it running from the browser: the outbox page where admins see what is waiting
or gave up, and retry it.
"""
