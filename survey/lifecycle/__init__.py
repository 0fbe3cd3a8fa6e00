"""Data lifecycle: backup and restore (whole database or one wave) and retention of residents'
phone numbers after a wave is closed."""
