"""Command-line interface: ``run`` (the default) and the inspection subcommands."""
