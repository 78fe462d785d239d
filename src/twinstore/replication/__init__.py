"""Cross-region (and same-region) replication: configuration, rule evaluation, workers, backfill, metrics."""
