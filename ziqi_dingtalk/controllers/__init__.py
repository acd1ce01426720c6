from . import callback, sync
