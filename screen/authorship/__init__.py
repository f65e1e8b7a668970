"""How an answer was written: the composition record and what reviewers see of it.

Below review (whose pages show it) and above recruiting; the candidate's pages write the
record through it. The record's format and replay live in `reviewers.composition`.
"""
