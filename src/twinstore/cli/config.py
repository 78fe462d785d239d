"""Deployment configuration: command-line flags or a TOML file with the same content.

    data_dir = "./twinstore-data"
    account_id = "123456789012"      # optional
    [regions]
    us-east-2 = "127.0.0.1:9100"
    us-west-2 = "127.0.0.1:9101"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field

DEFAULT_REGIONS = {"us-east-2": "127.0.0.1:9100", "us-west-2": "127.0.0.1:9101"}
DEFAULT_DATA_DIR = "./twinstore-data"


@dataclass
class Deployment:
    data_dir: str = DEFAULT_DATA_DIR
    account_id: str | None = None
    regions: dict[str, tuple[str, int]] = field(default_factory=dict)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def parse_region_flag(value: str) -> tuple[str, tuple[str, int]]:
    name, sep, listen = value.partition("=")
    if not sep or not name:
        raise ValueError(f"expected NAME=HOST:PORT, got {value!r}")
    return name, parse_listen(listen)


def load(config_file: str | None, data_dir: str | None, region_flags: tuple[str, ...],
         account_id: str | None) -> Deployment:
    dep = Deployment()
    if config_file:
        with open(config_file, "rb") as f:
            doc = tomllib.load(f)
        dep.data_dir = doc.get("data_dir", dep.data_dir)
        dep.account_id = doc.get("account_id")
        for name, listen in (doc.get("regions") or {}).items():
            dep.regions[name] = parse_listen(str(listen))
    if data_dir:
        dep.data_dir = data_dir
    if account_id:
        dep.account_id = account_id
    for flag in region_flags:
        name, listen = parse_region_flag(flag)
        dep.regions[name] = listen
    if not dep.regions:
        dep.regions = {n: parse_listen(v) for n, v in DEFAULT_REGIONS.items()}
    dep.data_dir = os.path.abspath(dep.data_dir)
    return dep
