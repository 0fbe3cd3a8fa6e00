"""Security tests (issue 15): the demo city's users and registry only (no samples or results)
unless a test asks for more."""
