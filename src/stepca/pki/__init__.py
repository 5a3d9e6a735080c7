"""`step ca init`: keys, CA certificates and the STEPPATH layout."""
