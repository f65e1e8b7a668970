"""What every feature stands on, and nothing that belongs to one feature: infrastructure
such as the database, models, the outbox, jobs, mail, rendering, observability, text
cleaning, the clock, errors and tokens. It imports no feature package.
"""
