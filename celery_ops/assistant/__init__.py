"""The assistant interface: celery-ops's operations over the Model Context Protocol
(``celery -A proj ops mcp``), one more front end of the door. Needs ``celery-ops[mcp]``."""
