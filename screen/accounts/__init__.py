"""Staff accounts: users and roles, passwords, sessions, sign-in, the role guards every
staff route carries, and API keys for the ATS partner API.
"""
