"""SQLite schemas. Keys are stored as BLOB (UTF-8) so ordering and prefix ranges are exact byte order."""

REGION_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets(
  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, region TEXT NOT NULL, owner TEXT NOT NULL,
  created_us INTEGER NOT NULL, versioning TEXT NOT NULL, object_ownership TEXT NOT NULL, configs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions(
  bucket_id INTEGER NOT NULL, key BLOB NOT NULL, vid TEXT NOT NULL, null_version INTEGER NOT NULL,
  is_latest INTEGER NOT NULL, delete_marker INTEGER NOT NULL, last_modified_us INTEGER NOT NULL,
  size INTEGER NOT NULL, etag TEXT NOT NULL, owner TEXT NOT NULL, storage_class TEXT NOT NULL,
  checksum TEXT NOT NULL, headers TEXT NOT NULL, user_meta TEXT NOT NULL, segments TEXT NOT NULL,
  part_sizes TEXT NOT NULL, tags TEXT NOT NULL, extra TEXT NOT NULL, inline_data BLOB,
  checksum_kind TEXT NOT NULL,  -- '<algorithm>:<type>' or '': what listings show, without parsing JSON
  encryption TEXT NOT NULL DEFAULT '',  -- the encryption envelope (JSON), '' for unencrypted data
  PRIMARY KEY(bucket_id, key, vid)) WITHOUT ROWID;
-- current objects, covering what ListObjects shows: a listing page is one range scan of this index
DROP INDEX IF EXISTS versions_current;
-- (is_latest and delete_marker are repeated as columns: SQLite's planner only treats a partial index as covering
-- when it holds every column the query names, including those of its WHERE clause)
CREATE INDEX IF NOT EXISTS versions_listing ON versions(bucket_id, key, last_modified_us, etag, size, storage_class,
  checksum_kind, is_latest, delete_marker) WHERE is_latest=1 AND delete_marker=0;
CREATE TABLE IF NOT EXISTS uploads(
  upload_id TEXT PRIMARY KEY, bucket_id INTEGER NOT NULL, key BLOB NOT NULL, initiated_us INTEGER NOT NULL,
  owner TEXT NOT NULL, headers TEXT NOT NULL, user_meta TEXT NOT NULL, tags TEXT NOT NULL,
  checksum_algorithm TEXT NOT NULL, storage_class TEXT NOT NULL, extra TEXT NOT NULL,
  encryption TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket_id, key, upload_id);
CREATE TABLE IF NOT EXISTS parts(
  upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, blob_id TEXT NOT NULL, size INTEGER NOT NULL,
  etag TEXT NOT NULL, last_modified_us INTEGER NOT NULL, checksum TEXT NOT NULL,
  PRIMARY KEY(upload_id, part_number)) WITHOUT ROWID;
-- replication: operations owed to destinations, written in the version's own transaction (see replication/)
CREATE TABLE IF NOT EXISTS repl_outbox(
  seq INTEGER PRIMARY KEY, bucket_id INTEGER NOT NULL, key BLOB NOT NULL, vid TEXT NOT NULL, op TEXT NOT NULL,
  dest_bucket TEXT NOT NULL, rule_id TEXT NOT NULL, size INTEGER NOT NULL, created_us INTEGER NOT NULL,
  attempts INTEGER NOT NULL, next_try_us INTEGER NOT NULL, last_error TEXT NOT NULL, source TEXT NOT NULL,
  rtc INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repl_failures(
  bucket_id INTEGER NOT NULL, key BLOB NOT NULL, vid TEXT NOT NULL, op TEXT NOT NULL, dest_bucket TEXT NOT NULL,
  rule_id TEXT NOT NULL, size INTEGER NOT NULL, reason TEXT NOT NULL, failed_us INTEGER NOT NULL,
  PRIMARY KEY(bucket_id, key, vid, dest_bucket, op)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repl_jobs(
  job_id TEXT PRIMARY KEY, bucket_id INTEGER NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,
  cursor_key BLOB, cursor_vid TEXT, scanned INTEGER NOT NULL, queued INTEGER NOT NULL, total INTEGER NOT NULL,
  created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL) WITHOUT ROWID;
"""

# columns added after a table first shipped: (table, column, definition), added at open when missing
REGION_MIGRATIONS = [("versions", "encryption", "TEXT NOT NULL DEFAULT ''"),
                     ("uploads", "encryption", "TEXT NOT NULL DEFAULT ''")]

GLOBAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS bucket_names(
  name TEXT PRIMARY KEY, region TEXT NOT NULL, owner TEXT NOT NULL, state TEXT NOT NULL,
  created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS region_endpoints(region TEXT PRIMARY KEY, endpoint TEXT NOT NULL);
"""
