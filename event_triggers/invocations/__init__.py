"""Invocations, one module per operation, called alike by the API, the CLI and the benchmarks.

``start`` validates an event and fans it out (one ``InvocationWorkflow`` per matching subscription),
``completion`` checks and sends a subscriber's answer, ``reads`` reads one invocation and lists them,
``resume`` wakes the paused ones of a subscription enabled again; ``context`` holds what they share.
None imports workflow code: they talk to Temporal through the client and do the work that must not run
inside a workflow (schema validation, JSONPath filters, secret checks).
"""
