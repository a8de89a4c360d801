from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from lti_bridge.adapters.sis.signature import (
    SecretError,
    SignatureError,
    WebhookVerifier,
    decode_secret,
    sign,
)

# The Standard Webhooks specification's published test vector.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OTHER_SECRET = "whsec_" + base64.b64encode(b"a different thirty-two byte key!").decode()


def headers(
    signature: str, *, msg_id: str = SPEC_ID, timestamp: int = SPEC_TIMESTAMP
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def verifier(*secrets: str) -> WebhookVerifier:
    return WebhookVerifier.from_secrets(secrets or (SPEC_SECRET,), tolerance_seconds=300)


def test_signing_reproduces_the_specifications_test_vector():
    assert sign(decode_secret(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_specifications_test_vector_verifies_at_its_own_time():
    webhook_id = verifier().verify(headers(SPEC_SIGNATURE), SPEC_BODY, now=SPEC_TIMESTAMP)
    assert webhook_id == SPEC_ID


def test_a_signature_from_the_reference_library_verifies():
    at = datetime(2024, 1, 3, 16, 2, 11, tzinfo=UTC)
    body = '{"type": "tuition.paid"}'
    signature = Webhook(OTHER_SECRET).sign("msg_1", at, body)
    assert (
        verifier(OTHER_SECRET).verify(
            headers(signature, msg_id="msg_1", timestamp=int(at.timestamp())),
            body.encode(),
            now=at.timestamp(),
        )
        == "msg_1"
    )


def test_a_tampered_body_is_refused():
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier().verify(headers(SPEC_SIGNATURE), b'{"test": 2432232315}', now=SPEC_TIMESTAMP)


def test_a_different_webhook_id_is_refused():
    with pytest.raises(SignatureError):
        verifier().verify(headers(SPEC_SIGNATURE, msg_id="msg_other"), SPEC_BODY, SPEC_TIMESTAMP)


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_timestamps_outside_five_minutes_either_way_are_refused(offset):
    with pytest.raises(SignatureError, match="too old|future"):
        verifier().verify(headers(SPEC_SIGNATURE), SPEC_BODY, now=SPEC_TIMESTAMP - offset)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_five_minutes_either_way_are_accepted(offset):
    assert verifier().verify(headers(SPEC_SIGNATURE), SPEC_BODY, now=SPEC_TIMESTAMP - offset)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_named(missing):
    given = headers(SPEC_SIGNATURE)
    del given[missing]
    with pytest.raises(SignatureError, match=missing):
        verifier().verify(given, SPEC_BODY, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize("timestamp", ["1614265330.5", "-1614265330", "abc", "١٦١٤٢٦٥٣٣٠"])
def test_a_timestamp_that_is_not_whole_unix_seconds_is_refused(timestamp):
    given = headers(SPEC_SIGNATURE) | {"webhook-timestamp": timestamp}
    with pytest.raises(SignatureError, match="whole unix seconds"):
        verifier().verify(given, SPEC_BODY, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize("msg_id", ["a" * 256, "has space", "tab\there", "é"])
def test_a_malformed_webhook_id_is_refused(msg_id):
    with pytest.raises(SignatureError, match="webhook-id"):
        verifier().verify(headers(SPEC_SIGNATURE, msg_id=msg_id), SPEC_BODY, SPEC_TIMESTAMP)


def test_one_matching_signature_among_several_is_enough():
    offered = f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,whatever v2,abc {SPEC_SIGNATURE}"
    assert verifier().verify(headers(offered), SPEC_BODY, now=SPEC_TIMESTAMP) == SPEC_ID


@pytest.mark.parametrize("offered", ["v1a,g0hM9SsE", "v1,not base64!", "g0hM9SsE", "v1,", ","])
def test_headers_without_a_usable_v1_signature_are_refused(offered):
    with pytest.raises(SignatureError):
        verifier().verify(headers(offered), SPEC_BODY, now=SPEC_TIMESTAMP)


def test_any_configured_secret_verifies_during_rotation():
    rotating = verifier(OTHER_SECRET, SPEC_SECRET)
    assert rotating.verify(headers(SPEC_SIGNATURE), SPEC_BODY, now=SPEC_TIMESTAMP) == SPEC_ID
    with pytest.raises(SignatureError):
        verifier(OTHER_SECRET).verify(headers(SPEC_SIGNATURE), SPEC_BODY, now=SPEC_TIMESTAMP)


def test_secrets_without_padding_decode_like_the_reference_library():
    padded = "whsec_" + base64.b64encode(b"0123456789").decode()
    assert decode_secret(padded.rstrip("=")) == b"0123456789"


@pytest.mark.parametrize("secret", ["whsec_", "whsec_!!!!", "whsec_a"])
def test_an_unusable_secret_is_refused(secret):
    with pytest.raises(SecretError):
        decode_secret(secret)
