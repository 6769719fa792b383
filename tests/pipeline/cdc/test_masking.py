"""Masking: `hash` is HMAC-SHA-256 with the configured key, checked against vectors computed elsewhere."""

import hashlib

from pipeline.cdc.masking import hmac_hex, mask_for, masks_for_table
from pipeline.config import load_config

# RFC 4231, test case 2 (key "Jefe").
RFC4231_KEY = b"Jefe"
RFC4231_DATA = "what do ya want for nothing?"
RFC4231_SHA256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def _hmac_by_hand(key: bytes, message: bytes) -> str:
    """HMAC from its definition (RFC 2104) over hashlib, independent of the hmac module."""
    block = 64
    key = hashlib.sha256(key).digest() if len(key) > block else key
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def test_hmac_matches_the_rfc_4231_vector():
    assert hmac_hex(RFC4231_KEY, RFC4231_DATA) == RFC4231_SHA256
    assert _hmac_by_hand(RFC4231_KEY, RFC4231_DATA.encode()) == RFC4231_SHA256


def test_the_hash_mask_is_the_keyed_hmac_of_the_value_text():
    key = "k" * 40
    mask = mask_for("hash", key)
    assert mask("tok_1") == _hmac_by_hand(key.encode(), b"tok_1")
    assert mask(42) == _hmac_by_hand(key.encode(), b"42")
    assert mask("23.45.1.1") == _hmac_by_hand(key.encode(), "23.45.1.1".encode())
    assert mask(None) is None


def test_a_key_longer_than_a_block_is_hashed_first_as_hmac_requires():
    key = "x" * 100
    assert mask_for("hash", key)("dev-1") == _hmac_by_hand(key.encode(), b"dev-1")


def test_not_a_plain_salted_hash_and_the_key_matters():
    value = "dev-1"
    assert mask_for("hash", "a" * 20)(value) != hashlib.sha256(("a" * 20 + value).encode()).hexdigest()
    assert mask_for("hash", "a" * 20)(value) != mask_for("hash", "b" * 20)(value)


def test_logins_device_and_ip_are_hashed_by_default(tmp_path):
    config = load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path), "CDC_OLAP_CDC_MASK_KEY": "k" * 32})
    assert config.cdc.mask["logins.device_id"] == "hash" and config.cdc.mask["logins.ip"] == "hash"
    masks = masks_for_table(config.cdc.mask, "public", "logins", config.cdc.mask_key)
    assert set(masks) == {"device_id", "ip"}
    # Deterministic, so "first time this device is seen" still works on the hashed ids.
    assert masks["device_id"]("dev-9") == masks["device_id"]("dev-9") != masks["device_id"]("dev-8")
