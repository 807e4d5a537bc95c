"""The ``skewless`` command line: ``init``, ``plan``, ``apply``, ``delete``, ``ls``, ``describe``, ``history``.

One module per command group (:mod:`.init`, :mod:`.apply`, :mod:`.inspect`); :mod:`.app` wires
them into one typer app and turns every :class:`~skewless.errors.SkewlessError` into a short
red message with its hint.
"""
