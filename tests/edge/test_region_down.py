"""A request that must be served by another region while that region is down gets a retryable 503."""

from __future__ import annotations

import time

import pytest
from botocore.config import Config

import boto3

from harness import ACCESS_KEY, SECRET_KEY, Deployment, create_bucket


def test_proxy_to_a_stopped_region_answers_503(own_deployment: Deployment) -> None:
    west = own_deployment["us-west-2"]
    bucket = create_bucket(west.client(), "us-west-2")
    via_east = boto3.client("s3", endpoint_url=own_deployment["us-east-2"].endpoint, region_name="us-west-2",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            config=Config(retries={"max_attempts": 1}))
    deadline = time.monotonic() + 10
    while True:  # us-east-2 learns about us-west-2 within a refresh interval
        try:
            via_east.put_object(Bucket=bucket, Key="k", Body=b"through east")
            break
        except via_east.exceptions.ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert via_east.get_object(Bucket=bucket, Key="k")["Body"].read() == b"through east"
    west.stop()
    with pytest.raises(via_east.exceptions.ClientError) as e:
        via_east.get_object(Bucket=bucket, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert e.value.response["Error"]["Code"] == "ServiceUnavailable"
    west.start()
    assert via_east.get_object(Bucket=bucket, Key="k")["Body"].read() == b"through east"
