"""`step-ca`: load configuration, TLS, aiohttp app, worker processes, SIGHUP reload, sd_notify."""
