"""The README's lab walkthrough (examples/crr-lab.sh) runs as written against a real deployment: two stacks from
the lab's template, a replication rule each way, an object per bucket reaching COMPLETED / REPLICA, encrypted on
both sides, the lab's Insights query showing the replicated write as "AWS Internal", and a clean teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from harness import ACCESS_KEY, SECRET_KEY, Deployment, base_env

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "crr-lab.sh")


def test_lab_walkthrough_script(deployment: Deployment) -> None:
    east = deployment["us-east-2"]
    env = base_env()
    env.update({"AWS_ENDPOINT_URL": east.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "PREFIX": f"walk{uuid.uuid4().hex[:10]}",
                "TWINSTORE": f"{sys.executable} -m twinstore.cli.main", "AWS": f"{sys.executable} -m awscli",
                "COLUMNS": "250"})
    res = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    out = res.stdout
    assert res.returncode == 0, out[-3000:] + res.stderr[-3000:]
    assert "object-1: east COMPLETED, west REPLICA    object-2: west COMPLETED, east REPLICA" in out
    assert "encryption of the copies: AES256 / AES256" in out
    rows = [line for line in out.splitlines() if "object-1.txt" in line or "object-2.txt" in line]
    assert len(rows) == 2, out
    replicated = next(r for r in rows if "object-2.txt" in r)
    uploaded = next(r for r in rows if "object-1.txt" in r)
    assert "AWS Internal" in replicated and "assumed-role" in replicated
    assert "AWS Internal" not in uploaded and ":root" in uploaded
    assert "S3-CRR-lab-east: DELETE_COMPLETE" in out and "S3-CRR-lab-west: DELETE_COMPLETE" in out
    s3 = east.client()
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not [n for n in names if env["PREFIX"] in n]
    iam = east.client("iam")
    assert not [r for r in iam.list_roles()["Roles"] if env["PREFIX"] in r["RoleName"]]
