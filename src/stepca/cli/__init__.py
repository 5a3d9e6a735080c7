"""The `step` command line. Each command group lives in its own module, imported on use."""
