"""The top of the house: the `ipss` command (cli.py) and `ipss up` (up.py), which start and wire
every other part. Nothing imports from here."""
