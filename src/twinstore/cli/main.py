"""The `twinstore` command."""

from __future__ import annotations

import logging
import sys

import click

from ..auth.credentials import load_root_account
from . import config as deployment_config
from .stack import stack as stack_commands


@click.group()
@click.version_option(package_name="twinstore")
def main() -> None:
    """twinstore: a multi-region, S3-compatible object store with bi-directional replication."""


@main.command()
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML config file.")
@click.option("--data-dir", help=f"Deployment data directory (default {deployment_config.DEFAULT_DATA_DIR}).")
@click.option("--region", "regions", multiple=True, metavar="NAME=HOST:PORT",
              help="A region and where it listens; repeatable (default us-east-2 and us-west-2).")
@click.option("--account-id", help="12-digit account id of the deployment.")
def up(config_file: str | None, data_dir: str | None, regions: tuple[str, ...], account_id: str | None) -> None:
    """Start every region of a deployment, each in its own process."""
    from .up import run
    try:
        dep = deployment_config.load(config_file, data_dir, regions, account_id)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    root = load_root_account(dep.data_dir, dep.account_id)
    sys.exit(run(dep, root))


@main.command()
@click.option("--region", "region_name", required=True, help="Region name, e.g. us-east-2.")
@click.option("--listen", default="127.0.0.1:9100", show_default=True, metavar="HOST:PORT")
@click.option("--data-dir", default=deployment_config.DEFAULT_DATA_DIR, show_default=True,
              help="Deployment data directory (shared by the deployment's regions).")
@click.option("--account-id", help="12-digit account id of the deployment.")
@click.option("--public-endpoint", help="URL other regions use to reach this one (default http://HOST:PORT).")
@click.option("--log-level", default="warning", show_default=True)
@click.option("--master-key-file", type=click.Path(dir_okay=False),
              help="Master keyring file (default DATA_DIR/regions/REGION/keys/master-keys.json).")
@click.option("--sse-c-over-http", type=click.Choice(["never", "loopback", "always"]), default="loopback",
              show_default=True, help="Accept SSE-C customer keys over plain HTTP from where.")
@click.option("--unencrypted-for-benchmarks", is_flag=True,
              help="Store new object data UNENCRYPTED. For measuring the cost of encryption only.")
def server(region_name: str, listen: str, data_dir: str, account_id: str | None, public_endpoint: str | None,
           log_level: str, master_key_file: str | None, sse_c_over_http: str,
           unencrypted_for_benchmarks: bool) -> None:
    """Run one region alone."""
    import os

    from ..region import RegionConfig, serve
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host, port = deployment_config.parse_listen(listen)
    serve(RegionConfig(region_name, host, port, os.path.abspath(data_dir), account_id, public_endpoint,
                       encrypt_at_rest=not unencrypted_for_benchmarks, master_key_file=master_key_file,
                       sse_c_over_http=sse_c_over_http), log_level=log_level)


@main.command()
@click.option("--data-dir", default=deployment_config.DEFAULT_DATA_DIR, show_default=True)
def credentials(data_dir: str) -> None:
    """Print the deployment's root credentials."""
    root = load_root_account(data_dir)
    click.echo(f"account_id={root.account_id}")
    click.echo(f"AWS_ACCESS_KEY_ID={root.access_key_id}")
    click.echo(f"AWS_SECRET_ACCESS_KEY={root.secret_access_key}")


main.add_command(stack_commands)
@main.group()
def keys() -> None:
    """Encryption-at-rest key management."""


@keys.command("rotate")
@click.option("--data-dir", default=deployment_config.DEFAULT_DATA_DIR, show_default=True)
@click.option("--region", "region_name", required=True, help="Region whose master key to rotate.")
@click.option("--master-key-file", type=click.Path(dir_okay=False), help="The keyring file, if not the default.")
def keys_rotate(data_dir: str, region_name: str, master_key_file: str | None) -> None:
    """Re-wrap a stopped region's data keys under a new master key (object data is not rewritten)."""
    from .keys import RotationError, rotate
    try:
        result = rotate(data_dir, region_name, master_key_file)
    except RotationError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"new master key {result['new_key']}; re-wrapped {result['data_keys_rewrapped']} data keys and "
               f"{result['kms_materials_rewrapped']} KMS key materials; retired {', '.join(result['retired'])}")


def _register_subgroups() -> None:
    from .logs import logs
    from .replication import replication
    main.add_command(logs)
    main.add_command(replication)


_register_subgroups()


if __name__ == "__main__":
    main()
