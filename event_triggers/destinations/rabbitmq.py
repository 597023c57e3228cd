"""``type: "RABBITMQ"`` (extension): one persistent message per invocation, published to an exchange.

Published with publisher confirms and the mandatory flag: the broker confirms it stored the message, and
a message no queue is bound for comes back, which fails the invocation (naming exchange and routing key)
instead of vanishing. ``message_id`` is the invocation id, so consumers can drop a redelivered retry. The
URL's password is a secret: stored sealed apart from the URL and never returned. The broker's host
obeys the SSRF rules of every destination.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity, DeliveryError, ProbableAuthenticationError
from temporalio import activity

from event_triggers.catalog import TriggerDefinition
from event_triggers.destinations.base import DeliveryActivity, DeliveryResources, Destination, compact_json
from event_triggers.destinations.outcomes import final_failure, retryable_failure
from event_triggers.invocation_models import DeliveryRequest, DeliveryResult
from event_triggers.models import URL_MAX, MaxLength, WireModel
from event_triggers.security.ssrf import DestinationPolicy, DestinationRefused
from event_triggers.tracing import trace_headers

if TYPE_CHECKING:
    pass

ACTIVITY = "publish_rabbitmq_message"
_SCHEMES = {"amqp": 5672, "amqps": 5671}
_PASSWORD = "url.password"


class RabbitMqConfig(WireModel):
    url: Annotated[str, MaxLength(URL_MAX)]
    """``amqp://user:password@host:port/vhost`` (or ``amqps://``); the password is write-only."""
    exchange: Annotated[str, MaxLength(127)]
    """The exchange to publish to; ``""`` is the default exchange (routing key = queue name)."""
    routingKey: Annotated[str, MaxLength(255)]
    """AMQP's short strings: exchange names up to 127 characters, routing keys up to 255."""


def _url_password(url: str) -> str | None:
    password = urlsplit(url).password
    return unquote(password) if password is not None else None


def _with_password(url: str, password: str | None) -> str:
    """``url`` with its password replaced (None: removed)."""
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(unquote(user), safe="") if user else ""
    if password is not None:
        netloc += ":" + quote(password, safe="")
    netloc = f"{netloc}@{host}" if netloc else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _same_broker(url: str, other: str) -> bool:
    """Same scheme, user, host and port: an update may keep the stored password only for the same broker."""
    left, right = urlsplit(url), urlsplit(other)
    return (left.scheme, left.username, left.hostname, left.port) == (
        right.scheme,
        right.username,
        right.hostname,
        right.port,
    )


class RabbitMqDestination(Destination[RabbitMqConfig]):
    type = "RABBITMQ"
    config_field = "rabbitMqConfig"
    config_model = RabbitMqConfig
    activity_name = ACTIVITY
    summary_verb = "publish for"

    def check(
        self, config: RabbitMqConfig, *, trigger: TriggerDefinition, destinations: DestinationPolicy
    ) -> None:
        self.check_url(
            "url",
            config.url,
            destinations=destinations,
            schemes=_SCHEMES,
            expected="must be an absolute amqp:// or amqps:// URL",
            credentials_allowed=True,
        )

    def describe_target(self, config: RabbitMqConfig) -> str:
        exchange = f"exchange {config.exchange}" if config.exchange else "the default exchange"
        return f"{exchange}, routing key {config.routingKey}, at {_with_password(config.url, None)}"

    # The password sits inside the URL: these four keep it out of the stored document and the API.

    def split_secrets(self, document: dict[str, Any]) -> dict[str, str]:
        url = document.get("url")
        password = _url_password(url) if isinstance(url, str) else None
        if password is None:
            return {}
        document["url"] = _with_password(url, None)  # type: ignore[arg-type]
        return {_PASSWORD: password}

    def merge_secrets(self, document: dict[str, Any], secrets: dict[str, str]) -> None:
        if _PASSWORD in secrets and isinstance(document.get("url"), str):
            document["url"] = _with_password(document["url"], secrets[_PASSWORD])

    def public(self, document: dict[str, Any]) -> dict[str, Any]:
        self.split_secrets(document)
        return document

    def keep_stored_secrets(self, document: dict[str, Any], stored: dict[str, Any]) -> None:
        url, stored_url = document.get("url"), stored.get("url")
        if not isinstance(url, str) or not isinstance(stored_url, str) or _url_password(url) is not None:
            return
        password = _url_password(stored_url)
        if password is not None and _same_broker(url, stored_url):
            document["url"] = _with_password(url, password)

    def activity(self, resources: DeliveryResources) -> RabbitMqDelivery:
        return RabbitMqDelivery(self, resources)


RABBITMQ = RabbitMqDestination()


class RabbitMqDelivery(DeliveryActivity[RabbitMqDestination]):
    """``publish_rabbitmq_message``: one connection per broker URL, kept by the worker, a channel per
    publish (a failed publish closes its channel, never the others')."""

    def __init__(self, destination: RabbitMqDestination, resources: DeliveryResources) -> None:
        super().__init__(destination, resources)
        self._connections: dict[str, AbstractConnection] = {}
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        for connection in self._connections.values():
            await connection.close()
        self._connections.clear()

    async def _connection(self, url: str) -> AbstractConnection:
        """A cached connection to the broker, opened to an address the SSRF guard checked."""
        async with self._lock:
            connection = self._connections.get(url)
            if connection is None or connection.is_closed:
                parts = urlsplit(url)
                port = parts.port or _SCHEMES[parts.scheme]
                address = await self.resources.destination_policy.resolve_and_check(
                    parts.hostname or "", port
                )
                # amqps keeps the name for certificate checks; amqp connects to the checked address.
                target = url if parts.scheme == "amqps" else _pinned(url, address, port)
                timeout = self.resources.settings.delivery_timeout.total_seconds()
                connection = await aio_pika.connect(target, timeout=timeout)
                self._connections[url] = connection
            return connection

    def _retry(self, message: str, request: DeliveryRequest) -> Exception:
        return retryable_failure(
            message, error_type="BrokerUnavailable", settings=self.resources.settings, request=request
        )

    @activity.defn(name=ACTIVITY)
    async def publish_rabbitmq_message(self, request: DeliveryRequest) -> DeliveryResult:
        """Publish the trigger input plus ``_metadata``; the broker's confirm is the delivery."""
        subscription, secret = await self.target(request)
        config = self.destination.delivery_config(subscription)
        message = aio_pika.Message(
            compact_json(self.destination.message(request, secret=secret)).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=request.invocation_id,
            headers={
                "triggerId": request.trigger_id,
                "invocationId": request.invocation_id,
                **trace_headers(),
            },
        )
        where = f"exchange '{config.exchange}' with routing key '{config.routingKey}'"
        timeout = self.resources.settings.delivery_timeout.total_seconds()
        try:
            connection = await self._connection(config.url)
            async with connection.channel(publisher_confirms=True, on_return_raises=True) as channel:
                exchange = (
                    await channel.get_exchange(config.exchange, ensure=True)
                    if config.exchange
                    else channel.default_exchange
                )
                await exchange.publish(message, config.routingKey, mandatory=True, timeout=timeout)
        except DestinationRefused as exc:
            raise final_failure(f"delivery refused: {exc.reason}", error_type="DestinationRefused") from None
        except DeliveryError:
            raise final_failure(
                f"unroutable: no queue is bound to {where}", error_type="Unroutable"
            ) from None
        except ChannelNotFoundEntity:
            raise final_failure(
                f"exchange '{config.exchange}' does not exist", error_type="NoSuchExchange"
            ) from None
        except ProbableAuthenticationError as exc:
            raise final_failure(
                f"broker refused the login: {exc}", error_type="BrokerAuthentication"
            ) from None
        except (AMQPError, OSError, TimeoutError) as exc:
            raise self._retry(f"cannot publish to {where}: {type(exc).__name__}: {exc}", request) from None
        return DeliveryResult(status_code=200)


def _pinned(url: str, address: str, port: int) -> str:
    """``url`` connecting to ``address`` instead of its host name (credentials and vhost kept)."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
