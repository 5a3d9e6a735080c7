"""Provisioners: one module per type behind one interface (``base.Provisioner``)."""
