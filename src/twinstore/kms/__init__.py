"""The AWS KMS JSON API of a region (keys belong to their region, as in AWS) and the data keys S3 asks for."""
