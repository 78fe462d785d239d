"""Audit: CloudTrail-format records for every API call, trails and their delivery, S3 server access logs."""
