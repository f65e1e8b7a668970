"""The candidate report: what a hiring manager reads to decide on a live interview, with
the evidence behind the signal; the screen's comparison table; share links for people
without an account.
"""
