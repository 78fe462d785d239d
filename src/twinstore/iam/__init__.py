"""IAM and STS: identities, policies, their evaluation, and the IAM/STS query services."""
