"""What every feature stands on and nothing feature-specific: settings-free infrastructure
such as the database, models, the outbox, jobs, mail, rendering, observability, text
cleaning, the clock, errors and tokens. It imports no feature package.
"""
