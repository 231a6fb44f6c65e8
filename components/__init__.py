"""One `ComponentResource` per concern; `region.Region` composes them for one AWS region."""
