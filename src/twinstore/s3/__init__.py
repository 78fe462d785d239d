"""S3 operations, one module per family. Handlers take an `S3Request` and return an `S3Response`; they never
see HTTP framing (edge/) or SQL (meta/)."""
