"""Destinations: where a subscription's events go, one module per ``type`` (see ``base``), and
``registry``, the one place that maps a type to its module."""
