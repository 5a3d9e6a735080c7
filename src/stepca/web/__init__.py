"""The web dashboard at ``/dashboard`` (issue 15 item 5; docs/dashboard.md)."""
