"""CloudFormation-compatible stacks: templates, a durable stack engine, resource providers, the query API."""
