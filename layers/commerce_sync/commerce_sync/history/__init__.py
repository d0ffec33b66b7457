"""Order and customer history: the backfill of a newly connected store and the nightly reconciliation
(docs/history.md)."""
