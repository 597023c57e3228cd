"""Security building blocks: webhook signing, SSRF guard, secrets at rest, payload encryption, API tokens.

Each module is imported on its own (``from event_triggers.security.ssrf import ...``), by the API and the
delivery activities only: workflow code needs none of them (it runs outside the sandbox and does no I/O).
See docs/security.md for the decisions behind them.
"""
