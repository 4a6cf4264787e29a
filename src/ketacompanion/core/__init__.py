"""The platform-neutral core: it imports no chat library and no database library."""
