"""Smoke test: the most basic object round trip through boto3."""


def test_put_get_roundtrip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello world")
    got = s3.get_object(Bucket=bucket, Key="hello.txt")
    assert got["Body"].read() == b"hello world"
    assert got["ETag"] == '"5eb63bbbe01eeed093cb22bb8f5acdc3"'
