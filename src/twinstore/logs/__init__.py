"""CloudWatch Logs: a region-local log store, the Logs JSON API and the Logs Insights query language."""
