"""Security building blocks: webhook signing, SSRF guard, secrets at rest, payload encryption, API tokens.

Each module is imported on its own (``from event_triggers.security.ssrf import ...``) so that workflow
code can use the pure ones without pulling httpx or cryptography into the Temporal sandbox.
See docs/security.md for the decisions behind them.
"""
