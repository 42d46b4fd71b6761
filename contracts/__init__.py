"""Contracts: what the services and the workflows share, and nothing else of the suite. Plain
data (dataclasses carried by Temporal's JSON converter, names of updates, signals, queries and
search attributes, the registry of case actions); no imports from the rest of the project, so
that every layer above may read them."""
