from . import test_calendar_batch, test_import, test_migration, test_security
