"""Remote administration (issue 14): provisioners and admins in the database, the admin API's
core (authorization of admin tokens, CRUD, audit), the one-time import of ca.json.

``documents`` converts between smallstep's linkedca JSON and our ca.json provisioner form,
``source`` builds a configuration whose provisioners come from the database, ``bootstrap`` runs
once at the first start, ``core`` is what ``api/admin.py`` calls. No HTTP here, no SQL.
"""
