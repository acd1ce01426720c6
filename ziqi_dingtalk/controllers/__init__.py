from . import callback, login, sync
