"""Superset's settings for cartcast's BI server (`cartcast bi`, `make bi`).

Superset reads this file through SUPERSET_CONFIG_PATH, in its own virtual environment
(.venv-bi): nothing here imports cartcast. `cartcast bi` sets CARTCAST_BI_HOME to the server's
folder (warehouse/bi/superset/ by default), which holds the metadata database and the secret
key it generated there.
"""

import os
from pathlib import Path

_home = Path(os.environ["CARTCAST_BI_HOME"])

# Signs sessions and encrypts stored database credentials; generated once per home folder.
SECRET_KEY = (_home / "secret_key").read_text().strip()
# Superset's own metadata (users, the database entry, datasets, charts, the dashboard).
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_home / 'superset.db'}"

# One machine, one user: no Celery, no Redis; results are computed on request.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
# Chart data is not cached: a new publication shows at the next refresh.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
SQLLAB_TIMEOUT = 60
SUPERSET_WEBSERVER_TIMEOUT = 120
