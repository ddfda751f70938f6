"""Who may do what: channel passwords, API keys and their scopes, the gateway token."""
