"""Internal helpers with no stability promise."""
