"""Cheaper repository keys for tests.

restic derives its key with scrypt parameters calibrated at ``init`` to ~0.5 s of CPU, and pays that on
every command; with two workers on two cores that alone was over half of this suite's time. So the
session repositories get their key file re-wrapped with small parameters (N=1024): the same master key,
the same format restic writes (``keys/<sha256 of the file>``: JSON with scrypt N/r/p, salt, and
``data`` = nonce ‖ AES-256-CTR(master key JSON) ‖ Poly1305-AES tag), and the original key removed.
Everything else is the real restic against a real repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import boto3  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

CHEAP = {"N": 1024, "r": 8, "p": 1}


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes, bytes]:
    keys = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=1 << 30, dklen=64)
    return keys[:32], keys[32:48], keys[48:]  # AES-256 key, Poly1305-AES k, Poly1305 r


def _poly_key(k: bytes, r: bytes, nonce: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(k), modes.ECB()).encryptor()  # noqa: S305 — one block: Poly1305-AES
    return r + encryptor.update(nonce) + encryptor.finalize()


def rewrap(key_file: bytes, password: str) -> bytes:
    """The same key file with cheap scrypt parameters."""
    key = json.loads(key_file)
    aes, k, r = _derive(password, base64.b64decode(key["salt"]), key["N"], key["r"], key["p"])
    data = base64.b64decode(key["data"])
    nonce, sealed, tag = data[:16], data[16:-16], data[-16:]
    Poly1305.verify_tag(_poly_key(k, r, nonce), sealed, tag)
    decryptor = Cipher(algorithms.AES(aes), modes.CTR(nonce)).decryptor()
    master = decryptor.update(sealed) + decryptor.finalize()

    salt, nonce = os.urandom(64), os.urandom(16)
    aes, k, r = _derive(password, salt, CHEAP["N"], CHEAP["r"], CHEAP["p"])
    encryptor = Cipher(algorithms.AES(aes), modes.CTR(nonce)).encryptor()
    sealed = encryptor.update(master) + encryptor.finalize()
    tag = Poly1305.generate_tag(_poly_key(k, r, nonce), sealed)
    key.update(
        CHEAP, salt=base64.b64encode(salt).decode(), data=base64.b64encode(nonce + sealed + tag).decode()
    )
    return json.dumps(key).encode()


def cheapen_local(repository: Path, password: str) -> None:
    [old] = list((repository / "keys").iterdir())
    new = rewrap(old.read_bytes(), password)
    (repository / "keys" / hashlib.sha256(new).hexdigest()).write_bytes(new)
    old.unlink()


def cheapen_s3(endpoint: str, bucket: str, prefix: str, password: str, access: str, secret: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    [old] = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/keys/")["Contents"]
    new = rewrap(s3.get_object(Bucket=bucket, Key=old["Key"])["Body"].read(), password)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/keys/{hashlib.sha256(new).hexdigest()}", Body=new)
    s3.delete_object(Bucket=bucket, Key=old["Key"])
