"""Pure rules of eventgate: validation, lifecycle, merge patches. No I/O here."""
