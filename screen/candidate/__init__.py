"""The candidate's side: the emailed link, the landing page, the timed attempt with its
server-owned deadline, autosave, submit, integrity events and the deadline sweep.
"""
