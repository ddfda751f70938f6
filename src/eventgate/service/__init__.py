"""One function per operation; the API modules call these, these call domain and store."""
