"""Metadata: the object-version model, THE version-ordering rule, and the store interfaces.

Everything above this package talks to `RegionStore` / `GlobalStore` (store.py); the SQLite backend in
`sqlite/` is the embedded default. Nothing above may assume SQLite.
"""
