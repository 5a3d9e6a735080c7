"""HTTP handlers only: parse → call the authority → render. Routes in one table (``routes.py``)."""
