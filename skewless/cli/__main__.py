"""``python -m skewless.cli`` runs the same app as the ``skewless`` command."""

from skewless.cli.app import main

main()
