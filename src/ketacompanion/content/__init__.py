"""Content models, loading and validation (lessons, instruments, crisis files, messages)."""
