"""HTTP and WebSocket routes: one module per seed API, plus health and docs."""
