"""The AWS KMS JSON API of a region, through boto3 and `aws kms`."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError


def code_of(call: Any) -> str:
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(e.value.response["Error"]["Code"])


def test_key_lifecycle_and_cryptography(east: Any) -> None:
    kms = east.client("kms")
    meta = kms.create_key(Description="lifecycle")["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert arn == f"arn:aws:kms:us-east-2:123456789012:key/{key_id}"
    assert (meta["KeyState"], meta["Enabled"], meta["KeyManager"]) == ("Enabled", True, "CUSTOMER")
    assert {"KeyId": key_id, "KeyArn": arn} in kms.list_keys(Limit=1000)["Keys"]
    for ref in (key_id, arn):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["Description"] == "lifecycle"

    enc = kms.encrypt(KeyId=key_id, Plaintext=b"attack at dawn", EncryptionContext={"purpose": "test"})
    assert enc["KeyId"] == arn and b"attack" not in enc["CiphertextBlob"]
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"purpose": "test"})  # no KeyId
    assert (dec["Plaintext"], dec["KeyId"]) == (b"attack at dawn", arn)
    assert code_of(lambda: kms.decrypt(CiphertextBlob=enc["CiphertextBlob"])) == "InvalidCiphertextException"
    tampered = bytearray(enc["CiphertextBlob"])
    tampered[-1] ^= 1
    assert code_of(lambda: kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext={"purpose": "test"})) \
        == "InvalidCiphertextException"

    dk = kms.generate_data_key(KeyId=arn, KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    assert code_of(lambda: kms.generate_data_key(KeyId=arn)) == "ValidationException"

    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    # new material on demand: new ciphertexts use it, old ones still decrypt
    kms.rotate_key_on_demand(KeyId=key_id)
    assert [r["RotationType"] for r in kms.list_key_rotations(KeyId=key_id)["Rotations"]] == ["ON_DEMAND"]
    enc2 = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")
    assert kms.decrypt(CiphertextBlob=enc2["CiphertextBlob"])["Plaintext"] == b"after rotation"
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]

    kms.disable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    assert code_of(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x")) == "DisabledException"
    assert code_of(lambda: kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])) == "DisabledException"
    kms.enable_key(KeyId=key_id)
    sched = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert sched["KeyState"] == "PendingDeletion" and sched["PendingWindowInDays"] == 7
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert code_of(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x")) == "KMSInvalidStateException"
    assert code_of(lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=3)) == "ValidationException"


def test_aliases(east: Any) -> None:
    kms = east.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app-data", TargetKeyId=key_id)
    assert code_of(lambda: kms.create_alias(AliasName="alias/app-data", TargetKeyId=key_id)) == \
        "AlreadyExistsException"
    assert code_of(lambda: kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key_id)) == \
        "NotAuthorizedException"
    aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in aliases] == [("alias/app-data", key_id)]
    assert aliases[0]["AliasArn"] == "arn:aws:kms:us-east-2:123456789012:alias/app-data"
    enc = kms.encrypt(KeyId="alias/app-data", Plaintext=b"via alias")
    assert kms.decrypt(CiphertextBlob=enc["CiphertextBlob"])["Plaintext"] == b"via alias"
    assert code_of(lambda: kms.describe_key(KeyId="alias/nope")) == "NotFoundException"
    # the S3 managed key exists once asked for, and is AWS-managed
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert code_of(lambda: kms.disable_key(KeyId=managed["KeyId"])) == "NotAuthorizedException"


def test_keys_belong_to_their_region(east: Any, west: Any) -> None:
    key = east.client("kms").create_key()["KeyMetadata"]
    blob = east.client("kms").encrypt(KeyId=key["KeyId"], Plaintext=b"east only")["CiphertextBlob"]
    w = west.client("kms")
    assert code_of(lambda: w.describe_key(KeyId=key["KeyId"])) == "NotFoundException"
    assert code_of(lambda: w.decrypt(CiphertextBlob=blob)) == "InvalidCiphertextException"


def test_aws_cli_kms(east: Any, tmp_path: Any) -> None:
    meta = json.loads(east.aws("kms", "create-key", "--description", "from the cli").stdout)["KeyMetadata"]
    east.aws("kms", "create-alias", "--alias-name", "alias/cli-key", "--target-key-id", meta["KeyId"])
    listed = json.loads(east.aws("kms", "list-aliases").stdout)["Aliases"]
    assert any(a["AliasName"] == "alias/cli-key" for a in listed)
    assert any(k["KeyId"] == meta["KeyId"] for k in json.loads(east.aws("kms", "list-keys").stdout)["Keys"])
    plain = tmp_path / "p.txt"
    plain.write_bytes(b"cli secret")
    out = json.loads(east.aws("kms", "encrypt", "--key-id", "alias/cli-key", "--plaintext",
                              f"fileb://{plain}").stdout)
    blob = tmp_path / "c.bin"
    blob.write_bytes(base64.b64decode(out["CiphertextBlob"]))
    dec = json.loads(east.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}").stdout)
    assert base64.b64decode(dec["Plaintext"]) == b"cli secret"
    dk = json.loads(east.aws("kms", "generate-data-key", "--key-id", meta["KeyId"], "--key-spec",
                             "AES_256").stdout)
    assert len(base64.b64decode(dk["Plaintext"])) == 32
    east.aws("kms", "enable-key-rotation", "--key-id", meta["KeyId"])
    east.aws("kms", "disable-key", "--key-id", meta["KeyId"])
    desc = json.loads(east.aws("kms", "describe-key", "--key-id", "alias/cli-key").stdout)["KeyMetadata"]
    assert desc["KeyState"] == "Disabled"
    east.aws("kms", "enable-key", "--key-id", meta["KeyId"])
    sched = json.loads(east.aws("kms", "schedule-key-deletion", "--key-id", meta["KeyId"],
                                "--pending-window-in-days", "7").stdout)
    assert sched["KeyState"] == "PendingDeletion"
