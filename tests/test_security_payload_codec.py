import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from event_triggers.errors import InvalidField
from event_triggers.security.payload_codec import (
    EncryptionCodec,
    codec_endpoint_transform,
    make_data_converter,
)
from event_triggers.security.secret_box import DecryptionFailed, generate_key

OLD_KEY, NEW_KEY = generate_key(), generate_key()
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"password": "hunter2"}')


async def test_round_trip_hides_the_payload():
    codec = EncryptionCodec({"k1": NEW_KEY}, "k1")
    [encoded] = await codec.encode([PLAIN])
    assert encoded.metadata["encoding"] == b"binary/encrypted"
    assert encoded.metadata["encryption-key-id"] == b"k1"
    assert b"hunter2" not in encoded.SerializeToString()
    assert await codec.decode([encoded]) == [PLAIN]


async def test_rotation_old_payloads_decode_with_the_old_key():
    [old] = await EncryptionCodec({"k0": OLD_KEY}, "k0").encode([PLAIN])
    rotated = EncryptionCodec({"k1": NEW_KEY, "k0": OLD_KEY}, "k1")
    assert await rotated.decode([old]) == [PLAIN]
    [new] = await rotated.encode([PLAIN])
    assert new.metadata["encryption-key-id"] == b"k1"


async def test_wrong_key_fails():
    [encoded] = await EncryptionCodec({"k1": NEW_KEY}, "k1").encode([PLAIN])
    with pytest.raises(DecryptionFailed, match="does not verify"):
        await EncryptionCodec({"k1": OLD_KEY}, "k1").decode([encoded])
    with pytest.raises(DecryptionFailed, match="unknown key id"):
        await EncryptionCodec({"k9": NEW_KEY}, "k9").decode([encoded])


async def test_unencrypted_payloads_pass_through_decode():
    codec = EncryptionCodec({"k1": NEW_KEY}, "k1")
    assert await codec.decode([PLAIN]) == [PLAIN]


async def test_data_converter_round_trips_values_through_the_codec():
    codec = EncryptionCodec({"k1": NEW_KEY}, "k1")
    converter = make_data_converter(codec)
    assert converter.payload_codec is codec
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    payloads = await converter.encode([{"password": "hunter2"}])
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in payloads)
    assert await converter.decode(payloads, [dict]) == [{"password": "hunter2"}]
    assert make_data_converter(None) is pydantic_data_converter


async def test_codec_endpoint_speaks_the_web_ui_json_shape():
    codec = EncryptionCodec({"k1": NEW_KEY}, "k1")
    body = {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(b'{"a": 1}').decode(),
            }
        ]
    }
    encoded = await codec_endpoint_transform(codec, body, direction="encode")
    [entry] = encoded["payloads"]
    assert base64.b64decode(entry["metadata"]["encoding"]) == b"binary/encrypted"
    assert base64.b64decode(entry["metadata"]["encryption-key-id"]) == b"k1"
    assert await codec_endpoint_transform(codec, encoded, direction="decode") == body
    assert await codec_endpoint_transform(codec, {"payloads": []}, direction="decode") == {"payloads": []}


@pytest.mark.parametrize("body", [{"payloads": "nope"}, {"payloads": [{"data": "not base64!"}]}, {"x": 1}])
async def test_codec_endpoint_rejects_malformed_bodies_naming_the_field(body):
    with pytest.raises(InvalidField) as raised:
        await codec_endpoint_transform(EncryptionCodec({"k1": NEW_KEY}, "k1"), body, direction="decode")
    assert raised.value.field == "payloads"


async def test_codec_endpoint_reports_undecryptable_payloads():
    [encoded] = await EncryptionCodec({"k0": OLD_KEY}, "k0").encode([PLAIN])
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in encoded.metadata.items()},
                "data": base64.b64encode(encoded.data).decode(),
            }
        ]
    }
    with pytest.raises(InvalidField, match="unknown key id"):
        await codec_endpoint_transform(EncryptionCodec({"k1": NEW_KEY}, "k1"), body, direction="decode")
