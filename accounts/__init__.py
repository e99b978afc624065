"""People and tokens: console accounts (passwords, TOTP, sign-in limits, wellness and
queue membership), their server-side sessions, and API tokens with their roles and
bank scopes.

It may import `actioners` (the audit log, the review queues), `banks`, `core` and
`database`; the application in `hma` builds on it.
"""
