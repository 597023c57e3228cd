"""Encryption of Temporal payloads, so workflow inputs, results and memos are opaque in Temporal's
database and in its Web UI unless the UI is pointed at our codec endpoint."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from event_triggers.errors import InvalidField
from event_triggers.security.secret_box import DecryptionFailed, KeyRing

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_ASSOCIATED_DATA = ENCRYPTED_ENCODING


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each serialized payload; the key id travels in the metadata, so payloads
    written before a key rotation still decode while the old key is kept."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        super().__init__()
        self._ring = KeyRing(keys, current_key_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        encoded = []
        for payload in payloads:
            key_id, blob = self._ring.seal(payload.SerializeToString(), associated_data=_ASSOCIATED_DATA)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id.encode()},
                    data=blob,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Payloads that are not encrypted (written before encryption was turned on) pass through."""
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
                decoded.append(payload)
                continue
            try:
                key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode()
            except UnicodeDecodeError:
                raise DecryptionFailed(f"metadata {KEY_ID_METADATA} is not a key id (not UTF-8)") from None
            plaintext = self._ring.open(key_id, payload.data, associated_data=_ASSOCIATED_DATA)
            decoded.append(Payload.FromString(plaintext))
        return decoded


def make_data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The one data converter of every client and worker: pydantic, plus ``codec`` when given.

    With a codec, failure messages and stack traces are encoded too, since they can quote payload data.
    """
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def codec_endpoint_transform(
    codec: PayloadCodec, body: dict[str, Any], *, direction: Literal["encode", "decode"]
) -> dict[str, Any]:
    """Body of the Temporal codec server protocol (``POST /encode`` and ``/decode``): ``Payloads`` as
    protobuf JSON, ``{"payloads": [{"metadata": {name: base64}, "data": base64}]}``, in and out."""
    try:
        payloads = json_format.ParseDict(body, Payloads()).payloads
    except json_format.ParseError as error:
        raise InvalidField("payloads", f"is not a Temporal Payloads JSON object: {error}") from None
    try:
        if direction == "encode":
            transformed = await codec.encode(payloads)
        else:
            transformed = await codec.decode(payloads)
    except DecryptionFailed as error:
        raise InvalidField("payloads", str(error)) from None
    return {"payloads": [json_format.MessageToDict(payload) for payload in transformed]}
