"""The ``movierec`` command: thin commands over the library and the services, a module per
command group."""

from __future__ import annotations

import click

from movierec.cli.data import data
from movierec.cli.db import db
from movierec.cli.demo import demo
from movierec.cli.engine import ENGINE_COMMANDS
from movierec.cli.model import model
from movierec.cli.serve import serve


@click.group()
@click.version_option(package_name="movierec")
def main() -> None:
    """MovieRec: a movie recommendation micro-service."""


main.add_command(db)
main.add_command(data)
main.add_command(demo)
main.add_command(serve)
for _engine_command in ENGINE_COMMANDS:
    main.add_command(_engine_command)
main.add_command(model)
