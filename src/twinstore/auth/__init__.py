"""Authentication: SigV4 (header, presigned, aws-chunked) and credentials -> principal."""
