"""The real AWS CLI (high-level `aws s3` and `aws s3api`) against a twinstore region."""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import pytest
from harness import unique_bucket


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture()
def cli_bucket(east, s3) -> str:
    name = unique_bucket("cli")
    east.aws("s3", "mb", f"s3://{name}")
    return name


def test_mb_ls_rb(east, s3):
    name = unique_bucket("cli")
    out = east.aws("s3", "mb", f"s3://{name}").stdout
    assert f"make_bucket: {name}" in out
    # `aws s3 mb` sends the LocationConstraint of the configured region
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "us-east-2"
    assert name in east.aws("s3", "ls").stdout.split()
    east.aws("s3", "rb", f"s3://{name}")
    assert name not in east.aws("s3", "ls").stdout.split()


def test_mb_existing_bucket_fails(east, cli_bucket):
    res = east.aws("s3", "mb", f"s3://{cli_bucket}", check=False)
    assert res.returncode != 0
    assert "BucketAlreadyOwnedByYou" in res.stderr


def test_cp_up_and_down(east, s3, cli_bucket, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello from the cli\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024 + 12345))  # > 8 MiB: the CLI uses multipart upload
    east.aws("s3", "cp", str(small), f"s3://{cli_bucket}/docs/small.txt")
    east.aws("s3", "cp", str(big), f"s3://{cli_bucket}/data/big.bin")
    head = s3.head_object(Bucket=cli_bucket, Key="data/big.bin")
    assert head["ContentLength"] == big.stat().st_size
    assert head["ETag"].strip('"').endswith("-2")  # 8 MiB parts
    assert s3.head_object(Bucket=cli_bucket, Key="docs/small.txt")["ContentType"] == "text/plain"
    down = tmp_path / "down"
    down.mkdir()
    east.aws("s3", "cp", f"s3://{cli_bucket}/docs/small.txt", str(down / "small.txt"))
    east.aws("s3", "cp", f"s3://{cli_bucket}/data/big.bin", str(down / "big.bin"))
    assert (down / "small.txt").read_bytes() == small.read_bytes()
    assert filecmp.cmp(down / "big.bin", big, shallow=False)


def test_cp_stdin_and_stdout(east, cli_bucket):
    east.aws("s3", "cp", "-", f"s3://{cli_bucket}/stream.txt", input=b"streamed through stdin")
    out = east.aws("s3", "cp", f"s3://{cli_bucket}/stream.txt", "-").stdout
    assert out == "streamed through stdin"


def test_ls_keys_and_recursive(east, s3, cli_bucket):
    for key in ("top.txt", "a/one.txt", "a/b/two.txt"):
        s3.put_object(Bucket=cli_bucket, Key=key, Body=b"12345")
    out = east.aws("s3", "ls", f"s3://{cli_bucket}/").stdout
    assert "PRE a/" in out
    assert "top.txt" in out
    assert "one.txt" not in out
    lines = east.aws("s3", "ls", "--recursive", f"s3://{cli_bucket}").stdout.splitlines()
    keys = sorted(line.split()[-1] for line in lines)
    assert keys == ["a/b/two.txt", "a/one.txt", "top.txt"]
    assert all(line.split()[2] == "5" for line in lines)


def test_sync_round_trip(east, s3, cli_bucket, tmp_path):
    src = tmp_path / "src"
    for rel, data in {"a.txt": b"a", "sub/b.bin": os.urandom(70_000), "sub/deeper/c.txt": b"c" * 10,
                      "sub/deeper/empty": b"", "with space.txt": b"spaces"}.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    east.aws("s3", "sync", str(src), f"s3://{cli_bucket}/tree")
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket)["Contents"])
    assert listed == sorted(f"tree/{k}" for k in _tree(src))
    # a second sync has nothing to do
    assert east.aws("s3", "sync", str(src), f"s3://{cli_bucket}/tree").stdout.strip() == ""
    dst = tmp_path / "dst"
    east.aws("s3", "sync", f"s3://{cli_bucket}/tree", str(dst))
    assert _tree(dst) == _tree(src)


def test_rm_recursive_and_rb(east, s3, cli_bucket):
    for i in range(5):
        s3.put_object(Bucket=cli_bucket, Key=f"d/{i}.txt", Body=b"x")
    s3.put_object(Bucket=cli_bucket, Key="keep.txt", Body=b"x")
    east.aws("s3", "rm", "--recursive", f"s3://{cli_bucket}/d/")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket)["Contents"]] == ["keep.txt"]
    res = east.aws("s3", "rb", f"s3://{cli_bucket}", check=False)
    assert res.returncode != 0
    assert "BucketNotEmpty" in res.stderr
    east.aws("s3", "rb", "--force", f"s3://{cli_bucket}")
    assert cli_bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_s3api_object_json(east, cli_bucket, tmp_path):
    east.aws("s3api", "put-bucket-versioning", "--bucket", cli_bucket,
             "--versioning-configuration", "Status=Enabled")
    body = tmp_path / "body.txt"
    body.write_bytes(b"version one")
    put1 = json.loads(east.aws("s3api", "put-object", "--bucket", cli_bucket, "--key", "obj",
                               "--body", str(body), "--metadata", "color=blue").stdout)
    assert put1["ETag"].startswith('"') and put1["VersionId"]
    body.write_bytes(b"version two!")
    put2 = json.loads(east.aws("s3api", "put-object", "--bucket", cli_bucket, "--key", "obj",
                               "--body", str(body)).stdout)
    head = json.loads(east.aws("s3api", "head-object", "--bucket", cli_bucket, "--key", "obj").stdout)
    assert head["ContentLength"] == len(b"version two!")
    assert head["VersionId"] == put2["VersionId"]
    out = tmp_path / "out.txt"
    got = json.loads(east.aws("s3api", "get-object", "--bucket", cli_bucket, "--key", "obj",
                              "--version-id", put1["VersionId"], str(out)).stdout)
    assert out.read_bytes() == b"version one"
    assert got["Metadata"] == {"color": "blue"}
    assert got["VersionId"] == put1["VersionId"]
    versions = json.loads(east.aws("s3api", "list-object-versions", "--bucket", cli_bucket).stdout)
    by_id = {v["VersionId"]: v for v in versions["Versions"]}
    assert set(by_id) == {put1["VersionId"], put2["VersionId"]}
    assert by_id[put2["VersionId"]]["IsLatest"] is True
    assert by_id[put1["VersionId"]]["IsLatest"] is False
    assert by_id[put1["VersionId"]]["Size"] == len(b"version one")


def test_s3api_error_exit_code(east, cli_bucket):
    res = east.aws("s3api", "head-object", "--bucket", cli_bucket, "--key", "nope", check=False)
    assert res.returncode != 0
    assert "404" in res.stderr
    res = east.aws("s3api", "get-object", "--bucket", cli_bucket, "--key", "nope", os.devnull, check=False)
    assert "NoSuchKey" in res.stderr
