"""What the API and the worker check before they start: settings that would make replicas disagree."""

from __future__ import annotations

from urllib.parse import urlsplit

from event_triggers.config import Settings
from event_triggers.keys import key_problems

PUBLIC_BASE_URL = "EVENT_TRIGGERS_PUBLIC_BASE_URL"


class SettingsError(Exception):
    """Settings a process cannot start with; each problem names its ``EVENT_TRIGGERS_`` setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _public_base_url_problem(settings: Settings) -> str | None:
    """Subscribers call back the URL the API puts in each event; a replica's bind address is not it."""
    url = settings.public_base_url
    if url is None:
        if settings.dev_mode:
            return None
        return (
            f"{PUBLIC_BASE_URL} is not set: outside dev mode the API needs the URL subscribers call back, "
            "the same on every replica (e.g. https://triggers.example.com)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{PUBLIC_BASE_URL} must be an absolute http(s) URL, e.g. https://triggers.example.com"
    return None


def check_settings(settings: Settings, *, api: bool) -> None:
    """Raise ``SettingsError`` listing every key (and, for the API, callback URL) problem at once."""
    problems = key_problems(settings)
    if api and (problem := _public_base_url_problem(settings)):
        problems.append(problem)
    if problems:
        raise SettingsError(problems)
