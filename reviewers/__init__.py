"""The science of reviewing: rubric schema, decision rules, agreement. Pure Python, no I/O."""
