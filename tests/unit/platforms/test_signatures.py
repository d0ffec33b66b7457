"""commerce_sync.platforms.signatures: Shopify-style base64 HMAC and Standard Webhooks, with secret rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from commerce_sync.platforms.signatures import (
    STANDARD_WEBHOOKS_TOLERANCE_SECONDS,
    SignatureError,
    sign_base64_hmac,
    sign_standard_webhook,
    verify_base64_hmac,
    verify_standard_webhook,
)

BODY = b'{"id":35487212310589,"token":"b7f0d3c2a9e84e1f8c6d5a4b3e2f1a0c","email":"jane@example.com"}'
SECRET = "shpss_0123456789abcdef"


def independent_base64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# ---- base64 HMAC (Shopify X-Shopify-Hmac-Sha256, WooCommerce X-WC-Webhook-Signature) -------------


def test_known_answer_rfc4231_case_2() -> None:
    # RFC 4231 test case 2: HMAC-SHA256(key="Jefe", data="what do ya want for nothing?")
    expected_hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    expected = base64.b64encode(bytes.fromhex(expected_hex)).decode()
    assert sign_base64_hmac("Jefe", b"what do ya want for nothing?") == expected
    assert verify_base64_hmac(["Jefe"], b"what do ya want for nothing?", expected) == 0


def test_known_answer_computed_with_hmac() -> None:
    expected = independent_base64_hmac(SECRET, BODY)
    assert sign_base64_hmac(SECRET, BODY) == expected
    assert verify_base64_hmac([SECRET], BODY, expected) == 0


def test_round_trip() -> None:
    signature = sign_base64_hmac(SECRET, BODY)
    assert verify_base64_hmac([SECRET], BODY, signature) == 0


def test_signature_with_surrounding_whitespace_is_accepted() -> None:
    assert verify_base64_hmac([SECRET], BODY, f"  {sign_base64_hmac(SECRET, BODY)}\n") == 0


@pytest.mark.parametrize(
    "tampered",
    [BODY + b" ", BODY.replace(b"jane", b"jake"), b"", BODY[:-1]],
)
def test_tampered_body_is_rejected(tampered: bytes) -> None:
    signature = sign_base64_hmac(SECRET, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_base64_hmac([SECRET], tampered, signature)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify_base64_hmac(["another-secret"], BODY, sign_base64_hmac(SECRET, BODY))


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_signature_is_rejected(missing: str | None) -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify_base64_hmac([SECRET], BODY, missing)


@pytest.mark.parametrize("garbage", ["not base64!", "abc", "####", "ünïcode=="])
def test_non_base64_signature_is_rejected(garbage: str) -> None:
    with pytest.raises(SignatureError, match="not base64"):
        verify_base64_hmac([SECRET], BODY, garbage)


def test_hex_digest_is_not_accepted_for_base64_scheme() -> None:
    hex_digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        verify_base64_hmac([SECRET], BODY, hex_digest)


@pytest.mark.parametrize(("signer", "expected_index"), [("current", 0), ("pending", 1), ("previous", 2)])
def test_verify_returns_the_index_of_the_matching_secret(signer: str, expected_index: int) -> None:
    secrets = ["current", "pending", "previous"]
    assert verify_base64_hmac(secrets, BODY, sign_base64_hmac(signer, BODY)) == expected_index


def test_empty_secret_is_ignored() -> None:
    # HMAC with an empty key is a valid digest; an unset secret must never make it acceptable.
    signature = independent_base64_hmac("", BODY)
    with pytest.raises(SignatureError):
        verify_base64_hmac(["", "real"], BODY, signature)
    assert verify_base64_hmac(["", "real"], BODY, sign_base64_hmac("real", BODY)) == 1


def test_no_secrets_rejects_everything() -> None:
    with pytest.raises(SignatureError):
        verify_base64_hmac([], BODY, sign_base64_hmac(SECRET, BODY))


# ---- Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) -------------------------

MESSAGE_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
SENT_AT = 1_742_000_000


def independent_standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def test_standard_webhook_known_answer() -> None:
    expected = independent_standard_signature(SECRET, MESSAGE_ID, SENT_AT, BODY)
    assert sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY) == expected


def test_standard_webhook_round_trip() -> None:
    header = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY)
    assert verify_standard_webhook([SECRET], BODY, MESSAGE_ID, str(SENT_AT), header, now=SENT_AT + 5) == 0


def test_standard_webhook_uses_the_clock_by_default() -> None:
    import time

    now = int(time.time())
    header = sign_standard_webhook(SECRET, MESSAGE_ID, now, BODY)
    assert verify_standard_webhook([SECRET], BODY, MESSAGE_ID, str(now), header) == 0
    with pytest.raises(SignatureError, match="window"):
        verify_standard_webhook([SECRET], BODY, MESSAGE_ID, str(now - 3600), header)


@pytest.mark.parametrize("offset", [STANDARD_WEBHOOKS_TOLERANCE_SECONDS, -STANDARD_WEBHOOKS_TOLERANCE_SECONDS, 0])
def test_standard_webhook_within_tolerance_is_accepted(offset: int) -> None:
    header = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY)
    assert verify_standard_webhook([SECRET], BODY, MESSAGE_ID, str(SENT_AT), header, now=SENT_AT + offset) == 0


@pytest.mark.parametrize(
    "offset", [STANDARD_WEBHOOKS_TOLERANCE_SECONDS + 1, -(STANDARD_WEBHOOKS_TOLERANCE_SECONDS + 1)]
)
def test_standard_webhook_stale_or_future_timestamp_is_rejected(offset: int) -> None:
    header = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY)
    with pytest.raises(SignatureError, match="window"):
        verify_standard_webhook([SECRET], BODY, MESSAGE_ID, str(SENT_AT), header, now=SENT_AT + offset)


def test_standard_webhook_accepts_any_of_several_signatures() -> None:
    good = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY)
    other = sign_standard_webhook("some-other-secret", MESSAGE_ID, SENT_AT, BODY)
    for header in (f"{other} {good}", f"{good} {other}", f"v1,!!notbase64!! {good}", f"v2,abcd {good}"):
        assert verify_standard_webhook([SECRET], BODY, MESSAGE_ID, str(SENT_AT), header, now=SENT_AT) == 0


def test_standard_webhook_returns_the_index_of_the_matching_secret() -> None:
    header = sign_standard_webhook("pending", MESSAGE_ID, SENT_AT, BODY)
    secrets = ["", "current", "pending"]
    assert verify_standard_webhook(secrets, BODY, MESSAGE_ID, str(SENT_AT), header, now=SENT_AT) == 2


def test_standard_webhook_empty_secret_is_ignored() -> None:
    header = independent_standard_signature("", MESSAGE_ID, SENT_AT, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_standard_webhook(["", "current"], BODY, MESSAGE_ID, str(SENT_AT), header, now=SENT_AT)


def test_standard_webhook_wrong_id_is_rejected() -> None:
    header = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_standard_webhook([SECRET], BODY, "msg_other", str(SENT_AT), header, now=SENT_AT)


def test_standard_webhook_signature_binds_the_timestamp() -> None:
    header = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_standard_webhook([SECRET], BODY, MESSAGE_ID, str(SENT_AT + 1), header, now=SENT_AT)


def test_standard_webhook_tampered_body_is_rejected() -> None:
    header = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_standard_webhook([SECRET], BODY + b"\n", MESSAGE_ID, str(SENT_AT), header, now=SENT_AT)


def test_standard_webhook_needs_the_v1_prefix() -> None:
    bare = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY).removeprefix("v1,")
    with pytest.raises(SignatureError, match="does not match"):
        verify_standard_webhook([SECRET], BODY, MESSAGE_ID, str(SENT_AT), bare, now=SENT_AT)


@pytest.mark.parametrize(
    ("message_id", "timestamp", "header"),
    [(None, str(SENT_AT), "v1,x"), (MESSAGE_ID, None, "v1,x"), (MESSAGE_ID, str(SENT_AT), None), ("", "", "")],
)
def test_standard_webhook_missing_headers_are_rejected(
    message_id: str | None, timestamp: str | None, header: str | None
) -> None:
    with pytest.raises(SignatureError, match="required"):
        verify_standard_webhook([SECRET], BODY, message_id, timestamp, header, now=SENT_AT)


@pytest.mark.parametrize("timestamp", ["yesterday", "1742000000.5", "0x67d2"])
def test_standard_webhook_non_integer_timestamp_is_rejected(timestamp: str) -> None:
    header = sign_standard_webhook(SECRET, MESSAGE_ID, SENT_AT, BODY)
    with pytest.raises(SignatureError, match="Unix time"):
        verify_standard_webhook([SECRET], BODY, MESSAGE_ID, timestamp, header, now=SENT_AT)
